// bert_cuda.cu — see bert_cuda.cuh. Each function mirrors the one of common/model/bert.c named in its
// comment, in the same order of operations, so the two can be read side by side. The forward and
// backward are templates over the storage type S (float, __nv_bfloat16, __half: the model's
// format); the public functions pick the instance (with_storage).
#include "kernels/bert/bert_cuda.cuh"

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
    auto stored = [&](size_t n) { return take((size_t)format_bytes(g->format) * n); };  // in the model's format
    auto bytes = [&](size_t n) { return (uint8_t *)take(n); };
    auto ints = [&](size_t n) { return (int *)take(sizeof(int) * n); };
    g->ids = ints(BT), g->types = ints(BT), g->mask = ints(BT), g->labels = ints(g->max_B);
    g->emb_sum = stored(BTC), g->emb_mean = floats(BT), g->emb_rstd = floats(BT), g->emb_ln = stored(BTC);
    g->emb_keep = bytes(BTC), g->emb_out = stored(BTC);
    for (int l = 0; l < c->num_hidden_layers; l++) {
        GpuLayerActs *a = &g->acts[l];
        if (l > 0 && g->gradient_checkpointing) {
            *a = g->acts[0];
            a->out = stored(BTC);
            continue;
        }
        a->qh = stored(BTC), a->kh = stored(BTC), a->vh = stored(BTC);
        a->att = stored(ATT), a->att_keep = bytes(ATT), a->att_drop = stored(ATT);
        a->ctx = stored(BTC), a->attn_keep = bytes(BTC), a->res1 = stored(BTC);
        a->ln1_mean = floats(BT), a->ln1_rstd = floats(BT), a->h = stored(BTC);
        a->fc1 = stored(BTI), a->gelu = stored(BTI), a->fc2_keep = bytes(BTC), a->res2 = stored(BTC);
        a->ln2_mean = floats(BT), a->ln2_rstd = floats(BT), a->out = stored(BTC);
    }
    g->cls = stored(BC), g->pooled = stored(BC), g->pooled_keep = bytes(BC), g->pooled_drop = stored(BC);
    g->logits = stored(BK), g->probs = floats(BK), g->loss = floats(1), g->dlogits = stored(BK);
    g->dx = stored(BTC), g->dx2 = stored(BTC), g->scratch = stored(8 * BTC + BTI), g->datt = stored(ATT);
    g->dhead = stored(3 * BC);
    g->norm_partials = (double *)take(sizeof(double) * (SUM_SQUARES_BLOCKS + 1));
    return used;
}

// with_storage: fn(S{}) with S the storage type of format f (fn is a generic lambda).
template <typename Fn> static void with_storage(FloatFormat f, Fn fn) {
    if (f == FMT_BF16) fn(__nv_bfloat16{});
    else if (f == FMT_FP16) fn(__half{});
    else fn(float{});
}

// refresh_narrow: the narrow copy of the parameters from the float32 masters (no-op in fp32).
static void refresh_narrow(GpuBert *g) {
    with_storage(g->format, [&](auto s) {
        using S = decltype(s);
        if (g->narrow) convert_gpu((S *)g->narrow, g->params, (long)g->numel);
    });
}

GpuBert gpu_bert_create(const BertModel *m, int max_B, int max_T, GemmPrecision precision, FloatFormat format) {
    const BertConfig *c = &m->config;
    if (precision == GEMM_BF16) die("the GPU BERT's products are fp32 or tf32 (a bf16 model: format FMT_BF16)");
    if (max_B < 1 || max_T < 1 || max_T > c->max_position_embeddings)
        die("GPU BERT: batch %d x %d is not in 1..any x 1..%d (max_position_embeddings)", max_B, max_T,
            c->max_position_embeddings);
    GpuBert g = {};
    g.config = *c;
    g.config.id2label = NULL;
    g.config.problem_type = g.config.text_column = g.config.label_column = NULL;  // the host model owns them
    g.precision = precision, g.format = format;
    g.gradient_checkpointing = m->gradient_checkpointing;
    g.loss_scaling = format == FMT_FP16;
    g.scaler = grad_scaler_default();
    CUBLAS_CHECK(cublasCreate(&g.cublas));

    // parameters and gradients, one allocation each
    g.n_tensors = m->ps.n_tensors, g.numel = m->ps.numel;
    g.tensors = (ParamTensor *)xmalloc(sizeof(ParamTensor) * g.n_tensors);
    memcpy(g.tensors, m->ps.tensors, sizeof(ParamTensor) * g.n_tensors);
    g.params = (float *)cuda_malloc(sizeof(float) * g.numel, "BERT parameters");
    g.grads = (float *)cuda_malloc(sizeof(float) * g.numel, "BERT gradients");
    CUDA_CHECK(cudaMemcpy(g.params, m->ps.params, sizeof(float) * g.numel, cudaMemcpyHostToDevice));
    CUDA_CHECK(cudaMemset(g.grads, 0, sizeof(float) * g.numel));
    if (format != FMT_FP32) {
        g.narrow = cuda_malloc((size_t)format_bytes(format) * g.numel, "BERT parameters, narrow copy");
        refresh_narrow(&g);
    }
    const int L = c->num_hidden_layers;
    g.w = device_weights(&m->w, m->ps.params, g.params, L);
    g.g = device_weights(&m->g, m->ps.grads, g.grads, L);

    // the tensor table AdamW reads: where each tensor ends, and whether it decays
    long *ends = (long *)xmalloc(sizeof(long) * g.n_tensors);
    uint8_t *decay = (uint8_t *)xmalloc(g.n_tensors);
    for (int i = 0; i < g.n_tensors; i++)
        ends[i] = (long)(g.tensors[i].offset + g.tensors[i].numel), decay[i] = g.tensors[i].decay;
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
    void *dev[] = {g->params, g->grads, g->narrow, g->m, g->tensor_end, g->tensor_decay, g->acts_memory};
    for (size_t i = 0; i < ARRAY_LEN(dev); i++) CUDA_CHECK(cudaFree(dev[i]));
    CUBLAS_CHECK(cublasDestroy(g->cublas));
    free(g->tensors), free(g->acts), free(g->w.layers), free(g->g.layers);
    memset(g, 0, sizeof *g);
}

size_t gpu_bert_memory_bytes(const GpuBert *g) {
    return sizeof(float) * g->numel * (g->m ? 4 : 2) + (g->narrow ? (size_t)format_bytes(g->format) * g->numel : 0) +
        g->acts_bytes;
}

size_t gpu_bert_acts_beyond_formula(const GpuBert *g) {
    const size_t BT = (size_t)g->max_B * g->max_T, BTC = BT * g->config.hidden_size;
    return sizeof(int) * (3 * BT + g->max_B) + sizeof(float) * (1 + 4 * BTC) +
        sizeof(double) * (SUM_SQUARES_BLOCKS + 1);
}

// ---------------------------------------------------------------------------------------------
// forward

// upload_batch: the inputs to the GPU; NULL types become 0 and a NULL mask 1, as on the CPU.
static void upload_batch(GpuBert *g, const int *ids, const int *types, const int *mask, const int *labels, int B,
                         int T) {
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

// weight: where the forward and backward read parameter p (a pointer into the float32 masters):
// p itself, or the same offset in the narrow copy.
template <typename S> static const S *weight(const GpuBert *g, const float *p) {
    return g->narrow ? (const S *)g->narrow + (p - g->params) : (const S *)p;
}

// layer_forward: bert_layer_forward, into g->acts[l]; the forward calls it for every layer and,
// with gradient checkpointing, the backward again for each layer just before its backward.
template <typename S> static void layer_forward(GpuBert *g, int l, const S *x, uint64_t seed) {
    const BertConfig *c = &g->config;
    const BertLayerWeights *w = &g->w.layers[l];
    GpuLayerActs *a = &g->acts[l];
    const int B = g->B, T = g->T, BT = B * T, C = c->hidden_size, I = c->intermediate_size;
    const int NH = c->num_attention_heads, HS = C / NH;
    const long BTC = (long)BT * C;
    const cublasHandle_t h = g->cublas;
    const GemmPrecision p = g->precision;
    auto W = [&](const float *param) { return weight<S>(g, param); };
    S *tmp = (S *)g->scratch, *ctxh = tmp + BTC;  // (B,T,C) a sublayer's output; (B,NH,T,HS)
    S *qh = (S *)a->qh, *kh = (S *)a->kh, *vh = (S *)a->vh, *ctx = (S *)a->ctx, *res1 = (S *)a->res1, *hn = (S *)a->h;
    S *fc1 = (S *)a->fc1, *gelu = (S *)a->gelu, *res2 = (S *)a->res2;
    linear_forward_gpu(h, p, tmp, x, W(w->q_w), W(w->q_b), BT, C, C);  // q = x Wq^T + bq    (B,T,C)
    split_heads_gpu(qh, tmp, B, T, NH, HS);                            //                   (B,NH,T,HS)
    linear_forward_gpu(h, p, tmp, x, W(w->k_w), W(w->k_b), BT, C, C);
    split_heads_gpu(kh, tmp, B, T, NH, HS);
    linear_forward_gpu(h, p, tmp, x, W(w->v_w), W(w->v_b), BT, C, C);
    split_heads_gpu(vh, tmp, B, T, NH, HS);
    attention_forward_gpu(h, p, ctxh, (S *)a->att, a->att_keep, (S *)a->att_drop, qh, kh, vh, g->mask, B, T, NH, HS,
                          dropout_at(g, g->p_attention, seed, 1 + 3 * l));
    merge_heads_gpu(ctx, ctxh, B, T, NH, HS);                            // ctx                (B,T,C)
    linear_forward_gpu(h, p, tmp, ctx, W(w->o_w), W(w->o_b), BT, C, C);  // Wo ctx + bo
    dropout_forward_gpu(res1, a->attn_keep, tmp, x, BTC,
                        dropout_at(g, g->p_hidden, seed, 2 + 3 * l));  // x + dropout(.)
    layernorm_forward_gpu(hn, a->ln1_mean, a->ln1_rstd, res1, W(w->ln1_w), W(w->ln1_b), BT, C, c->layer_norm_eps);
    linear_forward_gpu(h, p, fc1, hn, W(w->fc1_w), W(w->fc1_b), BT, C, I);  // (B,T,I)
    gelu_forward_gpu(gelu, fc1, (long)BT * I);
    linear_forward_gpu(h, p, tmp, gelu, W(w->fc2_w), W(w->fc2_b), BT, I, C);  // (B,T,C)
    dropout_forward_gpu(res2, a->fc2_keep, tmp, hn, BTC,
                        dropout_at(g, g->p_hidden, seed, 3 + 3 * l));  // h + dropout(.)
    layernorm_forward_gpu((S *)a->out, a->ln2_mean, a->ln2_rstd, res2, W(w->ln2_w), W(w->ln2_b), BT, C,
                          c->layer_norm_eps);
}

// forward: bert_forward from the uploaded batch to the logits (and the loss with labels).
template <typename S> static void forward(GpuBert *g, uint64_t seed) {
    const BertConfig *c = &g->config;
    const int B = g->B, T = g->T, BT = B * T, C = c->hidden_size, K = c->num_labels, L = c->num_hidden_layers;
    const long BTC = (long)BT * C;
    const BertWeights *w = &g->w;
    auto W = [&](const float *param) { return weight<S>(g, param); };

    // embeddings: LayerNorm(word + position + type), dropout                  (B,T,C)
    embeddings_forward_gpu((S *)g->emb_sum, g->ids, g->types, W(w->word_emb), W(w->pos_emb), W(w->type_emb), B, T, C);
    layernorm_forward_gpu((S *)g->emb_ln, g->emb_mean, g->emb_rstd, (const S *)g->emb_sum, W(w->emb_ln_w),
                          W(w->emb_ln_b), BT, C, c->layer_norm_eps);
    dropout_forward_gpu((S *)g->emb_out, g->emb_keep, (const S *)g->emb_ln, (const S *)NULL, BTC,
                        dropout_at(g, g->p_hidden, seed, 0));

    const S *x = (const S *)g->emb_out;
    for (int l = 0; l < L; l++) {
        layer_forward(g, l, x, seed);
        x = (const S *)g->acts[l].out;
    }

    // pooler on the [CLS] rows (row 0 of each sequence: a strided copy), dropout, classifier
    S *cls = (S *)g->cls, *pooled = (S *)g->pooled, *pooled_drop = (S *)g->pooled_drop;
    CUDA_CHECK(cudaMemcpy2D(cls, sizeof(S) * C, x, sizeof(S) * T * C, sizeof(S) * C, B, cudaMemcpyDeviceToDevice));
    linear_forward_gpu(g->cublas, g->precision, pooled, cls, W(w->pool_w), W(w->pool_b), B, C, C);
    tanh_forward_gpu(pooled, pooled, (long)B * C);
    dropout_forward_gpu(pooled_drop, g->pooled_keep, pooled, (const S *)NULL, (long)B * C,
                        dropout_at(g, g->p_classifier, seed, 1 + 3 * (uint64_t)L));
    linear_forward_gpu(g->cublas, g->precision, (S *)g->logits, pooled_drop, W(w->cls_w), W(w->cls_b), B, C, K);
    if (g->has_labels) cross_entropy_forward_gpu(g->loss, g->probs, (const S *)g->logits, g->labels, B, K);
}

// gpu_bert_forward: bert_forward.
float gpu_bert_forward(GpuBert *g, const int *input_ids, const int *token_type_ids, const int *attention_mask,
                       const int *labels, int B, int T, bool training, uint64_t seed) {
    NvtxRange range("bert_forward");
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
    with_storage(g->format, [&](auto s) { forward<decltype(s)>(g, seed); });
    g->masks_given = false;
    if (!labels) return NAN;
    float loss;
    CUDA_CHECK(cudaMemcpy(&loss, g->loss, sizeof(float), cudaMemcpyDeviceToHost));
    return loss;
}

// gpu_bert_logits: downloaded in the model's format, widened to float32 on the host (exactly).
void gpu_bert_logits(const GpuBert *g, float *out) {
    const size_t n = (size_t)g->B * g->config.num_labels;
    if (g->format == FMT_FP32) {
        CUDA_CHECK(cudaMemcpy(out, g->logits, sizeof(float) * n, cudaMemcpyDeviceToHost));
        return;
    }
    uint16_t *bits = (uint16_t *)xmalloc(sizeof(uint16_t) * n);
    CUDA_CHECK(cudaMemcpy(bits, g->logits, sizeof(uint16_t) * n, cudaMemcpyDeviceToHost));
    for (size_t i = 0; i < n; i++) out[i] = g->format == FMT_BF16 ? bf16_to_fp32(bits[i]) : fp16_to_fp32(bits[i]);
    free(bits);
}

// ---------------------------------------------------------------------------------------------
// backward

// layer_backward: bert_layer_backward.
template <typename S> static void layer_backward(GpuBert *g, int l, const S *x, const S *dout, S *dx) {
    const BertConfig *c = &g->config;
    const BertLayerWeights *w = &g->w.layers[l], *gw = &g->g.layers[l];
    const GpuLayerActs *a = &g->acts[l];
    const int B = g->B, T = g->T, BT = B * T, C = c->hidden_size, I = c->intermediate_size;
    const int NH = c->num_attention_heads, HS = C / NH;
    const long BTC = (long)BT * C, BTI = (long)BT * I;
    const float ph = g->p_hidden;
    const cublasHandle_t h = g->cublas;
    const GemmPrecision p = g->precision;
    auto W = [&](const float *param) { return weight<S>(g, param); };
    S *s0 = (S *)g->scratch, *s1 = s0 + BTC, *s2 = s1 + BTC, *s3 = s2 + BTC;      // 4 x (B,T,C)
    S *dctxh = s3 + BTC, *dqh = dctxh + BTC, *dkh = dqh + BTC, *dvh = dkh + BTC;  // 4 x (B,NH,T,HS)
    S *sI = dvh + BTC;                                                            // (B,T,I)
    const S *res1 = (const S *)a->res1, *hn = (const S *)a->h, *res2 = (const S *)a->res2;

    // out = LayerNorm2(res2), res2 = h + dropout(fc2)
    layernorm_backward_gpu(s0, gw->ln2_w, gw->ln2_b, dout, res2, W(w->ln2_w), a->ln2_mean, a->ln2_rstd, BT,
                           C);                           // dres2
    dropout_backward_gpu(s1, s0, a->fc2_keep, BTC, ph);  // s1 = dfc2
    CUDA_CHECK(cudaMemset(sI, 0, sizeof(S) * BTI));
    linear_backward_gpu(h, p, sI, gw->fc2_w, gw->fc2_b, s1, (const S *)a->gelu, W(w->fc2_w), BT, I, C);  // sI = dgelu
    gelu_backward_gpu(sI, sI, (const S *)a->fc1, BTI);                                                   // sI = dfc1
    linear_backward_gpu(h, p, s0, gw->fc1_w, gw->fc1_b, sI, hn, W(w->fc1_w), BT, C, I);                  // s0 = dh
    // h = LayerNorm1(res1), res1 = x + dropout(Wo ctx + bo)
    layernorm_backward_gpu(s1, gw->ln1_w, gw->ln1_b, s0, res1, W(w->ln1_w), a->ln1_mean, a->ln1_rstd, BT, C);  // dres1
    CUDA_CHECK(cudaMemcpy(dx, s1, sizeof(S) * BTC, cudaMemcpyDeviceToDevice));  // residual path to x
    dropout_backward_gpu(s0, s1, a->attn_keep, BTC, ph);                        // d(Wo ctx + bo)
    CUDA_CHECK(cudaMemset(s1, 0, sizeof(S) * BTC));
    linear_backward_gpu(h, p, s1, gw->o_w, gw->o_b, s0, (const S *)a->ctx, W(w->o_w), BT, C, C);  // s1 = dctx
    split_heads_gpu(dctxh, s1, B, T, NH, HS);
    attention_backward_gpu(h, p, dqh, dkh, dvh, (S *)g->datt, dctxh, (const S *)a->qh, (const S *)a->kh,
                           (const S *)a->vh, (const S *)a->att, a->att_keep, (const S *)a->att_drop, B, T, NH, HS,
                           g->p_attention);
    merge_heads_gpu(s0, dqh, B, T, NH, HS);
    linear_backward_gpu(h, p, dx, gw->q_w, gw->q_b, s0, x, W(w->q_w), BT, C, C);  // dx += dq Wq
    merge_heads_gpu(s2, dkh, B, T, NH, HS);
    linear_backward_gpu(h, p, dx, gw->k_w, gw->k_b, s2, x, W(w->k_w), BT, C, C);
    merge_heads_gpu(s3, dvh, B, T, NH, HS);
    linear_backward_gpu(h, p, dx, gw->v_w, gw->v_b, s3, x, W(w->v_w), BT, C, C);
}

// layer_grads_start: where layer l's gradients begin in g->grads (its first tensor's offset).
static size_t layer_grads_start(const GpuBert *g, int l) {
    float *const *p = (float *const *)&g->g.layers[l];  // 16 pointers (device_weights)
    const float *first = p[0];
    for (int i = 1; i < 16; i++) first = p[i] < first ? p[i] : first;
    return (size_t)(first - g->grads);
}

// GradsFinal: reports to g->grads_final, range by range, from the end of the buffer down.
struct GradsFinal {
    const GpuBert *g;
    size_t end;  // [end, numel) reported so far
    void down_to(size_t start) {
        if (g->grads_final) g->grads_final(g->grads_final_ctx, start, end);
        end = start;
    }
};

// backward_from_dlogits: bert_backward_from_dlogits, with dlogits in g->dlogits.
template <typename S> static void backward_from_dlogits(GpuBert *g) {
    const BertConfig *c = &g->config;
    const int B = g->B, T = g->T, BT = B * T, C = c->hidden_size, K = c->num_labels, L = c->num_hidden_layers;
    const long BC = (long)B * C, BTC = (long)BT * C;
    const cublasHandle_t h = g->cublas;
    const GemmPrecision p = g->precision;
    auto W = [&](const float *param) { return weight<S>(g, param); };
    S *dpd = (S *)g->dhead, *dpre = dpd + BC, *dcls = dpre + BC;  // 3 x (B,C)

    // classifier, dropout, tanh pooler
    CUDA_CHECK(cudaMemset(dpd, 0, sizeof(S) * BC));
    linear_backward_gpu(h, p, dpd, g->g.cls_w, g->g.cls_b, (const S *)g->dlogits, (const S *)g->pooled_drop,
                        W(g->w.cls_w), B, C, K);
    dropout_backward_gpu(dpre, dpd, g->pooled_keep, BC, g->p_classifier);
    tanh_backward_gpu(dpre, dpre, (const S *)g->pooled, BC);
    CUDA_CHECK(cudaMemset(dcls, 0, sizeof(S) * BC));
    linear_backward_gpu(h, p, dcls, g->g.pool_w, g->g.pool_b, dpre, (const S *)g->cls, W(g->w.pool_w), B, C, C);

    // only the [CLS] rows of the last layer's output reach the loss
    S *dout = (S *)g->dx, *din = (S *)g->dx2;
    CUDA_CHECK(cudaMemset(dout, 0, sizeof(S) * BTC));
    CUDA_CHECK(cudaMemcpy2D(dout, sizeof(S) * T * C, dcls, sizeof(S) * C, sizeof(S) * C, B, cudaMemcpyDeviceToDevice));
    GradsFinal final{g, g->numel};
    for (int l = L - 1; l >= 0; l--) {
        const S *x = (const S *)(l ? g->acts[l - 1].out : g->emb_out);
        if (g->gradient_checkpointing) layer_forward(g, l, x, g->seed);  // recompute layer l from its kept input
        layer_backward(g, l, x, dout, din);
        final.down_to(layer_grads_start(g, l));  // layer l (the last one: with the pooler and classifier)
        S *swap = dout;
        dout = din, din = swap;
    }

    // embeddings: dropout, LayerNorm, the three lookups
    dropout_backward_gpu(dout, dout, g->emb_keep, BTC, g->p_hidden);
    layernorm_backward_gpu(din, g->g.emb_ln_w, g->g.emb_ln_b, dout, (const S *)g->emb_sum, W(g->w.emb_ln_w),
                           g->emb_mean, g->emb_rstd, BT, C);
    embeddings_backward_gpu(g->g.word_emb, g->g.pos_emb, g->g.type_emb, din, g->ids, g->types, B, T, C);
    final.down_to(0);
}

float gpu_bert_loss_scale(const GpuBert *g) { return g->loss_scaling ? g->scaler.scale : 1.0f; }

// gpu_bert_backward: bert_backward (mixed_backward: dlogits times the loss scale, stored narrow).
void gpu_bert_backward(GpuBert *g, float example_weight) {
    NvtxRange range("bert_backward");
    if (!g->has_labels) die("internal: gpu_bert_backward after a forward without labels");
    const float scale = example_weight * gpu_bert_loss_scale(g);
    with_storage(g->format, [&](auto s) {
        using S = decltype(s);
        cross_entropy_backward_gpu((S *)g->dlogits, g->probs, g->labels, g->B, g->config.num_labels, scale);
        backward_from_dlogits<S>(g);
    });
}

// upload_dlogits: dlogits (B,K) float32 from the host, times scale, into g->dlogits in the model's
// format (rounded to nearest even, as the GPU's own cross-entropy backward stores them).
static void upload_dlogits(GpuBert *g, const float *dlogits, float scale) {
    const size_t n = (size_t)g->B * g->config.num_labels, bytes = (size_t)format_bytes(g->format);
    unsigned char *host = (unsigned char *)xmalloc(bytes * n);
    for (size_t i = 0; i < n; i++) {
        const float x = dlogits[i] * scale;
        if (g->format == FMT_FP32) memcpy(host + 4 * i, &x, 4);
        else {
            const uint16_t h = g->format == FMT_BF16 ? fp32_to_bf16(x) : fp32_to_fp16(x);
            memcpy(host + 2 * i, &h, 2);
        }
    }
    CUDA_CHECK(cudaMemcpy(g->dlogits, host, bytes * n, cudaMemcpyHostToDevice));
    free(host);
}

// gpu_bert_backward_from_dlogits: bert_backward_from_dlogits (times the loss scale, as
// gpu_bert_backward).
void gpu_bert_backward_from_dlogits(GpuBert *g, const float *dlogits) {
    NvtxRange range("bert_backward");
    upload_dlogits(g, dlogits, gpu_bert_loss_scale(g));
    with_storage(g->format, [&](auto s) { backward_from_dlogits<decltype(s)>(g); });
}

void gpu_bert_zero_grad(GpuBert *g) { CUDA_CHECK(cudaMemset(g->grads, 0, sizeof(float) * g->numel)); }

// ---------------------------------------------------------------------------------------------
// the optimizer step

// grad_norm: grad_global_norm (common/train/optim.c), the sum of squares in double; inf or NaN when a
// gradient is.
static double grad_norm(GpuBert *g) {
    double *sum = g->norm_partials + SUM_SQUARES_BLOCKS, squares;
    sum_squares_gpu(sum, g->norm_partials, g->grads, (long)g->numel);
    CUDA_CHECK(cudaMemcpy(&squares, sum, sizeof(double), cudaMemcpyDeviceToHost));
    return sqrt(squares);
}

// clip: clip_grad_norm's scaling: every gradient times min(1, max_norm / (norm + 1e-6)).
static void clip(GpuBert *g, double norm, double max_norm) {
    const double coef = max_norm / (norm + 1e-6);
    if (max_norm > 0 && coef < 1.0) scale_gpu(g->grads, (long)g->numel, (float)coef);
}

// gpu_bert_clip_grad_norm: clip_grad_norm (common/train/optim.c).
double gpu_bert_clip_grad_norm(GpuBert *g, double max_norm) {
    if (g->loss_scaling) die("internal: an fp16 model's gradients are scaled: use gpu_bert_step, which unscales first");
    const double norm = grad_norm(g);
    clip(g, norm, max_norm);
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
    with_storage(g->format, [&](auto s) {
        using S = decltype(s);
        adamw_gpu(g->params, (S *)g->narrow, g->grads, g->m, g->v, (long)g->numel, g->tensor_end, g->tensor_decay,
                  g->n_tensors, c);
    });
    g->step++;
}

// gpu_bert_step: mixed_step (common/train/mixed_precision.c) on the GPU; the scaler's arithmetic is
// common/train/grad_scaler.c's, the GPU only supplies found_inf (a non-finite gradient norm).
MixedStep gpu_bert_step(GpuBert *g, double lr, double max_grad_norm) {
    NvtxRange range("bert_optimizer");
    MixedStep r = {false, 0, gpu_bert_loss_scale(g)};
    if (g->loss_scaling) scale_gpu(g->grads, (long)g->numel, (float)(1.0 / (double)g->scaler.scale));  // unscale
    r.grad_norm = grad_norm(g);
    if (g->loss_scaling && !isfinite(r.grad_norm)) {  // fp16 overflowed: no step, a smaller scale
        grad_scaler_update(&g->scaler, true);
        r.skipped = true;
        return r;
    }
    clip(g, r.grad_norm, max_grad_norm);
    gpu_bert_adamw_step(g, lr);
    if (g->loss_scaling) grad_scaler_update(&g->scaler, false);
    return r;
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
    refresh_narrow(g);
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
    if (m->B > g->max_B || m->T > g->max_T)
        die("internal: the CPU batch %d x %d does not fit the GPU model", m->B, m->T);
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
