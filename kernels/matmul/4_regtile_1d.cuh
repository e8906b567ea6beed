// 4_regtile_1d.cuh — lesson 12's kernel 4, 1-D register tiling. Kernel 3 still does 2 shared-memory
// loads per multiply-add, and shared memory, though fast, is slower than the FMA units. Here each thread computes
// TM = 8 elements of one column of C, keeping them in registers:
//   block tile of C: BM x BN = 64 x 64, K step BK = 8, 512 threads = 64*64 / TM
//   per k: load b = Bs[k][col] once, then acc[r] += As[row0 + r][k] * b for r < TM
// so 1 + TM shared loads feed TM multiply-adds (the As loads are one address per warp).
// Loading the tiles: As is 64x8 = 512 floats and Bs 8x64 = 512: one of each per thread.
// Next: 5_regtile_2d.cuh.
#pragma once
#include "kernels/matmul/common.cuh"

#define K4_BM 64
#define K4_BN 64
#define K4_BK 8
#define K4_TM 8
__global__ void __launch_bounds__(K4_BM *K4_BN / K4_TM)
    matmul_regtile_1d(GemmShape s, const float *A, const float *B, float *C) {
    __shared__ float As[K4_BM][K4_BK], Bs[K4_BK][K4_BN];
    SELECT_BATCH_MATRIX(s, A, B, C);
    const int t = threadIdx.x;
    const int tile_i = blockIdx.y * K4_BM, tile_j = blockIdx.x * K4_BN;
    const int col = t % K4_BN, row0 = (t / K4_BN) * K4_TM;  // this thread's C: rows row0..row0+7 of the tile
    const int a_r = t / K4_BK, a_c = t % K4_BK;             // the As element it loads
    const int b_r = t / K4_BN, b_c = t % K4_BN;             // the Bs element it loads
    float acc[K4_TM] = {0.0f};
    for (int k0 = 0; k0 < s.K; k0 += K4_BK) {
        const int ai = tile_i + a_r, ak = k0 + a_c, bk = k0 + b_r, bj = tile_j + b_c;
        As[a_r][a_c] = (ai < s.M && ak < s.K) ? A[(long)ai * s.lda + ak] : 0.0f;
        Bs[b_r][b_c] = (bk < s.K && bj < s.N) ? B[(long)bk * s.ldb + bj] : 0.0f;
        __syncthreads();
        for (int k = 0; k < K4_BK; k++) {
            const float b = Bs[k][col];
#pragma unroll
            for (int r = 0; r < K4_TM; r++) acc[r] += As[row0 + r][k] * b;
        }
        __syncthreads();
    }
    const int j = tile_j + col;
#pragma unroll
    for (int r = 0; r < K4_TM; r++) {
        const int i = tile_i + row0 + r;
        if (i < s.M && j < s.N) store_c(&C[(long)i * s.ldc + j], acc[r], s.alpha, s.beta);
    }
}

static void launch_regtile_1d(const GemmShape *s, const float *A, const float *B, float *C) {
    dim3 grid(cdiv(s->N, K4_BN), cdiv(s->M, K4_BM), s->batch);
    LAUNCH(matmul_regtile_1d, grid, K4_BM * K4_BN / K4_TM)(*s, A, B, C);
}
