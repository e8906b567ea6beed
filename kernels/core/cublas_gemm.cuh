// cublas_gemm.cuh — matrix products through cuBLAS, in bertstep's row-major convention, in
// float32, TF32 or BF16 tensor-core precision, single or strided-batched.
// Introduced by lesson 12 (cuda_matmul) as the baseline the hand-written kernels are measured
// against; the GPU BERT of lesson 13 does its Linear layers and attention products with it, and
// in bf16/fp16 (lesson 14) reads narrow A and B and writes a narrow or a float32 C.
//
// cuBLAS is column-major. A row-major (M,N) matrix with leading dimension ld is, read
// column-major, its transpose (N,M) with the same ld. So the row-major product
//   C = op(A) op(B)   is the column-major product   C^T = op(B)^T op(A)^T,
// which is one cuBLAS call with the operands swapped and the dimensions given as (N, M, K):
//   gemm(opB, opA, N, M, K, B, ldb, A, lda, C, ldc)
// where opX = transpose exactly when trans_x (the column-major view already transposed X once).
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "kernels/core/cuda_common.cuh"

extern "C" {
#include "common/model/gemm_check.h"
#include "common/model/precision.h"
}

// gemm_cublas: the GemmShape product (all s->batch matrices, by cublasGemmStridedBatchedEx when
// batch > 1) in precision p. A and B are float for GEMM_FP32 and GEMM_TF32, __nv_bfloat16 for
// GEMM_BF16; C is float in all three, and accumulation is float32.
//   GEMM_FP32: CUBLAS_COMPUTE_32F, the classic SGEMM on the CUDA cores;
//   GEMM_TF32: CUBLAS_COMPUTE_32F_FAST_TF32: float inputs, rounded to TF32 on the tensor cores;
//   GEMM_BF16: CUBLAS_COMPUTE_32F on BF16 inputs: tensor cores.
void gemm_cublas(cublasHandle_t handle, GemmPrecision p, const GemmShape *s, const void *A, const void *B, float *C);

// gemm_cublas_ex: the same product with the storage formats spelled out: A and B in `ab`, C in
// `c` (FMT_FP32 = CUDA_R_32F, FMT_BF16 = CUDA_R_16BF, FMT_FP16 = CUDA_R_16F), always accumulated
// in float32 (CUBLAS_COMPUTE_32F; with tf32 and float inputs CUBLAS_COMPUTE_32F_FAST_TF32). A
// narrow C is rounded once from the float32 sum (beta C is read, converted and added first).
// bf16/fp16 inputs run on the tensor cores. gemm_cublas is this with C in float32.
void gemm_cublas_ex(cublasHandle_t handle, const GemmShape *s, const void *A, const void *B, FloatFormat ab, void *C,
                    FloatFormat c, bool tf32);

// f32_to_bf16: dst[i] = src[i] rounded to the nearest bfloat16, for i < n (device pointers).
void f32_to_bf16(__nv_bfloat16 *dst, const float *src, long n);
