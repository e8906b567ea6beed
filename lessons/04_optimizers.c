// Lesson 04 — optimizers: SGD, momentum, Adam, AdamW, and what "weight decay" really is.
//
// One small problem for all of them: a bowl that is steep in one direction and flat in the
// other (a badly conditioned quadratic, like the loss surface of a real network):
//
//   loss(w) = 1/2 * ( c1 (w1 - 1)^2 + c2 (w2 - 1)^2 ),   c1 = 100 (steep), c2 = 0.01 (flat)
//   grad    = ( c1 (w1 - 1),  c2 (w2 - 1) )
//
// The minimum is w = (1, 1). Every optimizer starts at w = (0, 0).
//
// The optimizers are common/train/optim.c's (lesson 11 and the trainer use them); its header
// gives each update rule. AdamW, the one BERT is fine-tuned with, is also written out here
// (adamw_update) and run beside optim.c's (section 5).
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/core/args.h"
#include "common/train/optim.h"
#include "common/core/util.h"

static const double CURVATURE[2] = {100.0, 0.01};

static double bowl_loss(const float *w) {
    double loss = 0.0;
    for (int i = 0; i < 2; i++) loss += 0.5 * CURVATURE[i] * (w[i] - 1.0) * (w[i] - 1.0);
    return loss;
}

// bowl_grad: grad (2) of the bowl, plus the gradient of an L2 term l2 * sum(w^2) when l2 > 0.
static void bowl_grad(const float *w, double l2, float *grad) {
    for (int i = 0; i < 2; i++) grad[i] = (float)(CURVATURE[i] * (w[i] - 1.0) + 2.0 * l2 * w[i]);
}

typedef struct {
    const char *label;
    OptimizerConfig cfg;
    double lr;
    double l2;  // coefficient of an L2 term added to the LOSS (0 = none)
} Run;

// run_bowl: `steps` updates from w = (0,0); fills w_at[k] with w after checkpoint[k] steps.
static void run_bowl(const Run *run, int steps, const int *checkpoints, int n_checkpoints, float (*w_at)[2]) {
    ParamSet ps = {0};
    params_add(&ps, "w", 1, (int[]){2});
    params_alloc(&ps);
    Optimizer opt;
    optimizer_init(&opt, run->cfg, &ps);
    int k = 0;
    for (int step = 0; step <= steps && k < n_checkpoints; step++) {
        while (k < n_checkpoints && checkpoints[k] == step) { memcpy(w_at[k++], ps.params, sizeof(float) * 2); }
        bowl_grad(ps.params, run->l2, ps.grads);
        optimizer_step(&opt, &ps, run->lr);
    }
    optimizer_free(&opt);
    params_free(&ps);
}

static OptimizerConfig config(OptimizerKind kind, double momentum, double wd, double b1, double b2, double eps) {
    OptimizerConfig c = optimizer_defaults(kind);
    c.momentum = momentum;
    c.weight_decay = wd;
    c.beta1 = b1;
    c.beta2 = b2;
    c.eps = eps;
    return c;
}

static void print_race(const Run *runs, int n_runs, int steps) {
    int checkpoints[] = {0, 10, 100, 1000, 10000};
    int nc = 0;
    while (nc < (int)ARRAY_LEN(checkpoints) && checkpoints[nc] <= steps) nc++;
    printf("%-28s", "loss after step");
    for (int k = 0; k < nc; k++) printf(" %11d", checkpoints[k]);
    printf("\n");
    for (int r = 0; r < n_runs; r++) {
        float w_at[ARRAY_LEN(checkpoints)][2];
        run_bowl(&runs[r], steps, checkpoints, nc, w_at);
        printf("%-28s", runs[r].label);
        for (int k = 0; k < nc; k++) printf(" %11.3e", bowl_loss(w_at[k]));
        printf("\n");
    }
}

// print_decay_comparison: final weights with an L2 term in the loss vs decoupled decay.
static void print_decay_comparison(const Run *runs, int n_runs, int steps) {
    int last[] = {steps};
    printf("%-34s %10s %10s\n", "after all steps", "w1 (steep)", "w2 (flat)");
    for (int r = 0; r < n_runs; r++) {
        float w[1][2];
        run_bowl(&runs[r], steps, last, 1, w);
        printf("%-34s %10.6f %10.6f\n", runs[r].label, w[0][0], w[0][1]);
    }
}

// adam_step_over_lr: the size of Adam's very first step divided by lr, for a gradient g.
// With m_hat = g and v_hat = g^2 it is |g| / (|g| + eps): eps only matters when |g| ~ eps.
static double adam_step_over_lr(double g, double eps) {
    ParamSet ps = {0};
    params_add(&ps, "w", 1, (int[]){1});
    params_alloc(&ps);
    ps.grads[0] = (float)g;
    Optimizer opt;
    optimizer_init(&opt, config(OPT_ADAM, 0, 0, 0.9, 0.999, eps), &ps);
    optimizer_step(&opt, &ps, 1.0);
    double step = fabs(ps.params[0]);
    optimizer_free(&opt);
    params_free(&ps);
    return step;
}

// AdamState: one weight's AdamW state, in double.
typedef struct {
    double w, m, v;  // the weight, Adam's first moment (mean of g) and second moment (mean of g^2)
} AdamState;

// adamw_update: AdamW update number t (1, 2, ...) of one weight with gradient g, as the formulas read:
//   w     = w * (1 - lr * weight_decay)         decoupled decay: shrink the weight itself
//   m     = b1 * m + (1 - b1) * g               running mean of the gradient
//   v     = b2 * v + (1 - b2) * g^2             running mean of its square
//   m_hat = m / (1 - b1^t),  v_hat = v / (1 - b2^t)      undo the start from m = v = 0
//   w     = w - lr * m_hat / (sqrt(v_hat) + eps)
static void adamw_update(AdamState *s, double g, long t, const OptimizerConfig *c, double lr) {
    s->w *= 1.0 - lr * c->weight_decay;
    s->m = c->beta1 * s->m + (1.0 - c->beta1) * g;
    s->v = c->beta2 * s->v + (1.0 - c->beta2) * g * g;
    double m_hat = s->m / (1.0 - pow(c->beta1, (double)t)), v_hat = s->v / (1.0 - pow(c->beta2, (double)t));
    s->w -= lr * m_hat / (sqrt(v_hat) + c->eps);
}

// print_adamw_by_hand: AdamW on the bowl by common/train/optim.c (float32, the trainer's); before
// each update, adamw_update (double) starts from optim.c's weight and moments and takes the same
// update. The two must agree to float32 rounding: at most 1e-4 * lr + 1e-6 * |w| apart (the
// program stops with an error otherwise).
static void print_adamw_by_hand(OptimizerConfig cfg, double lr, int steps) {
    ParamSet ps = {0};
    params_add(&ps, "w", 1, (int[]){2});
    params_alloc(&ps);
    Optimizer opt;
    optimizer_init(&opt, cfg, &ps);
    const int shown[] = {1, 2, 3, 10, 100, 1000, 10000};
    double largest = 0.0;  // the largest |by hand - optim.c| of one update, in units of lr
    printf("%6s %14s %14s %14s %14s\n", "step", "w1 by hand", "w1 optim.c", "w2 by hand", "w2 optim.c");
    for (int t = 1, k = 0; t <= steps; t++) {
        bowl_grad(ps.params, 0, ps.grads);
        AdamState hand[2];
        for (int i = 0; i < 2; i++) {
            hand[i] = (AdamState){ps.params[i], opt.m[i], opt.v[i]};
            adamw_update(&hand[i], ps.grads[i], t, &cfg, lr);
        }
        optimizer_step(&opt, &ps, lr);
        for (int i = 0; i < 2; i++) {
            double diff = fabs(hand[i].w - ps.params[i]);
            if (!(diff <= 1e-4 * lr + 1e-6 * fabs(hand[i].w)))
                die("update %d of w%d: adamw_update gives %.9g, common/train/optim.c %.9g", t, i + 1, hand[i].w,
                    ps.params[i]);
            if (lr > 0) largest = fmax(largest, diff / lr);
        }
        if (k < (int)ARRAY_LEN(shown) && t == shown[k]) {
            printf("%6d %14.8f %14.8f %14.8f %14.8f\n", t, hand[0].w, ps.params[0], hand[1].w, ps.params[1]);
            k++;
        }
    }
    printf("largest |by hand - optim.c| of one update in %d: %.1e x lr\n", steps, largest);
    optimizer_free(&opt);
    params_free(&ps);
}

int main(int argc, char **argv) {
    double lr_sgd = 0.01, lr_adam = 0.01, weight_decay = 0.1, beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
    int steps = 10000;
    ArgSpec specs[] = {
        {"learning_rate", ARG_FLOAT, &lr_adam, "learning rate of Adam and AdamW", "Optimizers"},
        {"sgd_learning_rate", ARG_FLOAT, &lr_sgd, "learning rate of SGD and momentum (above 2/c1 = 0.02 SGD diverges)",
         NULL},
        {"weight_decay", ARG_FLOAT, &weight_decay, "decoupled weight decay; the L2 runs use weight_decay/2 in the loss",
         NULL},
        {"adam_beta1", ARG_FLOAT, &beta1, "Adam's first-moment decay", NULL},
        {"adam_beta2", ARG_FLOAT, &beta2, "Adam's second-moment decay", NULL},
        {"adam_epsilon", ARG_FLOAT, &eps, "added to sqrt(v) in Adam's denominator", NULL},
        {"max_steps", ARG_INT, &steps, "updates per run", "Run"},
    };
    ArgParser parser = {
        "04_optimizers",
        "SGD, momentum, Adam and AdamW on one badly conditioned bowl; an L2 term in the loss\n"
        "versus decoupled weight decay; which parameters get no decay; what adam_epsilon does; AdamW's\n"
        "update written out beside common/train/optim.c's.",
        NULL, specs, ARRAY_LEN(specs)};
    args_parse(&parser, argc, argv, NULL, 0);
    if (steps < 1) die("--max_steps must be at least 1 (got %d)", steps);

    printf("== 1. Four optimizers on the same bowl: loss = 1/2 (100 (w1-1)^2 + 0.01 (w2-1)^2), start w = (0,0) ==\n");
    Run race[] = {
        {"sgd        lr=sgd_lr", config(OPT_SGD, 0.0, 0, beta1, beta2, eps), lr_sgd, 0},
        {"momentum   0.9, lr=sgd_lr", config(OPT_SGD, 0.9, 0, beta1, beta2, eps), lr_sgd, 0},
        {"adam       lr", config(OPT_ADAM, 0, 0, beta1, beta2, eps), lr_adam, 0},
        {"adamw      lr, wd=0", config(OPT_ADAMW, 0, 0, beta1, beta2, eps), lr_adam, 0},
    };
    printf("sgd_lr = %g, lr = %g\n", lr_sgd, lr_adam);
    print_race(race, ARRAY_LEN(race), steps);

    double l2 = weight_decay / 2;  // d/dw [l2 * w^2] = 2 l2 w = weight_decay * w
    printf("\n== 2. Weight decay: an L2 term in the loss (l2 = %g) vs decoupled decay (weight_decay = %g) ==\n", l2,
           weight_decay);
    Run decay[] = {
        {"sgd   + L2 in the loss", config(OPT_SGD, 0, 0, beta1, beta2, eps), lr_sgd, l2},
        {"sgd   + decoupled decay", config(OPT_SGD, 0, weight_decay, beta1, beta2, eps), lr_sgd, 0},
        {"adam  + L2 in the loss", config(OPT_ADAM, 0, 0, beta1, beta2, eps), lr_adam, l2},
        {"adamw (decoupled decay)", config(OPT_ADAMW, 0, weight_decay, beta1, beta2, eps), lr_adam, 0},
    };
    print_decay_comparison(decay, ARRAY_LEN(decay), steps);
    printf("without any decay the minimum is w = (1, 1); the L2 minimum is w_i = c_i / (c_i + %g) = (%.6f, %.6f)\n",
           weight_decay, CURVATURE[0] / (CURVATURE[0] + weight_decay), CURVATURE[1] / (CURVATURE[1] + weight_decay));

    printf("\n== 3. Which parameters get weight decay (the Hugging Face Trainer's rule) ==\n");
    const char *names[] = {
        "bert.embeddings.word_embeddings.weight",
        "bert.embeddings.LayerNorm.weight",
        "bert.embeddings.LayerNorm.bias",
        "bert.encoder.layer.0.attention.self.query.weight",
        "bert.encoder.layer.0.attention.self.query.bias",
        "bert.encoder.layer.0.output.LayerNorm.weight",
        "bert.pooler.dense.weight",
        "classifier.weight",
        "classifier.bias",
    };
    for (size_t i = 0; i < ARRAY_LEN(names); i++)
        printf("  %-50s %s\n", names[i], hf_decays(names[i]) ? "decay" : "no decay");

    printf("\n== 4. adam_epsilon: Adam's first step divided by lr, |g| / (|g| + eps) ==\n");
    printf("adam_epsilon = %g\n%10s %14s %14s\n", eps, "|grad|", "with eps", "eps = 0");
    for (double g = 1e-12; g <= 1.5; g *= 100)
        printf("%10.0e %14.6f %14.6f\n", g, adam_step_over_lr(g, eps), adam_step_over_lr(g, 0.0));

    printf("\n== 5. AdamW written out (adamw_update, in double) beside common/train/optim.c, weight_decay = %g ==\n",
           weight_decay);
    print_adamw_by_hand(config(OPT_ADAMW, 0, weight_decay, beta1, beta2, eps), lr_adam, steps);
    return 0;
}
