// Lesson 05 — gradient accumulation and gradient clipping.
//
// Accumulation: a batch of 192 may not fit in memory, but 32 micro-batches of 6 do. Run them
// one after another WITHOUT zeroing the gradient in between, weight each example's loss by
// 1/192 (not 1/6), and the summed gradient is the gradient of the batch of 192:
//
//   grad(mean over 192) = sum_{i<192} grad(loss_i) / 192 = sum_{micro m} sum_{i in m} grad(loss_i) / 192
//
// The only catch is the last group of an epoch: with 200 examples it holds 8, so its weight
// must be 1/8. Clipping: after accumulation, scale the whole gradient down when its global
// norm exceeds max_grad_norm (common/train/optim.c clip_grad_norm).
//
// The model is lesson 02's softmax regression (common/model/logreg.c) on synthetic data.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/core/args.h"
#include "common/model/logreg.h"
#include "common/model/loss.h"
#include "common/train/optim.h"
#include "common/core/rng.h"
#include "common/core/util.h"

#define D 16  // features
#define K 3   // classes

typedef struct {
    int n;
    float *x;  // (n,D)
    int *y;    // (n)
} Data;

// make_data: x ~ N(0, scale^2), y = argmax of a hidden random linear map of x.
static Data make_data(int n, float scale, Rng *rng) {
    Data d = {n, xmalloc(sizeof(float) * (size_t)n * D), xmalloc(sizeof(int) * (size_t)n)};
    float hidden[K * D];
    for (int i = 0; i < K * D; i++) hidden[i] = rng_normal(rng);
    for (int r = 0; r < n; r++) {
        float *x = d.x + (size_t)r * D, z[K];
        for (int j = 0; j < D; j++) x[j] = scale * rng_normal(rng);
        for (int k = 0; k < K; k++) {
            z[k] = 0;
            for (int j = 0; j < D; j++) z[k] += hidden[k * D + j] * x[j];
        }
        argmax_rows(z, 1, K, &d.y[r]);
    }
    return d;
}

// add_grad: grads += gradient of (sum over rows [first, first+count) of loss_i) * weight.
static double add_grad(LogReg *m, const Data *d, int first, int count, float weight) {
    float *logits = xmalloc(sizeof(float) * (size_t)count * K * 3), *probs = logits + count * K,
          *dlogits = probs + count * K;
    const float *x = d->x + (size_t)first * D;
    logreg_forward_dense(m, x, count, logits);
    double mean_loss = cross_entropy_forward(logits, d->y + first, count, K, probs);
    cross_entropy_backward(probs, d->y + first, count, K, weight, dlogits);
    logreg_backward_dense(m, x, count, dlogits);
    free(logits);
    return mean_loss;
}

// max_abs_diff: max_i |a_i - b_i|.
static double max_abs_diff(const float *a, const float *b, size_t n) {
    double worst = 0;
    for (size_t i = 0; i < n; i++) worst = fmax(worst, fabs((double)a[i] - b[i]));
    return worst;
}

// accumulate_group: zero the gradient, then run the group [first, first+size) as micro-batches
// of `micro`, each example weighted by `weight(micro-batch size, group size)`.
// A rule gets the micro-batch's real size, the configured micro-batch size, the group's real
// size and the accumulation steps.
typedef float (*WeightRule)(int count, int micro, int group_size, int accum);
// right: 1 / (examples really in this group)
static float weight_true_size(int count, int micro, int group_size, int accum) {
    (void)count;
    (void)micro;
    (void)accum;
    return 1.0f / group_size;
}
// wrong: 1 / (micro x accum), as if every group were full
static float weight_full_group(int count, int micro, int group_size, int accum) {
    (void)count;
    (void)group_size;
    return 1.0f / ((float)micro * accum);
}
// wrong: each micro-batch's own mean loss, divided by the accumulation steps (the classic
// hand-written loop; the HF Trainer of transformers 4.40, through accelerate's backward)
static float weight_mean_then_divide(int count, int micro, int group_size, int accum) {
    (void)micro;
    (void)group_size;
    return 1.0f / ((float)count * accum);
}
// HF Trainer 4.57 for models whose forward takes no **kwargs (BertForSequenceClassification
// there): each micro-batch's mean divided by the micro-batches really in this group
// (current_gradient_accumulation_steps). transformers 5 does the same when told
// model_accepts_loss_kwargs = False.
static float weight_mean_over_micro_batches(int count, int micro, int group_size, int accum) {
    (void)accum;
    int micro_batches = (group_size + micro - 1) / micro;
    return 1.0f / ((float)count * micro_batches);
}

// HF Trainer 5.23 on BertForSequenceClassification: its forward takes **kwargs, so the Trainer
// takes the loss as already divided by num_items_in_batch and divides by nothing, but BERT's loss
// is its own micro-batch's mean: the group's gradient is the SUM of the micro-batch means
// (huggingface/transformers issue 47688).
static float weight_sum_of_means(int count, int micro, int group_size, int accum) {
    (void)micro;
    (void)group_size;
    (void)accum;
    return 1.0f / (float)count;
}

static void accumulate_group(LogReg *m, const Data *d, int first, int size, int micro, int accum, WeightRule rule) {
    params_zero_grad(&m->ps);
    for (int start = first; start < first + size; start += micro) {
        int count = first + size - start < micro ? first + size - start : micro;
        add_grad(m, d, start, count, rule(count, micro, size, accum));
    }
}

// group_grad: the gradient of one group under a weighting rule, copied out of the model.
static void group_grad(LogReg *m, const Data *d, int first, int size, int micro, int accum, WeightRule rule,
                       float *out) {
    accumulate_group(m, d, first, size, micro, accum, rule);
    memcpy(out, m->ps.grads, sizeof(float) * m->ps.numel);
}

static double norm_of(const float *g, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)g[i] * g[i];
    return sqrt(s);
}

int main(int argc, char **argv) {
    int num_examples = 200, micro = 6, accum = 32, seed = 42;
    double max_grad_norm = 1.0, feature_scale = 3.0;
    ArgSpec specs[] = {
        {"num_examples", ARG_INT, &num_examples, "examples in the (synthetic) training set", "Data"},
        {"feature_scale", ARG_FLOAT, &feature_scale, "standard deviation of the features (larger = larger gradients)",
         NULL},
        {"per_device_train_batch_size", ARG_INT, &micro, "micro-batch size", "Batching"},
        {"gradient_accumulation_steps", ARG_INT, &accum, "micro-batches summed before one update", NULL},
        {"max_grad_norm", ARG_FLOAT, &max_grad_norm, "clip the global gradient norm to this", "Clipping"},
        {"seed", ARG_INT, &seed, "random seed for the data and the initial weights", "Run"},
    };
    ArgParser parser = {"05_accumulation_and_clipping",
                        "Gradient accumulation gives the gradient of the big batch (the last short group scaled by\n"
                        "its true size); global-norm clipping at max_grad_norm.",
                        NULL, specs, ARRAY_LEN(specs)};
    args_parse(&parser, argc, argv, NULL, 0);
    if (micro < 1) die("--per_device_train_batch_size must be at least 1 (got %d)", micro);
    if (accum < 1) die("--gradient_accumulation_steps must be at least 1 (got %d)", accum);
    const int group = micro * accum;
    if (num_examples < group)
        die("--num_examples (%d) must hold at least one full group of %d x %d = %d", num_examples, micro, accum, group);
    if (max_grad_norm <= 0) die("--max_grad_norm must be positive (got %g)", max_grad_norm);

    Rng examples, init;
    rng_seed(&examples, (uint64_t)seed, RNG_STREAM_EXAMPLES);
    rng_seed(&init, (uint64_t)seed, RNG_STREAM_INIT);
    Data data = make_data(num_examples, (float)feature_scale, &examples);
    LogReg model;
    logreg_init(&model, D, K, &init, 0.5f);
    const size_t n = model.ps.numel;
    float *big = xmalloc(sizeof(float) * n), *acc = xmalloc(sizeof(float) * n), *wrong = xmalloc(sizeof(float) * n);

    printf("== 1. %d micro-batches of %d vs one batch of %d ==\n", accum, micro, group);
    printf("effective batch = per_device_train_batch_size x gradient_accumulation_steps = %d x %d = %d\n", micro, accum,
           group);
    group_grad(&model, &data, 0, group, group, 1, weight_true_size, big);  // one forward/backward of the whole group
    group_grad(&model, &data, 0, group, micro, accum, weight_true_size, acc);  // accum micro-batches, weight 1/group
    printf("gradient norm   one batch of %d: %.9f   accumulated: %.9f\n", group, norm_of(big, n), norm_of(acc, n));
    // Equal up to float rounding; logreg adds the examples one at a time in the same order
    // either way, so here even the rounding is the same.
    printf("max |difference| over all %zu gradient entries: %.3e\n", n, max_abs_diff(big, acc, n));

    const int rest = num_examples % group;
    printf("\n== 2. The last group of the epoch: %d examples = %d full group(s) of %d + %d ==\n", num_examples,
           num_examples / group, group, rest);
    if (rest == 0) {
        printf("no short group: %d is a multiple of %d (try --num_examples 200)\n", num_examples, group);
    } else {
        const int first = num_examples - rest;
        group_grad(&model, &data, first, rest, rest, 1, weight_true_size, big);  // the true mean over the short group
        group_grad(&model, &data, first, rest, micro, accum, weight_true_size, acc);
        printf("%-56s %-10s %s\n", "per-example weight", "grad norm", "max |error| vs the true mean");
        printf("%-56s %-10.6f %.3e\n", "1/examples in this group (bertstep)", norm_of(acc, n),
               max_abs_diff(acc, big, n));
        group_grad(&model, &data, first, rest, micro, accum, weight_full_group, wrong);
        printf("%-56s %-10.6f %.3e\n", "1/(batch x accumulation), as if the group were full", norm_of(wrong, n),
               max_abs_diff(wrong, big, n));
        group_grad(&model, &data, first, rest, micro, accum, weight_mean_then_divide, wrong);
        printf("%-56s %-10.6f %.3e\n", "micro-batch mean / accumulation steps (HF 4.40)", norm_of(wrong, n),
               max_abs_diff(wrong, big, n));
        group_grad(&model, &data, first, rest, micro, accum, weight_mean_over_micro_batches, wrong);
        printf("%-56s %-10.6f %.3e\n", "micro-batch mean / micro-batches in group (HF 4.57)", norm_of(wrong, n),
               max_abs_diff(wrong, big, n));
        group_grad(&model, &data, first, rest, micro, accum, weight_sum_of_means, wrong);
        printf("%-56s %-10.6f %.3e\n", "micro-batch means summed (HF 5.23 on BERT)", norm_of(wrong, n),
               max_abs_diff(wrong, big, n));
        printf("only 1/%d for each of the %d examples is the true mean of this group\n", rest, rest);
    }

    printf("\n== 3. Global-norm clipping at max_grad_norm = %g ==\n", max_grad_norm);
    group_grad(&model, &data, 0, group, micro, accum, weight_true_size, acc);
    double before = clip_grad_norm(&model.ps, max_grad_norm);  // clips model.ps.grads in place
    double after = grad_global_norm(&model.ps);
    double factor = after / before;
    for (size_t i = 0; i < n; i++) wrong[i] = acc[i] * (float)factor;
    printf("global norm before %.6f -> after %.6f: every entry multiplied by %.6f\n", before, after, factor);
    printf("same direction: max |clipped - factor x original| = %.3e\n", max_abs_diff(model.ps.grads, wrong, n));
    if (before <= max_grad_norm) printf("(the norm was already below max_grad_norm, so nothing changed)\n");

    free(big);
    free(acc);
    free(wrong);
    logreg_free(&model);
    free(data.x);
    free(data.y);
    return 0;
}
