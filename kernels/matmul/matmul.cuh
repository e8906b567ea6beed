// matmul.cuh — lesson 12's hand-written matrix-multiply kernels, from naive to vectorized
// register tiles, each one fixing what limited the one before. Introduced by lesson 12
// (cuda_matmul), which times them against cuBLAS; tests/gpu/test_matmul.cu checks each one.
//
// Every kernel computes, for each of s->batch matrices (the grid's z dimension),
//
//   C (M,N) = alpha * A (M,K) · B (K,N) + beta * C        C[i][j] = alpha sum_k A[i][k] B[k][j] + beta C[i][j]
//
// row-major with leading dimensions lda, ldb, ldc and batch strides, no transposes (a GemmShape
// with trans_a or trans_b set is refused). beta = 0 ignores what C held, NaN included, as BLAS does.
#pragma once
#include "kernels/core/cuda_common.cuh"

extern "C" {
#include "common/model/gemm_check.h"
}

typedef struct {
    const char *name;  // "1 naive" ... "6 vectorized"
    const char *what;  // one line: what it does better than the kernel before
    void (*launch)(const GemmShape *s, const float *A, const float *B, float *C);  // unchecked
} MatmulKernel;

extern const MatmulKernel matmul_kernels[];
extern const int matmul_kernel_count;

// matmul_kernel_run: launch kernel k on device pointers (asynchronously, on the default stream),
// after refusing shapes it does not handle, and check the launch.
void matmul_kernel_run(const MatmulKernel *k, const GemmShape *s, const float *A, const float *B, float *C);
