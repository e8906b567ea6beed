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
