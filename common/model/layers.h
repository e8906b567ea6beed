// layers.h — the layers of a BERT encoder, each a forward/backward pair of plain functions.
// Introduced by lesson 09 (transformer_layers), which checks every backward against finite
// differences; common/model/bert.c (lessons 10-11) builds the model from them.
//
// Conventions (as in llm.c): row-major float arrays, shapes in comments, B = batch, T = tokens,
// C = channels, NH = heads, HS = C/NH head size. A backward function OVERWRITES the gradient of
// its input (din) and ADDS to the gradients of its parameters (dweight, dbias), so gradients of
// several micro-batches accumulate. (The Linear layer is common/model/matmul.h; its backward adds to
// every gradient, the input's included.)
#pragma once
#include <stdint.h>

#include "common/core/rng.h"

// embeddings_forward: out[b,t] = word[ids[b,t]] + pos[t] + type[types[b,t]]     (B,T,C)
// types may be NULL (all type 0). Ids are assumed in range (bert_forward checks them).
void embeddings_forward(float *out, const int *ids, const int *types, const float *word, const float *pos,
                        const float *type, int B, int T, int C);
// embeddings_backward: scatter-add dout into the rows that were looked up.
void embeddings_backward(float *dword, float *dpos, float *dtype, const float *dout, const int *ids, const int *types,
                         int B, int T, int C);

// layernorm_forward: per row r of N rows of C:
//   mean = sum x / C,  var = sum (x - mean)^2 / C,  rstd = 1 / sqrt(var + eps)
//   out = (x - mean) * rstd * weight + bias
// mean and rstd (N) are kept for the backward.
void layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *weight, const float *bias,
                       int N, int C, float eps);
// layernorm_backward: with n = (x - mean) * rstd and dn = dout * weight,
//   dinp = rstd * (dn - mean(dn) - n * mean(dn * n));  dweight += sum_r dout * n;  dbias += sum_r dout
void layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                        const float *weight, const float *mean, const float *rstd, int N, int C);

// gelu_forward: out = x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)), the exact GELU BERT uses.
void gelu_forward(float *out, const float *inp, int N);
// gelu_backward: dinp = dout * (Phi(x) + x * phi(x)),  phi(x) = exp(-x^2/2) / sqrt(2 pi).
void gelu_backward(float *dinp, const float *dout, const float *inp, int N);

// tanh_forward / tanh_backward (the pooler): out = tanh(x); dinp = dout * (1 - out^2).
void tanh_forward(float *out, const float *inp, int N);
void tanh_backward(float *dinp, const float *dout, const float *out, int N);

// softmax_forward: each of `rows` rows of length n: p_j = exp(s_j - max) / sum_k exp(s_k - max)
// over the positions with key_mask[j] != 0; masked positions get p_j = 0 (key_mask NULL = all on).
// A row with every position masked is an error the caller must prevent.
void softmax_forward(float *probs, const float *scores, const int *key_mask, int rows, int n);
// softmax_backward: ds_j = p_j (dp_j - sum_k p_k dp_k).
void softmax_backward(float *dscores, const float *dprobs, const float *probs, int rows, int n);

// dropout_forward: inverted dropout. keep_i = (uniform from rng >= p); out = inp * keep / (1 - p),
// so the expected value is unchanged and evaluation needs no rescaling. With p = 0 or rng = NULL
// (evaluation) out = inp and keep = 1. Draws one number per element, in order, so a seed repeats.
void dropout_forward(float *out, uint8_t *keep, const float *inp, int64_t N, float p, Rng *rng);
// dropout_backward: dinp = dout * keep / (1 - p).
void dropout_backward(float *dinp, const float *dout, const uint8_t *keep, int64_t N, float p);

// attention_forward: multi-head scaled dot-product self-attention with a padding mask.
// q, k, v (B,T,C) hold NH heads side by side (channel h*HS + d of a row is head h). Per (b,h):
//   att  = softmax(q_h k_h^T / sqrt(HS))  over keys with mask[b,key] = 1       (T,T)
//   attd = dropout(att)                                                        (T,T)
//   ctx_h = attd v_h                                                           (T,HS)
// mask (B,T) may be NULL (no padding). att, keep, attd (B,NH,T,T) are kept for the backward.
void attention_forward(float *ctx, float *att, uint8_t *keep, float *attd, const float *q, const float *k,
                       const float *v, const int *mask, int B, int T, int C, int NH, float dropout_p, Rng *rng);
// attention_backward: dq, dk, dv (B,T,C) from dctx (B,T,C); datt (B,NH,T,T) is scratch.
//   dattd = dctx_h v_h^T,  dv_h = attd^T dctx_h,  datt = dropout_backward(dattd),
//   ds = softmax_backward(datt),  dq_h = ds k_h / sqrt(HS),  dk_h = ds^T q_h / sqrt(HS)
void attention_backward(float *dq, float *dk, float *dv, float *datt, const float *dctx, const float *q, const float *k,
                        const float *v, const float *att, const uint8_t *keep, const float *attd, int B, int T, int C,
                        int NH, float dropout_p);

// add_forward: out = a + b (a residual connection; its backward hands dout to both inputs).
void add_forward(float *out, const float *a, const float *b, int64_t N);
