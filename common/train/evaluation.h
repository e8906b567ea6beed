// evaluation.h — what one evaluation measures, which number picks the best model, and when to
// stop early. Introduced by lesson 06 (a bag-of-words model); the trainer (lesson 16) evaluates
// BERT with the same functions.
//
// An evaluation runs the model over the dev set batch by batch and keeps the mean loss and the
// confusion matrix; accuracy and F1 come from that matrix (common/train/metrics.h).
// The best model and early stopping follow the Hugging Face Trainer:
//   metric_for_best_model  "eval_loss" | "eval_accuracy" | "eval_f1" (the "eval_" prefix optional)
//   greater_is_better      default: false for a metric ending in "loss", true otherwise
//   improvement            value > best (or < best), the first evaluation always improves
//   early stopping         counter = 0 when value beats the best by more than
//                          early_stopping_threshold, else counter + 1; stop at counter == patience
#pragma once
#include <cjson/cJSON.h>
#include <stdbool.h>

#include "common/text/dataset.h"
#include "common/train/metrics.h"

typedef struct {
    double loss;  // mean cross-entropy over the examples (a sum until eval_finish)
    long n;       // examples seen
    Confusion conf;
    Metrics m;  // filled by eval_finish
    // set after eval_begin for the other problem types (common/text/dataset.h):
    double label_smoothing;  // > 0: the loss is the Trainer's label-smoothed cross-entropy
    bool regression;         // eval_add_values: loss = MSE, metrics mse, pearson, spearmanr
    bool multi_label;        // eval_add_multi: loss = BCE-with-logits, micro/macro F1, subset accuracy
    double *pred, *truth;    // (n) regression predictions and targets so far
    long cap;
    MultiLabelCounts ml;
    double mse, pearson, spearmanr;              // regression, filled by eval_finish
    double micro_f1, macro_f1, subset_accuracy;  // multi-label, filled by eval_finish
    double runtime;                              // seconds, when the caller measures it
} EvalResult;

#define METRIC_CHOICES                                                                                              \
    "eval_loss|eval_accuracy|eval_f1|eval_mse|eval_pearson|eval_spearmanr|eval_micro_f1|eval_macro_f1|eval_subset_" \
    "accuracy|loss|accuracy|f1|mse|pearson|spearmanr|micro_f1|macro_f1|subset_accuracy"

void eval_begin(EvalResult *r, int K);
// eval_add_batch: logits (B,K) and true labels (B) of one batch.
void eval_add_batch(EvalResult *r, const float *logits, const int *labels, int B);
// eval_add_values: regression: predictions (B) (the logits of one output) and targets (B).
void eval_add_values(EvalResult *r, const float *logits, const float *targets, int B);
// eval_add_multi: multi-label: logits (B,K) and 0/1 targets (B,K); call eval_begin_multi first.
void eval_begin_multi(EvalResult *r, int K);
void eval_add_multi(EvalResult *r, const float *logits, const float *targets, int B);
void eval_finish(EvalResult *r);
void eval_result_free(EvalResult *r);

// metric_full_name: "f1" -> "eval_f1" (names already starting with eval_ are kept).
const char *metric_full_name(const char *name);
// metric_check_reported: dies with one line when an evaluation of problem p does not report
// `full` (an eval_* name), as the Trainer fails when metric_for_best_model is not among the
// evaluation's metrics; here at start-up instead of at the first evaluation.
void metric_check_reported(const char *full, ProblemType p);
// metric_value: the number that `name` (see METRIC_CHOICES) reads from a finished evaluation.
double metric_value(const EvalResult *r, const char *name);
// metric_default_greater: the Trainer's default for greater_is_better: false for "...loss".
bool metric_default_greater(const char *name);
// metric_improves: does `value` beat `best` by more than `threshold` (HF: the first always does)?
bool metric_improves(bool has_best, double best, double value, bool greater, double threshold);

// eval_entry: a log_history object {step, epoch, eval_loss, eval_accuracy, eval_f1,
// eval_f1_<class> (when names is not NULL), train_accuracy (when >= 0)}.
cJSON *eval_entry(long step, double epoch, const EvalResult *r, const char *const *names, double train_accuracy);
