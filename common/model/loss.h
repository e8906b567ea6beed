// loss.h — softmax cross-entropy for classification.
// Introduced by lesson 04 (the small models of Part I); reused by the BERT classification
// head (lessons 11, 13) and the trainer.
//
//   p = softmax(z) = exp(z - max z) / sum exp(z - max z)     (shifting by max z avoids overflow)
//   loss_b = -log p[label_b] = logsumexp(z) - z[label_b]
//   dloss_b/dz = p - onehot(label_b)
#pragma once

// cross_entropy_forward: logits (B,K), labels (B) -> mean over the batch of -log p[label];
// writes the probabilities (B,K) when probs is not NULL.
double cross_entropy_forward(const float *logits, const int *labels, int B, int K, float *probs);
// cross_entropy_backward: dlogits (B,K) = (probs - onehot(labels)) * scale. scale is the
// loss's weight per example: 1/B for a mean over this batch, 1/N for a micro-batch that is
// part of an accumulation group of N examples.
void cross_entropy_backward(const float *probs, const int *labels, int B, int K, float scale, float *dlogits);
// argmax_rows: predictions (B) = index of the largest logit in each row of (B,K).
void argmax_rows(const float *logits, int B, int K, int *pred);

// The losses of BertForSequenceClassification's three problem types, and the Trainer's label
// smoothing, each returning the batch's mean loss and writing dloss/dlogits for per-example
// weight `scale` (as cross_entropy_backward; dlogits may be NULL for the loss alone).
//
// regression (num_labels 1): MSELoss(logits.squeeze(), labels)
//   loss = mean_b (z_b - y_b)^2,  dz_b = 2 (z_b - y_b) * scale
double mse_loss(const float *logits, const float *targets, int B, float scale, float *dlogits);
// multi-label: BCEWithLogitsLoss over every (example, class), targets (B,K) of 0/1
//   loss = mean_{b,k} max(z,0) - z y + log(1 + exp(-|z|)),  dz = (sigmoid(z) - y) * scale / K
double bce_with_logits_loss(const float *logits, const float *targets, int B, int K, float scale, float *dlogits);
// single-label with the Trainer's LabelSmoother (trainer_pt_utils.py), epsilon = eps:
//   loss_b = (1 - eps) * (-log p[y_b]) + eps * mean_k (-log p[k])
//   dz_b   = p - (1 - eps) onehot(y_b) - eps / K       (times scale)
// A label of -100 (the ignore_index) is left out of the mean and gets no gradient; eps = 0 is
// plain cross-entropy.
#define LABEL_IGNORE_INDEX (-100)
double smoothed_cross_entropy_loss(const float *logits, const int *labels, int B, int K, double eps, float scale,
                                   float *dlogits);
