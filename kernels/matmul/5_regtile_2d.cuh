// 5_regtile_2d.cuh — lesson 12's kernel 5, 2-D register tiling. Each thread computes a TM x TN =
// 8 x 8 patch of C (the RT_ sizes and outer_product_add are in common.cuh, shared with kernel 6):
//   block tile BM x BN = 128 x 128, BK = 8, 256 threads = 128*128 / 64
//   per k: reg_a[r] = As[row0 + r][k] (8 loads), reg_b[c] = Bs[k][col0 + c] (8 loads),
//          acc[r][c] += reg_a[r] * reg_b[c]  (64 multiply-adds: an outer product)
// 16 shared loads per 64 multiply-adds (kernel 4: 9 per 8; kernel 3: 2 per 1). A block also
// reuses each global float 128 times instead of 64. The 64 accumulators live in registers
// because every index into acc/reg_a/reg_b is a compile-time constant after unrolling.
// Loading: As is 128x8 = 1024 floats and Bs 8x128 = 1024: four of each per thread, in rows
// 256/8 = 32 (As) and 256/128 = 2 (Bs) apart.
// __launch_bounds__(256, 2) asks for two resident blocks per multiprocessor, which caps a thread
// at 65536 / (2 * 256) = 128 registers (nvcc -Xptxas -v: 128 used, no spills); without it the
// compiler takes 130 and only one block (8 warps) fits. Kernel 6 has the same bound.
// Next: 6_vectorized.cuh.
#pragma once
#include "kernels/matmul/common.cuh"

__global__ void __launch_bounds__(RT_THREADS, 2)
    matmul_regtile_2d(GemmShape s, const float *A, const float *B, float *C) {
    __shared__ float As[RT_BM][RT_BK], Bs[RT_BK][RT_BN];
    SELECT_BATCH_MATRIX(s, A, B, C);
    const int t = threadIdx.x;
    const int tile_i = blockIdx.y * RT_BM, tile_j = blockIdx.x * RT_BN;
    const int row0 = (t / (RT_BN / RT_TN)) * RT_TM, col0 = (t % (RT_BN / RT_TN)) * RT_TN;
    float acc[RT_TM][RT_TN] = {{0.0f}}, reg_a[RT_TM], reg_b[RT_TN];
    for (int k0 = 0; k0 < s.K; k0 += RT_BK) {
        for (int r = t / RT_BK; r < RT_BM; r += RT_THREADS / RT_BK) {
            const int i = tile_i + r, k = k0 + t % RT_BK;
            As[r][t % RT_BK] = (i < s.M && k < s.K) ? A[(long)i * s.lda + k] : 0.0f;
        }
        for (int r = t / RT_BN; r < RT_BK; r += RT_THREADS / RT_BN) {
            const int k = k0 + r, j = tile_j + t % RT_BN;
            Bs[r][t % RT_BN] = (k < s.K && j < s.N) ? B[(long)k * s.ldb + j] : 0.0f;
        }
        __syncthreads();
#pragma unroll
        for (int k = 0; k < RT_BK; k++) {
#pragma unroll
            for (int r = 0; r < RT_TM; r++) reg_a[r] = As[row0 + r][k];
#pragma unroll
            for (int c = 0; c < RT_TN; c++) reg_b[c] = Bs[k][col0 + c];
            outer_product_add(acc, reg_a, reg_b);
        }
        __syncthreads();
    }
#pragma unroll
    for (int r = 0; r < RT_TM; r++)
#pragma unroll
        for (int c = 0; c < RT_TN; c++) {
            const int i = tile_i + row0 + r, j = tile_j + col0 + c;
            if (i < s.M && j < s.N) store_c(&C[(long)i * s.ldc + j], acc[r][c], s.alpha, s.beta);
        }
}

static void launch_regtile_2d(const GemmShape *s, const float *A, const float *B, float *C) {
    LAUNCH(matmul_regtile_2d, dim3(cdiv(s->N, RT_BN), cdiv(s->M, RT_BM), s->batch), RT_THREADS)(*s, A, B, C);
}
