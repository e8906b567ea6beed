// bert_io.c — see bert_io.h. Lesson 10 walks through the loading.
#include "common/model/bert_io.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

// json_string_or_null: a copy of root[key] when it is a string, else NULL.
static char *json_string_or_null(const cJSON *root, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    return cJSON_IsString(v) ? xstrdup(v->valuestring) : NULL;
}

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
    c.problem_type = json_string_or_null(root, "problem_type");
    c.text_column = json_string_or_null(root, "text_column");
    c.label_column = json_string_or_null(root, "label_column");
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
    char *cfg_path = path_join(dir, "config.json"), *st_path = path_join(dir, "model.safetensors");
    char *config_json = read_file(cfg_path, NULL);
    BertModel m = bert_create(config_parse(config_json, cfg_path, num_labels));
    m.config_json = config_json;
    m.source_dir = xstrdup(dir);
    const BertConfig *c = &m.config;

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
    const char *keys[] = {"problem_type", "text_column", "label_column"};
    const char *values[] = {m->config.problem_type, m->config.text_column, m->config.label_column};
    for (size_t i = 0; i < ARRAY_LEN(keys); i++) {
        cJSON_DeleteItemFromObjectCaseSensitive(root, keys[i]);
        if (values[i]) cJSON_AddStringToObject(root, keys[i], values[i]);
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
