// bert_cuda.cu — see bert_cuda.cuh. Each function mirrors the one of common/bert.c named in its
// comment, in the same order of operations, so the two can be read side by side.
#include "kernels/bert_cuda.cuh"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// ---------------------------------------------------------------------------------------------
// memory

// device_weights: the CPU model's typed pointers, moved from its host buffer `from` to the
// device buffer `to` (the same offsets: the ParamSet layout is shared).
static BertWeights device_weights(const BertWeights *cpu, const float *from, float *to, int L) {
    auto at = [&](const float *p) { return to + (p - from); };
    BertWeights w;
    w.word_emb = at(cpu->word_emb), w.pos_emb = at(cpu->pos_emb), w.type_emb = at(cpu->type_emb);
    w.emb_ln_w = at(cpu->emb_ln_w), w.emb_ln_b = at(cpu->emb_ln_b);
    w.pool_w = at(cpu->pool_w), w.pool_b = at(cpu->pool_b), w.cls_w = at(cpu->cls_w), w.cls_b = at(cpu->cls_b);
    w.layers = (BertLayerWeights *)xcalloc((size_t)L, sizeof(BertLayerWeights));
    // a layer's weights are 16 float pointers: move each one
    static_assert(sizeof(BertLayerWeights) == 16 * sizeof(float *), "BertLayerWeights holds only float pointers");
    for (int l = 0; l < L; l++) {
        float *const *src = (float *const *)&cpu->layers[l];
        float **dst = (float **)&w.layers[l];
        for (int i = 0; i < 16; i++) dst[i] = at(src[i]);
    }
    return w;
}

// layout_acts: point every buffer of a step into `base` for batches of up to max_B x max_T, each
// buffer 256-byte aligned; returns the bytes used. With base = NULL it only counts (the first
// of the two calls: count, allocate once, lay out). With gradient checkpointing, layers 1.. get
// only their own `out` and share the rest with layer 0 (as bert_alloc_acts).
static size_t layout_acts(GpuBert *g, char *base) {
    const BertConfig *c = &g->config;
    const size_t BT = (size_t)g->max_B * g->max_T, C = c->hidden_size, I = c->intermediate_size;
    const size_t BTC = BT * C, BTI = BT * I, ATT = (size_t)g->max_B * c->num_attention_heads * g->max_T * g->max_T;
    const size_t BC = (size_t)g->max_B * C, BK = (size_t)g->max_B * c->num_labels;
    size_t used = 0;
    auto take = [&](size_t bytes) -> void * {
        void *p = base ? base + used : NULL;
        used += (bytes + 255) / 256 * 256;
        return p;
    };
    auto floats = [&](size_t n) { return (float *)take(sizeof(float) * n); };
    auto bytes = [&](size_t n) { return (uint8_t *)take(n); };
    auto ints = [&](size_t n) { return (int *)take(sizeof(int) * n); };
    g->ids = ints(BT), g->types = ints(BT), g->mask = ints(BT), g->labels = ints(g->max_B);
    g->emb_sum = floats(BTC), g->emb_mean = floats(BT), g->emb_rstd = floats(BT), g->emb_ln = floats(BTC);
    g->emb_keep = bytes(BTC), g->emb_out = floats(BTC);
    for (int l = 0; l < c->num_hidden_layers; l++) {
        GpuLayerActs *a = &g->acts[l];
        if (l > 0 && g->gradient_checkpointing) {
            *a = g->acts[0];
            a->out = floats(BTC);
            continue;
        }
        a->qh = floats(BTC), a->kh = floats(BTC), a->vh = floats(BTC);
        a->att = floats(ATT), a->att_keep = bytes(ATT), a->att_drop = floats(ATT);
        a->ctx = floats(BTC), a->attn_keep = bytes(BTC), a->res1 = floats(BTC);
        a->ln1_mean = floats(BT), a->ln1_rstd = floats(BT), a->h = floats(BTC);
        a->fc1 = floats(BTI), a->gelu = floats(BTI), a->fc2_keep = bytes(BTC), a->res2 = floats(BTC);
        a->ln2_mean = floats(BT), a->ln2_rstd = floats(BT), a->out = floats(BTC);
    }
    g->cls = floats(BC), g->pooled = floats(BC), g->pooled_keep = bytes(BC), g->pooled_drop = floats(BC);
    g->logits = floats(BK), g->probs = floats(BK), g->loss = floats(1), g->dlogits = floats(BK);
    g->dx = floats(BTC), g->dx2 = floats(BTC), g->scratch = floats(8 * BTC + BTI), g->datt = floats(ATT);
    g->dhead = floats(3 * BC);
    g->norm_partials = (double *)take(sizeof(double) * (SUM_SQUARES_BLOCKS + 1));
    return used;
}

GpuBert gpu_bert_create(const BertModel *m, int max_B, int max_T, GemmPrecision precision) {
    const BertConfig *c = &m->config;
    if (precision == GEMM_BF16) die("the GPU BERT computes in float32: precision must be fp32 or tf32");
    if (max_B < 1 || max_T < 1 || max_T > c->max_position_embeddings)
        die("GPU BERT: batch %d x %d is not in 1..any x 1..%d (max_position_embeddings)", max_B, max_T,
            c->max_position_embeddings);
    GpuBert g = {};
    g.config = *c;
    g.config.id2label = NULL;
    g.precision = precision;
    g.gradient_checkpointing = m->gradient_checkpointing;
    CUBLAS_CHECK(cublasCreate(&g.cublas));

    // parameters and gradients, one allocation each
    g.n_tensors = m->ps.n_tensors, g.numel = m->ps.numel;
    g.tensors = (ParamTensor *)xmalloc(sizeof(ParamTensor) * g.n_tensors);
    memcpy(g.tensors, m->ps.tensors, sizeof(ParamTensor) * g.n_tensors);
    g.params = (float *)cuda_malloc(sizeof(float) * g.numel, "BERT parameters");
    g.grads = (float *)cuda_malloc(sizeof(float) * g.numel, "BERT gradients");
    CUDA_CHECK(cudaMemcpy(g.params, m->ps.params, sizeof(float) * g.numel, cudaMemcpyHostToDevice));
    CUDA_CHECK(cudaMemset(g.grads, 0, sizeof(float) * g.numel));
    const int L = c->num_hidden_layers;
    g.w = device_weights(&m->w, m->ps.params, g.params, L);
    g.g = device_weights(&m->g, m->ps.grads, g.grads, L);

    // the tensor table AdamW reads: where each tensor ends, and whether it decays
    long *ends = (long *)xmalloc(sizeof(long) * g.n_tensors);
    uint8_t *decay = (uint8_t *)xmalloc(g.n_tensors);
    for (int i = 0; i < g.n_tensors; i++) ends[i] = (long)(g.tensors[i].offset + g.tensors[i].numel), decay[i] = g.tensors[i].decay;
    g.tensor_end = (long *)cuda_malloc(sizeof(long) * g.n_tensors, "AdamW tensor table");
    g.tensor_decay = (uint8_t *)cuda_malloc(g.n_tensors, "AdamW decay flags");
    CUDA_CHECK(cudaMemcpy(g.tensor_end, ends, sizeof(long) * g.n_tensors, cudaMemcpyHostToDevice));
    CUDA_CHECK(cudaMemcpy(g.tensor_decay, decay, g.n_tensors, cudaMemcpyHostToDevice));
    free(ends), free(decay);

    // everything a step computes, one allocation
    g.max_B = max_B, g.max_T = max_T;
    g.acts = (GpuLayerActs *)xcalloc((size_t)L, sizeof(GpuLayerActs));
    g.acts_bytes = layout_acts(&g, NULL);
    char what[96];
    snprintf(what, sizeof what, "BERT activations for batches of %d x %d", max_B, max_T);
    g.acts_memory = cuda_malloc(g.acts_bytes, what);
    layout_acts(&g, (char *)g.acts_memory);
    return g;
}

void gpu_bert_free(GpuBert *g) {
    void *dev[] = {g->params, g->grads, g->m, g->tensor_end, g->tensor_decay, g->acts_memory};
    for (size_t i = 0; i < ARRAY_LEN(dev); i++) CUDA_CHECK(cudaFree(dev[i]));
    CUBLAS_CHECK(cublasDestroy(g->cublas));
    free(g->tensors), free(g->acts), free(g->w.layers), free(g->g.layers);
    memset(g, 0, sizeof *g);
}

size_t gpu_bert_memory_bytes(const GpuBert *g) {
    return sizeof(float) * g->numel * (g->m ? 4 : 2) + g->acts_bytes;
}

size_t gpu_bert_acts_beyond_formula(const GpuBert *g) {
    const size_t BT = (size_t)g->max_B * g->max_T, BTC = BT * g->config.hidden_size;
    return sizeof(int) * (3 * BT + g->max_B) + sizeof(float) * (1 + 4 * BTC) + sizeof(double) * (SUM_SQUARES_BLOCKS + 1);
}

// ---------------------------------------------------------------------------------------------
// forward

// upload_batch: the inputs to the GPU; NULL types become 0 and a NULL mask 1, as on the CPU.
static void upload_batch(GpuBert *g, const int *ids, const int *types, const int *mask, const int *labels, int B, int T) {
    const size_t BT = (size_t)B * T;
    int *fill = NULL;
    if (!types || !mask) fill = (int *)xmalloc(sizeof(int) * BT);
    CUDA_CHECK(cudaMemcpy(g->ids, ids, sizeof(int) * BT, cudaMemcpyHostToDevice));
    if (!types) memset(fill, 0, sizeof(int) * BT);
    CUDA_CHECK(cudaMemcpy(g->types, types ? types : fill, sizeof(int) * BT, cudaMemcpyHostToDevice));
    if (!mask)
        for (size_t i = 0; i < BT; i++) fill[i] = 1;
    CUDA_CHECK(cudaMemcpy(g->mask, mask ? mask : fill, sizeof(int) * BT, cudaMemcpyHostToDevice));
    if (labels) CUDA_CHECK(cudaMemcpy(g->labels, labels, sizeof(int) * B, cudaMemcpyHostToDevice));
    g->has_labels = labels != NULL;
    free(fill);
}

// Dropout sites of a forward: 0 the embeddings, 1 + 3l + {0, 1, 2} layer l's attention
// probabilities, attention output and feed-forward output, 1 + 3L the pooler output.
static Dropout dropout_at(const GpuBert *g, float p, uint64_t seed, uint64_t site) {
    return Dropout{p, dropout_site_seed(seed, site), g->masks_given};
}

// layer_forward: bert_layer_forward, into g->acts[l]; the forward calls it for every layer and,
// with gradient checkpointing, the backward again for each layer just before its backward.
static void layer_forward(GpuBert *g, int l, const float *x, uint64_t seed) {
    const BertConfig *c = &g->config;
    const BertLayerWeights *w = &g->w.layers[l];
    GpuLayerActs *a = &g->acts[l];
    const int B = g->B, T = g->T, BT = B * T, C = c->hidden_size, I = c->intermediate_size;
    const int NH = c->num_attention_heads, HS = C / NH;
    const long BTC = (long)BT * C;
    const cublasHandle_t h = g->cublas;
    const GemmPrecision p = g->precision;
    float *tmp = g->scratch, *ctxh = g->scratch + BTC;  // (B,T,C) a sublayer's output; (B,NH,T,HS)
    linear_forward_gpu(h, p, tmp, x, w->q_w, w->q_b, BT, C, C);                  // q = x Wq^T + bq    (B,T,C)
    split_heads_gpu(a->qh, tmp, B, T, NH, HS);                                   //                   (B,NH,T,HS)
    linear_forward_gpu(h, p, tmp, x, w->k_w, w->k_b, BT, C, C);
    split_heads_gpu(a->kh, tmp, B, T, NH, HS);
    linear_forward_gpu(h, p, tmp, x, w->v_w, w->v_b, BT, C, C);
    split_heads_gpu(a->vh, tmp, B, T, NH, HS);
    attention_forward_gpu(h, p, ctxh, a->att, a->att_keep, a->att_drop, a->qh, a->kh, a->vh, g->mask, B, T, NH, HS,
                          dropout_at(g, g->p_attention, seed, 1 + 3 * l));
    merge_heads_gpu(a->ctx, ctxh, B, T, NH, HS);                                 // ctx                (B,T,C)
    linear_forward_gpu(h, p, tmp, a->ctx, w->o_w, w->o_b, BT, C, C);             // Wo ctx + bo
    dropout_forward_gpu(a->res1, a->attn_keep, tmp, x, BTC, dropout_at(g, g->p_hidden, seed, 2 + 3 * l));  // x + dropout(.)
    layernorm_forward_gpu(a->h, a->ln1_mean, a->ln1_rstd, a->res1, w->ln1_w, w->ln1_b, BT, C, c->layer_norm_eps);
    linear_forward_gpu(h, p, a->fc1, a->h, w->fc1_w, w->fc1_b, BT, C, I);        // (B,T,I)
    gelu_forward_gpu(a->gelu, a->fc1, (long)BT * I);
    linear_forward_gpu(h, p, tmp, a->gelu, w->fc2_w, w->fc2_b, BT, I, C);        // (B,T,C)
    dropout_forward_gpu(a->res2, a->fc2_keep, tmp, a->h, BTC, dropout_at(g, g->p_hidden, seed, 3 + 3 * l));  // h + dropout(.)
    layernorm_forward_gpu(a->out, a->ln2_mean, a->ln2_rstd, a->res2, w->ln2_w, w->ln2_b, BT, C, c->layer_norm_eps);
}

// gpu_bert_forward: bert_forward.
float gpu_bert_forward(GpuBert *g, const int *input_ids, const int *token_type_ids, const int *attention_mask,
                       const int *labels, int B, int T, bool training, uint64_t seed) {
    const BertConfig *c = &g->config;
    bert_check_batch(&g->config, g->max_B, g->max_T, input_ids, token_type_ids, attention_mask, labels, B, T);
    if (g->masks_given && (B != g->B || T != g->T || !training))
        die("internal: the uploaded dropout masks are for a training batch of %d x %d, not %d x %d%s", g->B, g->T, B, T,
            training ? "" : " in evaluation");
    upload_batch(g, input_ids, token_type_ids, attention_mask, labels, B, T);
    g->B = B, g->T = T, g->seed = seed;
    g->p_hidden = training ? c->hidden_dropout_prob : 0.0f;
    g->p_attention = training ? c->attention_probs_dropout_prob : 0.0f;
    g->p_classifier = training ? c->classifier_dropout : 0.0f;
    const int BT = B * T, C = c->hidden_size, K = c->num_labels, L = c->num_hidden_layers;
    const long BTC = (long)BT * C;

    // embeddings: LayerNorm(word + position + type), dropout                  (B,T,C)
    embeddings_forward_gpu(g->emb_sum, g->ids, g->types, g->w.word_emb, g->w.pos_emb, g->w.type_emb, B, T, C);
    layernorm_forward_gpu(g->emb_ln, g->emb_mean, g->emb_rstd, g->emb_sum, g->w.emb_ln_w, g->w.emb_ln_b, BT, C,
                          c->layer_norm_eps);
    dropout_forward_gpu(g->emb_out, g->emb_keep, g->emb_ln, NULL, BTC, dropout_at(g, g->p_hidden, seed, 0));

    const float *x = g->emb_out;
    for (int l = 0; l < L; l++) {
        layer_forward(g, l, x, seed);
        x = g->acts[l].out;
    }

    // pooler on the [CLS] rows (row 0 of each sequence: a strided copy), dropout, classifier
    CUDA_CHECK(cudaMemcpy2D(g->cls, sizeof(float) * C, x, sizeof(float) * T * C, sizeof(float) * C, B,
                            cudaMemcpyDeviceToDevice));
    linear_forward_gpu(g->cublas, g->precision, g->pooled, g->cls, g->w.pool_w, g->w.pool_b, B, C, C);
    tanh_forward_gpu(g->pooled, g->pooled, (long)B * C);
    dropout_forward_gpu(g->pooled_drop, g->pooled_keep, g->pooled, NULL, (long)B * C,
                        dropout_at(g, g->p_classifier, seed, 1 + 3 * (uint64_t)L));
    linear_forward_gpu(g->cublas, g->precision, g->logits, g->pooled_drop, g->w.cls_w, g->w.cls_b, B, C, K);
    g->masks_given = false;
    if (!labels) return NAN;
    cross_entropy_forward_gpu(g->loss, g->probs, g->logits, g->labels, B, K);
    float loss;
    CUDA_CHECK(cudaMemcpy(&loss, g->loss, sizeof(float), cudaMemcpyDeviceToHost));
    return loss;
}

void gpu_bert_logits(const GpuBert *g, float *out) {
    CUDA_CHECK(cudaMemcpy(out, g->logits, sizeof(float) * g->B * g->config.num_labels, cudaMemcpyDeviceToHost));
}

// ---------------------------------------------------------------------------------------------
// backward

// layer_backward: bert_layer_backward.
static void layer_backward(GpuBert *g, int l, const float *x, const float *dout, float *dx) {
    const BertConfig *c = &g->config;
    const BertLayerWeights *w = &g->w.layers[l], *gw = &g->g.layers[l];
    const GpuLayerActs *a = &g->acts[l];
    const int B = g->B, T = g->T, BT = B * T, C = c->hidden_size, I = c->intermediate_size;
    const int NH = c->num_attention_heads, HS = C / NH;
    const long BTC = (long)BT * C, BTI = (long)BT * I;
    const float ph = g->p_hidden;
    const cublasHandle_t h = g->cublas;
    const GemmPrecision p = g->precision;
    float *s0 = g->scratch, *s1 = s0 + BTC, *s2 = s1 + BTC, *s3 = s2 + BTC;  // 4 x (B,T,C)
    float *dctxh = s3 + BTC, *dqh = dctxh + BTC, *dkh = dqh + BTC, *dvh = dkh + BTC;  // 4 x (B,NH,T,HS)
    float *sI = dvh + BTC;                                                            // (B,T,I)

    // out = LayerNorm2(res2), res2 = h + dropout(fc2)
    layernorm_backward_gpu(s0, gw->ln2_w, gw->ln2_b, dout, a->res2, w->ln2_w, a->ln2_mean, a->ln2_rstd, BT, C);  // dres2
    dropout_backward_gpu(s1, s0, a->fc2_keep, BTC, ph);                                         // s1 = dfc2
    CUDA_CHECK(cudaMemset(sI, 0, sizeof(float) * BTI));
    linear_backward_gpu(h, p, sI, gw->fc2_w, gw->fc2_b, s1, a->gelu, w->fc2_w, BT, I, C);       // sI = dgelu
    gelu_backward_gpu(sI, sI, a->fc1, BTI);                                                     // sI = dfc1
    linear_backward_gpu(h, p, s0, gw->fc1_w, gw->fc1_b, sI, a->h, w->fc1_w, BT, C, I);          // s0 = dh
    // h = LayerNorm1(res1), res1 = x + dropout(Wo ctx + bo)
    layernorm_backward_gpu(s1, gw->ln1_w, gw->ln1_b, s0, a->res1, w->ln1_w, a->ln1_mean, a->ln1_rstd, BT, C);  // dres1
    CUDA_CHECK(cudaMemcpy(dx, s1, sizeof(float) * BTC, cudaMemcpyDeviceToDevice));           // residual path to x
    dropout_backward_gpu(s0, s1, a->attn_keep, BTC, ph);                                        // d(Wo ctx + bo)
    CUDA_CHECK(cudaMemset(s1, 0, sizeof(float) * BTC));
    linear_backward_gpu(h, p, s1, gw->o_w, gw->o_b, s0, a->ctx, w->o_w, BT, C, C);              // s1 = dctx
    split_heads_gpu(dctxh, s1, B, T, NH, HS);
    attention_backward_gpu(h, p, dqh, dkh, dvh, g->datt, dctxh, a->qh, a->kh, a->vh, a->att, a->att_keep, a->att_drop, B,
                           T, NH, HS, g->p_attention);
    merge_heads_gpu(s0, dqh, B, T, NH, HS);
    linear_backward_gpu(h, p, dx, gw->q_w, gw->q_b, s0, x, w->q_w, BT, C, C);                   // dx += dq Wq
    merge_heads_gpu(s2, dkh, B, T, NH, HS);
    linear_backward_gpu(h, p, dx, gw->k_w, gw->k_b, s2, x, w->k_w, BT, C, C);
    merge_heads_gpu(s3, dvh, B, T, NH, HS);
    linear_backward_gpu(h, p, dx, gw->v_w, gw->v_b, s3, x, w->v_w, BT, C, C);
}

// backward_from_dlogits: bert_backward_from_dlogits, with dlogits in g->dlogits.
static void backward_from_dlogits(GpuBert *g) {
    const BertConfig *c = &g->config;
    const int B = g->B, T = g->T, BT = B * T, C = c->hidden_size, K = c->num_labels, L = c->num_hidden_layers;
    const long BC = (long)B * C, BTC = (long)BT * C;
    const cublasHandle_t h = g->cublas;
    const GemmPrecision p = g->precision;
    float *dpd = g->dhead, *dpre = dpd + BC, *dcls = dpre + BC;  // 3 x (B,C)

    // classifier, dropout, tanh pooler
    CUDA_CHECK(cudaMemset(dpd, 0, sizeof(float) * BC));
    linear_backward_gpu(h, p, dpd, g->g.cls_w, g->g.cls_b, g->dlogits, g->pooled_drop, g->w.cls_w, B, C, K);
    dropout_backward_gpu(dpre, dpd, g->pooled_keep, BC, g->p_classifier);
    tanh_backward_gpu(dpre, dpre, g->pooled, BC);
    CUDA_CHECK(cudaMemset(dcls, 0, sizeof(float) * BC));
    linear_backward_gpu(h, p, dcls, g->g.pool_w, g->g.pool_b, dpre, g->cls, g->w.pool_w, B, C, C);

    // only the [CLS] rows of the last layer's output reach the loss
    float *dout = g->dx, *din = g->dx2;
    CUDA_CHECK(cudaMemset(dout, 0, sizeof(float) * BTC));
    CUDA_CHECK(cudaMemcpy2D(dout, sizeof(float) * T * C, dcls, sizeof(float) * C, sizeof(float) * C, B,
                            cudaMemcpyDeviceToDevice));
    for (int l = L - 1; l >= 0; l--) {
        const float *x = l ? g->acts[l - 1].out : g->emb_out;
        if (g->gradient_checkpointing) layer_forward(g, l, x, g->seed);  // recompute layer l from its kept input
        layer_backward(g, l, x, dout, din);
        float *swap = dout;
        dout = din, din = swap;
    }

    // embeddings: dropout, LayerNorm, the three lookups
    dropout_backward_gpu(dout, dout, g->emb_keep, BTC, g->p_hidden);
    layernorm_backward_gpu(din, g->g.emb_ln_w, g->g.emb_ln_b, dout, g->emb_sum, g->w.emb_ln_w, g->emb_mean, g->emb_rstd,
                           BT, C);
    embeddings_backward_gpu(g->g.word_emb, g->g.pos_emb, g->g.type_emb, din, g->ids, g->types, B, T, C);
}

// gpu_bert_backward: bert_backward.
void gpu_bert_backward(GpuBert *g, float example_weight) {
    if (!g->has_labels) die("internal: gpu_bert_backward after a forward without labels");
    cross_entropy_backward_gpu(g->dlogits, g->probs, g->labels, g->B, g->config.num_labels, example_weight);
    backward_from_dlogits(g);
}

void gpu_bert_zero_grad(GpuBert *g) { CUDA_CHECK(cudaMemset(g->grads, 0, sizeof(float) * g->numel)); }

// ---------------------------------------------------------------------------------------------
// the optimizer step

// gpu_bert_clip_grad_norm: clip_grad_norm (common/optim.c): the norm in double, then every
// gradient scaled by min(1, max_norm / (norm + 1e-6)).
double gpu_bert_clip_grad_norm(GpuBert *g, double max_norm) {
    double *sum = g->norm_partials + SUM_SQUARES_BLOCKS, squares;
    sum_squares_gpu(sum, g->norm_partials, g->grads, (long)g->numel);
    CUDA_CHECK(cudaMemcpy(&squares, sum, sizeof(double), cudaMemcpyDeviceToHost));
    const double norm = sqrt(squares), coef = max_norm / (norm + 1e-6);
    if (max_norm > 0 && coef < 1.0) scale_gpu(g->grads, (long)g->numel, (float)coef);
    return norm;
}

void gpu_bert_adamw_init(GpuBert *g, OptimizerConfig cfg) {
    if (cfg.kind != OPT_ADAMW) die("the GPU BERT implements AdamW only (got %s)", optimizer_name(cfg.kind));
    g->opt = cfg, g->step = 0;
    if (!g->m) {
        g->m = (float *)cuda_malloc(sizeof(float) * 2 * g->numel, "AdamW moments m and v");
        g->v = g->m + g->numel;
    }
    CUDA_CHECK(cudaMemset(g->m, 0, sizeof(float) * 2 * g->numel));
}

// gpu_bert_adamw_step: optimizer_step (AdamW) in one kernel over the whole parameter buffer.
void gpu_bert_adamw_step(GpuBert *g, double lr) {
    if (!g->m) die("internal: gpu_bert_adamw_step before gpu_bert_adamw_init");
    const AdamCoefs c = adam_coefs(&g->opt, g->step + 1, lr);
    adamw_gpu(g->params, g->grads, g->m, g->v, (long)g->numel, g->tensor_end, g->tensor_decay, g->n_tensors, c);
    g->step++;
}

// ---------------------------------------------------------------------------------------------
// transfers

static void check_same_layout(const GpuBert *g, size_t numel, const char *what) {
    if (numel != g->numel) die("%s holds %zu parameters, the GPU model %zu", what, numel, g->numel);
}

void gpu_bert_download_params(const GpuBert *g, BertModel *m) {
    check_same_layout(g, m->ps.numel, "the CPU model");
    CUDA_CHECK(cudaMemcpy(m->ps.params, g->params, sizeof(float) * g->numel, cudaMemcpyDeviceToHost));
}

void gpu_bert_upload_params(GpuBert *g, const BertModel *m) {
    check_same_layout(g, m->ps.numel, "the CPU model");
    CUDA_CHECK(cudaMemcpy(g->params, m->ps.params, sizeof(float) * g->numel, cudaMemcpyHostToDevice));
}

void gpu_bert_download_grads(const GpuBert *g, float *out) {
    CUDA_CHECK(cudaMemcpy(out, g->grads, sizeof(float) * g->numel, cudaMemcpyDeviceToHost));
}

void gpu_bert_download_optimizer(const GpuBert *g, Optimizer *opt) {
    check_same_layout(g, opt->numel, "the CPU optimizer");
    if (!g->m || !opt->v) die("internal: optimizer state to download needs AdamW on both sides");
    opt->cfg = g->opt, opt->step = g->step;
    CUDA_CHECK(cudaMemcpy(opt->m, g->m, sizeof(float) * g->numel, cudaMemcpyDeviceToHost));
    CUDA_CHECK(cudaMemcpy(opt->v, g->v, sizeof(float) * g->numel, cudaMemcpyDeviceToHost));
}

void gpu_bert_upload_optimizer(GpuBert *g, const Optimizer *opt) {
    check_same_layout(g, opt->numel, "the CPU optimizer");
    gpu_bert_adamw_init(g, opt->cfg);
    g->step = opt->step;
    CUDA_CHECK(cudaMemcpy(g->m, opt->m, sizeof(float) * g->numel, cudaMemcpyHostToDevice));
    CUDA_CHECK(cudaMemcpy(g->v, opt->v, sizeof(float) * g->numel, cudaMemcpyHostToDevice));
}

void gpu_bert_use_dropout_masks(GpuBert *g, const BertModel *m) {
    if (g->gradient_checkpointing)
        die("the GPU BERT with gradient checkpointing cannot take the CPU's dropout masks: its layers share one set "
            "of mask buffers (compare with checkpointing off)");
    if (!m->training) die("internal: gpu_bert_use_dropout_masks needs a CPU forward in training mode");
    if (m->B > g->max_B || m->T > g->max_T) die("internal: the CPU batch %d x %d does not fit the GPU model", m->B, m->T);
    const BertConfig *c = &g->config;
    const size_t BTC = (size_t)m->B * m->T * c->hidden_size;
    const size_t ATT = (size_t)m->B * c->num_attention_heads * m->T * m->T;
    CUDA_CHECK(cudaMemcpy(g->emb_keep, m->emb_keep, BTC, cudaMemcpyHostToDevice));
    for (int l = 0; l < c->num_hidden_layers; l++) {
        CUDA_CHECK(cudaMemcpy(g->acts[l].att_keep, m->acts[l].att_keep, ATT, cudaMemcpyHostToDevice));
        CUDA_CHECK(cudaMemcpy(g->acts[l].attn_keep, m->acts[l].attn_keep, BTC, cudaMemcpyHostToDevice));
        CUDA_CHECK(cudaMemcpy(g->acts[l].fc2_keep, m->acts[l].fc2_keep, BTC, cudaMemcpyHostToDevice));
    }
    CUDA_CHECK(cudaMemcpy(g->pooled_keep, m->pooled_keep, (size_t)m->B * c->hidden_size, cudaMemcpyHostToDevice));
    g->masks_given = true;
    g->B = m->B, g->T = m->T;
}

// ---------------------------------------------------------------------------------------------
// comparing with the CPU

double max_relative_error(const float *got, const float *want, size_t n) {
    double diff = 0, scale = 0;
    for (size_t i = 0; i < n; i++) {
        diff = fmax(diff, isnan(got[i]) ? INFINITY : fabs((double)got[i] - want[i]));
        scale = fmax(scale, fabs(want[i]));
    }
    return scale > 0 ? diff / scale : diff;
}

GradDiff gpu_bert_diff(const BertModel *m, const float *gpu, const float *want) {
    GradDiff d = {};
    double scale = 0;
    for (size_t i = 0; i < m->ps.numel; i++) scale = fmax(scale, fabs(want[i]));
    for (int i = 0; i < m->ps.n_tensors; i++) {
        const ParamTensor *p = &m->ps.tensors[i];
        const float *g = gpu + p->offset, *w = want + p->offset;
        d.tensors++;
        if (strstr(p->name, "attention.self.key.bias")) {
            for (size_t j = 0; j < p->numel; j++)
                d.key_bias = fmax(d.key_bias, isnan(g[j]) ? INFINITY : fmax(fabs(g[j]), fabs(w[j])) / scale);
            continue;
        }
        const double e = max_relative_error(g, w, p->numel);
        if (!(e <= d.worst)) d.worst = e, snprintf(d.worst_name, sizeof d.worst_name, "%s", p->name);
    }
    return d;
}
