// test_bf16_cpu.c — the CPU's bf16 autocast path (common/model/matmul_bf16.h, the trainer's
// --device cpu --bf16): gemm_bf16 multiplies the bf16-rounded operands exactly and sums in fp32
// (on whichever path this CPU takes), the Linear layer follows autocast's formulas, and a BERT
// step in bf16 stays within measured tolerances of the fp32 step.
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/core/rng.h"
#include "common/core/util.h"
#include "common/model/bert.h"
#include "common/model/bert_io.h"
#include "common/model/compare.h"
#include "common/model/matmul.h"
#include "common/model/matmul_bf16.h"
#include "common/model/precision.h"
#include "tests/fixture.h"

#define BERT "tests/fixtures/bert/"
// (the vdpbf16ps path itself runs only on a CPU with AVX512_BF16; elsewhere the tests check its
// packing and tiling with each instruction emulated in C, and say the native one was skipped)

static float bf(float x) { return round_to(x, FMT_BF16); }

static float *normal_array(Rng *rng, size_t n) {
    float *x = xmalloc(sizeof(float) * n);
    for (size_t i = 0; i < n; i++) x[i] = rng_normal(rng);
    return x;
}

// round_array's vectorized bf16 loop gives the bits of fp32_to_bf16 (checked against torch in
// test_precision.c) for every kind of float: random bit patterns cover normals, subnormals, ties,
// overflow to inf and NaNs with any payload.
Test(gemm_bf16, round_array_matches_fp32_to_bf16_bit_for_bit) {
    enum { N = 1 << 20 };
    uint32_t *bits = xmalloc(sizeof(uint32_t) * N);
    Rng rng;
    rng_seed(&rng, 11, 0);
    for (int i = 0; i < N; i++) bits[i] = rng_u32(&rng);
    const uint32_t special[] = {0x00000000, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000, 0x7f800001, 0xff800001,
                                0x7f7fffff, 0x3f808000, 0x3f818000, 0x00008000, 0x00018000, 0x0000ffff};
    memcpy(bits, special, sizeof special);
    float *x = xmalloc(sizeof(float) * N);
    memcpy(x, bits, sizeof(float) * N);
    round_array(x, N, FMT_BF16);
    for (int i = 0; i < N; i++) {
        float v;
        memcpy(&v, &bits[i], sizeof v);
        uint32_t want = (uint32_t)fp32_to_bf16(v) << 16, got;
        memcpy(&got, &x[i], sizeof got);
        cr_assert_eq(got, want, "0x%08x rounds to 0x%08x, fp32_to_bf16 gives 0x%08x", bits[i], got, want);
    }
    free(bits), free(x);
}

// The product of two bf16 numbers is exact in fp32, so gemm_bf16 may differ from the float64
// product of the ROUNDED operands only by its fp32 sums: K * 2^-24 * sum|a*b| (twice that
// allowed). It must be far from the product of the unrounded operands (bf16 keeps 8 bits).
// path: 0 gemm_bf16 (whichever path this CPU takes), 1 the vdpbf16ps tiles emulated in C,
// 2 the vdpbf16ps tiles on the CPU (only with AVX512_BF16).
static void check_gemm_bf16(int path, bool ta, bool tb, int M, int N, int K) {
    Rng rng;
    rng_seed(&rng, (uint64_t)(M * 7 + N * 3 + K), (uint64_t)(ta * 2 + tb));
    float *A = normal_array(&rng, (size_t)M * K), *B = normal_array(&rng, (size_t)K * N);
    float *C = normal_array(&rng, (size_t)M * N), *C0 = xmalloc(sizeof(float) * (size_t)M * N);
    memcpy(C0, C, sizeof(float) * (size_t)M * N);
    const float beta = 0.5f;
    if (path == 0) gemm_bf16(ta, tb, M, N, K, A, B, beta, C);
    else gemm_bf16_dot(path == 1, ta, tb, M, N, K, A, B, beta, C);
    double worst_unrounded = 0;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double exact = 0, abs_sum = 0, unrounded = 0;
            for (int k = 0; k < K; k++) {
                float a = ta ? A[(long)k * M + i] : A[(long)i * K + k],
                      b = tb ? B[(long)j * K + k] : B[(long)k * N + j];
                exact += (double)bf(a) * bf(b), abs_sum += fabs((double)bf(a) * bf(b)), unrounded += (double)a * b;
            }
            double want = exact + beta * C0[(long)i * N + j], got = C[(long)i * N + j];
            double bound = 2 * (K + 2) * 0x1p-24 * (abs_sum + fabs(beta * C0[(long)i * N + j]));
            cr_assert(fabs(got - want) <= bound, "%s%s %dx%dx%d C[%d][%d] = %.9g, want %.9g (bound %.3g)",
                      ta ? "T" : "N", tb ? "T" : "N", M, N, K, i, j, got, want, bound);
            worst_unrounded = fmax(worst_unrounded, fabs(got - unrounded - beta * C0[(long)i * N + j]) / abs_sum);
        }
    cr_expect(worst_unrounded > 1e-4, "the operands were not rounded to bf16 (worst change %.3g)", worst_unrounded);
    free(A), free(B), free(C), free(C0);
}

Test(gemm_bf16, products_of_rounded_operands_fp32_sums) {
    cr_log_info("gemm_bf16 path: %s", gemm_bf16_path());
    if (!bf16_dot_available()) cr_log_info("no AVX512_BF16 here: vdpbf16ps checked emulated only");
    for (int path = 0; path < (bf16_dot_available() ? 3 : 2); path++)
        for (int t = 0; t < 4; t++) {
            check_gemm_bf16(path, t & 2, t & 1, 37, 29, 70);  // odd sizes cut every 4x4 tile and 32-wide k step
            check_gemm_bf16(path, t & 2, t & 1, 5, 64, 64);
        }
}

// bf_dot: the float64 sum over k < n of bf(a[k*sa]) * bf(b[k*sb]); *bound gets what fp32 sums and
// one bf16 rounding of the result may move it by: |sum| 2^-8 + 2 (n+2) 2^-24 sum|a*b| + 2^-23.
static double bf_dot(const float *a, long sa, const float *b, long sb, int n, double *bound) {
    double s = 0, mag = 0;
    for (int k = 0; k < n; k++) {
        double p = (double)bf(a[k * sa]) * bf(b[k * sb]);
        s += p, mag += fabs(p);
    }
    *bound = fabs(s) * 0x1p-8 + 2 * (n + 2) * 0x1p-24 * mag + 0x1p-23;
    return s;
}

// The Linear layer: the forward output is bf16, bf(bf(x) W16^T + bf(b)); the backward adds
// bf16 gradients to the fp32 ones (each within bf_dot's bound of its float64 formula).
Test(linear_bf16, forward_and_backward_follow_autocast) {
    enum { BT = 6, C = 40, OC = 24 };
    Rng rng;
    rng_seed(&rng, 3, 0);
    float *x = normal_array(&rng, BT * C), *w = normal_array(&rng, OC * C), *b = normal_array(&rng, OC);
    float *dout = normal_array(&rng, BT * OC), out[BT * OC];
    linear_forward_bf16(out, x, w, b, BT, C, OC);
    double bound;
    for (int r = 0; r < BT; r++)
        for (int o = 0; o < OC; o++) {
            double want = bf(b[o]) + bf_dot(x + r * C, 1, w + o * C, 1, C, &bound);  // out = x W^T + b
            float got = out[r * OC + o];
            cr_assert(got == bf(got), "out[%d][%d] = %.9g is not a bf16 value", r, o, got);
            cr_assert(fabs(got - want) <= bound + fabs(want) * 0x1p-8, "out[%d][%d] %.9g vs %.9g", r, o, got, want);
        }
    // backward into gradients that already hold 1: they must grow by the bf16 values
    float dx[BT * C], dw[OC * C], db[OC];
    for (int i = 0; i < BT * C; i++) dx[i] = 1;
    for (int i = 0; i < OC * C; i++) dw[i] = 1;
    for (int i = 0; i < OC; i++) db[i] = 1;
    linear_backward_bf16(dx, dw, db, dout, x, w, BT, C, OC);
    for (int r = 0; r < BT; r++)
        for (int c = 0; c < C; c++) {
            double want = bf_dot(dout + r * OC, 1, w + c, C, OC, &bound);  // dx = dout W
            cr_assert(fabs(dx[r * C + c] - 1 - want) <= bound, "dx[%d][%d] %.9g vs %.9g", r, c, dx[r * C + c] - 1,
                      want);
        }
    const float ones[BT] = {1, 1, 1, 1, 1, 1};
    for (int o = 0; o < OC; o++) {
        double want = bf_dot(dout + o, OC, ones, 1, BT, &bound);  // db = sum over rows of dout
        cr_assert(fabs(db[o] - 1 - want) <= bound, "db[%d] %.9g vs %.9g", o, db[o] - 1, want);
        for (int c = 0; c < C; c++) {
            want = bf_dot(dout + o, OC, x + c, C, BT, &bound);  // dW = dout^T x
            cr_assert(fabs(dw[o * C + c] - 1 - want) <= bound, "dw[%d][%d] %.9g vs %.9g", o, c, dw[o * C + c] - 1,
                      want);
        }
    }
    free(x), free(w), free(b), free(dout);
}

// step_on_tiny: logits, loss and gradients of the tiny model's fixture batch (mean loss), in
// fp32 or under bf16 autocast. The caller frees the model.
static BertModel step_on_tiny(const FixtureBatch *b, bool autocast_bf16) {
    BertModel m = bert_load(BERT "tiny", 0, 0, NULL);
    m.autocast_bf16 = autocast_bf16;
    bert_alloc_acts(&m, b->B, b->T);
    bert_forward(&m, b->ids, b->types, b->mask, b->labels, b->B, b->T, false, NULL);
    bert_backward(&m, 1.0f / b->B);
    return m;
}

// Measured on the tiny model (2 layers, hidden 64, weights ~0.1, batch 3 x 8), bf16 autocast
// against the fp32 step: logits 9.5e-3, loss 1.2e-3 (relative), worst per-tensor gradient 2.4e-2
// (layer 0's value weight). The tolerances are ~3x those: bf16 keeps 8 significant bits (a
// rounding moves a value by up to 2^-9 = 2e-3 of itself), and each Linear rounds its inputs,
// weights, output and gradients, so a dozen roundings stack up through the 2 layers.
Test(bf16_autocast, bert_step_close_to_fp32) {
    Fixture f = fixture_load(BERT "tiny.txt");
    FixtureBatch b = fixture_batch(&f);
    BertModel ref = step_on_tiny(&b, false), m = step_on_tiny(&b, true);
    const size_t BK = (size_t)b.B * ref.config.num_labels;
    double el = max_relative_error(m.logits, ref.logits, BK), eloss = fabs(m.loss - ref.loss) / ref.loss;
    const char *which = "";
    double eg = worst_grad_error(&m.ps, m.ps.grads, ref.ps.grads, &which);
    cr_log_info("bf16 autocast vs fp32: logits %.2g, loss %.2g, worst gradient %.2g (%s)", el, eloss, eg, which);
    cr_expect(el < 3e-2, "logits relative error %.3g", el);
    cr_expect(eloss < 4e-3, "loss relative error %.3g", eloss);
    cr_expect(eg < 7e-2, "gradient of %s relative error %.3g", which, eg);
    cr_expect(el > 0, "logits identical to fp32: nothing was rounded");
    for (size_t i = 0; i < BK; i++) cr_expect(m.logits[i] == bf(m.logits[i]), "logit %zu is not a bf16 value", i);
    // the fp32 master weights themselves are untouched (autocast rounds copies)
    cr_expect(memcmp(m.ps.params, ref.ps.params, sizeof(float) * m.ps.numel) == 0, "the master weights were rounded");
    bert_free(&m);
    bert_free(&ref);
    fixture_batch_free(&b);
    fixture_free(&f);
}
