// test_gemm_check.c — common/model/gemm_check.c, the judge of lesson 12's GPU kernels, on the CPU:
// its reference equals the exact product for every transpose/stride/batch layout, its
// comparison flags exactly the wrong elements (NaN included), and its tolerance is loose enough
// for real TF32/BF16 input rounding yet tight enough to catch a dropped term or a wrong index.
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/model/gemm_check.h"
#include "common/core/rng.h"
#include "common/core/util.h"
#include "tests/expect_error.h"

static float *random_floats(long n, Rng *rng) {
    float *x = xmalloc(sizeof(float) * (size_t)n);
    for (long i = 0; i < n; i++) x[i] = 2.0f * rng_uniform(rng) - 1.0f;
    return x;
}

static double at_a(const GemmShape *s, const float *A, int b, int i, int k) {
    return s->trans_a ? A[b * s->stride_a + (long)k * s->lda + i] : A[b * s->stride_a + (long)i * s->lda + k];
}
static double at_b(const GemmShape *s, const float *B, int b, int k, int j) {
    return s->trans_b ? B[b * s->stride_b + (long)j * s->ldb + k] : B[b * s->stride_b + (long)k * s->ldb + j];
}

// Products: want/bound of gemm_reference against the same sums in double precision.
typedef struct {
    GemmShape s;
    float *A, *B, *C0, *want, *bound;
} Product;

static Product product(GemmShape s, Rng *rng) {
    const long nc = gemm_elements_c(&s);
    Product p = {s,
                 random_floats(gemm_elements_a(&s), rng),
                 random_floats(gemm_elements_b(&s), rng),
                 random_floats(nc, rng),
                 xmalloc(sizeof(float) * nc),
                 xmalloc(sizeof(float) * nc)};
    gemm_reference(&s, p.A, p.B, s.beta != 0.0f ? p.C0 : NULL, p.want, p.bound);
    return p;
}

static void product_free(Product *p) { free(p->A), free(p->B), free(p->C0), free(p->want), free(p->bound); }

Test(gemm_check, reference_is_the_exact_product_for_every_layout) {
    Rng rng;
    rng_seed(&rng, 1, 0);
    for (int t = 0; t < 4; t++)
        for (int pad = 0; pad <= 3; pad += 3) {
            GemmShape s = gemm_shape_padded(13, 9, 21, 3, t & 1, t & 2, pad);
            s.alpha = 0.75f, s.beta = pad ? -1.25f : 0.0f;
            Product p = product(s, &rng);
            const double gamma = gemm_gamma(s.K, GEMM_FP32);
            for (int b = 0; b < s.batch; b++)
                for (int i = 0; i < s.M; i++)
                    for (int j = 0; j < s.N; j++) {
                        const long c = b * s.stride_c + (long)i * s.ldc + j;
                        double exact = 0, abs_sum = 0;
                        for (int k = 0; k < s.K; k++) {
                            exact += at_a(&s, p.A, b, i, k) * at_b(&s, p.B, b, k, j);
                            abs_sum += fabs(at_a(&s, p.A, b, i, k) * at_b(&s, p.B, b, k, j));
                        }
                        exact = s.alpha * exact + (s.beta != 0.0f ? s.beta * p.C0[c] : 0.0);
                        abs_sum = fabs(s.alpha) * abs_sum + fabs(s.beta) * (s.beta != 0.0f ? fabs(p.C0[c]) : 0.0);
                        cr_assert_leq(fabs(p.want[c] - exact), gamma * abs_sum, "trans %d pad %d (%d,%d,%d): %g vs %g",
                                      t, pad, b, i, j, p.want[c], exact);
                        cr_assert_leq(fabs(p.bound[c] - abs_sum), 1e-5 * abs_sum, "bound (%d,%d,%d)", b, i, j);
                    }
            product_free(&p);
        }
}

Test(gemm_check, element_counts_span_strides_and_padding) {
    GemmShape s = gemm_shape_padded(5, 7, 3, 4, true, false, 2);  // A stored (K,M) = (3,5), lda 7
    cr_assert_eq(gemm_elements_a(&s), 3L * s.stride_a + 2L * 7 + 5);
    cr_assert_eq(gemm_elements_b(&s), 3L * s.stride_b + 2L * 9 + 7);
    cr_assert_eq(gemm_elements_c(&s), 3L * s.stride_c + 4L * 9 + 7);
    cr_assert_float_eq(gemm_flops(&s), 2.0 * 5 * 7 * 3 * 4, 0);
}

Test(gemm_check, compare_flags_exactly_the_wrong_elements) {
    Rng rng;
    rng_seed(&rng, 2, 0);
    GemmShape s = gemm_shape_padded(6, 5, 40, 2, false, false, 1);
    Product p = product(s, &rng);
    const long nc = gemm_elements_c(&s);
    float *got = xmalloc(sizeof(float) * nc);
    const double gamma = gemm_gamma(s.K, GEMM_FP32);
    const long at = 1 * s.stride_c + 2L * s.ldc + 3;  // batch 1, row 2, col 3

    memcpy(got, p.want, sizeof(float) * nc);
    for (int b = 0; b < s.batch; b++) got[b * s.stride_c + s.N] = NAN;  // row padding: never compared
    GemmCheck c = gemm_compare(&s, got, p.want, p.bound, gamma);
    cr_assert_eq(c.checked, 6L * 5 * 2);
    cr_assert_eq(c.bad, 0);
    cr_assert_eq(c.worst, 0.0);

    got[at] = p.want[at] + (float)(0.5 * gamma * p.bound[at]);
    c = gemm_compare(&s, got, p.want, p.bound, gamma);
    cr_assert_eq(c.bad, 0);
    cr_assert(c.worst > 0.45 && c.worst < 0.55, "worst %g", c.worst);

    got[at] = p.want[at] + (float)(2.0 * gamma * p.bound[at]);
    c = gemm_compare(&s, got, p.want, p.bound, gamma);
    cr_assert_eq(c.bad, 1);
    cr_assert(c.bad_batch == 1 && c.bad_row == 2 && c.bad_col == 3);
    cr_assert(isinf(c.worst));

    got[at] = NAN;
    c = gemm_compare(&s, got, p.want, p.bound, gamma);
    cr_assert_eq(c.bad, 1);
    char line[256];
    gemm_check_line(&c, line, sizeof line);
    cr_assert(strstr(line, "1 of 60 elements wrong; first at batch 1 row 2 col 3: got nan"), "%s", line);
    free(got);
    product_free(&p);
}

// round_mantissa: x with only `bits` explicit mantissa bits, rounded to nearest (or truncated).
static float round_mantissa(float x, int bits, bool truncate) {
    uint32_t u;
    memcpy(&u, &x, 4);
    const uint32_t drop = 23 - bits, mask = (1u << drop) - 1;
    if (!truncate) u += (1u << (drop - 1)) - 1 + ((u >> drop) & 1);  // round half to even
    u &= ~mask;
    memcpy(&x, &u, 4);
    return x;
}

// emulate: what a tensor core computes from inputs rounded to `bits` mantissa bits: the products
// of the rounded inputs, summed (here in double, i.e. with no further error).
static void emulate(const GemmShape *s, const float *A, const float *B, int bits, bool truncate, float *out) {
    for (int i = 0; i < s->M; i++)
        for (int j = 0; j < s->N; j++) {
            double acc = 0;
            for (int k = 0; k < s->K; k++)
                acc += (double)round_mantissa(A[(long)i * s->lda + k], bits, truncate) *
                    round_mantissa(B[(long)k * s->ldb + j], bits, truncate);
            out[(long)i * s->ldc + j] = (float)acc;
        }
}

Test(gemm_check, tolerance_admits_tf32_and_bf16_input_rounding) {
    Rng rng;
    rng_seed(&rng, 3, 0);
    float *got = xmalloc(sizeof(float) * 16 * 16);
    for (int K = 768; K <= 3072; K *= 4) {
        Product p = product(gemm_shape_padded(16, 16, K, 1, false, false, 0), &rng);
        const struct {
            int bits;
            bool truncate;
            GemmPrecision p;
        } cases[] = {{10, true, GEMM_TF32}, {10, false, GEMM_TF32}, {7, false, GEMM_BF16}};
        for (size_t c = 0; c < ARRAY_LEN(cases); c++) {
            emulate(&p.s, p.A, p.B, cases[c].bits, cases[c].truncate, got);
            GemmCheck ok = gemm_compare(&p.s, got, p.want, p.bound, gemm_gamma(K, cases[c].p));
            cr_assert_eq(ok.bad, 0, "K=%d %s: %ld bad", K, gemm_precision_name(cases[c].p), ok.bad);
            cr_assert(ok.worst > 0 && ok.worst < 0.5, "K=%d %s: worst %g", K, gemm_precision_name(cases[c].p),
                      ok.worst);
        }
        product_free(&p);
    }
    free(got);
}

Test(gemm_check, tolerance_catches_a_dropped_term_and_a_wrong_index) {
    Rng rng;
    rng_seed(&rng, 4, 0);
    for (int K = 19; K <= 768; K = K * 40 + 8) {  // 19, then 768
        GemmShape s = gemm_shape_padded(32, 32, K, 1, false, false, 0);
        Product p = product(s, &rng);
        float *got = xmalloc(sizeof(float) * 32 * 32);
        for (int i = 0; i < 32; i++)  // the last k term forgotten (a tile-tail bug)
            for (int j = 0; j < 32; j++)
                got[i * 32 + j] = p.want[i * 32 + j] - p.A[(long)i * K + K - 1] * p.B[(long)(K - 1) * 32 + j];
        GemmCheck c = gemm_compare(&s, got, p.want, p.bound, gemm_gamma(K, GEMM_FP32));
        cr_assert_gt(c.bad, 32 * 32 / 2, "K=%d: dropped term flagged in only %ld of 1024", K, c.bad);
        for (int i = 0; i < 32; i++)  // each element read from the next column (an index bug)
            for (int j = 0; j < 32; j++) got[i * 32 + j] = p.want[i * 32 + (j + 1) % 32];
        c = gemm_compare(&s, got, p.want, p.bound, gemm_gamma(K, GEMM_FP32));
        cr_assert_gt(c.bad, 32 * 32 * 99 / 100, "K=%d: shifted column flagged in only %ld of 1024", K, c.bad);
        // the loosest tolerance still flags most elements (a wrong index is off by about sqrt(K)/3)
        c = gemm_compare(&s, got, p.want, p.bound, gemm_gamma(K, GEMM_BF16));
        cr_assert_gt(c.bad, 32 * 32 * 3 / 4, "K=%d: shifted column flagged in only %ld of 1024 (bf16 tolerance)", K,
                     c.bad);
        free(got);
        product_free(&p);
    }
}

Test(gemm_check, beta_without_initial_c_is_an_error) {
    GemmShape s = gemm_shape(2, 2, 2, 1);
    s.beta = 1.0f;
    float A[4] = {0}, B[4] = {0}, want[4], bound[4];
    EXPECT_ERROR("gemm_reference: beta = 1 needs the initial C", gemm_reference(&s, A, B, NULL, want, bound));
}
