// cublas_gemm.cu — see cublas_gemm.cuh.
#include "kernels/core/cublas_gemm.cuh"

static cudaDataType_t cuda_type(FloatFormat f) {
    return f == FMT_BF16 ? CUDA_R_16BF : f == FMT_FP16 ? CUDA_R_16F : CUDA_R_32F;
}

void gemm_cublas_ex(cublasHandle_t handle, const GemmShape *s, const void *A, const void *B, FloatFormat ab, void *C,
                    FloatFormat c, bool tf32) {
    const cublasOperation_t op_a = s->trans_a ? CUBLAS_OP_T : CUBLAS_OP_N,
                            op_b = s->trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
    const cudaDataType_t in_type = cuda_type(ab), out_type = cuda_type(c);
    const cublasComputeType_t compute = tf32 && ab == FMT_FP32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
    if (s->batch == 1) {
        CUBLAS_CHECK(cublasGemmEx(handle, op_b, op_a, s->N, s->M, s->K, &s->alpha, B, in_type, s->ldb, A, in_type,
                                  s->lda, &s->beta, C, out_type, s->ldc, compute, CUBLAS_GEMM_DEFAULT));
    } else {
        CUBLAS_CHECK(cublasGemmStridedBatchedEx(handle, op_b, op_a, s->N, s->M, s->K, &s->alpha, B, in_type, s->ldb,
                                                s->stride_b, A, in_type, s->lda, s->stride_a, &s->beta, C, out_type,
                                                s->ldc, s->stride_c, s->batch, compute, CUBLAS_GEMM_DEFAULT));
    }
}

void gemm_cublas(cublasHandle_t handle, GemmPrecision p, const GemmShape *s, const void *A, const void *B, float *C) {
    gemm_cublas_ex(handle, s, A, B, p == GEMM_BF16 ? FMT_BF16 : FMT_FP32, C, FMT_FP32, p == GEMM_TF32);
}

__global__ void f32_to_bf16_kernel(__nv_bfloat16 *dst, const float *src, long n) {
    for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x)
        dst[i] = __float2bfloat16_rn(src[i]);
}

void f32_to_bf16(__nv_bfloat16 *dst, const float *src, long n) {
    const long blocks = (n + 255) / 256;
    const int grid = blocks < 65535 ? (int)blocks : 65535;
    LAUNCH(f32_to_bf16_kernel, grid, 256)(dst, src, n);
    CUDA_CHECK_LAUNCH();
}
