// gemm_check.c — see gemm_check.h.
#include "common/model/gemm_check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/model/matmul.h"
#include "common/core/util.h"

GemmShape gemm_shape_padded(int M, int N, int K, int batch, bool trans_a, bool trans_b, int pad) {
    GemmShape s = {
        .trans_a = trans_a, .trans_b = trans_b, .M = M, .N = N, .K = K, .batch = batch, .alpha = 1.0f, .beta = 0.0f};
    s.lda = (trans_a ? M : K) + pad, s.ldb = (trans_b ? K : N) + pad, s.ldc = N + pad;
    s.stride_a = (long)(trans_a ? K : M) * s.lda + pad;  // A is stored (K,M) when transposed
    s.stride_b = (long)(trans_b ? N : K) * s.ldb + pad;
    s.stride_c = (long)M * s.ldc + pad;
    return s;
}

GemmShape gemm_shape(int M, int N, int K, int batch) { return gemm_shape_padded(M, N, K, batch, false, false, 0); }

// span: floats from the first element of matrix 0 to the last of matrix batch-1.
static long span(long stride, int batch, int rows, int cols, int ld) {
    return (long)(batch - 1) * stride + (long)(rows - 1) * ld + cols;
}

long gemm_elements_a(const GemmShape *s) {
    return s->trans_a ? span(s->stride_a, s->batch, s->K, s->M, s->lda)
                      : span(s->stride_a, s->batch, s->M, s->K, s->lda);
}
long gemm_elements_b(const GemmShape *s) {
    return s->trans_b ? span(s->stride_b, s->batch, s->N, s->K, s->ldb)
                      : span(s->stride_b, s->batch, s->K, s->N, s->ldb);
}
long gemm_elements_c(const GemmShape *s) { return span(s->stride_c, s->batch, s->M, s->N, s->ldc); }

double gemm_flops(const GemmShape *s) { return 2.0 * s->M * s->N * (double)s->K * s->batch; }

double gemm_input_roundoff(GemmPrecision p) {
    switch (p) {
    case GEMM_FP32: return 0.0;
    case GEMM_TF32: return ldexp(1.0, -10);
    case GEMM_BF16: return ldexp(1.0, -8);
    }
    return 1.0;
}

const char *gemm_precision_name(GemmPrecision p) {
    switch (p) {
    case GEMM_FP32: return "fp32";
    case GEMM_TF32: return "tf32";
    case GEMM_BF16: return "bf16";
    }
    return "?";
}

double gemm_gamma(int K, GemmPrecision p) { return 2.0 * gemm_input_roundoff(p) + 2.0 * (K + 2) * ldexp(1.0, -23); }

static float *abs_copy(const float *x, long n) {
    float *y = xmalloc(sizeof(float) * (size_t)n);
    for (long i = 0; i < n; i++) y[i] = fabsf(x[i]);
    return y;
}

void gemm_reference(const GemmShape *s, const float *A, const float *B, const float *C0, float *want, float *bound) {
    if (s->beta != 0.0f && !C0) die("gemm_reference: beta = %g needs the initial C", s->beta);
    const long nc = gemm_elements_c(s);
    float *absA = abs_copy(A, gemm_elements_a(s)), *absB = abs_copy(B, gemm_elements_b(s));
    for (long i = 0; i < nc; i++) {
        want[i] = C0 ? C0[i] : 0.0f;
        bound[i] = C0 ? fabsf(C0[i]) : 0.0f;
    }
    for (int b = 0; b < s->batch; b++) {
        const long a = b * s->stride_a, bb = b * s->stride_b, c = b * s->stride_c;
        sgemm(s->trans_a, s->trans_b, s->M, s->N, s->K, s->alpha, A + a, s->lda, B + bb, s->ldb, s->beta, want + c,
              s->ldc);
        sgemm(s->trans_a, s->trans_b, s->M, s->N, s->K, fabsf(s->alpha), absA + a, s->lda, absB + bb, s->ldb,
              fabsf(s->beta), bound + c, s->ldc);
    }
    free(absA);
    free(absB);
}

GemmCheck gemm_compare(const GemmShape *s, const float *got, const float *want, const float *bound, double gamma) {
    GemmCheck c = {0};
    for (int b = 0; b < s->batch; b++)
        for (int i = 0; i < s->M; i++)
            for (int j = 0; j < s->N; j++) {
                const long at = b * s->stride_c + (long)i * s->ldc + j;
                const double err = fabs((double)got[at] - want[at]), tol = gamma * bound[at];
                const double ratio = err == 0.0 ? 0.0 : err / tol;  // NaN stays NaN, x/0 is inf
                c.checked++;
                if (!(err <= tol)) {  // written so that a NaN is bad
                    if (c.bad++ == 0) {
                        c.bad_batch = b, c.bad_row = i, c.bad_col = j;
                        c.bad_got = got[at], c.bad_want = want[at], c.bad_tol = tol;
                    }
                    c.worst = INFINITY;
                } else if (ratio > c.worst) {
                    c.worst = ratio;
                }
            }
    return c;
}

void gemm_check_line(const GemmCheck *c, char *out, size_t n) {
    if (c->bad == 0)
        snprintf(out, n, "all %ld elements within tolerance (worst |error| = %.2g of it)", c->checked, c->worst);
    else
        snprintf(out, n,
                 "%ld of %ld elements wrong; first at batch %d row %d col %d: got %.9g, want %.9g (tolerance %.3g)",
                 c->bad, c->checked, c->bad_batch, c->bad_row, c->bad_col, c->bad_got, c->bad_want, c->bad_tol);
}
