// evaluation.c — see evaluation.h.
#include "common/train/evaluation.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/model/loss.h"
#include "common/core/util.h"

void eval_begin(EvalResult *r, int K) {
    memset(r, 0, sizeof *r);
    confusion_init(&r->conf, K);
}

void eval_add_batch(EvalResult *r, const float *logits, const int *labels, int B) {
    int *pred = xmalloc(sizeof(int) * (size_t)B);
    r->loss += (r->label_smoothing > 0
                    ? smoothed_cross_entropy_loss(logits, labels, B, r->conf.K, r->label_smoothing, 0.0f, NULL)
                    : cross_entropy_forward(logits, labels, B, r->conf.K, NULL)) *
        B;
    argmax_rows(logits, B, r->conf.K, pred);
    confusion_add(&r->conf, labels, pred, B);
    r->n += B;
    free(pred);
}

void eval_add_values(EvalResult *r, const float *logits, const float *targets, int B) {
    r->regression = true;
    r->loss += mse_loss(logits, targets, B, 0.0f, NULL) * B;
    if (r->n + B > r->cap) {
        r->cap = 2 * (r->n + B);
        r->pred = xrealloc(r->pred, sizeof(double) * (size_t)r->cap);
        r->truth = xrealloc(r->truth, sizeof(double) * (size_t)r->cap);
    }
    for (int b = 0; b < B; b++) r->pred[r->n + b] = logits[b], r->truth[r->n + b] = targets[b];
    r->n += B;
}

void eval_begin_multi(EvalResult *r, int K) {
    eval_begin(r, K);
    r->multi_label = true;
    multilabel_init(&r->ml, K);
}

void eval_add_multi(EvalResult *r, const float *logits, const float *targets, int B) {
    r->loss += bce_with_logits_loss(logits, targets, B, r->ml.K, 0.0f, NULL) * B;
    multilabel_add(&r->ml, logits, targets, B);
    r->n += B;
}

void eval_finish(EvalResult *r) {
    if (r->n > 0) r->loss /= (double)r->n;
    r->m = metrics_compute(&r->conf);
    if (r->regression) {
        r->mse = r->loss;  // run_glue.py's mse: mean (prediction - label)^2, the MSE loss itself
        r->pearson = pearson(r->pred, r->truth, r->n);
        r->spearmanr = spearmanr(r->pred, r->truth, r->n);
    }
    if (r->multi_label) {
        r->micro_f1 = multilabel_micro_f1(&r->ml);
        r->macro_f1 = multilabel_macro_f1(&r->ml);
        r->subset_accuracy = multilabel_subset_accuracy(&r->ml);
    }
}

void eval_result_free(EvalResult *r) {
    metrics_free(&r->m);
    confusion_free(&r->conf);
    free(r->pred), free(r->truth);
    r->pred = r->truth = NULL;
    if (r->multi_label) multilabel_free(&r->ml);
}

const char *metric_full_name(const char *name) {
    static const char *full[] = {"eval_loss",     "eval_accuracy", "eval_f1",
                                 "eval_mse",      "eval_pearson",  "eval_spearmanr",
                                 "eval_micro_f1", "eval_macro_f1", "eval_subset_accuracy"};
    for (size_t i = 0; i < ARRAY_LEN(full); i++)
        if (!strcmp(name, full[i]) || !strcmp(name, full[i] + 5)) return full[i];
    die("metric_for_best_model: '%s' is not one of %s", name, METRIC_CHOICES);
}

double metric_value(const EvalResult *r, const char *name) {
    const char *full = metric_full_name(name);
    if (!strcmp(full, "eval_f1")) return r->multi_label ? r->macro_f1 : r->m.macro_f1;
    if (!strcmp(full, "eval_accuracy")) return r->multi_label ? r->subset_accuracy : r->m.accuracy;
    if (!strcmp(full, "eval_mse")) return r->mse;
    if (!strcmp(full, "eval_pearson")) return r->pearson;
    if (!strcmp(full, "eval_spearmanr")) return r->spearmanr;
    if (!strcmp(full, "eval_micro_f1")) return r->micro_f1;
    if (!strcmp(full, "eval_macro_f1")) return r->macro_f1;
    if (!strcmp(full, "eval_subset_accuracy")) return r->subset_accuracy;
    return r->loss;
}

bool metric_default_greater(const char *name) {
    size_t n = strlen(name);
    return !(n >= 4 && !strcmp(name + n - 4, "loss"));
}

bool metric_improves(bool has_best, double best, double value, bool greater, double threshold) {
    if (!has_best) return true;
    return (greater ? value > best : value < best) && fabs(value - best) > threshold;
}

// reported_metrics: the metrics an evaluation of problem p logs, NULL-terminated (a single-label
// evaluation also logs eval_f1_<class> per class).
static const char *const *reported_metrics(ProblemType p) {
    static const char *const single[] = {"eval_loss", "eval_accuracy", "eval_f1", NULL};
    static const char *const regression[] = {"eval_loss", "eval_mse", "eval_pearson", "eval_spearmanr", NULL};
    static const char *const multi[] = {"eval_loss", "eval_micro_f1", "eval_macro_f1", "eval_subset_accuracy", NULL};
    return p == PROBLEM_REGRESSION ? regression : p == PROBLEM_MULTI_LABEL ? multi : single;
}

void metric_check_reported(const char *full, ProblemType p) {
    const char *const *names = reported_metrics(p);
    char listed[160] = "";
    for (size_t i = 0; names[i]; i++) {
        if (!strcmp(full, names[i])) return;
        snprintf(listed + strlen(listed), sizeof listed - strlen(listed), "%s%s", i ? ", " : "", names[i] + 5);
    }
    die("--metric_for_best_model %s: a %s run's evaluation does not report it; choose one of %s", full + 5,
        problem_type_name(p), listed);
}

cJSON *eval_entry(long step, double epoch, const EvalResult *r, const char *const *names, double train_accuracy) {
    cJSON *e = cJSON_CreateObject();
    cJSON_AddNumberToObject(e, "step", (double)step);
    cJSON_AddNumberToObject(e, "epoch", epoch);
    const ProblemType p = r->regression ? PROBLEM_REGRESSION
        : r->multi_label                ? PROBLEM_MULTI_LABEL
                                        : PROBLEM_SINGLE_LABEL;
    for (const char *const *key = reported_metrics(p); *key; key++)
        cJSON_AddNumberToObject(e, *key, metric_value(r, *key));
    for (int k = 0; p == PROBLEM_SINGLE_LABEL && names && k < r->m.K; k++) {
        char key[160];
        snprintf(key, sizeof key, "eval_f1_%s", names[k]);
        cJSON_AddNumberToObject(e, key, r->m.f1[k]);
    }
    if (train_accuracy >= 0) cJSON_AddNumberToObject(e, "train_accuracy", train_accuracy);
    return e;
}
