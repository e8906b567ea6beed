// test_matmul.c — common/model/matmul.c against a plain float64 triple loop: all four transpose cases,
// odd sizes that cut every block and register tile, leading dimensions wider than the matrix
// (the gap filled with NaN, which must never be read or written), alpha/beta, and the Linear
// layer's forward and accumulating backward.
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/model/gemm_dispatch.h"
#include "common/model/matmul.h"
#include "common/core/rng.h"

// A float dot product of length K is within K*u*sum|a*b| of the exact one (u = 2^-24, the
// textbook bound); the test allows twice that, so a wrong index or a lost tile fails it.
#define U 0x1p-24

// filled: a (rows, ld) matrix whose first `cols` columns are N(0,1) and whose gap is NaN.
static float *filled(Rng *rng, int rows, int cols, int ld) {
    float *x = malloc(sizeof(float) * (size_t)rows * ld + 1);
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < ld; c++) x[(long)r * ld + c] = c < cols ? rng_normal(rng) : NAN;
    return x;
}

// op: element (r, c) of op(X) for a row-major X with leading dimension ld.
static double op(const float *X, int ld, bool trans, int r, int c) {
    return trans ? X[(long)c * ld + r] : X[(long)r * ld + c];
}

// check_sgemm: sgemm with `plan` (NULL: the dispatched one, through sgemm itself).
static void check_sgemm(const GemmPlan *plan, bool ta, bool tb, int M, int N, int K, float alpha, float beta, int pad) {
    Rng rng;
    rng_seed(&rng, (uint64_t)(M * 131 + N * 17 + K), (uint64_t)(ta * 2 + tb));
    int lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
    float *A = filled(&rng, ta ? K : M, ta ? M : K, lda), *B = filled(&rng, tb ? N : K, tb ? K : N, ldb);
    float *C = filled(&rng, M, N, ldc), *C0 = malloc(sizeof(float) * (size_t)M * ldc);
    // beta = 0 must ignore what C held, NaN included
    if (beta == 0.0f)
        for (long i = 0; i < (long)M * ldc; i++) C[i] = NAN;
    memcpy(C0, C, sizeof(float) * (size_t)M * ldc);
    if (plan) sgemm_planned(plan, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    else sgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    const char *kernel = plan ? plan->name : "dispatched";
    for (int i = 0; i < M; i++) {
        for (int j = 0; j < N; j++) {
            double dot = 0, size = 0;
            for (int k = 0; k < K; k++) {
                double t = op(A, lda, ta, i, k) * op(B, ldb, tb, k, j);
                dot += t;
                size += fabs(t);
            }
            double c0 = beta == 0.0f ? 0.0 : C0[(long)i * ldc + j];
            double want = alpha * dot + beta * c0, got = C[(long)i * ldc + j];
            double tol = 2.0 * (K + 2) * U * (fabs(alpha) * size + fabs(beta * c0)) + 1e-30;
            cr_assert(fabs(got - want) <= tol,
                      "%s, kc %d: %s%s M%d N%d K%d alpha %g beta %g pad %d: C[%d][%d] = %.9g, want %.9g", kernel,
                      plan ? plan->kc : 0, ta ? "T" : "N", tb ? "T" : "N", M, N, K, alpha, beta, pad, i, j, got, want);
        }
        for (int j = N; j < ldc; j++)  // the gap of C is not C: left exactly as it was
            cr_assert(memcmp(&C[(long)i * ldc + j], &C0[(long)i * ldc + j], sizeof(float)) == 0,
                      "sgemm wrote C[%d][%d], past N = %d", i, j, N);
    }
    free(A);
    free(B);
    free(C);
    free(C0);
}

// Sizes below, at and past the register tiles (4x16 .. 12x32), the blocks (KC, MC, NC: from the
// caches, a few hundred to a few thousand) and the threading threshold (2^23 multiply-adds; C cut
// by rows and by columns).
static const int SHAPES[][3] = {
    {1, 1, 1},   {7, 5, 3},      {8, 32, 1},     {33, 17, 65},   {9, 33, 130}, {130, 70, 33},
    {1, 130, 7}, {260, 90, 400}, {40, 600, 400}, {128, 128, 32}, {3, 3100, 5},
};

static void check_shapes(const GemmPlan *plan, bool ta, bool tb) {
    for (size_t s = 0; s < sizeof SHAPES / sizeof SHAPES[0]; s++) {
        check_sgemm(plan, ta, tb, SHAPES[s][0], SHAPES[s][1], SHAPES[s][2], 1.0f, 0.0f, 0);
        check_sgemm(plan, ta, tb, SHAPES[s][0], SHAPES[s][1], SHAPES[s][2], 0.5f, 1.0f, 3);
        check_sgemm(plan, ta, tb, SHAPES[s][0], SHAPES[s][1], SHAPES[s][2], -2.0f, 0.25f, 17);
    }
}
static void check_all_shapes(bool ta, bool tb) { check_shapes(NULL, ta, tb); }

Test(matmul, sgemm_nn) { check_all_shapes(false, false); }
Test(matmul, sgemm_nt) { check_all_shapes(false, true); }
Test(matmul, sgemm_tn) { check_all_shapes(true, false); }
Test(matmul, sgemm_tt) { check_all_shapes(true, true); }

// Every kernel this CPU can run (the dispatched one is checked above), with its own block sizes
// and with tiny ones (KC 8, MC two tiles, NC two tiles) so that every shape crosses every kind
// of block edge.
Test(matmul, every_runnable_kernel_and_tiny_blocks) {
    GemmPlan plans[4];
    int n = gemm_plans_runnable(plans);
    cr_assert(n >= 2 && !strcmp(plans[n - 1].name, "portable 4x16"), "the portable kernel is always runnable");
    for (int p = 0; p < n; p++) {
        GemmPlan tiny = plans[p];
        tiny.kc = 8, tiny.mc = 2 * tiny.mr, tiny.nc = 2 * tiny.nr;
        cr_assert(plans[p].kc % 8 == 0 && plans[p].mc % plans[p].mr == 0 && plans[p].nc % plans[p].nr == 0,
                  "%s: blocks KC %d MC %d NC %d are not whole tiles", plans[p].name, plans[p].kc, plans[p].mc,
                  plans[p].nc);
        for (int t = 0; t < 4; t++) {
            if (p > 0) check_shapes(&plans[p], t & 1, t & 2);
            check_shapes(&tiny, t & 1, t & 2);
        }
    }
}

// Every kernel sums each element of C in the same order (FMAs over k in blocks of the fixed KC),
// so they give the same bits, threads or not (gemm_dispatch.c). Where FMA is not one instruction
// the portable kernel multiplies and adds separately, and only the tolerance above holds.
Test(matmul, every_kernel_gives_the_same_bits) {
#ifdef FP_FAST_FMAF
    enum { M = 70, N = 90, K = 600 };
    Rng rng;
    rng_seed(&rng, 5, 0);
    float *A = filled(&rng, M, K, K), *B = filled(&rng, N, K, K), *C0 = malloc(sizeof(float) * M * N),
          *C = malloc(sizeof(float) * M * N);
    GemmPlan plans[4];
    int n = gemm_plans_runnable(plans);
    sgemm_planned(&plans[n - 1], false, true, M, N, K, 1.0f, A, K, B, K, 0.0f, C0, N);  // portable
    for (int p = 0; p < n - 1; p++) {
        sgemm_planned(&plans[p], false, true, M, N, K, 1.0f, A, K, B, K, 0.0f, C, N);
        cr_assert(memcmp(C, C0, sizeof(float) * M * N) == 0, "%s and the portable kernel differ", plans[p].name);
    }
    free(A);
    free(B);
    free(C0);
    free(C);
#endif
}

Test(matmul, degenerate_sizes) {
    // K = 0: C = beta * C; alpha = 0: the same, A and B unread (NaN here).
    float C[6] = {1, 2, 3, 4, 5, 6}, nan_ab[4] = {NAN, NAN, NAN, NAN};
    sgemm(false, false, 2, 3, 0, 1.0f, nan_ab, 1, nan_ab, 3, 0.5f, C, 3);
    for (int i = 0; i < 6; i++) cr_assert_float_eq(C[i], 0.5f * (i + 1), 0.0f);
    sgemm(false, false, 2, 3, 1, 0.0f, nan_ab, 1, nan_ab, 3, 2.0f, C, 3);
    for (int i = 0; i < 6; i++) cr_assert_float_eq(C[i], (float)(i + 1), 0.0f);
}

// Attention calls sgemm once per (batch, head), possibly from inside a parallel loop: each
// thread must get its own packing buffers and a correct result.
Test(matmul, concurrent_calls_from_a_parallel_region) {
    enum { H = 8, T = 70, D = 40 };
    Rng rng;
    rng_seed(&rng, 7, 0);
    float *Q = filled(&rng, H * T, D, D), *K = filled(&rng, H * T, D, D), *S = malloc(sizeof(float) * H * T * T);
#pragma omp parallel for num_threads(2)
    for (int h = 0; h < H; h++)  // S_h (T,T) = Q_h · K_h^T
        sgemm(false, true, T, T, D, 1.0f, Q + h * T * D, D, K + h * T * D, D, 0.0f, S + h * T * T, T);
    for (int h = 0; h < H; h++)
        for (int i = 0; i < T; i++)
            for (int j = 0; j < T; j++) {
                double dot = 0, size = 0;
                for (int d = 0; d < D; d++) {
                    double t = (double)Q[(h * T + i) * D + d] * K[(h * T + j) * D + d];
                    dot += t;
                    size += fabs(t);
                }
                cr_assert(fabs(S[(h * T + i) * T + j] - dot) <= 2.0 * (D + 2) * U * size, "head %d S[%d][%d]", h, i, j);
            }
    free(Q);
    free(K);
    free(S);
}

// The Linear layer against explicit float64 sums: out = inp · W^T + b; backward accumulates.
Test(matmul, linear_forward_and_accumulating_backward) {
    enum { BT = 37, C = 45, OC = 29 };
    Rng rng;
    rng_seed(&rng, 11, 0);
    float *inp = filled(&rng, BT, C, C), *W = filled(&rng, OC, C, C), *b = filled(&rng, 1, OC, OC);
    float *dout = filled(&rng, BT, OC, OC), *out = malloc(sizeof(float) * BT * OC);
    float *dinp = filled(&rng, BT, C, C), *dW = filled(&rng, OC, C, C), *db = filled(&rng, 1, OC, OC);
    float *dinp0 = malloc(sizeof(float) * BT * C), *dW0 = malloc(sizeof(float) * OC * C),
          *db0 = malloc(sizeof(float) * OC);
    memcpy(dinp0, dinp, sizeof(float) * BT * C);
    memcpy(dW0, dW, sizeof(float) * OC * C);
    memcpy(db0, db, sizeof(float) * OC);
    const double tol = 2.0 * (BT + C + 2) * U;  // relative to the sum of |terms|

    linear_forward(out, inp, W, b, BT, C, OC);
    for (int r = 0; r < BT; r++)
        for (int o = 0; o < OC; o++) {
            double want = b[o], size = fabs(b[o]);
            for (int c = 0; c < C; c++)
                want += (double)inp[r * C + c] * W[o * C + c], size += fabs(inp[r * C + c] * W[o * C + c]);
            cr_assert(fabs(out[r * OC + o] - want) <= tol * size, "out[%d][%d] = %g, want %g", r, o, out[r * OC + o],
                      want);
        }
    linear_forward(out, inp, W, NULL, BT, C, OC);  // no bias
    for (int o = 0; o < OC; o++) {
        double want = 0;
        for (int c = 0; c < C; c++) want += (double)inp[c] * W[o * C + c];
        cr_assert(fabs(out[o] - want) <= 1e-5 * (1 + fabs(want)), "out[0][%d] without bias", o);
    }

    linear_backward(dinp, dW, db, dout, inp, W, BT, C, OC);
    for (int r = 0; r < BT; r++)
        for (int c = 0; c < C; c++) {  // dinp[r][c] += sum_o dout[r][o] W[o][c]
            double want = dinp0[r * C + c], size = fabs(want);
            for (int o = 0; o < OC; o++)
                want += (double)dout[r * OC + o] * W[o * C + c], size += fabs(dout[r * OC + o] * W[o * C + c]);
            cr_assert(fabs(dinp[r * C + c] - want) <= tol * size, "dinp[%d][%d] = %g, want %g", r, c, dinp[r * C + c],
                      want);
        }
    for (int o = 0; o < OC; o++) {
        for (int c = 0; c < C; c++) {  // dW[o][c] += sum_r dout[r][o] inp[r][c]
            double want = dW0[o * C + c], size = fabs(want);
            for (int r = 0; r < BT; r++)
                want += (double)dout[r * OC + o] * inp[r * C + c], size += fabs(dout[r * OC + o] * inp[r * C + c]);
            cr_assert(fabs(dW[o * C + c] - want) <= tol * size, "dW[%d][%d] = %g, want %g", o, c, dW[o * C + c], want);
        }
        double want = db0[o], size = fabs(want);  // db[o] += sum_r dout[r][o]
        for (int r = 0; r < BT; r++) want += dout[r * OC + o], size += fabs(dout[r * OC + o]);
        cr_assert(fabs(db[o] - want) <= tol * size, "db[%d] = %g, want %g", o, db[o], want);
    }

    // NULL gradients are skipped; the others still accumulate.
    memcpy(dW0, dW, sizeof(float) * OC * C);
    linear_backward(NULL, dW, NULL, dout, inp, W, BT, C, OC);
    for (int c = 0; c < C; c++) {
        double add = 0;
        for (int r = 0; r < BT; r++) add += (double)dout[r * OC] * inp[r * C + c];
        cr_assert(fabs(dW[c] - (dW0[c] + add)) <= 1e-5 * (1 + fabs(dW0[c] + add)), "dW[0][%d] after a second backward",
                  c);
    }
    free(inp);
    free(W);
    free(b);
    free(dout);
    free(out);
    free(dinp);
    free(dW);
    free(db);
    free(dinp0);
    free(dW0);
    free(db0);
}
