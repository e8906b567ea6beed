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

static void check_cublas(cublasHandle_t h, GemmPrecision p, const GemmShape &s) {
    ProductCheck r = check_cublas_product(h, p, s);
    CHECK(r.check.bad == 0, "%s", r.line);
}

// cuBLAS through gemm_cublas: the row-major mapping for all four transpose combinations, padded
// and batched, with alpha/beta, in each precision.
GPU_TEST(cublas_matches_cpu_all_transposes) {
    cublasHandle_t h;
    CUBLAS_CHECK(cublasCreate(&h));
    GemmShape cases[16];
    const int n = cublas_cases(cases);
    for (GemmPrecision p : {GEMM_FP32, GEMM_TF32, GEMM_BF16})
        for (int c = 0; c < n; c++) check_cublas(h, p, cases[c]);
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
