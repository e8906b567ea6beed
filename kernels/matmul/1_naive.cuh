// 1_naive.cuh — lesson 12's kernel 1: one thread per element of C, 32x32 threads per block:
//   C[i][j] = sum_k A[i][k] B[k][j]: 2K loads from global memory for 2K flops.
// The 32 threads of a warp have consecutive threadIdx.x (and the same threadIdx.y). Here x -> ROW
// i, so a warp is 32 consecutive rows i of one column j: each step k loads A[i][k] from 32
// different rows (32 transactions for 32 useful floats), B[k][j] is one float for all of them,
// and the final stores to C go to 32 different rows.
// Next: 2_coalesced.cuh (`diff` them: the index mapping is the whole difference).
#pragma once
#include "kernels/matmul/common.cuh"

__global__ void matmul_naive(GemmShape s, const float *A, const float *B, float *C) {
    SELECT_BATCH_MATRIX(s, A, B, C);
    const int i = blockIdx.x * 32 + threadIdx.x, j = blockIdx.y * 32 + threadIdx.y;  // x -> row
    if (i >= s.M || j >= s.N) return;
    float acc = 0.0f;
    for (int k = 0; k < s.K; k++) acc += A[(long)i * s.lda + k] * B[(long)k * s.ldb + j];
    store_c(&C[(long)i * s.ldc + j], acc, s.alpha, s.beta);
}

static void launch_naive(const GemmShape *s, const float *A, const float *B, float *C) {
    LAUNCH(matmul_naive, dim3(cdiv(s->M, 32), cdiv(s->N, 32), s->batch), dim3(32, 32))(*s, A, B, C);
}
