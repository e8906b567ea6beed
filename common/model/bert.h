// bert.h — BERT for sequence classification on the CPU: config, parameters, activations,
// forward, backward. Reading it from and writing it to Hugging Face's files (config.json,
// model.safetensors, save_pretrained's layout) is common/model/bert_io.h.
// Introduced by lesson 10 (bert_forward: the forward pass) and lesson 11 (bert_training_cpu: the
// backward pass); reused by the GPU BERT (lesson 13, which is checked against it) and the trainer
// (lesson 16). The layers themselves are common/model/layers.h (lesson 09).
//
// The model is transformers' BertForSequenceClassification:
//
//   x0  = LayerNorm(word[ids] + pos[t] + type[token_type])            embeddings   (B,T,C)
//   x0  = dropout(x0)
//   for each layer l:                                                  (B,T,C) -> (B,T,C)
//     a = x + dropout(Wo · attention(Wq x, Wk x, Wv x, mask))          NH heads of size C/NH
//     h = LayerNorm1(a)
//     x = LayerNorm2(h + dropout(W2 · gelu(W1 h)))                     W1 (I,C), W2 (C,I)
//   pooled = tanh(Wp · x[:, 0])                                        the [CLS] position (B,C)
//   logits = Wc · dropout(pooled)                                      (B,K)
//   loss   = mean_b cross_entropy(logits_b, label_b)
//
// Parameters live in one ParamSet (common/model/params.h) under their Hugging Face names with the
// "bert." prefix, exactly as BertForSequenceClassification.save_pretrained writes them; the
// BertWeights struct below is a set of typed pointers into that flat buffer (one for params, one
// for grads, as in llm.c). Activations are kept per layer for the backward pass; each layer's
// forward and backward are functions of the layer's input (bert_layer_forward/backward), so a
// later lesson can drop a layer's activations and recompute them (gradient checkpointing).
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "common/model/params.h"
#include "common/model/precision.h"
#include "common/core/rng.h"

typedef struct {
    int vocab_size;               // V
    int hidden_size;              // C
    int num_hidden_layers;        // L
    int num_attention_heads;      // NH (C % NH == 0; head size HS = C / NH)
    int intermediate_size;        // I
    int max_position_embeddings;  // maxT
    int type_vocab_size;          // token types (2: sentence A / B)
    float layer_norm_eps;
    float hidden_dropout_prob;  // embeddings, attention output, FFN output, pooler output
    float attention_probs_dropout_prob;
    float classifier_dropout;  // before the classifier: config's classifier_dropout, else hidden_dropout_prob
    float initializer_range;   // std of the normal init of a newly created classifier
    int pad_token_id;
    int num_labels;                    // K
    char **id2label;                   // (K) label names, as config.json's "id2label" ("LABEL_0", ...);
                                       // heap strings: replace them (free + xstrdup) to save other names
    char *problem_type;                // config.json's "problem_type" ("regression", "single_label_classification",
                                       // "multi_label_classification"), or NULL (unset); a heap string
    char *text_column, *label_column;  // the data columns the model was trained on (config.json's
                                       // "text_column", "label_column": evaluate and predict default
                                       // to them), or NULL; heap strings
} BertConfig;

// BertLayerWeights: pointers to one encoder layer's tensors (names under
// "bert.encoder.layer.<l>.").
typedef struct {
    float *q_w, *q_b;      // attention.self.query    (C,C) (C)
    float *k_w, *k_b;      // attention.self.key      (C,C) (C)
    float *v_w, *v_b;      // attention.self.value    (C,C) (C)
    float *o_w, *o_b;      // attention.output.dense  (C,C) (C)
    float *ln1_w, *ln1_b;  // attention.output.LayerNorm (C) (C)
    float *fc1_w, *fc1_b;  // intermediate.dense      (I,C) (I)
    float *fc2_w, *fc2_b;  // output.dense            (C,I) (C)
    float *ln2_w, *ln2_b;  // output.LayerNorm        (C) (C)
} BertLayerWeights;

typedef struct {
    float *word_emb;             // bert.embeddings.word_embeddings.weight       (V,C)
    float *pos_emb;              // bert.embeddings.position_embeddings.weight   (maxT,C)
    float *type_emb;             // bert.embeddings.token_type_embeddings.weight (types,C)
    float *emb_ln_w, *emb_ln_b;  // bert.embeddings.LayerNorm                    (C) (C)
    BertLayerWeights *layers;    // (L)
    float *pool_w, *pool_b;      // bert.pooler.dense                            (C,C) (C)
    float *cls_w, *cls_b;        // classifier                                   (K,C) (K)
} BertWeights;

// BertLayerActs: what one layer's backward needs from its forward, for a batch of (B,T).
typedef struct {
    float *q, *k, *v;            // (B,T,C) projections, heads interleaved as (B,T,NH,HS)
    float *att;                  // (B,NH,T,T) softmax probabilities
    uint8_t *att_keep;           // (B,NH,T,T) dropout mask (1 = kept)
    float *att_drop;             // (B,NH,T,T) probabilities after dropout
    float *ctx;                  // (B,T,C) attention output before Wo
    uint8_t *attn_keep;          // (B,T,C) dropout mask of Wo · ctx + bo
    float *res1;                 // (B,T,C) x + dropout(attn_out), input of LayerNorm1
    float *ln1_mean, *ln1_rstd;  // (B,T)
    float *h;                    // (B,T,C) LayerNorm1 output
    float *fc1;                  // (B,T,I) W1 h + b1, before GELU
    float *gelu;                 // (B,T,I)
    uint8_t *fc2_keep;           // (B,T,C) dropout mask of W2 gelu + b2
    float *res2;                 // (B,T,C) h + dropout(fc2), input of LayerNorm2
    float *ln2_mean, *ln2_rstd;  // (B,T)
    float *out;                  // (B,T,C) LayerNorm2 output = the next layer's input
} BertLayerActs;

typedef struct {
    BertConfig config;
    char *config_json;  // config.json as read, so a save keeps every key it had
    char *source_dir;   // the checkpoint directory (tokenizer files are copied on save)
    ParamSet ps;        // every parameter and its gradient, HF names
    BertWeights w, g;   // typed views of ps.params and ps.grads

    // options, set before bert_alloc_acts (a zeroed struct is plain fp32 without checkpointing)
    bool gradient_checkpointing;  // keep only each layer's input; bert_backward recomputes the
                                  // layer's forward (same dropout masks) just before its backward
    FloatFormat act_format;       // FMT_FP16/FMT_BF16: round every stored activation and the
                                  // gradient flowing between layers to that format (lesson 14)
    bool autocast_bf16;           // every Linear layer in bf16 with fp32 sums, as torch.autocast on
                                  // the CPU (common/model/matmul_bf16.h; the trainer's --device cpu --bf16)

    // activations, allocated for up to (max_B, max_T) by bert_alloc_acts
    int max_B, max_T;
    size_t act_bytes;  // bytes bert_alloc_acts allocated (activations + backward scratch)
    bool acts_failed;  // bert_try_alloc_acts: an allocation failed (out of memory)
    Rng *layer_rng;    // (L) the dropout Rng as layer l's forward found it (for recompute)
    int B, T;          // the last forward's batch shape
    bool training;     // the last forward used dropout
    const int *input_ids, *token_type_ids, *attention_mask, *labels;  // the last forward's (B,T)/(B) inputs
    float *emb_sum;                                                   // (B,T,C) word + position + type embeddings
    float *emb_mean, *emb_rstd;                                       // (B,T)
    float *emb_ln;                                                    // (B,T,C)
    uint8_t *emb_keep;                                                // (B,T,C)
    float *emb_out;                                                   // (B,T,C) input of layer 0
    BertLayerActs *acts;                                              // (L)
    float *cls;                                                       // (B,C) the [CLS] rows of the last layer's output
    float *pooled;                                                    // (B,C) tanh(Wp cls + bp)
    uint8_t *pooled_keep;                                             // (B,C)
    float *pooled_drop;                                               // (B,C)
    float *logits;                                                    // (B,K)
    float *probs;                                                     // (B,K) softmax(logits)
    float loss;  // mean cross-entropy of the last forward with labels

    // backward scratch
    float *dlogits;   // (B,K)
    float *dx, *dx2;  // (B,T,C) gradient w.r.t. a layer's output / input
    float *scratch;   // 4 x (B,T,C) + (B,T,I): temporaries of a layer's forward/backward
    float *datt;      // (B,NH,T,T)
    float *dhead;     // 3 x (B,C): gradients in the pooler/classifier head
} BertModel;

// bert_create: a model of `config` (taken over: bert_free frees its id2label) with every tensor
// of BertForSequenceClassification registered under its Hugging Face name, allocated and zeroed,
// its gradient too, and the typed views w and g bound; no activations yet (bert_alloc_acts).
// bert_load (common/model/bert_io.h) creates the model this way and fills it from a checkpoint.
BertModel bert_create(BertConfig config);
void bert_free(BertModel *m);
void bert_config_free(BertConfig *c);

// bert_alloc_acts: activation buffers for batches of up to B sequences of up to T tokens
// (a second call frees the old ones and allocates for the new shape).
// With m->gradient_checkpointing every layer keeps only its output (the next layer's input);
// the rest of BertLayerActs is ONE set of buffers shared by all layers (lesson 15).
void bert_alloc_acts(BertModel *m, int B, int T);
// bert_try_alloc_acts: the same, but out of memory is not an error: every buffer is freed again
// and it returns false (the trainer's --auto_find_batch_size then tries a smaller batch).
bool bert_try_alloc_acts(BertModel *m, int B, int T);

// bert_check_batch: a batch fits the activations allocated for (max_B, max_T), its ids and
// token types are in range, every row has at least one real token and every label is in
// [0, K); else one error line. bert_forward calls it, and so does the GPU model (lesson 13),
// for which an id out of range would be an illegal memory access.
void bert_check_batch(const BertConfig *c, int max_B, int max_T, const int *ids, const int *types, const int *mask,
                      const int *labels, int B, int T);

// bert_forward: the model on a batch. input_ids, token_type_ids (NULL = all 0) and
// attention_mask (NULL = all 1, else 1 = token, 0 = padding) are (B,T) row-major; labels (B) or
// NULL. training = true applies dropout with masks drawn from `rng` (which may be NULL when
// training is false). Returns the logits (B,K), owned by the model; m->loss holds the mean
// cross-entropy when labels were given. The inputs must stay alive until bert_backward.
float *bert_forward(BertModel *m, const int *input_ids, const int *token_type_ids, const int *attention_mask,
                    const int *labels, int B, int T, bool training, Rng *rng);

// bert_backward: ADD the gradient of sum_b example_weight * loss_b (the last forward's loss) to
// m->ps.grads. example_weight = 1/B gives the gradient of the batch's mean loss, as
// loss.backward() in PyTorch; in gradient accumulation over a group of N examples use 1/N for
// every micro-batch (common/model/loss.h cross_entropy_backward). Zero the grads (params_zero_grad)
// at the start of each accumulation group, never in between.
void bert_backward(BertModel *m, float example_weight);

// bert_backward_from_dlogits: the same, with dloss/dlogits (B,K) given by the caller.
void bert_backward_from_dlogits(BertModel *m, const float *dlogits);

// bert_layer_forward / bert_layer_backward: encoder layer l on input x (B,T,C), writing
// m->acts[l]; the backward reads dout (B,T,C), adds layer l's parameter gradients to m->g and
// writes dx (B,T,C) (overwritten, not accumulated). The forward draws its dropout masks from
// `rng` when training; both use the attention mask (and dropout setting) of the current batch,
// as bert_forward set them. dx must not alias dout or the model's scratch buffers.
void bert_layer_forward(BertModel *m, int l, const float *x, int B, int T, bool training, Rng *rng);
void bert_layer_backward(BertModel *m, int l, const float *x, const float *dout, float *dx, int B, int T);
