// bert.c — see bert.h. Lesson 10 walks through the loading and the forward pass, lesson 11 the
// backward pass.
#include "common/model/bert.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/model/layers.h"
#include "common/model/loss.h"
#include "common/model/matmul.h"
#include "common/model/safetensors.h"
#include "common/core/util.h"

// ---------------------------------------------------------------------------------------------
// config.json

// json_number: key's value in `root`; `fallback` when absent (required keys pass NAN).
static double json_number(const cJSON *root, const char *path, const char *key, double fallback) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v || cJSON_IsNull(v)) {
        if (isnan(fallback)) die("%s: key \"%s\" is missing", path, key);
        return fallback;
    }
    if (!cJSON_IsNumber(v)) die("%s: key \"%s\" must be a number", path, key);
    return v->valuedouble;
}

static int json_positive_int(const cJSON *root, const char *path, const char *key, double fallback) {
    double x = json_number(root, path, key, fallback);
    if (x < 1 || x > 1e9 || x != floor(x)) die("%s: key \"%s\" must be a positive integer (got %g)", path, key, x);
    return (int)x;
}

static float json_probability(const cJSON *root, const char *path, const char *key, double fallback) {
    double x = json_number(root, path, key, fallback);
    if (!(x >= 0 && x < 1)) die("%s: key \"%s\" must be in [0, 1) (got %g)", path, key, x);
    return (float)x;
}

static void json_require_string(const cJSON *root, const char *path, const char *key, const char *want) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (v && (!cJSON_IsString(v) || strcmp(v->valuestring, want)))
        die("%s: \"%s\" must be \"%s\" (this BERT implements only that)", path, key, want);
}

// The most classes a classifier head may have (as the data loader caps its label sets), so a
// config.json claiming a billion labels is one error line, not a 4 GB allocation.
enum { BERT_MAX_LABELS = 100000 };

// config_labels: K and the label names. The file's id2label (or num_labels) unless num_labels > 0.
static void config_labels(BertConfig *c, const cJSON *root, const char *path, int num_labels) {
    const cJSON *id2label = cJSON_GetObjectItemCaseSensitive(root, "id2label");
    int file_k = cJSON_IsObject(id2label) ? cJSON_GetArraySize(id2label) : 0;
    if (!file_k && cJSON_GetObjectItemCaseSensitive(root, "num_labels"))
        file_k = json_positive_int(root, path, "num_labels", 2);
    c->num_labels = num_labels > 0 ? num_labels : file_k ? file_k : 2;
    if (c->num_labels > BERT_MAX_LABELS)
        die("%s: %d labels is more than this BERT's limit of %d classes", path, c->num_labels, BERT_MAX_LABELS);
    c->id2label = xcalloc((size_t)c->num_labels, sizeof(char *));
    for (int i = 0; i < c->num_labels; i++) {
        char key[16];
        snprintf(key, sizeof key, "%d", i);
        const cJSON *name = file_k == c->num_labels ? cJSON_GetObjectItemCaseSensitive(id2label, key) : NULL;
        if (cJSON_IsString(name)) c->id2label[i] = xstrdup(name->valuestring);
        else {
            char fallback[32];
            snprintf(fallback, sizeof fallback, "LABEL_%d", i);
            c->id2label[i] = xstrdup(fallback);
        }
    }
}

static BertConfig config_parse(const char *text, const char *path, int num_labels) {
    cJSON *root = cJSON_Parse(text);
    if (!cJSON_IsObject(root)) die("%s: not a JSON object", path);
    json_require_string(root, path, "hidden_act", "gelu");
    json_require_string(root, path, "position_embedding_type", "absolute");
    BertConfig c = {0};
    c.vocab_size = json_positive_int(root, path, "vocab_size", NAN);
    c.hidden_size = json_positive_int(root, path, "hidden_size", NAN);
    c.num_hidden_layers = json_positive_int(root, path, "num_hidden_layers", NAN);
    c.num_attention_heads = json_positive_int(root, path, "num_attention_heads", NAN);
    c.intermediate_size = json_positive_int(root, path, "intermediate_size", NAN);
    c.max_position_embeddings = json_positive_int(root, path, "max_position_embeddings", 512);
    c.type_vocab_size = json_positive_int(root, path, "type_vocab_size", 2);
    c.layer_norm_eps = (float)json_number(root, path, "layer_norm_eps", 1e-12);
    c.hidden_dropout_prob = json_probability(root, path, "hidden_dropout_prob", 0.1);
    c.attention_probs_dropout_prob = json_probability(root, path, "attention_probs_dropout_prob", 0.1);
    c.classifier_dropout = json_probability(root, path, "classifier_dropout", c.hidden_dropout_prob);
    c.initializer_range = (float)json_number(root, path, "initializer_range", 0.02);
    const double pad = json_number(root, path, "pad_token_id", 0);
    if (!(pad >= 0 && pad < c.vocab_size && pad == floor(pad)))
        die("%s: key \"pad_token_id\" must be a token id in [0, %d) (got %g)", path, c.vocab_size, pad);
    c.pad_token_id = (int)pad;
    if (c.hidden_size % c.num_attention_heads)
        die("%s: hidden_size %d is not a multiple of num_attention_heads %d", path, c.hidden_size,
            c.num_attention_heads);
    if (!(c.layer_norm_eps > 0)) die("%s: layer_norm_eps must be positive", path);
    config_labels(&c, root, path, num_labels);
    cJSON_Delete(root);
    return c;
}

BertConfig bert_config_load(const char *dir, int num_labels) {
    char *path = path_join(dir, "config.json");
    char *text = read_file(path, NULL);
    BertConfig c = config_parse(text, path, num_labels);
    free(text);
    free(path);
    return c;
}

void bert_config_free(BertConfig *c) {
    for (int i = 0; c->id2label && i < c->num_labels; i++) free(c->id2label[i]);
    free(c->id2label);
    c->id2label = NULL;
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

// ---------------------------------------------------------------------------------------------
// loading a checkpoint

// find_in_file: the checkpoint's tensor for our `name`: as is, without "bert.", or with the
// LayerNorm gamma/beta names of old TensorFlow-converted checkpoints.
static const StTensor *find_in_file(const SafeTensors *st, const char *name) {
    const char *bare = strncmp(name, "bert.", 5) ? name : name + 5;
    const StTensor *t = st_find(st, name);
    if (!t) t = st_find(st, bare);
    if (t || !strstr(name, "LayerNorm.")) return t;
    char legacy[160];
    size_t n = strlen(bare);
    bool weight = n > 7 && !strcmp(bare + n - 7, ".weight");
    snprintf(legacy, sizeof legacy, "%.*s.%s", (int)(n - (weight ? 7 : 5)), bare, weight ? "gamma" : "beta");
    return st_find(st, legacy);
}

static void shape_string(char *buf, size_t size, int ndim, const int64_t *shape) {
    int k = snprintf(buf, size, "[");
    for (int d = 0; d < ndim; d++) k += snprintf(buf + k, size - (size_t)k, d ? ", %lld" : "%lld", (long long)shape[d]);
    snprintf(buf + k, size - (size_t)k, "]");
}

static bool same_shape(const StTensor *t, const ParamTensor *p) {
    if (t->ndim != p->ndim) return false;
    for (int d = 0; d < p->ndim; d++)
        if (t->shape[d] != p->shape[d]) return false;
    return true;
}

// init_linear: transformers' _init_weights for a new Linear: W ~ normal(0, std), b = 0.
static void init_linear(float *w, float *b, int out, int in, float std, Rng *rng) {
    for (long i = 0; i < (long)out * in; i++) w[i] = std * rng_normal(rng);
    memset(b, 0, sizeof(float) * (size_t)out);
}

// used_prefix: the name belongs to a part of the model sequence classification uses.
static bool used_prefix(const char *name) {
    const char *bare = strncmp(name, "bert.", 5) ? name : name + 5;
    return !strncmp(bare, "embeddings.", 11) || !strncmp(bare, "encoder.", 8) || !strncmp(bare, "pooler.", 7) ||
        !strncmp(bare, "classifier.", 11);
}

BertModel bert_load(const char *dir, int num_labels, uint64_t seed, int *created) {
    if (!dir_exists(dir)) die("%s: checkpoint directory not found", dir);
    BertModel m = {0};
    char *cfg_path = path_join(dir, "config.json"), *st_path = path_join(dir, "model.safetensors");
    m.config_json = read_file(cfg_path, NULL);
    m.config = config_parse(m.config_json, cfg_path, num_labels);
    m.source_dir = xstrdup(dir);
    const BertConfig *c = &m.config;
    register_params(&m.ps, c);
    params_alloc(&m.ps);
    bind_weights(&m.w, &m.ps, m.ps.params, c->num_hidden_layers);
    bind_weights(&m.g, &m.ps, m.ps.grads, c->num_hidden_layers);

    if (!file_exists(st_path)) die("%s: not found (this loader reads safetensors only)", st_path);
    SafeTensors st = st_open(st_path);
    int made = 0;
    for (int i = 0; i < m.ps.n_tensors; i++) {
        const ParamTensor *p = &m.ps.tensors[i];
        const StTensor *t = find_in_file(&st, p->name);
        bool pooler = !strncmp(p->name, "bert.pooler.", 12), classifier = !strncmp(p->name, "classifier.", 11);
        if (t && !same_shape(t, p) && classifier && num_labels > 0) {
            warn("%s: classifier has shape %lld x %lld, not %d labels; creating a new one", st_path,
                 (long long)t->shape[0], (long long)(t->ndim > 1 ? t->shape[1] : 1), c->num_labels);
            t = NULL;
        }
        if (!t && (pooler || classifier)) {
            made |= pooler ? 1 : 2;
            continue;
        }
        if (!t) die("%s: tensor %s is missing", st_path, p->name);
        if (!same_shape(t, p)) {
            char want[64], got[64];
            int64_t w64[PARAM_MAX_DIMS];
            for (int d = 0; d < p->ndim; d++) w64[d] = p->shape[d];
            shape_string(want, sizeof want, p->ndim, w64);
            shape_string(got, sizeof got, t->ndim, t->shape);
            die("%s: tensor %s has shape %s, config.json says %s", st_path, t->name, got, want);
        }
        st_read_f32(&st, t, m.ps.params + p->offset, (int64_t)p->numel);
    }
    int skipped = 0;
    const char *example = NULL;
    for (int i = 0; i < st.n; i++)
        if (!used_prefix(st.tensors[i].name) || strstr(st.tensors[i].name, "position_ids")) {
            if (!strstr(st.tensors[i].name, "position_ids") && !example) example = st.tensors[i].name;
            skipped++;
        }
    if (example)
        fprintf(stderr, "note: %s: skipped %d tensors that sequence classification does not use (e.g. %s)\n", st_path,
                skipped, example);
    Rng rng;
    rng_seed(&rng, seed, RNG_STREAM_INIT);
    const int C = c->hidden_size;
    if (made & 1) {
        init_linear(m.w.pool_w, m.w.pool_b, C, C, c->initializer_range, &rng);
        fprintf(stderr, "note: %s has no pooler; created bert.pooler.dense from seed %llu\n", st_path,
                (unsigned long long)seed);
    }
    if (made & 2) {
        init_linear(m.w.cls_w, m.w.cls_b, c->num_labels, C, c->initializer_range, &rng);
        fprintf(stderr, "note: %s has no classifier for %d labels; created it from seed %llu (normal(0, %g), bias 0)\n",
                st_path, c->num_labels, (unsigned long long)seed, c->initializer_range);
    }
    if (created) *created = made;
    st_close(&st);
    free(cfg_path);
    free(st_path);
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

// acts_alloc: xmalloc that counts the bytes into m->act_bytes (lesson 15 checks its formula
// against this count).
static void *acts_alloc(BertModel *m, size_t bytes) {
    m->act_bytes += bytes;
    return xmalloc(bytes);
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

void bert_layer_forward(BertModel *m, int l, const float *x, int B, int T, bool training, Rng *rng) {
    const BertConfig *c = &m->config;
    const BertLayerWeights *w = &m->w.layers[l];
    BertLayerActs *a = &m->acts[l];
    const int BT = B * T, C = c->hidden_size, I = c->intermediate_size;
    const float ph = training ? c->hidden_dropout_prob : 0.0f, pa = training ? c->attention_probs_dropout_prob : 0.0f;
    const size_t BTC = (size_t)BT * C, BTI = (size_t)BT * I;
    float *tmp = m->scratch;                            // (B,T,C) the sublayer output before its dropout
    linear_forward(a->q, x, w->q_w, w->q_b, BT, C, C);  // q = x Wq^T + bq     (B,T,C)
    linear_forward(a->k, x, w->k_w, w->k_b, BT, C, C);
    linear_forward(a->v, x, w->v_w, w->v_b, BT, C, C);
    store(m, a->q, BTC), store(m, a->k, BTC), store(m, a->v, BTC);
    attention_forward(a->ctx, a->att, a->att_keep, a->att_drop, a->q, a->k, a->v, m->attention_mask, B, T, C,
                      c->num_attention_heads, pa, training ? rng : NULL);
    store(m, a->ctx, BTC);
    linear_forward(tmp, a->ctx, w->o_w, w->o_b, BT, C, C);  // Wo ctx + bo         (B,T,C)
    dropout_forward(a->res1, a->attn_keep, tmp, (int64_t)BTC, ph, training ? rng : NULL);
    add_forward(a->res1, a->res1, x, (int64_t)BTC);  // res1 = x + dropout(.)
    store(m, a->res1, BTC);
    layernorm_forward(a->h, a->ln1_mean, a->ln1_rstd, a->res1, w->ln1_w, w->ln1_b, BT, C, c->layer_norm_eps);
    store(m, a->h, BTC);
    linear_forward(a->fc1, a->h, w->fc1_w, w->fc1_b, BT, C, I);  // (B,T,I)
    store(m, a->fc1, BTI);
    gelu_forward(a->gelu, a->fc1, BT * I);
    store(m, a->gelu, BTI);
    linear_forward(tmp, a->gelu, w->fc2_w, w->fc2_b, BT, I, C);  // (B,T,C)
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
    linear_forward(m->pooled, m->cls, m->w.pool_w, m->w.pool_b, B, C, C);
    tanh_forward(m->pooled, m->pooled, B * C);
    dropout_forward(m->pooled_drop, m->pooled_keep, m->pooled, (int64_t)B * C, training ? c->classifier_dropout : 0, r);
    linear_forward(m->logits, m->pooled_drop, m->w.cls_w, m->w.cls_b, B, C, K);
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
    linear_backward(sI, g->fc2_w, g->fc2_b, s1, a->gelu, w->fc2_w, BT, I, C);  // sI = dgelu
    gelu_backward(sI, sI, a->fc1, BT * I);                                     // sI = dfc1
    linear_backward(s0, g->fc1_w, g->fc1_b, sI, a->h, w->fc1_w, BT, C, I);     // s0 = dh = dres2 + W1-path
    // h = LayerNorm1(res1), res1 = x + dropout(Wo ctx + bo)
    layernorm_backward(s1, g->ln1_w, g->ln1_b, s0, a->res1, w->ln1_w, a->ln1_mean, a->ln1_rstd, BT, C);  // s1 = dres1
    memcpy(dx, s1, sizeof(float) * (size_t)BTC);      // residual path to x
    dropout_backward(s0, s1, a->attn_keep, BTC, ph);  // s0 = d(Wo ctx + bo)
    memset(s1, 0, sizeof(float) * (size_t)BTC);
    linear_backward(s1, g->o_w, g->o_b, s0, a->ctx, w->o_w, BT, C, C);  // s1 = dctx
    attention_backward(s0, s2, s3, m->datt, s1, a->q, a->k, a->v, a->att, a->att_keep, a->att_drop, B, T, C,
                       c->num_attention_heads, pa);                // s0, s2, s3 = dq, dk, dv
    linear_backward(dx, g->q_w, g->q_b, s0, x, w->q_w, BT, C, C);  // dx += dq Wq
    linear_backward(dx, g->k_w, g->k_b, s2, x, w->k_w, BT, C, C);
    linear_backward(dx, g->v_w, g->v_b, s3, x, w->v_w, BT, C, C);
}

void bert_backward_from_dlogits(BertModel *m, const float *dlogits) {
    const BertConfig *c = &m->config;
    const int B = m->B, T = m->T, BT = B * T, C = c->hidden_size, K = c->num_labels, L = c->num_hidden_layers;
    float *dpd = m->dhead, *dpre = dpd + (long)B * C, *dcls = dpre + (long)B * C;  // 3 x (B,C)

    // classifier, dropout, tanh pooler
    memset(dpd, 0, sizeof(float) * (size_t)B * C);
    linear_backward(dpd, m->g.cls_w, m->g.cls_b, dlogits, m->pooled_drop, m->w.cls_w, B, C, K);
    dropout_backward(dpre, dpd, m->pooled_keep, (int64_t)B * C, m->training ? c->classifier_dropout : 0);
    tanh_backward(dpre, dpre, m->pooled, B * C);
    memset(dcls, 0, sizeof(float) * (size_t)B * C);
    linear_backward(dcls, m->g.pool_w, m->g.pool_b, dpre, m->cls, m->w.pool_w, B, C, C);

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

// ---------------------------------------------------------------------------------------------
// saving in Hugging Face layout

// saved_config: config.json as loaded, set up for BertForSequenceClassification with our labels.
static char *saved_config(const BertModel *m) {
    cJSON *root = cJSON_Parse(m->config_json);
    cJSON_DeleteItemFromObjectCaseSensitive(root, "architectures");
    cJSON *arch = cJSON_AddArrayToObject(root, "architectures");
    cJSON_AddItemToArray(arch, cJSON_CreateString("BertForSequenceClassification"));
    cJSON_DeleteItemFromObjectCaseSensitive(root, "num_labels");
    cJSON_DeleteItemFromObjectCaseSensitive(root, "id2label");
    cJSON_DeleteItemFromObjectCaseSensitive(root, "label2id");
    cJSON *id2label = cJSON_AddObjectToObject(root, "id2label"), *label2id = cJSON_AddObjectToObject(root, "label2id");
    for (int i = 0; i < m->config.num_labels; i++) {
        char key[16];
        snprintf(key, sizeof key, "%d", i);
        cJSON_AddStringToObject(id2label, key, m->config.id2label[i]);
        cJSON_AddNumberToObject(label2id, m->config.id2label[i], i);
    }
    // the weights are written as float32, whatever the source stored
    const char *dtype_keys[] = {"torch_dtype", "dtype"};
    for (size_t i = 0; i < ARRAY_LEN(dtype_keys); i++)
        if (cJSON_GetObjectItemCaseSensitive(root, dtype_keys[i]))
            cJSON_ReplaceItemInObjectCaseSensitive(root, dtype_keys[i], cJSON_CreateString("float32"));
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    return text;
}

static void write_text(const char *path, const char *text) {
    FILE *f = xfopen(path, "wb");
    xfwrite(text, 1, strlen(text), f, path);
    xfwrite("\n", 1, 1, f, path);
    xfclose(f, path);
}

static void copy_file(const char *from, const char *to) {
    size_t len;
    char *bytes = read_file(from, &len);
    FILE *f = xfopen(to, "wb");
    xfwrite(bytes, 1, len, f, to);
    xfclose(f, to);
    free(bytes);
}

void bert_save_hf(const BertModel *m, const char *dir) {
    char *tmp = xmalloc(strlen(dir) + 16), *old = xmalloc(strlen(dir) + 16);
    sprintf(tmp, "%s.tmp", dir);
    sprintf(old, "%s.old", dir);
    rm_rf(tmp);
    mkdir_p(tmp);

    char *path = path_join(tmp, "config.json"), *config = saved_config(m);
    write_text(path, config);
    free(path);
    free(config);

    StWrite *t = xmalloc(sizeof(StWrite) * (size_t)m->ps.n_tensors);
    for (int i = 0; i < m->ps.n_tensors; i++) {
        const ParamTensor *p = &m->ps.tensors[i];
        t[i] = (StWrite){p->name, p->ndim, p->shape, m->ps.params + p->offset};
    }
    path = path_join(tmp, "model.safetensors");
    st_write(path, t, m->ps.n_tensors);
    free(path);
    free(t);

    // the tokenizer files travel with the model, so the directory is a complete checkpoint
    const char *tokenizer_files[] = {"vocab.txt", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.json"};
    for (size_t i = 0; i < ARRAY_LEN(tokenizer_files); i++) {
        char *from = path_join(m->source_dir, tokenizer_files[i]), *to = path_join(tmp, tokenizer_files[i]);
        if (file_exists(from)) copy_file(from, to);
        free(from);
        free(to);
    }
    fsync_path(tmp);
    rm_rf(old);
    if (dir_exists(dir)) atomic_rename(dir, old);
    atomic_rename(tmp, dir);
    rm_rf(old);
    free(tmp);
    free(old);
}

double max_relative_error(const float *got, const float *want, size_t n) {
    double diff = 0, scale = 0;
    for (size_t i = 0; i < n; i++) {
        diff = fmax(diff, isnan(got[i]) ? INFINITY : fabs((double)got[i] - want[i]));
        scale = fmax(scale, fabs(want[i]));
    }
    return scale > 0 ? diff / scale : diff;
}
