// test_optim.c — common/train/optim.c and common/model/loss.c against PyTorch (tests/gen_optim.py):
// SGD, momentum, Adam, AdamW trajectories with a decay and a no-decay group, clip_grad_norm_,
// cross-entropy, and the Trainer's decay / no-decay split of BERT's parameter names.
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/model/loss.h"
#include "common/train/optim.h"
#include "tests/expect_error.h"
#include "tests/fixture.h"

#define FIXTURE "tests/fixtures/optim/optim.txt"
// float32 arithmetic on both sides, in a slightly different order: a few ulps.
#define REL_TOL 2e-6

static bool close_rel(double got, double want, double tol) { return fabs(got - want) <= tol * fmax(fabs(want), 1e-3); }

// two_tensor_set: "weight" (3,4) with decay and "bias" (3) without, as gen_optim.py builds them.
static void two_tensor_set(ParamSet *ps, const double *init) {
    memset(ps, 0, sizeof *ps);
    params_add(ps, "weight", 2, (int[]){3, 4});
    params_add(ps, "bias", 1, (int[]){3});
    params_alloc(ps);
    for (size_t i = 0; i < ps->numel; i++) ps->params[i] = (float)init[i];
}

static void check_trajectory_cfg(OptimizerConfig cfg, const char *key) {
    Fixture f = fixture_load(FIXTURE);
    int n_init, n_grads, n_lrs, n_want;
    double *init = fixture_doubles(&f, "init", &n_init), *grads = fixture_doubles(&f, "grads", &n_grads);
    double *lrs = fixture_doubles(&f, "lrs", &n_lrs), *want = fixture_doubles(&f, key, &n_want);
    ParamSet ps;
    two_tensor_set(&ps, init);
    cr_assert_eq((int)ps.numel, n_init);
    Optimizer opt;
    optimizer_init(&opt, cfg, &ps);
    for (int step = 0; step < n_lrs; step++) {
        for (size_t i = 0; i < ps.numel; i++) ps.grads[i] = (float)grads[step * ps.numel + i];
        optimizer_step(&opt, &ps, lrs[step]);
        for (size_t i = 0; i < ps.numel; i++) {
            double w = want[step * ps.numel + i];
            cr_assert(close_rel(ps.params[i], w, REL_TOL), "%s step %d param %zu: %.9g, torch %.9g", key, step, i,
                      ps.params[i], w);
        }
    }
    optimizer_free(&opt);
    params_free(&ps);
    free(init);
    free(grads);
    free(lrs);
    free(want);
    fixture_free(&f);
}

static void check_trajectory(OptimizerKind kind, double momentum, const char *key) {
    OptimizerConfig cfg = optimizer_defaults(kind);
    cfg.momentum = momentum;
    cfg.weight_decay = 0.1;
    check_trajectory_cfg(cfg, key);
}

// --optim sgd with --optim_args, through optimizer_config_hf, against the optimizer the Trainer
// builds for the same flags (tests/gen_optim.py).
static void check_hf_sgd(const char *key) {
    Fixture f = fixture_load(FIXTURE);
    char name[64];
    int n;
    snprintf(name, sizeof name, "%s_optim_args", key);
    char **args = fixture_words(&f, name, &n);
    OptimizerConfig cfg = optimizer_config_hf("sgd", strcmp(args[0], "none") ? args[0] : NULL, 0.9, 0.999, 1e-8, 0.1);
    free(args);
    fixture_free(&f);
    check_trajectory_cfg(cfg, key);
}

Test(optim, hf_sgd_has_no_momentum_by_default) {
    check_hf_sgd("sgd_hf");
    cr_expect_eq(optimizer_config_hf("sgd", NULL, 0.9, 0.999, 1e-8, 0).momentum, 0.0);
}
Test(optim, hf_sgd_nesterov_matches_the_trainer) { check_hf_sgd("sgd_nesterov"); }
Test(optim, hf_sgd_dampening_matches_the_trainer) { check_hf_sgd("sgd_dampening"); }
Test(optim, hf_optim_names) {
    cr_expect_eq(optimizer_config_hf("adamw_torch_fused", NULL, 0.8, 0.99, 1e-6, 0.01).kind, OPT_ADAMW);
    cr_expect_eq(optimizer_config_hf("adamw", NULL, 0.8, 0.99, 1e-6, 0.01).beta1, 0.8);
    EXPECT_ERROR("--optim adafactor is not implemented here",
                 optimizer_config_hf("adafactor", NULL, 0.9, 0.999, 1e-8, 0));
    EXPECT_ERROR("--optim lion_32bit is not implemented here",
                 optimizer_config_hf("lion_32bit", NULL, 0.9, 0.999, 1e-8, 0));
    EXPECT_ERROR("sgd takes momentum, dampening, nesterov or weight_decay, not 'beta'",
                 optimizer_config_hf("sgd", "beta=0.9", 0.9, 0.999, 1e-8, 0));
}

Test(optim, sgd_matches_torch) { check_trajectory(OPT_SGD, 0.0, "sgd"); }
Test(optim, momentum_matches_torch) { check_trajectory(OPT_SGD, 0.9, "momentum"); }
Test(optim, adam_matches_torch) { check_trajectory(OPT_ADAM, 0.0, "adam"); }
Test(optim, adamw_matches_torch) { check_trajectory(OPT_ADAMW, 0.0, "adamw"); }

static void check_clip(const char *name) {
    Fixture f = fixture_load(FIXTURE);
    char key[64];
    int n_in, n_norm, n_out;
    snprintf(key, sizeof key, "clip_%s_in", name);
    double *in = fixture_doubles(&f, key, &n_in);
    snprintf(key, sizeof key, "clip_%s_norm", name);
    double *norm = fixture_doubles(&f, key, &n_norm);
    snprintf(key, sizeof key, "clip_%s_out", name);
    double *out = fixture_doubles(&f, key, &n_out);
    ParamSet ps;
    two_tensor_set(&ps, in);  // values are irrelevant; the gradients are what is clipped
    for (size_t i = 0; i < ps.numel; i++) ps.grads[i] = (float)in[i];
    double got = clip_grad_norm(&ps, 1.0);
    cr_assert(close_rel(got, norm[0], REL_TOL), "%s: norm %.9g, torch %.9g", name, got, norm[0]);
    for (size_t i = 0; i < ps.numel; i++)
        cr_assert(close_rel(ps.grads[i], out[i], REL_TOL), "%s: grad %zu %.9g, torch %.9g", name, i, ps.grads[i],
                  out[i]);
    params_free(&ps);
    free(in);
    free(norm);
    free(out);
    fixture_free(&f);
}

Test(optim, clip_above_max_norm_scales_to_one) { check_clip("big"); }
Test(optim, clip_below_max_norm_leaves_gradients) { check_clip("small"); }

Test(optim, decay_split_matches_trainer) {
    Fixture f = fixture_load(FIXTURE);
    int nd, nn;
    char **decay = fixture_words(&f, "decay_names", &nd), **no_decay = fixture_words(&f, "no_decay_names", &nn);
    cr_assert(nd > 0 && nn > 0);
    for (int i = 0; i < nd; i++) cr_expect(hf_decays(decay[i]), "%s should decay", decay[i]);
    for (int i = 0; i < nn; i++) cr_expect(!hf_decays(no_decay[i]), "%s should not decay", no_decay[i]);
    free(decay);
    free(no_decay);
    fixture_free(&f);
}

Test(loss, cross_entropy_matches_torch) {
    Fixture f = fixture_load(FIXTURE);
    int nz, nl, nloss, ng;
    double *z = fixture_doubles(&f, "ce_logits", &nz), *lab = fixture_doubles(&f, "ce_labels", &nl);
    double *loss = fixture_doubles(&f, "ce_loss", &nloss), *dz = fixture_doubles(&f, "ce_dlogits", &ng);
    int B = nl, K = nz / nl;
    float logits[64], probs[64], dlogits[64];
    int labels[16];
    for (int i = 0; i < nz; i++) logits[i] = (float)z[i];
    for (int b = 0; b < B; b++) labels[b] = (int)lab[b];
    double got = cross_entropy_forward(logits, labels, B, K, probs);
    cr_assert(close_rel(got, loss[0], REL_TOL), "loss %.9g, torch %.9g", got, loss[0]);
    cross_entropy_backward(probs, labels, B, K, 1.0f / B, dlogits);
    for (int i = 0; i < nz; i++)
        cr_assert(close_rel(dlogits[i], dz[i], REL_TOL), "dlogits[%d] %.9g, torch %.9g", i, dlogits[i], dz[i]);
    free(z);
    free(lab);
    free(loss);
    free(dz);
    fixture_free(&f);
}
