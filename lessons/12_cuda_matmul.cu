// Lesson 12 — matrix multiply on the GPU, kernel by kernel, against cuBLAS.
//
// A BERT training step is mostly matrix products: every Linear layer (Q, K, V, attention output,
// the two feed-forward layers) and, per sequence and head, the attention products Q·K^T and P·V.
// This lesson times six hand-written CUDA kernels for C = A·B (kernels/matmul/1_naive.cuh ...
// 6_vectorized.cuh, each fixing what limited the one before; kernels/matmul/matmul.cu runs them)
// against cuBLAS in float32, then cuBLAS on the tensor cores in TF32 and BF16, at BERT-base's real
// shapes (B = 32 sequences of T = 128 tokens, hidden 768, feed-forward 3072, 12 heads of size 64)
// and at 4096^3:
//
//   TFLOP/s = 2 M N K batch / seconds / 1e12          % of cuBLAS = cuBLAS fp32 time / kernel time
//
// Every result is first checked element by element against the CPU product (common/model/matmul.c
// sgemm) within the rounding-error bound of its precision (common/model/gemm_check.h), on an output
// poisoned with NaN beforehand, so a kernel that skips an element cannot pass.
//
// Without a GPU the lesson prints its plan, says that no CUDA device was found, and exits 0.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/core/cublas_gemm.cuh"
#include "kernels/matmul/matmul.cuh"

// The default sizes: BERT-base's products for a batch of 32 x 128 tokens, and the classic square.
typedef struct {
    int M, N, K, batch;
    const char *what;
} Size;

static const Size bert_sizes[] = {
    {4096, 768, 768, 1, "Linear 768->768 (Q, K, V, attention output) on B*T = 32*128 tokens"},
    {4096, 3072, 768, 1, "feed-forward up, Linear 768->3072"},
    {4096, 768, 3072, 1, "feed-forward down, Linear 3072->768"},
    {128, 128, 64, 384, "attention scores Q (T,64) · K^T (64,T) for B*heads = 32*12"},
    {128, 64, 128, 384, "attention output P (T,T) · V (T,64) for B*heads = 32*12"},
    {4096, 4096, 4096, 1, "the square benchmark"},
};

#define MAX_SIZES 32

// Contender: one row of the table, a hand-written kernel or a cuBLAS precision.
typedef struct {
    const char *name;
    const char *what;
    const MatmulKernel *hand;  // NULL for cuBLAS
    GemmPrecision precision;
} Contender;

typedef struct {
    const float *A, *B;              // (batch,M,K), (batch,K,N)
    const __nv_bfloat16 *A16, *B16;  // the same in bfloat16, for cublas_bf16
    float *C;                        // (batch,M,N)
} Operands;

typedef struct {
    double ms;  // mean time per product
    GemmCheck check;
} Result;

// size_text: "4096x768x768" or "128x128x64x384".
static void size_text(const Size *z, char *out, size_t n) {
    if (z->batch == 1) snprintf(out, n, "%dx%dx%d", z->M, z->N, z->K);
    else snprintf(out, n, "%dx%dx%dx%d", z->M, z->N, z->K, z->batch);
}

// parse_size: "MxNxK" or "MxNxKxBATCH", every number >= 1.
static Size parse_size(const char *tok) {
    int v[4] = {0, 0, 0, 1}, n = 0;
    const char *p = tok;
    for (;;) {
        char *end;
        long x = strtol(p, &end, 10);
        if (end == p || x < 1 || x > 1 << 20 || n == 4)
            die("--sizes: '%s' is not MxNxK or MxNxKxBATCH with every number in 1..%d", tok, 1 << 20);
        v[n++] = (int)x;
        if (*end == '\0') break;
        if (*end != 'x') die("--sizes: '%s' is not MxNxK or MxNxKxBATCH (numbers joined by 'x')", tok);
        p = end + 1;
    }
    if (n < 3) die("--sizes: '%s' is not MxNxK or MxNxKxBATCH", tok);
    Size z = {v[0], v[1], v[2], v[3], ""};
    for (size_t i = 0; i < ARRAY_LEN(bert_sizes); i++) {
        const Size *b = &bert_sizes[i];
        if (b->M == z.M && b->N == z.N && b->K == z.K && b->batch == z.batch) z.what = b->what;
    }
    return z;
}

static int parse_sizes(const char *list, Size *sizes) {
    char *copy = xstrdup(list), *save = NULL;
    int n = 0;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (n == MAX_SIZES) die("--sizes: more than %d sizes", MAX_SIZES);
        sizes[n++] = parse_size(tok);
    }
    free(copy);
    if (n == 0) die("--sizes: no size given");
    return n;
}

// contenders: the six kernels and the three cuBLAS precisions, filtered by --kernel. cuBLAS fp32,
// the baseline of the % column, always runs and is returned at index *baseline.
static int contenders(const char *pick, Contender *out, int *baseline) {
    static const struct {
        const char *name, *what;
        GemmPrecision p;
    } blas[] = {
        {"cublas", "cuBLAS SGEMM, float32 on the CUDA cores: the baseline (100%)", GEMM_FP32},
        {"cublas_tf32", "cuBLAS on the tensor cores, inputs rounded to TF32 (10-bit mantissa)", GEMM_TF32},
        {"cublas_bf16", "cuBLAS on the tensor cores, inputs converted to bfloat16 (conversion not timed)", GEMM_BF16},
    };
    const bool all = !strcmp(pick, "all");
    int n = 0;
    for (int k = 0; k < matmul_kernel_count; k++) {
        if (!all && atoi(pick) != k + 1) continue;
        out[n++] = (Contender){matmul_kernels[k].name, matmul_kernels[k].what, &matmul_kernels[k], GEMM_FP32};
    }
    for (size_t b = 0; b < ARRAY_LEN(blas); b++) {
        if (!all && b > 0 && strcmp(pick, blas[b].name)) continue;
        if (b == 0) *baseline = n;
        out[n++] = (Contender){blas[b].name, blas[b].what, NULL, blas[b].p};
    }
    return n;
}

static void print_plan(const Size *sizes, int n_sizes, const Contender *cs, int nc, int warmup, int repeats) {
    printf("C (M,N) = A (M,K) · B (K,N), row-major, float32 in and out; sizes are MxNxK[xBATCH]:\n");
    for (int i = 0; i < n_sizes; i++) {
        char text[64];
        size_text(&sizes[i], text, sizeof text);
        GemmShape s = gemm_shape(sizes[i].M, sizes[i].N, sizes[i].K, sizes[i].batch);
        printf("  %-18s %8.4g GFLOP%s%s\n", text, gemm_flops(&s) / 1e9, *sizes[i].what ? "  " : "", sizes[i].what);
    }
    printf("kernels:\n");
    for (int c = 0; c < nc; c++) printf("  %-20s %s\n", cs[c].name, cs[c].what);
    printf("check: every element against the CPU (common/model/matmul.c sgemm): |error| <= gamma (|A|·|B|)[i][j]\n");
    printf("  gamma = 2 u_in + 2 (K+2) 2^-23; at K = %d: fp32 %.1e, tf32 %.1e, bf16 %.1e\n", sizes[0].K,
           gemm_gamma(sizes[0].K, GEMM_FP32), gemm_gamma(sizes[0].K, GEMM_TF32), gemm_gamma(sizes[0].K, GEMM_BF16));
    printf("timing: %d warm-up run(s), then the mean of %d runs between CUDA events\n", warmup, repeats);
}

static void run_contender(const Contender *c, cublasHandle_t handle, const GemmShape *s, const Operands *o) {
    if (c->hand) matmul_kernel_run(c->hand, s, o->A, o->B, o->C);
    else if (c->precision == GEMM_BF16) gemm_cublas(handle, GEMM_BF16, s, o->A16, o->B16, o->C);
    else gemm_cublas(handle, c->precision, s, o->A, o->B, o->C);
}

// check_contender: poison C with NaN (all bits set), run once, compare every element.
static GemmCheck check_contender(const Contender *c, cublasHandle_t handle, const GemmShape *s, const Operands *o,
                                 const float *want, const float *bound, float *got) {
    const size_t bytes = sizeof(float) * (size_t)gemm_elements_c(s);
    CUDA_CHECK(cudaMemset(o->C, 0xFF, bytes));
    run_contender(c, handle, s, o);
    CUDA_CHECK(cudaMemcpy(got, o->C, bytes, cudaMemcpyDeviceToHost));
    return gemm_compare(s, got, want, bound, gemm_gamma(s->K, c->precision));
}

// time_contender: mean milliseconds per product over `repeats` runs after `warmup` runs.
static double time_contender(const Contender *c, cublasHandle_t handle, const GemmShape *s, const Operands *o,
                             int warmup, int repeats) {
    cudaEvent_t start, stop;
    CUDA_CHECK(cudaEventCreate(&start));
    CUDA_CHECK(cudaEventCreate(&stop));
    for (int r = 0; r < warmup; r++) run_contender(c, handle, s, o);
    CUDA_CHECK(cudaEventRecord(start));
    for (int r = 0; r < repeats; r++) run_contender(c, handle, s, o);
    CUDA_CHECK(cudaEventRecord(stop));
    CUDA_CHECK(cudaEventSynchronize(stop));
    float ms = 0.0f;
    CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
    CUDA_CHECK(cudaEventDestroy(start));
    CUDA_CHECK(cudaEventDestroy(stop));
    return ms / repeats;
}

static void fill_uniform(float *x, long n, Rng *rng) {
    for (long i = 0; i < n; i++) x[i] = 2.0f * rng_uniform(rng) - 1.0f;  // U[-1, 1)
}

// to_device: a device copy of n host floats (and, when bf16 is not NULL, a bfloat16 one).
static float *to_device(const float *x, long n, const char *what, __nv_bfloat16 **bf16) {
    float *d = (float *)cuda_malloc(sizeof(float) * (size_t)n, what);
    CUDA_CHECK(cudaMemcpy(d, x, sizeof(float) * (size_t)n, cudaMemcpyHostToDevice));
    if (bf16) {
        *bf16 = (__nv_bfloat16 *)cuda_malloc(sizeof(__nv_bfloat16) * (size_t)n, what);
        f32_to_bf16(*bf16, d, n);
    }
    return d;
}

// run_size: check and time every contender at one size; print its table. Returns the number
// of contenders whose result was wrong.
static int run_size(const Size *z, const Contender *cs, int nc, int baseline, cublasHandle_t handle, int warmup,
                    int repeats, Rng *rng) {
    const GemmShape s = gemm_shape(z->M, z->N, z->K, z->batch);
    const long na = gemm_elements_a(&s), nb = gemm_elements_b(&s), nc_el = gemm_elements_c(&s);
    float *A = (float *)xmalloc(sizeof(float) * na), *B = (float *)xmalloc(sizeof(float) * nb);
    float *want = (float *)xmalloc(sizeof(float) * nc_el), *bound = (float *)xmalloc(sizeof(float) * nc_el);
    float *got = (float *)xmalloc(sizeof(float) * nc_el);
    fill_uniform(A, na, rng);
    fill_uniform(B, nb, rng);
    const double t0 = now_seconds();
    gemm_reference(&s, A, B, NULL, want, bound);
    const double cpu_s = now_seconds() - t0;

    bool need_bf16 = false;
    for (int c = 0; c < nc; c++) need_bf16 |= !cs[c].hand && cs[c].precision == GEMM_BF16;
    __nv_bfloat16 *A16 = NULL, *B16 = NULL;
    float *dA = to_device(A, na, "A", need_bf16 ? &A16 : NULL), *dB = to_device(B, nb, "B", need_bf16 ? &B16 : NULL);
    float *dC = (float *)cuda_malloc(sizeof(float) * (size_t)nc_el, "C");
    const Operands o = {dA, dB, A16, B16, dC};

    Result *res = (Result *)xmalloc(sizeof(Result) * nc);
    for (int c = 0; c < nc; c++) {
        res[c].check = check_contender(&cs[c], handle, &s, &o, want, bound, got);
        res[c].ms = time_contender(&cs[c], handle, &s, &o, warmup, repeats);
    }

    char text[64];
    size_text(z, text, sizeof text);
    printf("\n== %s%s%s: %.4g GFLOP; CPU reference (sgemm, both products) %.2f s ==\n", text, *z->what ? ": " : "",
           z->what, gemm_flops(&s) / 1e9, cpu_s);
    printf("%-20s %10s %9s %10s  %s\n", "kernel", "ms", "TFLOP/s", "% cuBLAS", "check: worst |error| / tolerance");
    int wrong = 0;
    for (int c = 0; c < nc; c++) {
        const double tflops = gemm_flops(&s) / (res[c].ms * 1e-3) / 1e12;
        const double pct = 100.0 * res[baseline].ms / res[c].ms;
        char check[256];
        if (res[c].check.bad == 0) {
            snprintf(check, sizeof check, "ok %.2g", res[c].check.worst);
        } else {
            gemm_check_line(&res[c].check, check, sizeof check);
            wrong++;
        }
        printf("%-20s %10.4f %9.2f %9.1f%%  %s%s\n", cs[c].name, res[c].ms, tflops, pct,
               res[c].check.bad ? "WRONG: " : "", check);
    }
    fflush(stdout);

    free(res);
    CUDA_CHECK(cudaFree(dA));
    CUDA_CHECK(cudaFree(dB));
    CUDA_CHECK(cudaFree(dC));
    CUDA_CHECK(cudaFree(A16));  // cudaFree(NULL) is a no-op
    CUDA_CHECK(cudaFree(B16));
    free(A), free(B), free(want), free(bound), free(got);
    return wrong;
}

int main(int argc, char **argv) {
    // --sizes defaults to the table above, written out as MxNxK[xBATCH],...
    char default_sizes[512] = "";
    for (size_t i = 0; i < ARRAY_LEN(bert_sizes); i++) {
        char text[64];
        size_text(&bert_sizes[i], text, sizeof text);
        snprintf(default_sizes + strlen(default_sizes), sizeof default_sizes - strlen(default_sizes), "%s%s",
                 i ? "," : "", text);
    }
    const char *sizes_flag = default_sizes, *kernel = "all";
    int repeats = 10, warmup = 2, seed = 42;
    ArgSpec specs[] = {
        {"sizes", ARG_STRING, &sizes_flag, "comma-separated MxNxK or MxNxKxBATCH (BATCH: a strided batch)", "Sweep"},
        {"kernel", ARG_CHOICE, &kernel, "one kernel (cuBLAS fp32 always runs as the baseline)", NULL,
         "all|1|2|3|4|5|6|cublas|cublas_tf32|cublas_bf16"},
        {"repeats", ARG_INT, &repeats, "timed runs per kernel and size (the mean is reported)", "Timing"},
        {"warmup", ARG_INT, &warmup, "untimed runs before timing", NULL},
        {"seed", ARG_INT, &seed, "random seed for A and B (uniform in [-1, 1))", "Run"},
    };
    ArgParser parser = {"12_cuda_matmul",
                        "Matrix multiply on the GPU: six hand-written CUDA kernels (naive, coalesced, shared-memory\n"
                        "tiles, 1-D and 2-D register tiles, float4 loads) against cuBLAS in fp32, TF32 and BF16, with\n"
                        "strided-batched products for attention; TFLOP/s and % of cuBLAS at BERT-base's shapes.\n"
                        "Every result is checked element by element against the CPU. Without a GPU it prints its plan.",
                        NULL, specs, (int)ARRAY_LEN(specs)};
    args_parse(&parser, argc, argv, NULL, 0);
    if (repeats < 1) die("--repeats must be at least 1 (got %d)", repeats);
    if (warmup < 0) die("--warmup must be 0 or more (got %d)", warmup);
    Size sizes[MAX_SIZES];
    const int n_sizes = parse_sizes(sizes_flag, sizes);
    Contender cs[16];
    int baseline = 0;
    const int nc = contenders(kernel, cs, &baseline);

    print_plan(sizes, n_sizes, cs, nc, warmup, repeats);
    char why[256];
    if (!gpu_available(why, sizeof why)) {
        printf("no CUDA device found: nothing was timed (bench/gpu_quick.sh runs this on a GPU machine)\n");
        fflush(stdout);
        fprintf(stderr, "note: %s\n", why);
        return 0;
    }
    char gpu[256];
    gpu_describe(gpu, sizeof gpu);
    printf("GPU: %s\n", gpu);

    cublasHandle_t handle;
    CUBLAS_CHECK(cublasCreate(&handle));
    Rng rng;
    rng_seed(&rng, (uint64_t)seed, RNG_STREAM_EXAMPLES);
    int wrong = 0;
    for (int i = 0; i < n_sizes; i++) wrong += run_size(&sizes[i], cs, nc, baseline, handle, warmup, repeats, &rng);
    CUBLAS_CHECK(cublasDestroy(handle));
    if (wrong) die("%d kernel run(s) gave wrong results: see the lines marked WRONG above", wrong);
    return 0;
}
