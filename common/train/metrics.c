// metrics.c — see metrics.h.
#include "common/train/metrics.h"

#include <math.h>
#include <stdbool.h>
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

double pearson(const double *x, const double *y, long n) {
    double mx = 0, my = 0;
    for (long i = 0; i < n; i++) mx += x[i], my += y[i];
    mx /= (double)n, my /= (double)n;
    double sxy = 0, sxx = 0, syy = 0;
    for (long i = 0; i < n; i++) {
        sxy += (x[i] - mx) * (y[i] - my);
        sxx += (x[i] - mx) * (x[i] - mx);
        syy += (y[i] - my) * (y[i] - my);
    }
    return sxx > 0 && syy > 0 ? sxy / sqrt(sxx * syy) : NAN;
}

static const double *rank_keys;
static int cmp_by_key(const void *a, const void *b) {
    double x = rank_keys[*(const long *)a], y = rank_keys[*(const long *)b];
    return (x > y) - (x < y);
}

// ranks: rank[i] of x[i] among x (1-based), ties sharing their mean rank (scipy's "average").
static void ranks(const double *x, long n, double *rank) {
    long *idx = xmalloc(sizeof(long) * (size_t)(n ? n : 1));
    for (long i = 0; i < n; i++) idx[i] = i;
    rank_keys = x;
    qsort(idx, (size_t)n, sizeof(long), cmp_by_key);
    for (long i = 0, j; i < n; i = j) {
        for (j = i + 1; j < n && x[idx[j]] == x[idx[i]]; j++) {}
        for (long k = i; k < j; k++) rank[idx[k]] = (double)(i + j + 1) / 2.0;  // mean of ranks i+1..j
    }
    free(idx);
}

double spearmanr(const double *x, const double *y, long n) {
    double *rx = xmalloc(sizeof(double) * (size_t)(n ? n : 1)), *ry = xmalloc(sizeof(double) * (size_t)(n ? n : 1));
    ranks(x, n, rx);
    ranks(y, n, ry);
    double r = pearson(rx, ry, n);
    free(rx), free(ry);
    return r;
}

void multilabel_init(MultiLabelCounts *c, int K) {
    *c = (MultiLabelCounts){.K = K};
    c->tp = xcalloc((size_t)K, sizeof(long));
    c->fp = xcalloc((size_t)K, sizeof(long));
    c->fn = xcalloc((size_t)K, sizeof(long));
}

void multilabel_add(MultiLabelCounts *c, const float *logits, const float *targets, int B) {
    for (int b = 0; b < B; b++) {
        bool all_right = true;
        for (int k = 0; k < c->K; k++) {
            const bool pred = logits[(size_t)b * c->K + k] > 0, truth = targets[(size_t)b * c->K + k] > 0.5f;
            c->tp[k] += pred && truth;
            c->fp[k] += pred && !truth;
            c->fn[k] += !pred && truth;
            all_right = all_right && pred == truth;
        }
        c->exact += all_right;
        c->n++;
    }
}

static double f1_of(long tp, long fp, long fn) { return ratio_or_zero(2.0 * tp, 2.0 * tp + fp + fn); }

double multilabel_micro_f1(const MultiLabelCounts *c) {
    long tp = 0, fp = 0, fn = 0;
    for (int k = 0; k < c->K; k++) tp += c->tp[k], fp += c->fp[k], fn += c->fn[k];
    return f1_of(tp, fp, fn);
}

double multilabel_macro_f1(const MultiLabelCounts *c) {
    double sum = 0;
    for (int k = 0; k < c->K; k++) sum += f1_of(c->tp[k], c->fp[k], c->fn[k]);
    return sum / c->K;
}

double multilabel_subset_accuracy(const MultiLabelCounts *c) { return ratio_or_zero((double)c->exact, (double)c->n); }

void multilabel_free(MultiLabelCounts *c) {
    free(c->tp), free(c->fp), free(c->fn);
    c->tp = c->fp = c->fn = NULL;
}
