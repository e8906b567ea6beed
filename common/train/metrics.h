// metrics.h — accuracy, precision, recall, F1 and the confusion matrix.
// Introduced by lesson 06 (evaluation); used by lessons 11, 13 and the trainer's eval lines.
//
// For class k, from the confusion matrix C[true][pred]:
//   tp = C[k][k],  fp = sum_t C[t][k] - tp,  fn = sum_p C[k][p] - tp
//   precision_k = tp / (tp + fp),  recall_k = tp / (tp + fn),  F1_k = 2 P R / (P + R)
// A 0/0 is 0, as scikit-learn with zero_division=0. Macro averages are the plain mean over
// classes, so a rare class counts as much as a common one (unlike accuracy).
#pragma once
#include <stdio.h>

typedef struct {
    int K;         // classes
    long *counts;  // (K,K): counts[t*K + p] = examples of true class t predicted as p
} Confusion;

typedef struct {
    int K;
    long n;  // examples
    double accuracy;
    double macro_precision, macro_recall, macro_f1;
    double *precision;  // (K)
    double *recall;     // (K)
    double *f1;         // (K)
    long *support;      // (K) examples whose true class is k
} Metrics;

void confusion_init(Confusion *c, int K);
void confusion_free(Confusion *c);
// confusion_add: count n (true, predicted) pairs.
void confusion_add(Confusion *c, const int *y_true, const int *y_pred, int n);
Metrics metrics_compute(const Confusion *c);
void metrics_free(Metrics *m);
// confusion_print: the matrix with row/column class names (NULL names prints indices).
void confusion_print(FILE *f, const Confusion *c, const char *const *names);

// Regression (run_glue.py's stsb metrics, scipy's definitions):
//   pearson   = cov(x, y) / (std x std y)
//   spearmanr = pearson of the ranks, tied values sharing their mean rank (scipy.stats.rankdata)
// A constant series has no correlation: NaN, as scipy returns.
double pearson(const double *x, const double *y, long n);
double spearmanr(const double *x, const double *y, long n);

// Multi-label: predicted set = the classes whose logit > 0 (sigmoid > 0.5), against 0/1 targets.
//   micro_f1         F1 of the tp, fp, fn summed over every class
//   macro_f1         mean over classes of each class's F1 (0/0 = 0)
//   subset_accuracy  the examples whose whole predicted set is right
typedef struct {
    int K;
    long n;
    long *tp, *fp, *fn;  // (K)
    long exact;          // examples predicted exactly
} MultiLabelCounts;

void multilabel_init(MultiLabelCounts *c, int K);
void multilabel_add(MultiLabelCounts *c, const float *logits, const float *targets, int B);
double multilabel_micro_f1(const MultiLabelCounts *c);
double multilabel_macro_f1(const MultiLabelCounts *c);
double multilabel_subset_accuracy(const MultiLabelCounts *c);
void multilabel_free(MultiLabelCounts *c);
