// 2_coalesced.cuh — lesson 12's kernel 2, global-memory coalescing: kernel 1 with x -> COLUMN j.
// A warp is now 32 consecutive columns of one row: B[k][j..j+31] is one 128-byte transaction,
// A[i][k] is one float broadcast to the warp, and the stores to C are coalesced too. Same
// arithmetic; only the access pattern changed (`diff 1_naive.cuh 2_coalesced.cuh`).
// Next: 3_shared.cuh.
#pragma once
#include "kernels/matmul/common.cuh"

__global__ void matmul_coalesced(GemmShape s, const float *A, const float *B, float *C) {
    SELECT_BATCH_MATRIX(s, A, B, C);
    const int j = blockIdx.x * 32 + threadIdx.x, i = blockIdx.y * 32 + threadIdx.y;  // x -> column
    if (i >= s.M || j >= s.N) return;
    float acc = 0.0f;
    for (int k = 0; k < s.K; k++) acc += A[(long)i * s.lda + k] * B[(long)k * s.ldb + j];
    store_c(&C[(long)i * s.ldc + j], acc, s.alpha, s.beta);
}

static void launch_coalesced(const GemmShape *s, const float *A, const float *B, float *C) {
    LAUNCH(matmul_coalesced, dim3(cdiv(s->N, 32), cdiv(s->M, 32), s->batch), dim3(32, 32))(*s, A, B, C);
}
