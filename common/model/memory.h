// memory.h — how many bytes training BERT takes, term by term. Introduced by lesson 15
// (memory); the trainer (lesson 16) prints it, and tests/test_memory.c checks the activation
// formula against the bytes bert_alloc_acts really allocates (BertModel.act_bytes).
//
// Activations, for a batch of B sequences of T tokens (C hidden, I = intermediate, NH heads),
// counted buffer by buffer from BertLayerActs (common/model/bert.h); e = bytes per stored element
// (4 in fp32, 2 in fp16/bf16), dropout masks 1 byte:
//   one layer      e * (8 BTC + 2 BTI + 2 B NH T^2 + 4 BT) + (B NH T^2 + 2 BTC)
//                  q k v ctx res1 h res2 out, fc1 gelu, att att_drop, LayerNorm mean/rstd; masks
//   embeddings     e * (3 BTC + 2 BT) + BTC
//   head           e * (3 BC + 3 BK) + BC        [CLS] rows, pooled, dropped; logits, probs, dlogits
//   backward       e * (6 BTC + BTI + B NH T^2 + 3 BC)   gradients in flight and scratch
// With gradient checkpointing a layer keeps only its output (e * BTC) and ONE layer's worth of
// the other buffers is shared by all layers (the layer being recomputed):
//   layers         L * e * BTC + (one layer - e * BTC)            instead of L * one layer
// The B NH T^2 terms (attention probabilities) grow with T^2: they dominate for long sequences.
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include "common/model/bert.h"

typedef struct {
    size_t layer;   // one layer's activations, all of BertLayerActs
    size_t layers;  // all L layers (with checkpointing: L outputs + one shared layer)
    size_t embeddings;
    size_t head;
    size_t backward;  // gradients w.r.t. activations and scratch of the backward pass
    size_t total;
} ActivationMemory;

ActivationMemory activation_memory(const BertConfig *c, int B, int T, int elem_bytes, bool checkpointing);

// bert_param_count: the parameters of BertForSequenceClassification for a config:
//   embeddings V C + maxT C + types C + 2 C
//   per layer  4 (C C + C) + 2 C + (I C + I) + (C I + C) + 2 C     Q K V O, LayerNorm, FFN, LayerNorm
//   head       C C + C + K C + K                                   pooler, classifier
size_t bert_param_count(const BertConfig *c);
// bert_embedding_param_count: the embeddings' share of it (V C + maxT C + types C + 2 C): rows
// looked up, not multiplied, and the last gradients the backward produces (lesson 18).
size_t bert_embedding_param_count(const BertConfig *c);
// bert_base_uncased_config: the sizes of bert-base-uncased's config.json (110M parameters) with
// num_labels classes, for the arithmetic of lessons 15 and 18 (no checkpoint is loaded).
BertConfig bert_base_uncased_config(int num_labels);

// Training state per parameter (P parameters), in bytes:
//   fp32                      weights 4 + gradients 4 + AdamW m, v 8              = 16 P
//   fp16/bf16 + fp32 masters  weights 2 + masters 4 + gradients 4 + AdamW 8        = 18 P
// (torch.autocast keeps fp32 weights and casts them on the fly: the same 18 P at the peak.)
typedef struct {
    size_t weights, master, grads, adam, total;
} StateMemory;

StateMemory state_memory(size_t n_params, FloatFormat f);
