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
