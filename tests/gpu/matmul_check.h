// matmul_check.h — one product checked against the CPU, and the shapes lesson 12's kernels and the
// cuBLAS calls are checked at; shared by the GPU tests (test_matmul.cu) and the CPU emulation of the same
// kernels (tests/emulate/test_matmul_emulated.cpp), where "device" memory is host memory.
#pragma once
#include <stdio.h>
#include <stdlib.h>

#include "kernels/core/cublas_gemm.cuh"
#include "kernels/matmul/matmul.cuh"

// hand_kernel_cases: the layouts every hand-written kernel must get right: single elements, odd
// sizes, exact tiles (32, 64, 128), multiples of 4 that are not multiples of the tiles (kernel
// 6's float4 path with partial tiles), a long K, batches; rows padded by 3 floats (breaks 16-byte
// alignment: kernel 6 falls back to scalar accesses) and by 4 (keeps it); alpha and beta.
// Fills `out` (room for 32) and returns the count.
static int hand_kernel_cases(GemmShape *out) {
    static const int sizes[][4] = {{1, 1, 1, 1},      {77, 45, 19, 1},    {128, 128, 8, 1}, {128, 128, 128, 1},
                                   {132, 260, 36, 1}, {257, 129, 131, 1}, {33, 7, 1000, 1}, {65, 33, 17, 3},
                                   {64, 128, 64, 2},  {200, 4, 12, 5}};
    int n = 0;
    for (const auto &z : sizes) out[n++] = gemm_shape(z[0], z[1], z[2], z[3]);
    for (int pad : {3, 4}) {
        out[n++] = gemm_shape_padded(100, 76, 52, 2, false, false, pad);
        out[n++] = gemm_shape_padded(33, 31, 7, 1, false, false, pad);
    }
    for (GemmShape s : {gemm_shape(100, 76, 52, 2), gemm_shape_padded(33, 31, 7, 2, false, false, 3)}) {
        s.alpha = 1.5f, s.beta = -0.5f;
        out[n++] = s;
    }
    return n;
}

typedef struct {
    GemmCheck check;
    char line[512];  // what was checked and what gemm_compare found
} ProductCheck;

static float *device_copy(const float *x, long n) {
    float *d = (float *)cuda_malloc(sizeof(float) * n, "test operand");
    CUDA_CHECK(cudaMemcpy(d, x, sizeof(float) * n, cudaMemcpyHostToDevice));
    return d;
}

// check_product: random A, B and C in [-1, 1), run(dA, dB, dC) on device copies, and every
// element of C compared with the CPU reference. When beta = 0 the device C is filled with NaN
// first, so an element the run forgets to write is caught. A fixed seed: the same data each run.
template <typename Run>
static ProductCheck check_product(const char *label, const GemmShape &s, GemmPrecision p, Run run) {
    static Rng rng;
    static bool seeded;
    if (!seeded) rng_seed(&rng, 12, 0), seeded = true;
    const long na = gemm_elements_a(&s), nb = gemm_elements_b(&s), nc = gemm_elements_c(&s);
    float *A = (float *)xmalloc(sizeof(float) * na), *B = (float *)xmalloc(sizeof(float) * nb);
    float *C0 = (float *)xmalloc(sizeof(float) * nc), *want = (float *)xmalloc(sizeof(float) * nc);
    float *bound = (float *)xmalloc(sizeof(float) * nc), *got = (float *)xmalloc(sizeof(float) * nc);
    auto fill = [&](float *x, long n) {
        for (long i = 0; i < n; i++) x[i] = 2.0f * rng_uniform(&rng) - 1.0f;
    };
    fill(A, na), fill(B, nb), fill(C0, nc);
    gemm_reference(&s, A, B, s.beta != 0.0f ? C0 : NULL, want, bound);

    float *dA = device_copy(A, na), *dB = device_copy(B, nb), *dC = device_copy(C0, nc);
    if (s.beta == 0.0f) CUDA_CHECK(cudaMemset(dC, 0xFF, sizeof(float) * nc));  // NaN everywhere
    run(dA, dB, dC);
    CUDA_CHECK(cudaMemcpy(got, dC, sizeof(float) * nc, cudaMemcpyDeviceToHost));
    ProductCheck r;
    r.check = gemm_compare(&s, got, want, bound, gemm_gamma(s.K, p));
    char found[256];
    gemm_check_line(&r.check, found, sizeof found);
    snprintf(r.line, sizeof r.line,
             "%s, %s, M=%d N=%d K=%d batch=%d trans=%d%d lda=%d ldb=%d ldc=%d alpha=%g beta=%g: %s", label,
             gemm_precision_name(p), s.M, s.N, s.K, s.batch, s.trans_a, s.trans_b, s.lda, s.ldb, s.ldc, s.alpha, s.beta,
             found);
    CUDA_CHECK(cudaFree(dA));
    CUDA_CHECK(cudaFree(dB));
    CUDA_CHECK(cudaFree(dC));
    free(A), free(B), free(C0), free(want), free(bound), free(got);
    return r;
}

// cublas_cases: the layouts gemm_cublas (kernels/core/cublas_gemm.cu) must map onto column-major
// cuBLAS: all four transpose combinations, each plain, at a BERT-like size, and padded and batched
// with alpha/beta. Fills `out` (room for 16) and returns the count.
static int cublas_cases(GemmShape *out) {
    int n = 0;
    for (int t = 0; t < 4; t++) {
        const bool ta = t & 1, tb = t & 2;
        out[n++] = gemm_shape_padded(77, 45, 19, 1, ta, tb, 0);
        out[n++] = gemm_shape_padded(256, 192, 768, 1, ta, tb, 0);
        GemmShape s = gemm_shape_padded(65, 33, 70, 3, ta, tb, 5);
        s.alpha = 0.125f, s.beta = 2.0f;
        out[n++] = s;
    }
    return n;
}

// check_cublas_product: gemm_cublas in precision p at shape s (bf16: the operands converted on the
// device by f32_to_bf16 first).
static ProductCheck check_cublas_product(cublasHandle_t h, GemmPrecision p, const GemmShape &s) {
    return check_product("gemm_cublas", s, p, [&](const float *A, const float *B, float *C) {
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
}

// check_hand_kernel: kernel k (kernels/matmul/, run by matmul_kernel_run) at shape s.
static ProductCheck check_hand_kernel(const MatmulKernel *k, const GemmShape &s) {
    return check_product(k->name, s, GEMM_FP32,
                         [&](const float *A, const float *B, float *C) { matmul_kernel_run(k, &s, A, B, C); });
}
