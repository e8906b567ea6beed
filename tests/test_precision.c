// test_precision.c — lesson 14's pieces: fp16/bf16 conversions and format limits against
// PyTorch, the GradScaler against torch.amp.GradScaler (tests/gen_precision.py), and the
// mixed-precision emulation of the CPU BERT against its fp32 run on the tiny model of
// tests/gen_bert.py, with the tolerances measured (and stated below).
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/model/bert.h"
#include "common/model/bert_io.h"
#include "common/model/compare.h"
#include "common/train/grad_scaler.h"
#include "common/train/mixed_precision.h"
#include "common/model/precision.h"
#include "common/core/util.h"
#include "tests/expect_error.h"
#include "tests/fixture.h"

#define FIX  "tests/fixtures/precision/precision.txt"
#define BERT "tests/fixtures/bert/"

Test(precision, conversions_match_torch_bit_for_bit) {
    Fixture f = fixture_load(FIX);
    int n, n16, nb;
    double *x = fixture_doubles(&f, "values", &n), *h = fixture_doubles(&f, "fp16_bits", &n16);
    double *b = fixture_doubles(&f, "bf16_bits", &nb);
    cr_assert(n == n16 && n == nb);
    for (int i = 0; i < n; i++) {
        float v = (float)x[i];
        cr_expect_eq(fp32_to_fp16(v), (uint16_t)h[i], "fp16(%.9g) = 0x%04x, torch 0x%04x", v, fp32_to_fp16(v),
                     (unsigned)h[i]);
        cr_expect_eq(fp32_to_bf16(v), (uint16_t)b[i], "bf16(%.9g) = 0x%04x, torch 0x%04x", v, fp32_to_bf16(v),
                     (unsigned)b[i]);
        // back to fp32 is exact: converting again gives the same bits
        cr_expect_eq(fp32_to_fp16(fp16_to_fp32((uint16_t)h[i])), (uint16_t)h[i], "fp16 0x%04x round trip",
                     (unsigned)h[i]);
        cr_expect_eq(fp32_to_bf16(bf16_to_fp32((uint16_t)b[i])), (uint16_t)b[i], "bf16 0x%04x round trip",
                     (unsigned)b[i]);
    }
    cr_expect(isnan(round_to(NAN, FMT_FP16)) && isnan(round_to(NAN, FMT_BF16)), "NaN must stay NaN");
    free(x), free(h), free(b);
    fixture_free(&f);
}

Test(precision, format_limits_match_torch_finfo) {
    Fixture f = fixture_load(FIX);
    const char *keys[] = {"finfo_fp32", "finfo_fp16", "finfo_bf16"};
    for (int k = 0; k < 3; k++) {
        int n;
        double *want = fixture_doubles(&f, keys[k], &n);
        FormatInfo fi = format_info((FloatFormat)k);
        double got[] = {fi.largest, fi.smallest_normal, fi.smallest_subnormal, fi.epsilon};
        for (int i = 0; i < 4; i++) cr_expect_eq(got[i], want[i], "%s[%d] = %g, torch %g", keys[k], i, got[i], want[i]);
        free(want);
    }
    fixture_free(&f);
}

// Stochastic rounding is unbiased: the mean of many roundings of x is x (to sampling noise),
// while round-to-nearest always gives the same neighbour.
Test(precision, bf16_stochastic_rounding_is_unbiased) {
    Rng r;
    rng_seed(&r, 1, 0);
    const float x = 1.0f + 0.3f * 0.0078125f;  // 30% of the way from 1 to the next bf16 number
    double sum = 0;
    const int n = 100000;
    for (int i = 0; i < n; i++) {
        float y = x;
        round_array_bf16_stochastic(&y, 1, &r);
        cr_assert(y == 1.0f || y == 1.0078125f, "rounded to %.9g, not a neighbour", y);
        sum += y;
    }
    cr_expect(fabs(sum / n - x) < 2e-5, "mean %.9g, x %.9g", sum / n, x);
    cr_expect_eq(round_to(x, FMT_BF16), 1.0f);
}

// run_scaler: the fixture's found_inf flags fed through unscale + update, as a training loop
// does; checks the scale and growth tracker after every step, and that the step is skipped
// exactly when torch skipped it (its parameter did not change).
static void check_scaler(GradScaler s, const double *flags, const double *scales, const double *trackers,
                         const double *changed, int n) {
    for (int i = 0; i < n; i++) {
        float g[2] = {0.5f * s.scale, flags[i] ? INFINITY : 0.25f * s.scale};
        bool found_inf = grad_scaler_unscale(&s, g, 2);
        cr_expect_eq(found_inf, flags[i] != 0, "step %d: found_inf %d", i, found_inf);
        if (!found_inf) cr_expect(g[0] == 0.5f && g[1] == 0.25f, "step %d: unscaled grads %g %g", i, g[0], g[1]);
        if (changed)
            cr_expect_eq(!found_inf, changed[i] != 0, "step %d: torch %s the step", i, changed[i] ? "took" : "skipped");
        grad_scaler_update(&s, found_inf);
        cr_expect_eq(s.scale, (float)scales[i], "step %d: scale %g, torch %g", i, s.scale, scales[i]);
        if (trackers)
            cr_expect_eq(s.growth_tracker, (int)trackers[i], "step %d: tracker %d, torch %d", i, s.growth_tracker,
                         (int)trackers[i]);
    }
}

Test(grad_scaler, follows_torch_gradscaler) {
    Fixture f = fixture_load(FIX);
    int n;
    double *flags = fixture_doubles(&f, "scaler_found_inf", &n), *scales = fixture_doubles(&f, "scaler_scale", &n);
    double *trackers = fixture_doubles(&f, "scaler_tracker", &n),
           *changed = fixture_doubles(&f, "scaler_param_changed", &n);
    check_scaler((GradScaler){1024.0f, 2.0f, 0.5f, 3, 0}, flags, scales, trackers, changed, n);

    // the defaults over 4100 steps: only the scale's changes are in the fixture
    int nl, nc;
    double *len = fixture_doubles(&f, "long_n", &nl), *inf_steps = fixture_doubles(&f, "long_found_inf_steps", &nl);
    double *chg = fixture_doubles(&f, "long_change_steps", &nc),
           *chg_scale = fixture_doubles(&f, "long_change_scales", &nc);
    const int N = (int)len[0];
    double *fl = xcalloc((size_t)N, sizeof(double)), *sc = xmalloc(sizeof(double) * (size_t)N);
    for (int i = 0; i < nl; i++) fl[(int)inf_steps[i]] = 1;
    double cur = 65536;
    for (int i = 0, c = 0; i < N; i++) {
        if (c < nc && (int)chg[c] == i) cur = chg_scale[c++];
        sc[i] = cur;
    }
    GradScaler d = grad_scaler_default();
    cr_expect(d.scale == 65536.0f && d.growth_factor == 2.0f && d.backoff_factor == 0.5f && d.growth_interval == 2000);
    check_scaler(d, fl, sc, NULL, NULL, N);
    free(fl), free(sc), free(len), free(inf_steps), free(chg), free(chg_scale);
    free(flags), free(scales), free(trackers), free(changed);
    fixture_free(&f);
}

Test(grad_scaler, state_round_trip) {
    GradScaler s = {8192.0f, 2.0f, 0.5f, 2000, 1234};
    cJSON *o = grad_scaler_state(&s);
    char *text = cJSON_PrintUnformatted(o);
    cJSON *back = cJSON_Parse(text);
    GradScaler t = grad_scaler_load_state(back, "test");
    cr_expect(!memcmp(&s, &t, sizeof s), "state did not survive the round trip: %s", text);
    cr_expect(strstr(text, "\"_growth_tracker\":1234"), "torch's key names expected: %s", text);
    free(text);
    cJSON_Delete(o), cJSON_Delete(back);
}

Test(grad_scaler, bad_state_is_an_error) {
    cJSON *o = cJSON_Parse("{\"scale\": -1, \"growth_factor\": 2, \"backoff_factor\": 0.5, \"growth_interval\": 2000, "
                           "\"_growth_tracker\": 0}");
    EXPECT_ERROR("trainer_state.json: grad scaler scale -1 is not a positive finite number",
                 grad_scaler_load_state(o, "trainer_state.json"));
    cJSON_Delete(o);
}

// ---- the emulated mixed-precision BERT step --------------------------------------------------

// Measured on the tiny model (2 layers, hidden 64, weights ~0.1, batch 3 x 8), against the fp32
// run: logits bf16 9.5e-3, fp16 7.5e-4; loss bf16 1.4e-3, fp16 9.4e-5 (relative); worst
// per-tensor gradient bf16 2.8e-2 (pooler bias), fp16 2.8e-3 (position embeddings). The
// tolerances are ~2-5x those: bf16 keeps 8 significant bits (a rounding moves a value by up to
// 2^-9 = 2e-3 of itself), fp16 11 (2.4e-4), and many roundings add up through the layers.
Test(mixed_precision, bf16_and_fp16_logits_loss_gradients_close_to_fp32) {
    Fixture f = fixture_load(BERT "tiny.txt");
    FixtureBatch b = fixture_batch(&f);
    BertModel ref = bert_load(BERT "tiny", 0, 0, NULL);
    bert_alloc_acts(&ref, b.B, b.T);
    bert_forward(&ref, b.ids, b.types, b.mask, b.labels, b.B, b.T, false, NULL);
    bert_backward(&ref, 1.0f / b.B);
    const int K = ref.config.num_labels;
    const struct {
        FloatFormat fmt;
        double logits, loss, grads;
    } cases[] = {
        {FMT_BF16, 2e-2, 5e-3, 6e-2},
        {FMT_FP16, 2e-3, 5e-4, 8e-3},
    };
    for (size_t c = 0; c < ARRAY_LEN(cases); c++) {
        BertModel m = bert_load(BERT "tiny", 0, 0, NULL);
        bert_alloc_acts(&m, b.B, b.T);
        MixedPrecision mp = {.format = cases[c].fmt, .master_weights = true, .loss_scaling = cases[c].fmt == FMT_FP16};
        mixed_init(&mp, &m, 0);
        bert_forward(&m, b.ids, b.types, b.mask, b.labels, b.B, b.T, false, NULL);
        mixed_backward(&mp, &m, 1.0f / b.B);
        if (mp.loss_scaling)
            cr_assert(!grad_scaler_unscale(&mp.scaler, m.ps.grads, m.ps.numel), "no overflow expected");
        double el = max_relative_error(m.logits, ref.logits, (size_t)b.B * K),
               eloss = fabs(m.loss - ref.loss) / ref.loss;
        const char *which = "";
        double eg = worst_grad_error(&m.ps, m.ps.grads, ref.ps.grads, &which);
        cr_log_info("%s: logits %.2g, loss %.2g, worst gradient %.2g (%s)", format_name(cases[c].fmt), el, eloss, eg,
                    which);
        cr_expect(el < cases[c].logits, "%s logits relative error %.3g", format_name(cases[c].fmt), el);
        cr_expect(eloss < cases[c].loss, "%s loss relative error %.3g", format_name(cases[c].fmt), eloss);
        cr_expect(eg < cases[c].grads, "%s gradient of %s relative error %.3g", format_name(cases[c].fmt), which, eg);
        // and it is not fp32: the rounding did happen
        cr_expect(el > 0, "%s logits identical to fp32: nothing was rounded", format_name(cases[c].fmt));
        mixed_free(&mp);
        bert_free(&m);
    }
    bert_free(&ref);
    fixture_batch_free(&b);
    fixture_free(&f);
}

// A scale far too large makes the fp16 dlogits overflow to inf: the step must be skipped, the
// scale halved, and neither the fp16 weights nor the fp32 masters nor AdamW may change.
Test(mixed_precision, fp16_overflow_skips_the_step_and_halves_the_scale) {
    Fixture f = fixture_load(BERT "tiny.txt");
    FixtureBatch b = fixture_batch(&f);
    BertModel m = bert_load(BERT "tiny", 0, 0, NULL);
    bert_alloc_acts(&m, b.B, b.T);
    MixedPrecision mp = {.format = FMT_FP16, .master_weights = true, .loss_scaling = true};
    mixed_init(&mp, &m, 0);
    mp.scaler.scale = 0x1p40f;  // dlogits ~ 0.3 * 2^40 >> 65504
    mp.scaler.growth_tracker = 5;
    Optimizer opt;
    optimizer_init(&opt, optimizer_defaults(OPT_ADAMW), &m.ps);
    const size_t bytes = sizeof(float) * m.ps.numel;
    float *params = xmalloc(bytes), *master = xmalloc(bytes);
    memcpy(params, m.ps.params, bytes), memcpy(master, mp.master, bytes);

    params_zero_grad(&m.ps);
    bert_forward(&m, b.ids, b.types, b.mask, b.labels, b.B, b.T, false, NULL);
    mixed_backward(&mp, &m, 1.0f / b.B);
    MixedStep s = mixed_step(&mp, &m, &opt, 1e-3, 1.0);
    cr_expect(s.skipped, "the step should have been skipped");
    cr_expect_eq(s.scale, 0x1p40f);
    cr_expect_eq(mp.scaler.scale, 0x1p39f, "scale %g, want 2^39", mp.scaler.scale);
    cr_expect_eq(mp.scaler.growth_tracker, 0);
    cr_expect(!memcmp(params, m.ps.params, bytes), "fp16 weights changed on a skipped step");
    cr_expect(!memcmp(master, mp.master, bytes), "fp32 master weights changed on a skipped step");
    cr_expect_eq(opt.step, 0, "AdamW counted a skipped step");

    // at the default scale the same batch steps: weights move, the tracker counts
    mp.scaler = grad_scaler_default();
    params_zero_grad(&m.ps);
    bert_forward(&m, b.ids, b.types, b.mask, b.labels, b.B, b.T, false, NULL);
    mixed_backward(&mp, &m, 1.0f / b.B);
    s = mixed_step(&mp, &m, &opt, 1e-3, 1.0);
    cr_expect(!s.skipped && isfinite(s.grad_norm), "a clean step was skipped");
    cr_expect(memcmp(master, mp.master, bytes), "the masters did not move");
    cr_expect_eq(mp.scaler.growth_tracker, 1);
    cr_expect_eq(opt.step, 1);
    for (size_t i = 0; i < m.ps.numel; i++)
        if (m.ps.params[i] != round_to(mp.master[i], FMT_FP16))
            cr_assert_fail("weight %zu is not the fp16 of its master", i);
    free(params), free(master);
    optimizer_free(&opt);
    mixed_free(&mp);
    bert_free(&m);
    fixture_batch_free(&b);
    fixture_free(&f);
}
