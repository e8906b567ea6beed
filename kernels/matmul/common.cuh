// common.cuh — what the kernels of lesson 12's ladder (kernels/matmul/1_naive.cuh ...
// 6_vectorized.cuh) share: the batch, the store to C, the grid arithmetic, and the register tile
// of kernels 5 and 6.
//
// Vocabulary: a warp is 32 threads that execute each instruction together. When they load 32
// consecutive floats (128 bytes) the hardware does it in one memory transaction ("coalesced");
// 32 floats spread over 32 rows take 32 transactions. Shared memory is a small on-chip memory
// per block, about as fast as L1; registers are per thread and faster still. A matrix multiply
// does 2 M N K flops on M K + K N + M N floats, so each input float can be reused up to N (or M)
// times: the kernels differ only in how much of that reuse they capture close to the ALUs.
#pragma once
#include "kernels/core/cuda_common.cuh"

extern "C" {
#include "common/model/gemm_check.h"  // GemmShape
}

// store_c: C[at] = alpha acc + beta C[at], with beta = 0 never reading C (it may hold NaN).
__device__ __forceinline__ void store_c(float *c, float acc, float alpha, float beta) {
    *c = beta == 0.0f ? alpha * acc : alpha * acc + beta * *c;
}

// The batch: block z works on matrix blockIdx.z of A, B and C.
#define SELECT_BATCH_MATRIX(s, A, B, C) \
    A += blockIdx.z * (s).stride_a;     \
    B += blockIdx.z * (s).stride_b;     \
    C += blockIdx.z * (s).stride_c

// cdiv: blocks of b that cover a.
static inline int cdiv(int a, int b) { return (a + b - 1) / b; }

// The register tile of kernels 5 and 6: a block computes a BM x BN tile of C in steps of BK
// along K, each thread a TM x TN patch of it (5_regtile_2d.cuh explains the sizes).
#define RT_BM      128
#define RT_BN      128
#define RT_BK      8
#define RT_TM      8
#define RT_TN      8
#define RT_THREADS (RT_BM * RT_BN / (RT_TM * RT_TN))

// outer_product_add: acc[r][c] += a[r] * b[c], the 64 multiply-adds of one k step.
__device__ __forceinline__ void outer_product_add(float (&acc)[RT_TM][RT_TN], const float (&a)[RT_TM],
                                                  const float (&b)[RT_TN]) {
#pragma unroll
    for (int r = 0; r < RT_TM; r++)
#pragma unroll
        for (int c = 0; c < RT_TN; c++) acc[r][c] += a[r] * b[c];
}
