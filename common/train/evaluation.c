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
    r->loss += cross_entropy_forward(logits, labels, B, r->conf.K, NULL) * B;
    argmax_rows(logits, B, r->conf.K, pred);
    confusion_add(&r->conf, labels, pred, B);
    r->n += B;
    free(pred);
}

void eval_finish(EvalResult *r) {
    if (r->n > 0) r->loss /= (double)r->n;
    r->m = metrics_compute(&r->conf);
}

void eval_result_free(EvalResult *r) {
    metrics_free(&r->m);
    confusion_free(&r->conf);
}

const char *metric_full_name(const char *name) {
    static const char *full[] = {"eval_loss", "eval_accuracy", "eval_f1"};
    for (size_t i = 0; i < ARRAY_LEN(full); i++)
        if (!strcmp(name, full[i]) || !strcmp(name, full[i] + 5)) return full[i];
    die("metric_for_best_model: '%s' is not one of %s", name, METRIC_CHOICES);
}

double metric_value(const EvalResult *r, const char *name) {
    const char *full = metric_full_name(name);
    if (!strcmp(full, "eval_f1")) return r->m.macro_f1;
    if (!strcmp(full, "eval_accuracy")) return r->m.accuracy;
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

cJSON *eval_entry(long step, double epoch, const EvalResult *r, const char *const *names, double train_accuracy) {
    cJSON *e = cJSON_CreateObject();
    cJSON_AddNumberToObject(e, "step", (double)step);
    cJSON_AddNumberToObject(e, "epoch", epoch);
    cJSON_AddNumberToObject(e, "eval_loss", r->loss);
    cJSON_AddNumberToObject(e, "eval_accuracy", r->m.accuracy);
    cJSON_AddNumberToObject(e, "eval_f1", r->m.macro_f1);
    for (int k = 0; names && k < r->m.K; k++) {
        char key[160];
        snprintf(key, sizeof key, "eval_f1_%s", names[k]);
        cJSON_AddNumberToObject(e, key, r->m.f1[k]);
    }
    if (train_accuracy >= 0) cJSON_AddNumberToObject(e, "train_accuracy", train_accuracy);
    return e;
}
