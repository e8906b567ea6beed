// test_matmul_emulated.cpp — lesson 12's six kernels, the same source the GPU runs
// (kernels/matmul/1_naive.cuh ... 6_vectorized.cuh), executed on the CPU by tests/emulate/cuda_on_cpu.h, give the CPU
// product at every layout of tests/gpu/matmul_check.h (odd sizes, partial tiles, batches,
// padded rows, alpha/beta), element by element. This is how a machine without a GPU (CI)
// checks the kernels' index arithmetic, edge handling and barriers; the GPU tests check the
// same cases on the hardware.
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "tests/gpu/matmul_check.h"

ParameterizedTestParameters(emulated_kernels, match_cpu) {
    static int kernels[16];
    for (int k = 0; k < matmul_kernel_count; k++) kernels[k] = k;
    return cr_make_param_array(int, kernels, matmul_kernel_count);
}

ParameterizedTest(int *k, emulated_kernels, match_cpu, .timeout = 300) {
    GemmShape cases[32];
    const int n = hand_kernel_cases(cases);
    for (int c = 0; c < n; c++) {
        ProductCheck r = check_hand_kernel(&matmul_kernels[*k], cases[c]);
        cr_expect(r.check.bad == 0, "%s", r.line);
    }
}

// The product's cuBLAS calls (kernels/core/cublas_gemm.cu, and its f32_to_bf16 kernel for bf16):
// the row-major mapping onto column-major cuBLAS, which the emulated cuBLAS computes column-major and
// checks (leading dimensions) as the library does.
Test(emulated_cublas, row_major_mapping_matches_cpu, .timeout = 300) {
    cublasHandle_t h;
    CUBLAS_CHECK(cublasCreate(&h));
    GemmShape cases[16];
    const int n = cublas_cases(cases);
    for (GemmPrecision p : {GEMM_FP32, GEMM_TF32, GEMM_BF16})
        for (int c = 0; c < n; c++) {
            ProductCheck r = check_cublas_product(h, p, cases[c]);
            cr_expect(r.check.bad == 0, "%s", r.line);
        }
    CUBLAS_CHECK(cublasDestroy(h));
}

// The float4 path of kernel 6 needs aligned rows; the emulation must take both paths too.
Test(emulated_kernels, vectorized_kernel_takes_both_paths) {
    float *p = (float *)aligned_alloc(16, 64 * sizeof(float));
    GemmShape aligned = gemm_shape(4, 8, 4, 1), odd = gemm_shape(3, 5, 7, 1);
    cr_expect(matmul_float4_ok(&aligned, p, p, p));
    cr_expect(!matmul_float4_ok(&odd, p, p, p));
    cr_expect(!matmul_float4_ok(&aligned, p + 1, p, p));
    free(p);
}
