// bert.c — see bert.h: the model's parameters, activations, forward and backward. Its files
// (config.json, checkpoints, saving) are bert_io.c. Lesson 10 walks through the forward pass,
// lesson 11 the backward pass.
#include "common/model/bert.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/model/layers.h"
#include "common/model/loss.h"
#include "common/model/matmul.h"
#include "common/model/matmul_bf16.h"
#include "common/core/util.h"

void bert_config_free(BertConfig *c) {
    for (int i = 0; c->id2label && i < c->num_labels; i++) free(c->id2label[i]);
    free(c->id2label);
    c->id2label = NULL;
    free(c->problem_type), free(c->text_column), free(c->label_column);
    c->problem_type = c->text_column = c->label_column = NULL;
}

// ---------------------------------------------------------------------------------------------
// parameters: names, shapes, and typed pointers into the flat buffers

static void add_tensor(ParamSet *ps, const char *name, int d0, int d1) {
    int shape[2] = {d0, d1};
    params_add(ps, name, d1 ? 2 : 1, shape);
}

// add_weight_bias: "<prefix>.weight" and "<prefix>.bias". A Linear layer has weight (out,in)
// (PyTorch's layout) and bias (out); a LayerNorm (in = 0) has weight (out) and bias (out).
static void add_weight_bias(ParamSet *ps, const char *prefix, int out, int in) {
    char name[160];
    snprintf(name, sizeof name, "%s.weight", prefix);
    add_tensor(ps, name, out, in);
    snprintf(name, sizeof name, "%s.bias", prefix);
    add_tensor(ps, name, out, 0);
}

// register_params: every tensor of BertForSequenceClassification, in the model's order.
static void register_params(ParamSet *ps, const BertConfig *c) {
    const int C = c->hidden_size, I = c->intermediate_size;
    add_tensor(ps, "bert.embeddings.word_embeddings.weight", c->vocab_size, C);
    add_tensor(ps, "bert.embeddings.position_embeddings.weight", c->max_position_embeddings, C);
    add_tensor(ps, "bert.embeddings.token_type_embeddings.weight", c->type_vocab_size, C);
    add_weight_bias(ps, "bert.embeddings.LayerNorm", C, 0);
    for (int l = 0; l < c->num_hidden_layers; l++) {
        char p[96];
        const char *attention[] = {"attention.self.query", "attention.self.key", "attention.self.value",
                                   "attention.output.dense"};
        for (size_t i = 0; i < ARRAY_LEN(attention); i++) {
            snprintf(p, sizeof p, "bert.encoder.layer.%d.%s", l, attention[i]);
            add_weight_bias(ps, p, C, C);
        }
        snprintf(p, sizeof p, "bert.encoder.layer.%d.attention.output.LayerNorm", l);
        add_weight_bias(ps, p, C, 0);
        snprintf(p, sizeof p, "bert.encoder.layer.%d.intermediate.dense", l);
        add_weight_bias(ps, p, I, C);
        snprintf(p, sizeof p, "bert.encoder.layer.%d.output.dense", l);
        add_weight_bias(ps, p, C, I);
        snprintf(p, sizeof p, "bert.encoder.layer.%d.output.LayerNorm", l);
        add_weight_bias(ps, p, C, 0);
    }
    add_weight_bias(ps, "bert.pooler.dense", C, C);
    add_weight_bias(ps, "classifier", c->num_labels, C);
}

// at: the tensor `name` inside `base` (ps.params or ps.grads); layer_at: the same for
// "bert.encoder.layer.<l>.<suffix>".
static float *at(const ParamSet *ps, float *base, const char *name) {
    const ParamTensor *t = params_find(ps, name);
    if (!t) die("internal: parameter %s not registered", name);
    return base + t->offset;
}

static float *layer_at(const ParamSet *ps, float *base, int l, const char *suffix) {
    char name[128];
    snprintf(name, sizeof name, "bert.encoder.layer.%d.%s", l, suffix);
    return at(ps, base, name);
}

static void bind_weights(BertWeights *w, const ParamSet *ps, float *base, int L) {
    w->word_emb = at(ps, base, "bert.embeddings.word_embeddings.weight");
    w->pos_emb = at(ps, base, "bert.embeddings.position_embeddings.weight");
    w->type_emb = at(ps, base, "bert.embeddings.token_type_embeddings.weight");
    w->emb_ln_w = at(ps, base, "bert.embeddings.LayerNorm.weight");
    w->emb_ln_b = at(ps, base, "bert.embeddings.LayerNorm.bias");
    w->layers = xcalloc((size_t)L, sizeof(BertLayerWeights));
    for (int l = 0; l < L; l++) {
        BertLayerWeights *y = &w->layers[l];
        y->q_w = layer_at(ps, base, l, "attention.self.query.weight");
        y->q_b = layer_at(ps, base, l, "attention.self.query.bias");
        y->k_w = layer_at(ps, base, l, "attention.self.key.weight");
        y->k_b = layer_at(ps, base, l, "attention.self.key.bias");
        y->v_w = layer_at(ps, base, l, "attention.self.value.weight");
        y->v_b = layer_at(ps, base, l, "attention.self.value.bias");
        y->o_w = layer_at(ps, base, l, "attention.output.dense.weight");
        y->o_b = layer_at(ps, base, l, "attention.output.dense.bias");
        y->ln1_w = layer_at(ps, base, l, "attention.output.LayerNorm.weight");
        y->ln1_b = layer_at(ps, base, l, "attention.output.LayerNorm.bias");
        y->fc1_w = layer_at(ps, base, l, "intermediate.dense.weight");
        y->fc1_b = layer_at(ps, base, l, "intermediate.dense.bias");
        y->fc2_w = layer_at(ps, base, l, "output.dense.weight");
        y->fc2_b = layer_at(ps, base, l, "output.dense.bias");
        y->ln2_w = layer_at(ps, base, l, "output.LayerNorm.weight");
        y->ln2_b = layer_at(ps, base, l, "output.LayerNorm.bias");
    }
    w->pool_w = at(ps, base, "bert.pooler.dense.weight");
    w->pool_b = at(ps, base, "bert.pooler.dense.bias");
    w->cls_w = at(ps, base, "classifier.weight");
    w->cls_b = at(ps, base, "classifier.bias");
}
BertModel bert_create(BertConfig config) {
    BertModel m = {0};
    m.config = config;
    register_params(&m.ps, &m.config);
    params_alloc(&m.ps);
    bind_weights(&m.w, &m.ps, m.ps.params, config.num_hidden_layers);
    bind_weights(&m.g, &m.ps, m.ps.grads, config.num_hidden_layers);
    return m;
}

// ---------------------------------------------------------------------------------------------
// activations

static void free_acts(BertModel *m) {
    for (int l = 0; m->acts && l < m->config.num_hidden_layers; l++) {
        BertLayerActs *a = &m->acts[l];
        free(a->out);
        if (l > 0 && a->q == m->acts[0].q) continue;  // gradient checkpointing: shared with layer 0
        void *bufs[] = {a->q,   a->k,         a->v,        a->att,      a->att_keep, a->att_drop,
                        a->ctx, a->attn_keep, a->res1,     a->ln1_mean, a->ln1_rstd, a->h,
                        a->fc1, a->gelu,      a->fc2_keep, a->res2,     a->ln2_mean, a->ln2_rstd};
        for (size_t i = 0; i < ARRAY_LEN(bufs); i++) free(bufs[i]);
    }
    void *bufs[] = {m->emb_sum,   m->emb_mean, m->emb_rstd, m->emb_ln,      m->emb_keep,    m->emb_out, m->acts,
                    m->layer_rng, m->cls,      m->pooled,   m->pooled_keep, m->pooled_drop, m->logits,  m->probs,
                    m->dlogits,   m->dx,       m->dx2,      m->scratch,     m->datt,        m->dhead};
    for (size_t i = 0; i < ARRAY_LEN(bufs); i++) free(bufs[i]);
    m->acts = NULL;
    m->layer_rng = NULL;
}

// acts_alloc: malloc that counts the bytes into m->act_bytes (lesson 15 checks its formula
// against this count). A failed allocation sets m->acts_failed, and every later one returns NULL
// without trying: bert_try_alloc_acts then frees what was allocated.
static void *acts_alloc(BertModel *m, size_t bytes) {
    m->act_bytes += bytes;
    void *p = m->acts_failed ? NULL : malloc(bytes ? bytes : 1);
    if (!p) m->acts_failed = true;
    return p;
}

// alloc_layer_acts: every buffer of one layer's BertLayerActs except `out`.
static void alloc_layer_acts(BertModel *m, BertLayerActs *a, size_t BT, size_t BTC, size_t BTI, size_t ATT) {
    a->q = acts_alloc(m, sizeof(float) * BTC);
    a->k = acts_alloc(m, sizeof(float) * BTC);
    a->v = acts_alloc(m, sizeof(float) * BTC);
    a->att = acts_alloc(m, sizeof(float) * ATT);
    a->att_keep = acts_alloc(m, ATT);
    a->att_drop = acts_alloc(m, sizeof(float) * ATT);
    a->ctx = acts_alloc(m, sizeof(float) * BTC);
    a->attn_keep = acts_alloc(m, BTC);
    a->res1 = acts_alloc(m, sizeof(float) * BTC);
    a->ln1_mean = acts_alloc(m, sizeof(float) * BT);
    a->ln1_rstd = acts_alloc(m, sizeof(float) * BT);
    a->h = acts_alloc(m, sizeof(float) * BTC);
    a->fc1 = acts_alloc(m, sizeof(float) * BTI);
    a->gelu = acts_alloc(m, sizeof(float) * BTI);
    a->fc2_keep = acts_alloc(m, BTC);
    a->res2 = acts_alloc(m, sizeof(float) * BTC);
    a->ln2_mean = acts_alloc(m, sizeof(float) * BT);
    a->ln2_rstd = acts_alloc(m, sizeof(float) * BT);
}

void bert_alloc_acts(BertModel *m, int B, int T) {
    if (!bert_try_alloc_acts(m, B, T))
        die("out of memory: the activations for batches of %d x %d tokens need %.1f MiB (lower the batch size or "
            "max_seq_length)",
            B, T, (double)m->act_bytes / (1 << 20));
}

bool bert_try_alloc_acts(BertModel *m, int B, int T) {
    const BertConfig *c = &m->config;
    if (T > c->max_position_embeddings)
        die("sequence length %d exceeds max_position_embeddings %d", T, c->max_position_embeddings);
    if (m->acts) free_acts(m);  // a second call replaces the buffers
    const size_t BT = (size_t)B * T, BTC = BT * c->hidden_size, BTI = BT * c->intermediate_size;
    const size_t ATT = (size_t)B * c->num_attention_heads * T * T, BC = (size_t)B * c->hidden_size;
    const size_t K = (size_t)c->num_labels, L = (size_t)c->num_hidden_layers;
    m->max_B = B;
    m->max_T = T;
    m->act_bytes = 0;
    m->emb_sum = acts_alloc(m, sizeof(float) * BTC);
    m->emb_mean = acts_alloc(m, sizeof(float) * BT);
    m->emb_rstd = acts_alloc(m, sizeof(float) * BT);
    m->emb_ln = acts_alloc(m, sizeof(float) * BTC);
    m->emb_keep = acts_alloc(m, BTC);
    m->emb_out = acts_alloc(m, sizeof(float) * BTC);
    m->acts = xcalloc(L, sizeof(BertLayerActs));
    m->layer_rng = xcalloc(L, sizeof(Rng));
    for (size_t l = 0; l < L; l++) {
        // with checkpointing, layers 1.. reuse layer 0's buffers: only one layer is live at a time
        if (l == 0 || !m->gradient_checkpointing) alloc_layer_acts(m, &m->acts[l], BT, BTC, BTI, ATT);
        else m->acts[l] = m->acts[0];
        m->acts[l].out = acts_alloc(m, sizeof(float) * BTC);
    }
    m->cls = acts_alloc(m, sizeof(float) * BC);
    m->pooled = acts_alloc(m, sizeof(float) * BC);
    m->pooled_keep = acts_alloc(m, BC);
    m->pooled_drop = acts_alloc(m, sizeof(float) * BC);
    m->logits = acts_alloc(m, sizeof(float) * B * K);
    m->probs = acts_alloc(m, sizeof(float) * B * K);
    m->dlogits = acts_alloc(m, sizeof(float) * B * K);
    m->dx = acts_alloc(m, sizeof(float) * BTC);
    m->dx2 = acts_alloc(m, sizeof(float) * BTC);
    m->scratch = acts_alloc(m, sizeof(float) * (4 * BTC + BTI));
    m->datt = acts_alloc(m, sizeof(float) * ATT);
    m->dhead = acts_alloc(m, sizeof(float) * 3 * BC);
    if (!m->acts_failed) return true;
    free_acts(m);
    m->acts_failed = false;
    return false;
}

void bert_free(BertModel *m) {
    free_acts(m);
    free(m->w.layers);
    free(m->g.layers);
    params_free(&m->ps);
    bert_config_free(&m->config);
    free(m->config_json);
    free(m->source_dir);
    memset(m, 0, sizeof *m);
}

// ---------------------------------------------------------------------------------------------
// forward

void bert_check_batch(const BertConfig *c, int max_B, int max_T, const int *ids, const int *types, const int *mask,
                      const int *labels, int B, int T) {
    if (B < 1 || T < 1 || B > max_B || T > max_T)
        die("batch (%d x %d) does not fit the activations allocated for (%d x %d)", B, T, max_B, max_T);
    for (int b = 0; b < B; b++) {
        int tokens = 0;
        for (int t = 0; t < T; t++) {
            long r = (long)b * T + t;
            if (ids[r] < 0 || ids[r] >= c->vocab_size)
                die("input_ids[%d][%d] = %d is outside the vocabulary (%d)", b, t, ids[r], c->vocab_size);
            if (types && (types[r] < 0 || types[r] >= c->type_vocab_size))
                die("token_type_ids[%d][%d] = %d is outside [0, %d)", b, t, types[r], c->type_vocab_size);
            tokens += mask ? mask[r] != 0 : 1;
        }
        if (!tokens) die("attention_mask row %d has no tokens", b);
        if (labels && (labels[b] < 0 || labels[b] >= c->num_labels))
            die("label %d of row %d is outside [0, %d)", labels[b], b, c->num_labels);
    }
}

// store: x as the GPU of lesson 14 would store it, in m->act_format (a no-op in fp32).
static void store(const BertModel *m, float *x, size_t n) { round_array(x, n, m->act_format); }

// linear / linear_grad: linear_forward / linear_backward (matmul.h), or their bf16 autocast
// versions (matmul_bf16.h) when m->autocast_bf16.
static void linear(const BertModel *m, float *out, const float *inp, const float *w, const float *b, int BT, int C,
                   int OC) {
    (m->autocast_bf16 ? linear_forward_bf16 : linear_forward)(out, inp, w, b, BT, C, OC);
}
static void linear_grad(const BertModel *m, float *dinp, float *dw, float *db, const float *dout, const float *inp,
                        const float *w, int BT, int C, int OC) {
    (m->autocast_bf16 ? linear_backward_bf16 : linear_backward)(dinp, dw, db, dout, inp, w, BT, C, OC);
}

void bert_layer_forward(BertModel *m, int l, const float *x, int B, int T, bool training, Rng *rng) {
    const BertConfig *c = &m->config;
    const BertLayerWeights *w = &m->w.layers[l];
    BertLayerActs *a = &m->acts[l];
    const int BT = B * T, C = c->hidden_size, I = c->intermediate_size;
    const float ph = training ? c->hidden_dropout_prob : 0.0f, pa = training ? c->attention_probs_dropout_prob : 0.0f;
    const size_t BTC = (size_t)BT * C, BTI = (size_t)BT * I;
    float *tmp = m->scratch;                       // (B,T,C) the sublayer output before its dropout
    linear(m, a->q, x, w->q_w, w->q_b, BT, C, C);  // q = x Wq^T + bq     (B,T,C)
    linear(m, a->k, x, w->k_w, w->k_b, BT, C, C);
    linear(m, a->v, x, w->v_w, w->v_b, BT, C, C);
    store(m, a->q, BTC), store(m, a->k, BTC), store(m, a->v, BTC);
    attention_forward(a->ctx, a->att, a->att_keep, a->att_drop, a->q, a->k, a->v, m->attention_mask, B, T, C,
                      c->num_attention_heads, pa, training ? rng : NULL);
    store(m, a->ctx, BTC);
    linear(m, tmp, a->ctx, w->o_w, w->o_b, BT, C, C);  // Wo ctx + bo         (B,T,C)
    dropout_forward(a->res1, a->attn_keep, tmp, (int64_t)BTC, ph, training ? rng : NULL);
    add_forward(a->res1, a->res1, x, (int64_t)BTC);  // res1 = x + dropout(.)
    store(m, a->res1, BTC);
    layernorm_forward(a->h, a->ln1_mean, a->ln1_rstd, a->res1, w->ln1_w, w->ln1_b, BT, C, c->layer_norm_eps);
    store(m, a->h, BTC);
    linear(m, a->fc1, a->h, w->fc1_w, w->fc1_b, BT, C, I);  // (B,T,I)
    store(m, a->fc1, BTI);
    gelu_forward(a->gelu, a->fc1, BT * I);
    store(m, a->gelu, BTI);
    linear(m, tmp, a->gelu, w->fc2_w, w->fc2_b, BT, I, C);  // (B,T,C)
    dropout_forward(a->res2, a->fc2_keep, tmp, (int64_t)BTC, ph, training ? rng : NULL);
    add_forward(a->res2, a->res2, a->h, (int64_t)BTC);  // res2 = h + dropout(.)
    store(m, a->res2, BTC);
    layernorm_forward(a->out, a->ln2_mean, a->ln2_rstd, a->res2, w->ln2_w, w->ln2_b, BT, C, c->layer_norm_eps);
    store(m, a->out, BTC);
}

float *bert_forward(BertModel *m, const int *input_ids, const int *token_type_ids, const int *attention_mask,
                    const int *labels, int B, int T, bool training, Rng *rng) {
    const BertConfig *c = &m->config;
    if (!m->acts) die("internal: bert_forward before bert_alloc_acts");
    if (training && !rng) die("internal: bert_forward in training mode needs an Rng for dropout");
    bert_check_batch(&m->config, m->max_B, m->max_T, input_ids, token_type_ids, attention_mask, labels, B, T);
    m->B = B, m->T = T, m->training = training;
    m->input_ids = input_ids, m->token_type_ids = token_type_ids, m->attention_mask = attention_mask,
    m->labels = labels;
    const int BT = B * T, C = c->hidden_size, K = c->num_labels, L = c->num_hidden_layers;
    Rng *r = training ? rng : NULL;

    // embeddings: LayerNorm(word + position + type), dropout                (B,T,C)
    embeddings_forward(m->emb_sum, input_ids, token_type_ids, m->w.word_emb, m->w.pos_emb, m->w.type_emb, B, T, C);
    layernorm_forward(m->emb_ln, m->emb_mean, m->emb_rstd, m->emb_sum, m->w.emb_ln_w, m->w.emb_ln_b, BT, C,
                      c->layer_norm_eps);
    dropout_forward(m->emb_out, m->emb_keep, m->emb_ln, (int64_t)BT * C, training ? c->hidden_dropout_prob : 0, r);
    store(m, m->emb_out, (size_t)BT * C);

    const float *x = m->emb_out;
    for (int l = 0; l < L; l++) {
        if (r) m->layer_rng[l] = *r;  // a recompute in the backward redraws the same dropout masks
        bert_layer_forward(m, l, x, B, T, training, rng);
        x = m->acts[l].out;
    }

    // pooler on the [CLS] token, dropout, classifier                          (B,C) -> (B,K)
    for (int b = 0; b < B; b++) memcpy(m->cls + (long)b * C, x + (long)b * T * C, sizeof(float) * C);
    linear(m, m->pooled, m->cls, m->w.pool_w, m->w.pool_b, B, C, C);
    tanh_forward(m->pooled, m->pooled, B * C);
    dropout_forward(m->pooled_drop, m->pooled_keep, m->pooled, (int64_t)B * C, training ? c->classifier_dropout : 0, r);
    linear(m, m->logits, m->pooled_drop, m->w.cls_w, m->w.cls_b, B, C, K);
    store(m, m->logits, (size_t)B * K);
    m->loss = labels ? (float)cross_entropy_forward(m->logits, labels, B, K, m->probs) : NAN;
    return m->logits;
}

// ---------------------------------------------------------------------------------------------
// backward

void bert_layer_backward(BertModel *m, int l, const float *x, const float *dout, float *dx, int B, int T) {
    const BertConfig *c = &m->config;
    const BertLayerWeights *w = &m->w.layers[l], *g = &m->g.layers[l];
    const BertLayerActs *a = &m->acts[l];
    const int BT = B * T, C = c->hidden_size, I = c->intermediate_size;
    const int64_t BTC = (int64_t)BT * C;
    const float ph = m->training ? c->hidden_dropout_prob : 0.0f,
                pa = m->training ? c->attention_probs_dropout_prob : 0.0f;
    float *s0 = m->scratch, *s1 = s0 + BTC, *s2 = s1 + BTC, *s3 = s2 + BTC, *sI = s3 + BTC;  // 4 x (B,T,C), (B,T,I)

    // out = LayerNorm2(res2), res2 = h + dropout(fc2)
    layernorm_backward(s0, g->ln2_w, g->ln2_b, dout, a->res2, w->ln2_w, a->ln2_mean, a->ln2_rstd, BT, C);  // s0 = dres2
    dropout_backward(s1, s0, a->fc2_keep, BTC, ph);                                                        // s1 = dfc2
    memset(sI, 0, sizeof(float) * (size_t)BT * I);
    linear_grad(m, sI, g->fc2_w, g->fc2_b, s1, a->gelu, w->fc2_w, BT, I, C);  // sI = dgelu
    gelu_backward(sI, sI, a->fc1, BT * I);                                    // sI = dfc1
    linear_grad(m, s0, g->fc1_w, g->fc1_b, sI, a->h, w->fc1_w, BT, C, I);     // s0 = dh = dres2 + W1-path
    // h = LayerNorm1(res1), res1 = x + dropout(Wo ctx + bo)
    layernorm_backward(s1, g->ln1_w, g->ln1_b, s0, a->res1, w->ln1_w, a->ln1_mean, a->ln1_rstd, BT, C);  // s1 = dres1
    memcpy(dx, s1, sizeof(float) * (size_t)BTC);      // residual path to x
    dropout_backward(s0, s1, a->attn_keep, BTC, ph);  // s0 = d(Wo ctx + bo)
    memset(s1, 0, sizeof(float) * (size_t)BTC);
    linear_grad(m, s1, g->o_w, g->o_b, s0, a->ctx, w->o_w, BT, C, C);  // s1 = dctx
    attention_backward(s0, s2, s3, m->datt, s1, a->q, a->k, a->v, a->att, a->att_keep, a->att_drop, B, T, C,
                       c->num_attention_heads, pa);               // s0, s2, s3 = dq, dk, dv
    linear_grad(m, dx, g->q_w, g->q_b, s0, x, w->q_w, BT, C, C);  // dx += dq Wq
    linear_grad(m, dx, g->k_w, g->k_b, s2, x, w->k_w, BT, C, C);
    linear_grad(m, dx, g->v_w, g->v_b, s3, x, w->v_w, BT, C, C);
}

void bert_backward_from_dlogits(BertModel *m, const float *dlogits) {
    const BertConfig *c = &m->config;
    const int B = m->B, T = m->T, BT = B * T, C = c->hidden_size, K = c->num_labels, L = c->num_hidden_layers;
    float *dpd = m->dhead, *dpre = dpd + (long)B * C, *dcls = dpre + (long)B * C;  // 3 x (B,C)

    // classifier, dropout, tanh pooler
    memset(dpd, 0, sizeof(float) * (size_t)B * C);
    linear_grad(m, dpd, m->g.cls_w, m->g.cls_b, dlogits, m->pooled_drop, m->w.cls_w, B, C, K);
    dropout_backward(dpre, dpd, m->pooled_keep, (int64_t)B * C, m->training ? c->classifier_dropout : 0);
    tanh_backward(dpre, dpre, m->pooled, B * C);
    memset(dcls, 0, sizeof(float) * (size_t)B * C);
    linear_grad(m, dcls, m->g.pool_w, m->g.pool_b, dpre, m->cls, m->w.pool_w, B, C, C);

    // only the [CLS] rows of the last layer's output reach the loss
    float *dout = m->dx, *din = m->dx2;
    memset(dout, 0, sizeof(float) * (size_t)BT * C);
    for (int b = 0; b < B; b++) memcpy(dout + (long)b * T * C, dcls + (long)b * C, sizeof(float) * C);
    for (int l = L - 1; l >= 0; l--) {
        const float *x = l ? m->acts[l - 1].out : m->emb_out;
        if (m->gradient_checkpointing) {  // recompute layer l's activations from its kept input
            Rng r = m->layer_rng[l];
            bert_layer_forward(m, l, x, B, T, m->training, m->training ? &r : NULL);
        }
        bert_layer_backward(m, l, x, dout, din, B, T);
        store(m, din, (size_t)BT * C);  // the gradient handed to the layer below
        float *swap = dout;
        dout = din, din = swap;
    }

    // embeddings: dropout, LayerNorm, the three lookups
    dropout_backward(dout, dout, m->emb_keep, (int64_t)BT * C, m->training ? c->hidden_dropout_prob : 0);
    layernorm_backward(din, m->g.emb_ln_w, m->g.emb_ln_b, dout, m->emb_sum, m->w.emb_ln_w, m->emb_mean, m->emb_rstd, BT,
                       C);
    embeddings_backward(m->g.word_emb, m->g.pos_emb, m->g.type_emb, din, m->input_ids, m->token_type_ids, B, T, C);
}

void bert_backward(BertModel *m, float example_weight) {
    if (!m->labels) die("internal: bert_backward after a forward without labels");
    cross_entropy_backward(m->probs, m->labels, m->B, m->config.num_labels, example_weight, m->dlogits);
    bert_backward_from_dlogits(m, m->dlogits);
}
