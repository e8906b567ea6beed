// test_matmul.cu — every kernel of lesson 12 and every cuBLAS precision gives the CPU product
// (common/model/matmul.c sgemm) on random inputs, element by element within common/model/gemm_check.h's
// tolerance (tests/gpu/matmul_check.h): sizes that are and are not multiples of the tiles,
// batches, padded leading dimensions, alpha/beta, and (cuBLAS) every transpose combination.
#include "kernels/core/cublas_gemm.cuh"
#include "tests/gpu/harness.cuh"
#include "tests/gpu/matmul_check.h"

GPU_TEST(hand_kernels_match_cpu) {
    GemmShape cases[32];
    const int n = hand_kernel_cases(cases);
    for (int k = 0; k < matmul_kernel_count; k++)
        for (int c = 0; c < n; c++) {
            ProductCheck r = check_hand_kernel(&matmul_kernels[k], cases[c]);
            CHECK(r.check.bad == 0, "%s", r.line);
        }
}

// cuBLAS through gemm_cublas: the row-major mapping for all four transpose combinations, padded
// and batched, with alpha/beta, in each precision.
static void check_cublas(cublasHandle_t h, GemmPrecision p, const GemmShape &s) {
    ProductCheck r = check_product("gemm_cublas", s, p, [&](const float *A, const float *B, float *C) {
        if (p != GEMM_BF16) return gemm_cublas(h, p, &s, A, B, C);
        const long na = gemm_elements_a(&s), nb = gemm_elements_b(&s);
        __nv_bfloat16 *A16 = (__nv_bfloat16 *)cuda_malloc(sizeof(__nv_bfloat16) * na, "A16");
        __nv_bfloat16 *B16 = (__nv_bfloat16 *)cuda_malloc(sizeof(__nv_bfloat16) * nb, "B16");
        f32_to_bf16(A16, A, na);
        f32_to_bf16(B16, B, nb);
        gemm_cublas(h, p, &s, A16, B16, C);
        CUDA_CHECK(cudaFree(A16));
        CUDA_CHECK(cudaFree(B16));
    });
    CHECK(r.check.bad == 0, "%s", r.line);
}

GPU_TEST(cublas_matches_cpu_all_transposes) {
    cublasHandle_t h;
    CUBLAS_CHECK(cublasCreate(&h));
    for (GemmPrecision p : {GEMM_FP32, GEMM_TF32, GEMM_BF16})
        for (int t = 0; t < 4; t++) {
            const bool ta = t & 1, tb = t & 2;
            check_cublas(h, p, gemm_shape_padded(77, 45, 19, 1, ta, tb, 0));
            check_cublas(h, p, gemm_shape_padded(256, 192, 768, 1, ta, tb, 0));
            GemmShape s = gemm_shape_padded(65, 33, 70, 3, ta, tb, 5);
            s.alpha = 0.125f, s.beta = 2.0f;
            check_cublas(h, p, s);
        }
    CUBLAS_CHECK(cublasDestroy(h));
}

// The attention products of BERT-base for one short batch: Q·K^T (trans_b) and P·V, per
// (sequence, head), as one strided batch each.
GPU_TEST(cublas_strided_batched_attention_shapes) {
    cublasHandle_t h;
    CUBLAS_CHECK(cublasCreate(&h));
    for (GemmPrecision p : {GEMM_FP32, GEMM_TF32, GEMM_BF16}) {
        GemmShape scores = gemm_shape_padded(128, 128, 64, 24, false, true, 0);  // (T,64) · (T,64)^T
        scores.alpha = 0.125f;                                                   // 1/sqrt(64)
        check_cublas(h, p, scores);
        check_cublas(h, p, gemm_shape_padded(128, 64, 128, 24, false, false, 0));  // (T,T) · (T,64)
    }
    CUBLAS_CHECK(cublasDestroy(h));
}
