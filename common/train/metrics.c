// metrics.c — see metrics.h.
#include "common/train/metrics.h"

#include <stdlib.h>
#include <string.h>

#include "common/core/util.h"

void confusion_init(Confusion *c, int K) {
    if (K < 1) die("confusion matrix needs at least one class (got %d)", K);
    c->K = K;
    c->counts = xcalloc((size_t)K * K, sizeof(long));
}

void confusion_free(Confusion *c) {
    free(c->counts);
    c->counts = NULL;
}

void confusion_add(Confusion *c, const int *y_true, const int *y_pred, int n) {
    for (int i = 0; i < n; i++) {
        if (y_true[i] < 0 || y_true[i] >= c->K || y_pred[i] < 0 || y_pred[i] >= c->K)
            die("confusion_add: label pair (%d, %d) outside 0..%d", y_true[i], y_pred[i], c->K - 1);
        c->counts[(size_t)y_true[i] * c->K + y_pred[i]]++;
    }
}

static double ratio_or_zero(double num, double den) { return den > 0 ? num / den : 0.0; }

Metrics metrics_compute(const Confusion *c) {
    const int K = c->K;
    Metrics m = {.K = K};
    m.precision = xcalloc(K, sizeof(double));
    m.recall = xcalloc(K, sizeof(double));
    m.f1 = xcalloc(K, sizeof(double));
    m.support = xcalloc(K, sizeof(long));
    long correct = 0;
    for (int k = 0; k < K; k++) {
        long tp = c->counts[(size_t)k * K + k], predicted = 0, actual = 0;
        for (int j = 0; j < K; j++) {
            predicted += c->counts[(size_t)j * K + k];
            actual += c->counts[(size_t)k * K + j];
        }
        correct += tp;
        m.n += actual;
        m.support[k] = actual;
        m.precision[k] = ratio_or_zero(tp, predicted);
        m.recall[k] = ratio_or_zero(tp, actual);
        m.f1[k] = ratio_or_zero(2.0 * m.precision[k] * m.recall[k], m.precision[k] + m.recall[k]);
        m.macro_precision += m.precision[k] / K;
        m.macro_recall += m.recall[k] / K;
        m.macro_f1 += m.f1[k] / K;
    }
    m.accuracy = ratio_or_zero(correct, m.n);
    return m;
}

void metrics_free(Metrics *m) {
    free(m->precision);
    free(m->recall);
    free(m->f1);
    free(m->support);
}

void confusion_print(FILE *f, const Confusion *c, const char *const *names) {
    char label[32];
    fprintf(f, "%12s", "true \\ pred");
    for (int p = 0; p < c->K; p++) {
        snprintf(label, sizeof label, "%s", names ? names[p] : "");
        if (!names) snprintf(label, sizeof label, "%d", p);
        fprintf(f, " %8.8s", label);
    }
    fprintf(f, "\n");
    for (int t = 0; t < c->K; t++) {
        if (names) snprintf(label, sizeof label, "%s", names[t]);
        else snprintf(label, sizeof label, "%d", t);
        fprintf(f, "%12.12s", label);
        for (int p = 0; p < c->K; p++) fprintf(f, " %8ld", c->counts[(size_t)t * c->K + p]);
        fprintf(f, "\n");
    }
}
