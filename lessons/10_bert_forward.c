// Lesson 10 — loading a Hugging Face BERT checkpoint and running it forward.
//
// A checkpoint directory holds three files this lesson reads:
//   config.json         the sizes (layers, hidden size, heads, ...) as JSON        -> BertConfig
//   model.safetensors   every weight by name: "encoder.layer.0.attention.self.query.weight" ...
//   vocab.txt           the WordPiece vocabulary (lesson 07's tokenizer); a checkpoint saved by
//                       transformers 5 has tokenizer.json instead, which the tokenizer reads too
// common/model/bert.c registers the tensors BertForSequenceClassification has; common/model/bert_io.c
// finds each in the file (with or without the "bert." prefix, F32/F16/BF16), checks its shape
// against config.json, and creates what the checkpoint lacks: all-MiniLM-L6-v2 is a
// sentence-embedding model, so it has a pooler but no classifier; a new one is drawn from --seed,
// as transformers would.
//
// Then: text -> ids (tokenizer) -> embeddings -> L encoder layers -> pooler on [CLS] ->
// classifier -> logits. With a fresh classifier the logits mean nothing yet (lesson 11 trains
// them); the encoder's output already does, which the sentence similarities below show.
//
// Interface for scripts: --logits_only reads one text per line on stdin and prints one line of
// logits per line (%.8e), nothing else.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stb_ds.h>

#include "common/core/args.h"
#include "common/model/bert.h"
#include "common/model/bert_io.h"
#include "common/text/batch.h"
#include "common/text/tokenizer.h"
#include "common/core/util.h"

static const char *SENTENCES[] = {
    "A gripping, beautifully acted film.",
    "I loved this movie.",
    "The plot was dull and the acting was worse.",
    "The stock market fell sharply on Monday.",
};

// read_lines: every line of f (without its newline) into a growing array; returns the count.
static int read_lines(FILE *f, char ***lines) {
    int n = 0, cap = 16;
    *lines = xmalloc(sizeof(char *) * cap);
    char *line = NULL;
    size_t size = 0;
    ssize_t len;
    while ((len = getline(&line, &size, f)) >= 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = '\0';
        if (n == cap) *lines = xrealloc(*lines, sizeof(char *) * (cap *= 2));
        (*lines)[n++] = xstrdup(line);
    }
    free(line);
    return n;
}

// part_of: which block of the model a parameter belongs to, for the count table.
static int part_of(const char *name) {
    if (strstr(name, "embeddings.")) return 0;
    if (strstr(name, "encoder.")) return 1;
    if (strstr(name, "pooler.")) return 2;
    return 3;
}

static void print_param_counts(const BertModel *m) {
    const char *parts[] = {"embeddings", "encoder", "pooler", "classifier"};
    size_t count[4] = {0};
    for (int i = 0; i < m->ps.n_tensors; i++) count[part_of(m->ps.tensors[i].name)] += m->ps.tensors[i].numel;
    const BertConfig *c = &m->config;
    printf("parameters:\n");
    printf("  %-11s %11zu   word %d x %d + position %d x %d + type %d x %d + LayerNorm 2 x %d\n", parts[0], count[0],
           c->vocab_size, c->hidden_size, c->max_position_embeddings, c->hidden_size, c->type_vocab_size,
           c->hidden_size, c->hidden_size);
    printf("  %-11s %11zu   %d layers x %zu (Q, K, V, O: 4 x (C*C + C); FFN: 2*C*I + I + C; 2 LayerNorms)\n", parts[1],
           count[1], c->num_hidden_layers, count[1] / (size_t)c->num_hidden_layers);
    printf("  %-11s %11zu   C*C + C\n", parts[2], count[2]);
    printf("  %-11s %11zu   K*C + K\n", parts[3], count[3]);
    printf("  %-11s %11zu   = %.1f MB as float32 (4 bytes each)\n", "total", m->ps.numel, m->ps.numel * 4.0 / 1e6);
}

// run_batches: the model on every text, in batches; logits (n,K) and, when emb is not NULL, the
// mean of the last hidden state over each text's real tokens (n,C): a sentence embedding.
static void run_batches(BertModel *m, const Tokenizer *tok, char **texts, int n, int batch, int max_len, float *logits,
                        float *emb) {
    TokenizedSet set = tokenize_texts(tok, (const char *const *)texts, NULL, n);
    EncodeOptions eo = {.max_length = max_len};
    int T = 0, ka, kb;
    for (int i = 0; i < n; i++) {
        int len = truncated_lengths(&set, i, &eo, &ka, &kb);
        if (len > T) T = len;
    }
    bert_alloc_acts(m, batch, T);
    const int K = m->config.num_labels, C = m->config.hidden_size;
    int *rows = xmalloc(sizeof(int) * (size_t)batch);
    Batch b = {0};
    for (int first = 0; first < n; first += batch) {
        int count = n - first < batch ? n - first : batch;
        for (int r = 0; r < count; r++) rows[r] = first + r;
        collate(tok, &set, rows, count, &eo, &b);
        float *out = bert_forward(m, b.input_ids, b.token_type_ids, b.attention_mask, NULL, count, b.T, false, NULL);
        memcpy(logits + (long)first * K, out, sizeof(float) * (size_t)count * K);
        const float *h = m->acts[m->config.num_hidden_layers - 1].out;  // (count, b.T, C)
        for (int r = 0; emb && r < count; r++) {
            float *e = emb + (long)(first + r) * C;
            memset(e, 0, sizeof(float) * C);
            for (int t = 0; t < b.T; t++)
                for (int c = 0; b.attention_mask[r * b.T + t] && c < C; c++)
                    e[c] += h[((long)r * b.T + t) * C + c] / b.length[r];
        }
    }
    batch_free(&b);
    free(rows);
    tokenized_set_free(&set);
}

static double cosine(const float *a, const float *b, int n) {
    double ab = 0, aa = 0, bb = 0;
    for (int i = 0; i < n; i++) ab += a[i] * b[i], aa += a[i] * a[i], bb += b[i] * b[i];
    return ab / sqrt(aa * bb);
}

int main(int argc, char **argv) {
    const char *model_dir = "data/cache/models/all-MiniLM-L6-v2";
    int num_labels = 0, seed = 42, max_seq_length = 0, batch = 32;
    bool logits_only = false;
    ArgSpec specs[] = {
        {"model_name_or_path", ARG_STRING, &model_dir,
         "checkpoint directory: config.json, model.safetensors, vocab.txt or tokenizer.json", "Model"},
        {"num_labels", ARG_INT, &num_labels, "classes of the classifier (0: the checkpoint's, 2 when it has none)",
         NULL},
        {"seed", ARG_INT, &seed, "seed of a classifier (or pooler) the checkpoint lacks", NULL},
        {"max_seq_length", ARG_INT, &max_seq_length, "truncate texts to this many tokens (0: the model's limit)",
         "Input"},
        {"per_device_eval_batch_size", ARG_INT, &batch, "texts per forward pass", NULL},
        {"logits_only", ARG_BOOL, &logits_only, "read one text per line on stdin, print one line of logits (%.8e) each",
         NULL},
    };
    ArgParser parser = {"10_bert_forward",
                        "Loads a Hugging Face BERT checkpoint (config.json, model.safetensors, vocab.txt), counts its\n"
                        "parameters, and runs BertForSequenceClassification forward: tokens, logits, and sentence\n"
                        "similarities from the encoder's output.",
                        NULL, specs, ARRAY_LEN(specs)};
    args_parse(&parser, argc, argv, NULL, 0);
    if (num_labels < 0 || batch < 1 || max_seq_length < 0)
        die("--num_labels >= 0, --per_device_eval_batch_size >= 1, --max_seq_length >= 0");
    if (!dir_exists(model_dir))
        die("%s not found: run `bash data/fetch.sh` (or `make`) first, or pass --model_name_or_path", model_dir);

    int created = 0;
    BertModel m = bert_load(model_dir, num_labels, (uint64_t)seed, &created);
    Tokenizer *tok = tokenizer_from_pretrained(model_dir);
    if (tok->vocab_size != m.config.vocab_size)
        die("%s: the tokenizer has %d tokens, config.json says vocab_size %d", model_dir, tok->vocab_size,
            m.config.vocab_size);
    int limit = m.config.max_position_embeddings;
    if (tok->model_max_length > 0 && tok->model_max_length < limit) limit = tok->model_max_length;
    if (max_seq_length == 0 || max_seq_length > limit) max_seq_length = limit;
    const int K = m.config.num_labels, C = m.config.hidden_size;

    if (logits_only) {
        char **lines;
        int n = read_lines(stdin, &lines);
        float *logits = xmalloc(sizeof(float) * (size_t)(n ? n : 1) * K);
        if (n) run_batches(&m, tok, lines, n, batch < n ? batch : n, max_seq_length, logits, NULL);
        for (int i = 0; i < n; i++) {
            for (int k = 0; k < K; k++) printf(k ? " %.8e" : "%.8e", logits[(long)i * K + k]);
            printf("\n");
            free(lines[i]);
        }
        free(lines), free(logits);
        tokenizer_free(tok);
        bert_free(&m);
        return 0;
    }

    const BertConfig *c = &m.config;
    printf("checkpoint %s\n", model_dir);
    printf("config.json: %d layers, hidden %d, %d heads of %d, intermediate %d, vocab %d, positions %d, types %d\n",
           c->num_hidden_layers, c->hidden_size, c->num_attention_heads, c->hidden_size / c->num_attention_heads,
           c->intermediate_size, c->vocab_size, c->max_position_embeddings, c->type_vocab_size);
    printf("pooler: %s   classifier: %s (%d labels)\n", created & 1 ? "created" : "from the checkpoint",
           created & 2 ? "created from --seed" : "from the checkpoint", K);
    print_param_counts(&m);

    const int n = (int)ARRAY_LEN(SENTENCES);
    int *ids = NULL;
    int n_ids = tokenize(tok, SENTENCES[0], &ids);
    printf("\ntokens of \"%s\":\n  [CLS]", SENTENCES[0]);
    for (int i = 0; i < n_ids; i++) printf(" %s", tokenizer_token(tok, ids[i]));
    printf(" [SEP]\n  %d", tok->cls_id);
    for (int i = 0; i < n_ids; i++) printf(" %d", ids[i]);
    printf(" %d\n", tok->sep_id);
    arrfree(ids);

    float *logits = xmalloc(sizeof(float) * n * K), *emb = xmalloc(sizeof(float) * n * C);
    double t0 = now_seconds();
    run_batches(&m, tok, (char **)SENTENCES, n, n, max_seq_length, logits, emb);
    double dt = now_seconds() - t0;
    printf("\nforward pass of %d sentences: %.3f s\n", n, dt);
    printf("logits (classifier %s):\n", created & 2 ? "untrained: these mean nothing yet" : "from the checkpoint");
    for (int i = 0; i < n; i++) {
        printf("  ");
        for (int k = 0; k < K; k++) printf(" %+.4f", logits[i * K + k]);
        printf("   %s\n", SENTENCES[i]);
    }
    printf("cosine similarity of the mean of the last hidden state over each sentence's tokens:\n");
    for (int i = 0; i < n; i++) {
        printf("  %d:", i);
        for (int j = 0; j < n; j++) printf(" %5.2f", cosine(emb + i * C, emb + j * C, C));
        printf("   %s\n", SENTENCES[i]);
    }
    free(logits), free(emb);
    tokenizer_free(tok);
    bert_free(&m);
    return 0;
}
