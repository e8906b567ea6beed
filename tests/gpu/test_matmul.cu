// test_matmul.cu — every kernel of lesson 12 and every cuBLAS precision gives the CPU product
// (common/matmul.c sgemm) on random inputs, element by element within common/gemm_check.h's
// tolerance: sizes that are and are not multiples of the tiles, batches, padded leading
// dimensions, alpha/beta, and (cuBLAS) every transpose combination. The output is poisoned
// with NaN first when beta = 0, so an element a kernel forgets to write is caught.
#include <string.h>

#include "kernels/cublas_gemm.cuh"
#include "kernels/matmul.cuh"
#include "tests/gpu/harness.cuh"

extern "C" {
#include "common/matmul.h"
}

static float *device_copy(const float *x, long n) {
    float *d = (float *)cuda_malloc(sizeof(float) * n, "test operand");
    CUDA_CHECK(cudaMemcpy(d, x, sizeof(float) * n, cudaMemcpyHostToDevice));
    return d;
}

static void fill(float *x, long n, Rng *rng) {
    for (long i = 0; i < n; i++) x[i] = 2.0f * rng_uniform(rng) - 1.0f;
}

// check_product: random A, B (and C when beta != 0), run(dA, dB, dC) on the GPU, compare every
// element of C with the CPU reference. Padding between rows keeps whatever the run left there.
template <typename Run>
static void check_product(const char *label, const GemmShape &s, GemmPrecision p, Run run) {
    static Rng rng;
    static bool seeded;
    if (!seeded) rng_seed(&rng, 12, 0), seeded = true;
    const long na = gemm_elements_a(&s), nb = gemm_elements_b(&s), nc = gemm_elements_c(&s);
    float *A = (float *)xmalloc(sizeof(float) * na), *B = (float *)xmalloc(sizeof(float) * nb);
    float *C0 = (float *)xmalloc(sizeof(float) * nc), *want = (float *)xmalloc(sizeof(float) * nc);
    float *bound = (float *)xmalloc(sizeof(float) * nc), *got = (float *)xmalloc(sizeof(float) * nc);
    fill(A, na, &rng), fill(B, nb, &rng), fill(C0, nc, &rng);
    gemm_reference(&s, A, B, s.beta != 0.0f ? C0 : NULL, want, bound);

    float *dA = device_copy(A, na), *dB = device_copy(B, nb), *dC = device_copy(C0, nc);
    if (s.beta == 0.0f) CUDA_CHECK(cudaMemset(dC, 0xFF, sizeof(float) * nc));  // NaN everywhere
    run(dA, dB, dC);
    CUDA_CHECK(cudaMemcpy(got, dC, sizeof(float) * nc, cudaMemcpyDeviceToHost));
    GemmCheck c = gemm_compare(&s, got, want, bound, gemm_gamma(s.K, p));
    char line[256];
    gemm_check_line(&c, line, sizeof line);
    CHECK(c.bad == 0, "%s, %s, M=%d N=%d K=%d batch=%d trans=%d%d lda=%d ldb=%d ldc=%d alpha=%g beta=%g: %s", label,
          gemm_precision_name(p), s.M, s.N, s.K, s.batch, s.trans_a, s.trans_b, s.lda, s.ldb, s.ldc, s.alpha, s.beta,
          line);
    CHECK(c.checked == (long)s.M * s.N * s.batch, "%s: compared %ld elements", label, c.checked);
    CUDA_CHECK(cudaFree(dA));
    CUDA_CHECK(cudaFree(dB));
    CUDA_CHECK(cudaFree(dC));
    free(A), free(B), free(C0), free(want), free(bound), free(got);
}

// Sizes for the hand-written kernels: single elements, odd sizes, exact tiles (32, 64, 128),
// multiples of 4 that are not multiples of the tiles (kernel 6's float4 path with partial
// tiles), long thin K, and batches.
static const int hand_sizes[][4] = {
    {1, 1, 1, 1},     {77, 45, 19, 1},  {128, 128, 8, 1}, {128, 128, 128, 1}, {132, 260, 36, 1},
    {257, 129, 131, 1}, {33, 7, 1000, 1}, {65, 33, 17, 3}, {64, 128, 64, 2},  {200, 4, 12, 5},
};

static void check_hand_kernel(const MatmulKernel *k, const GemmShape &s) {
    check_product(k->name, s, GEMM_FP32, [&](const float *A, const float *B, float *C) {
        matmul_kernel_run(k, &s, A, B, C);
    });
}

GPU_TEST(hand_kernels_match_cpu) {
    for (int k = 0; k < matmul_kernel_count; k++)
        for (const auto &z : hand_sizes) check_hand_kernel(&matmul_kernels[k], gemm_shape(z[0], z[1], z[2], z[3]));
}

// Padded layouts: pad 3 breaks 16-byte alignment (kernel 6 falls back to scalar accesses),
// pad 4 keeps it (float4 accesses with rows wider than the matrix).
GPU_TEST(hand_kernels_padded_leading_dimensions) {
    for (int k = 0; k < matmul_kernel_count; k++)
        for (int pad : {3, 4}) {
            check_hand_kernel(&matmul_kernels[k], gemm_shape_padded(100, 76, 52, 2, false, false, pad));
            check_hand_kernel(&matmul_kernels[k], gemm_shape_padded(33, 31, 7, 1, false, false, pad));
        }
}

GPU_TEST(hand_kernels_alpha_beta) {
    GemmShape shapes[] = {gemm_shape(100, 76, 52, 2), gemm_shape(33, 31, 7, 2)};
    for (int k = 0; k < matmul_kernel_count; k++)
        for (GemmShape s : shapes) {
            s.alpha = 1.5f, s.beta = -0.5f;
            check_hand_kernel(&matmul_kernels[k], s);
        }
}

// cuBLAS through gemm_cublas: the row-major mapping for all four transpose combinations, padded
// and batched, with alpha/beta, in each precision.
static void check_cublas(cublasHandle_t h, GemmPrecision p, const GemmShape &s) {
    check_product("gemm_cublas", s, p, [&](const float *A, const float *B, float *C) {
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
        scores.alpha = 0.125f;                                      // 1/sqrt(64)
        check_cublas(h, p, scores);
        check_cublas(h, p, gemm_shape_padded(128, 64, 128, 24, false, false, 0));  // (T,T) · (T,64)
    }
    CUBLAS_CHECK(cublasDestroy(h));
}
