// matmul.cuh — lesson 12's hand-written matrix-multiply kernels, from naive to vectorized
// register tiles, each one fixing what limited the one before. Introduced by lesson 12
// (cuda_matmul), which times them against cuBLAS; tests/gpu/test_matmul.cu checks each one.
//
// The ladder, one kernel per file, so that `diff N_x.cuh N+1_y.cuh` shows one step:
//   kernels/matmul/1_naive.cuh         one thread per C element, a warp walks 32 rows of A
//   kernels/matmul/2_coalesced.cuh     a warp walks 32 columns: B and C accesses coalesced
//   kernels/matmul/3_shared.cuh        32x32 tiles of A and B in shared memory
//   kernels/matmul/4_regtile_1d.cuh    8 C elements per thread, in registers
//   kernels/matmul/5_regtile_2d.cuh    8x8 C elements per thread: an outer product per k
//   kernels/matmul/6_vectorized.cuh    float4 global loads/stores, transposed A tile
// with what they share in kernels/matmul/common.cuh; kernels/matmul/matmul.cu is the runner: the
// table below and the checked launch. Only matmul.cu includes the numbered files.
//
// Every kernel computes, for each of s->batch matrices (the grid's z dimension),
//
//   C (M,N) = alpha * A (M,K) · B (K,N) + beta * C        C[i][j] = alpha sum_k A[i][k] B[k][j] + beta C[i][j]
//
// row-major with leading dimensions lda, ldb, ldc and batch strides, no transposes (a GemmShape
// with trans_a or trans_b set is refused). beta = 0 ignores what C held, NaN included, as BLAS does.
//
// Layers: kernels/matmul includes kernels/core, common/core and common/model only, never
// kernels/bert or kernels/backend; only lesson 12 (and the tests) include it.
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

// matmul_float4_ok: kernel 6 takes its float4 path for these operands (every row start, batch
// stride and base pointer 16-byte aligned, K and N multiples of 4); otherwise scalar accesses.
bool matmul_float4_ok(const GemmShape *s, const float *A, const float *B, const float *C);
