// Lesson 08 — matrix multiply on the CPU, five ways, against this machine's measured peak.
//
// C (n,n) = A (n,n) · B (n,n),  C[i][j] = sum_k A[i][k] * B[k][j]: n^3 multiply-adds = 2 n^3
// FLOPs. Every version below does exactly that arithmetic; they differ only in the ORDER they
// touch memory and the instructions they use, and that alone changes the speed a hundredfold:
//   1. naive i-j-k   the formula as written: the inner loop walks DOWN a column of B (stride n)
//   2. i-k-j         the same sums with two loops swapped: the inner loop walks along rows of B
//                    and C (unit stride), so the compiler can vectorize it
//   3. blocked       common/model/matmul.c's sgemm on one thread with its portable kernel: blocks
//                    packed to fit the caches, a 4x16 register tile in plain C
//   4. dispatched    the same sgemm with the kernel chosen for THIS CPU at run time
//                    (common/model/gemm_dispatch.c: AVX2 or AVX-512, FMA ports measured) and
//                    block sizes from the caches it reports: what every later lesson uses
//   5. threaded      version 4 on every core (OpenMP)
// "% of peak" divides by a measured peak: an FMA-throughput microbenchmark (enough independent
// accumulator chains to keep every FMA port busy, nothing but multiply-adds, on the widest vectors
// the CPU has), on one thread and on all of them.
// Then the Linear layer the CPU BERT uses (linear_forward/backward on sgemm): its gradient
// checked by finite differences, and its speed at a BERT size.
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/core/args.h"
#include "common/core/plot.h"
#include "common/core/rng.h"
#include "common/core/util.h"
#include "common/model/gemm_dispatch.h"
#include "common/model/matmul.h"

// ---------------------------------------------------------------------------------------------
// The peak: a loop of nothing but fused multiply-adds on independent accumulators
// (fma_peak_gflops in common/model/gemm_dispatch.c). One chain (acc = acc*x + y, again and again)
// waits ~4 cycles for its previous result; a core with two FMA ports needs 2 x 4 = 8 chains in
// flight to never wait. The probe runs 16 chains of 512-bit vectors (AVX-512) or 12 of 256-bit
// ones (AVX2), so the rate it measures is the hardware's limit for that width; the peak is the
// faster of the widths this CPU has. No kernel can beat it.
#define PEAK_ROUNDS  1000000L
#define PEAK_REPEATS 30  // short runs, many times: the best one found the core to itself

// peak_gflops: every thread runs the probe at `bits` at once and times its own run; the rates add
// up. Best of PEAK_REPEATS runs. Timing each thread separately, rather than the whole team by the
// wall clock, keeps a thread that started late from counting as slow.
static double peak_gflops(int threads, int bits) {
    double best = 0;
    for (int r = 0; r < PEAK_REPEATS; r++) {
        double gflops = 0;
#pragma omp parallel num_threads(threads) reduction(+ : gflops)
        gflops += fma_peak_gflops(bits, PEAK_ROUNDS);
        best = fmax(best, gflops);
    }
    return best;
}

// ---------------------------------------------------------------------------------------------
// The five versions, all C (n,n) = A (n,n) · B (n,n), row-major.

// 1. naive: C[i][j] = sum_k A[i][k] B[k][j]. The k loop reads B[k][j], B[k+1][j], ... n floats
// apart: every read touches a new cache line, and nothing can be vectorized.
static void matmul_naive(int n, const float *A, const float *B, float *C) {
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            float sum = 0.0f;
            for (int k = 0; k < n; k++) sum = madd(sum, A[(long)i * n + k], B[(long)k * n + j]);
            C[(long)i * n + j] = sum;
        }
}

// 2. i-k-j: for each A[i][k], add A[i][k] * (row k of B) to row i of C. The inner loop reads
// B and writes C one float after the other: whole cache lines are used, 16 floats per vector.
static void matmul_ikj(int n, const float *A, const float *B, float *C) {
    for (int i = 0; i < n; i++) {
        float *c = C + (long)i * n;
        memset(c, 0, sizeof(float) * (size_t)n);
        for (int k = 0; k < n; k++) {
            const float a = A[(long)i * n + k], *b = B + (long)k * n;
            for (int j = 0; j < n; j++) c[j] = madd(c[j], a, b[j]);
        }
    }
}

// 3., 4. and 5.: common/model/matmul.c, which this lesson introduces, with the portable kernel
// (3) and with the one dispatched for this CPU (4, 5). The caller picks the threads.
static GemmPlan portable_plan, tuned_plan;
static void matmul_portable(int n, const float *A, const float *B, float *C) {
    sgemm_planned(&portable_plan, false, false, n, n, n, 1.0f, A, n, B, n, 0.0f, C, n);
}
static void matmul_tuned(int n, const float *A, const float *B, float *C) {
    sgemm_planned(&tuned_plan, false, false, n, n, n, 1.0f, A, n, B, n, 0.0f, C, n);
}

typedef void (*MatmulFn)(int n, const float *A, const float *B, float *C);
typedef struct {
    const char *name;
    MatmulFn fn;
    bool all_threads;  // false: one thread
} Version;

static const Version VERSIONS[] = {
    {"1. naive i-j-k", matmul_naive, false},           {"2. loop order i-k-j", matmul_ikj, false},
    {"3. blocked + C kernel", matmul_portable, false}, {"4. dispatched kernel", matmul_tuned, false},
    {"5. dispatched + threads", matmul_tuned, true},
};
#define N_VERSIONS ((int)ARRAY_LEN(VERSIONS))

// best_seconds: the fastest of `repeats` calls (fewer when they take over half a second, more
// while they take under 20 ms, so tiny sizes are not timed from one call). The fastest run is
// the one least disturbed by other programs sharing the machine.
static double best_seconds(const Version *v, int threads, int n, const float *A, const float *B, float *C,
                           int repeats) {
    omp_set_num_threads(v->all_threads ? threads : 1);
    double best = INFINITY, start = now_seconds();
    for (int r = 0; (r < repeats && now_seconds() - start < 0.5) || now_seconds() - start < 0.02; r++) {
        double t0 = now_seconds();
        v->fn(n, A, B, C);
        best = fmin(best, now_seconds() - t0);
    }
    omp_set_num_threads(threads);
    return best;
}

// max_error: over a sample of entries, |C[i][j] - exact| / sum_k |A[i][k] B[k][j]|, with the
// exact sum in double. A float dot product of length n is within n*u of it (u = 2^-24).
static double max_error(int n, const float *A, const float *B, const float *C, Rng *rng) {
    double worst = 0;
    for (int s = 0; s < 64; s++) {
        int i = (int)rng_below(rng, (uint32_t)n), j = (int)rng_below(rng, (uint32_t)n);
        double exact = 0, size = 0;
        for (int k = 0; k < n; k++) {
            double t = (double)A[(long)i * n + k] * B[(long)k * n + j];
            exact += t;
            size += fabs(t);
        }
        worst = fmax(worst, fabs(C[(long)i * n + j] - exact) / fmax(size, 1e-30));
    }
    return worst;
}

static float *random_matrix(Rng *rng, long count) {
    float *x = xmalloc(sizeof(float) * (size_t)count);
    for (long i = 0; i < count; i++) x[i] = rng_normal(rng);
    return x;
}

// ---------------------------------------------------------------------------------------------
// The Linear layer of common/model/matmul.c, checked by finite differences on the loss
// L = 1/2 sum out^2 (so dL/dout = out): the analytic gradients from linear_backward against
// (L(p + eps) - L(p - eps)) / (2 eps) for every parameter and input p. L is quadratic in each
// p, so central differences are exact up to float rounding.

static double half_sum_squares(const float *inp, const float *W, const float *b, float *out, int BT, int C, int OC) {
    linear_forward(out, inp, W, b, BT, C, OC);
    double L = 0;
    for (int i = 0; i < BT * OC; i++) L += 0.5 * (double)out[i] * out[i];
    return L;
}

// FD_EPS: the nudge. L is quadratic, so a large one costs no accuracy and keeps the float
// rounding of the forward pass small next to L(p + eps) - L(p - eps).
#define FD_EPS 0.1f

// fd_max_error: max over p in x[0..n) of |analytic - numeric| / max(|analytic|, 1).
static double fd_max_error(float *x, const float *analytic, int n, const float *inp, const float *W, const float *b,
                           float *out, int BT, int C, int OC) {
    const float eps = FD_EPS;
    double worst = 0;
    for (int p = 0; p < n; p++) {
        // the step actually taken is the float keep +- eps, which is not exactly +- eps
        float keep = x[p], hi = keep + eps, lo = keep - eps;
        x[p] = hi;
        double up = half_sum_squares(inp, W, b, out, BT, C, OC);
        x[p] = lo;
        double down = half_sum_squares(inp, W, b, out, BT, C, OC);
        x[p] = keep;
        double numeric = (up - down) / ((double)hi - lo);
        worst = fmax(worst, fabs(analytic[p] - numeric) / fmax(fabs(analytic[p]), 1.0));
    }
    return worst;
}

static void linear_gradient_check(Rng *rng) {
    enum { BT = 6, C = 10, OC = 7 };
    float *inp = random_matrix(rng, BT * C), *W = random_matrix(rng, OC * C), *b = random_matrix(rng, OC);
    float *out = xmalloc(sizeof(float) * BT * OC);
    float *dinp = xcalloc(BT * C, sizeof(float)), *dW = xcalloc(OC * C, sizeof(float)),
          *db = xcalloc(OC, sizeof(float));
    half_sum_squares(inp, W, b, out, BT, C, OC);
    linear_backward(dinp, dW, db, out, inp, W, BT, C, OC);  // dout = out, gradients start at 0
    const double tol = 1e-3;
    double e_w = fd_max_error(W, dW, OC * C, inp, W, b, out, BT, C, OC);
    double e_b = fd_max_error(b, db, OC, inp, W, b, out, BT, C, OC);
    double e_x = fd_max_error(inp, dinp, BT * C, inp, W, b, out, BT, C, OC);
    printf("gradient check on (BT,C,OC) = (%d,%d,%d), loss 1/2 sum out^2, central differences, eps %g\n", BT, C, OC,
           FD_EPS);
    printf("max |analytic - numeric| / max(|analytic|, 1):  dW %.1e  db %.1e  dinp %.1e\n", e_w, e_b, e_x);
    if (fmax(e_w, fmax(e_b, e_x)) > tol) die("linear_backward disagrees with finite differences (tolerance %g)", tol);
    printf("all %d gradients agree within %g\n", OC * C + OC + BT * C, tol);
    free(inp);
    free(W);
    free(b);
    free(out);
    free(dinp);
    free(dW);
    free(db);
}

// linear_speed: forward (inp · W^T) and backward (dout · W and dout^T · inp) at a BERT size.
static void linear_speed(Rng *rng, int BT, int C, int OC, int repeats, double peak) {
    float *inp = random_matrix(rng, (long)BT * C), *W = random_matrix(rng, (long)OC * C), *b = random_matrix(rng, OC);
    float *out = xmalloc(sizeof(float) * (size_t)BT * OC), *dinp = xcalloc((size_t)BT * C, sizeof(float));
    float *dW = xcalloc((size_t)OC * C, sizeof(float)), *db = xcalloc((size_t)OC, sizeof(float));
    double fwd = INFINITY, bwd = INFINITY, flops = 2.0 * BT * C * OC;
    for (int r = 0; r < repeats; r++) {
        double t0 = now_seconds();
        linear_forward(out, inp, W, b, BT, C, OC);
        double t1 = now_seconds();
        linear_backward(dinp, dW, db, out, inp, W, BT, C, OC);
        double t2 = now_seconds();
        fwd = fmin(fwd, t1 - t0);
        bwd = fmin(bwd, t2 - t1);
    }
    printf("(BT,C,OC) = (%d,%d,%d): 2 BT C OC = %.3f GFLOP per product; all threads, best of %d\n", BT, C, OC,
           flops / 1e9, repeats);
    printf("forward   out = inp · W^T + b       %.1f GFLOP/s  %.0f%% of peak  %.2f ms\n", flops / fwd / 1e9,
           100 * flops / fwd / 1e9 / peak, fwd * 1e3);
    printf("backward  dinp, dW, db (2 products)  %.1f GFLOP/s  %.0f%% of peak  %.2f ms\n", 2 * flops / bwd / 1e9,
           100 * 2 * flops / bwd / 1e9 / peak, bwd * 1e3);
    free(inp);
    free(W);
    free(b);
    free(out);
    free(dinp);
    free(dW);
    free(db);
}

// ---------------------------------------------------------------------------------------------

// print_dispatch: which kernel version 4 runs, why, and the block sizes (common/model/gemm_dispatch.c).
static void print_dispatch(const GemmPlan *p, int widest_bits) {
    printf("\n== The kernel dispatched for this CPU ==\n");
    printf("CPU: %s\n", widest_bits == 512 ? "AVX-512F" : widest_bits == 256 ? "AVX2 + FMA" : "no AVX2");
    printf("kernel: %s (%s)\n", p->name, p->isa);
    printf("blocks: %s\n", p->blocking);
}

// plot_sweep: GFLOP/s of every version at each size, with the two peaks as flat lines. The
// peak lines run on to 1.75 n, so the legend (top right) sits over them, not over the curves.
static void plot_sweep(const char *path, const int *sizes, int n_sizes, double (*gflops)[N_VERSIONS], double peak1,
                       double peak_all, int threads) {
    Plot p = plot_new("C = A.B on this CPU", "n (n x n matrices)", "GFLOP/s");
    p.log_y = true;
    double x[16], y[16];
    for (int v = 0; v < N_VERSIONS; v++) {
        for (int s = 0; s < n_sizes; s++) {
            x[s] = sizes[s];
            y[s] = gflops[s][v];
        }
        plot_add(&p, VERSIONS[v].name, x, y, n_sizes);
    }
    char name[64];
    double ends[2] = {sizes[0], 1.75 * sizes[n_sizes - 1]}, level[2] = {peak1, peak1};
    plot_add(&p, "peak, 1 thread", ends, level, 2);
    level[0] = level[1] = peak_all;
    snprintf(name, sizeof name, "peak, %d threads", threads);
    plot_add(&p, name, ends, level, 2);
    plot_save(&p, path);
    plot_free(&p);
}

int main(int argc, char **argv) {
    int size = 512, repeats = 3, threads = omp_get_max_threads(), seed = 42;
    int linear_rows = 1024, linear_in = 384, linear_out = 1536;
    const char *plot_path = "runs/08_matmul_cpu.png", *kernel = "";
    ArgSpec specs[] = {
        {"size", ARG_INT, &size, "n: multiply two n x n matrices (the sweep for the plot runs n/8 .. n)", "Matmul"},
        {"repeats", ARG_INT, &repeats, "time every measurement this many times and keep the fastest", NULL},
        {"threads", ARG_INT, &threads, "threads for version 5, the all-thread peak and the Linear timing", NULL},
        {"kernel", ARG_STRING, &kernel,
         "versions 4-5 run this kernel instead of the dispatched one (a name the lesson lists; empty: dispatched)",
         NULL},
        {"linear_rows", ARG_INT, &linear_rows, "Linear timing: rows BT = batch x sequence length", "Linear"},
        {"linear_in", ARG_INT, &linear_in, "Linear timing: input features C (MiniLM hidden 384)", NULL},
        {"linear_out", ARG_INT, &linear_out, "Linear timing: output features OC (MiniLM intermediate 1536)", NULL},
        {"seed", ARG_INT, &seed, "random seed for the matrices", "Run"},
        {"plot", ARG_STRING, &plot_path, "PNG of GFLOP/s against n for every version", NULL},
    };
    ArgParser parser = {"08_matmul_cpu",
                        "C = A.B five ways (naive i-j-k, loop order i-k-j, cache-blocked with a plain-C register-\n"
                        "tiled micro-kernel, the same with the kernel dispatched for this CPU, that threaded) in\n"
                        "GFLOP/s against this machine's measured FMA peak;\n"
                        "then a Linear layer on the fastest one, with a finite-difference gradient check.",
                        NULL, specs, ARRAY_LEN(specs)};
    args_parse(&parser, argc, argv, NULL, 0);
    if (size < 8 || size > 8192) die("--size must be in 8..8192 (got %d)", size);
    if (repeats < 1) die("--repeats must be at least 1 (got %d)", repeats);
    if (threads < 1) die("--threads must be at least 1 (got %d)", threads);
    if (linear_rows < 1 || linear_in < 1 || linear_out < 1)
        die("--linear_rows, --linear_in and --linear_out must be positive");
    omp_set_num_threads(threads);
    Rng rng;
    rng_seed(&rng, (uint64_t)seed, RNG_STREAM_EXAMPLES);

    GemmPlan runnable[4];
    int n_runnable = gemm_plans_runnable(runnable);
    portable_plan = gemm_plan_portable();
    tuned_plan = runnable[0];
    for (int i = 0; i < n_runnable && kernel[0]; i++)
        if (!strcmp(runnable[i].name, kernel)) tuned_plan = runnable[i];
    if (kernel[0] && strcmp(tuned_plan.name, kernel)) {
        fprintf(stderr, "kernels this CPU runs:");
        for (int i = 0; i < n_runnable; i++) fprintf(stderr, " \"%s\"", runnable[i].name);
        fprintf(stderr, "\n");
        die("--kernel \"%s\" is not one of them", kernel);
    }

    printf("== The peak: fused multiply-adds per second on independent chains ==\n");
    const int widest = fma_widest_bits();
    printf("method: each thread runs independent chains acc = acc*x + y (one FMA = 2 FLOPs per float):\n");
    printf("16 chains of 512-bit vectors, 12 of 256-bit ones: more than 2 FMA ports x 4 cycles of latency\n");
    printf("%ld rounds; every thread at once, each timing itself, rates summed; best of %d runs\n", PEAK_ROUNDS,
           PEAK_REPEATS);
    // the peak is the fastest width this CPU has (with one 512-bit FMA port, 256-bit FMAs on two
    // ports give the same FLOPs)
    double peak1 = 0, peak_all = 0;
    for (int bits = widest; bits >= (widest ? 256 : 0); bits -= 256) {
        double one = peak_gflops(1, bits), all = peak_gflops(threads, bits);
        if (widest) printf("%d-bit FMAs: %.1f GFLOP/s on 1 thread, %.1f on %d\n", bits, one, all, threads);
        peak1 = fmax(peak1, one), peak_all = fmax(peak_all, all);
    }
    printf("peak, 1 thread : %.1f GFLOP/s\n", peak1);
    printf("peak, %d threads: %.1f GFLOP/s\n", threads, peak_all);
    print_dispatch(&tuned_plan, widest);

    // The sweep n/8, n/4, n/2, 3n/4, n; the table is the last size.
    const int sizes[] = {size / 8, size / 4, size / 2, 3 * size / 4, size};
    const int n_sizes = (int)ARRAY_LEN(sizes);
    double gflops[ARRAY_LEN(sizes)][N_VERSIONS], seconds[N_VERSIONS], error[N_VERSIONS];
    for (int s = 0; s < n_sizes; s++) {
        int n = sizes[s];
        float *A = random_matrix(&rng, (long)n * n), *B = random_matrix(&rng, (long)n * n);
        float *C = xmalloc(sizeof(float) * (size_t)n * n);
        for (int v = 0; v < N_VERSIONS; v++) {
            double t = best_seconds(&VERSIONS[v], threads, n, A, B, C, repeats);
            gflops[s][v] = 2.0 * n * n * n / t / 1e9;
            seconds[v] = t;
            error[v] = max_error(n, A, B, C, &rng);
            if (error[v] > n * 0x1p-24)
                die("%s at n = %d: error %.2e is above the float bound n*u = %.2e", VERSIONS[v].name, n, error[v],
                    n * 0x1p-24);
        }
        free(A);
        free(B);
        free(C);
    }

    const int n = size;
    printf("\n== C = A.B with n = %d: 2 n^3 = %.3f GFLOP, best of %d ==\n", n, 2.0 * n * n * n / 1e9, repeats);
    for (int v = 0; v < N_VERSIONS; v++) {
        int th = VERSIONS[v].all_threads ? threads : 1;
        double peak = VERSIONS[v].all_threads ? peak_all : peak1, g = gflops[n_sizes - 1][v];
        printf("%-25s %d thread%s  %.1f GFLOP/s  %.1f%% of peak  %.1f ms  error %.1e\n", VERSIONS[v].name, th,
               th == 1 ? " " : "s", g, 100 * g / peak, seconds[v] * 1e3, error[v]);
    }
    printf("error: max over 64 entries of |C - exact| / sum_k |A[i][k] B[k][j]|; all below n*u = %.1e\n", n * 0x1p-24);
    const double *g = gflops[n_sizes - 1];
    printf("speed-ups: loop order %.1fx, blocking + C kernel %.1fx more, dispatched kernel %.1fx more,\n", g[1] / g[0],
           g[2] / g[1], g[3] / g[2]);
    printf("%d threads %.1fx more: %.0fx in all\n", threads, g[4] / g[3], g[4] / g[0]);

    mkdir_p("runs");
    plot_sweep(plot_path, sizes, n_sizes, gflops, peak1, peak_all, threads);
    printf("plot of GFLOP/s for n = %d .. %d: %s\n", sizes[0], sizes[n_sizes - 1], plot_path);

    printf("\n== A Linear layer on sgemm: out = inp · W^T + b ==\n");
    linear_gradient_check(&rng);
    linear_speed(&rng, linear_rows, linear_in, linear_out, repeats, peak_all);
    return 0;
}
