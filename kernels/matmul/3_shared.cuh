// 3_shared.cuh — lesson 12's kernel 3, shared-memory tiles. A block computes a 32x32 tile of C.
// It walks K in steps of 32: the block copies a 32x32 tile of A and one of B into shared memory (each thread one float of
// each, coalesced), waits for all, then every thread does 32 multiply-adds from shared memory.
//   global loads per block: 2 * 32*32 per 32 steps of k, instead of 2 * 32*32 per step:
//   each float fetched from global memory now serves 32 threads.
// Threads past the edge of C still load (zeros outside the matrices) and reach every
// __syncthreads(); they only skip the store.
// Next: 4_regtile_1d.cuh.
#pragma once
#include "kernels/matmul/common.cuh"

#define TILE 32
__global__ void matmul_shared(GemmShape s, const float *A, const float *B, float *C) {
    __shared__ float As[TILE][TILE], Bs[TILE][TILE];
    SELECT_BATCH_MATRIX(s, A, B, C);
    const int tx = threadIdx.x, ty = threadIdx.y;
    const int j = blockIdx.x * TILE + tx, i = blockIdx.y * TILE + ty;
    float acc = 0.0f;
    for (int k0 = 0; k0 < s.K; k0 += TILE) {
        As[ty][tx] = (i < s.M && k0 + tx < s.K) ? A[(long)i * s.lda + k0 + tx] : 0.0f;
        Bs[ty][tx] = (k0 + ty < s.K && j < s.N) ? B[(long)(k0 + ty) * s.ldb + j] : 0.0f;
        __syncthreads();
        // As[ty][k]: one address for the warp (broadcast); Bs[k][tx]: 32 consecutive banks.
        for (int k = 0; k < TILE; k++) acc += As[ty][k] * Bs[k][tx];
        __syncthreads();  // before the next tiles overwrite these
    }
    if (i < s.M && j < s.N) store_c(&C[(long)i * s.ldc + j], acc, s.alpha, s.beta);
}

static void launch_shared(const GemmShape *s, const float *A, const float *B, float *C) {
    LAUNCH(matmul_shared, dim3(cdiv(s->N, TILE), cdiv(s->M, TILE), s->batch), dim3(TILE, TILE))(*s, A, B, C);
}
