// Lesson 07 — the tokenizer: from text to the three tensors a BERT reads.
//
// A BERT never sees characters. It sees input_ids (B,T), rows of vocabulary ids that begin with
// [CLS] and end with [SEP]; token_type_ids (B,T), which sentence of a pair each token belongs to;
// and attention_mask (B,T), 1 for real tokens and 0 for the [PAD] filling that makes the rows
// equally long. This lesson follows one sentence through the four stages of BERT's WordPiece
// tokenizer (common/text/tokenizer.c), builds a sentence pair and two padded batches, and measures on
// real SST-2 what max_seq_length, dynamic padding and group_by_length cost or save.
//
// The ids are exactly those of Hugging Face's BertTokenizer: tests/test_tokenizer.c checks every
// line of SST-2, SST-5 and TREC and a hard set. `--ids_only` turns the lesson into a filter that
// prints the ids of each line of stdin, for such checks.
#include <stb_ds.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "common/core/args.h"
#include "common/text/dataset.h"
#include "common/core/plot.h"
#include "common/text/batch.h"
#include "common/text/tokenizer.h"
#include "common/core/util.h"

// show: a string with the invisible characters made visible: control and format characters,
// and spaces other than ' ', as \u{XXXX}; tabs as \t.
static void show(const char *s, int len) {
    for (int i = 0; i < len;) {
        utf8proc_int32_t c;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + i, len - i, &c);
        if (k <= 0) {
            printf("\\x%02x", (unsigned char)s[i++]);
            continue;
        }
        utf8proc_category_t cat = utf8proc_category(c);
        if (c == '\t') printf("\\t");
        else if (c != ' ' &&
                 (cat == UTF8PROC_CATEGORY_CC || cat == UTF8PROC_CATEGORY_CF || cat == UTF8PROC_CATEGORY_ZS))
            printf("\\u{%04X}", c);
        else fwrite(s + i, 1, (size_t)k, stdout);
        i += (int)k;
    }
}

static void print_tokens(const Tokenizer *t, const int *ids, int n) {
    for (int i = 0; i < n; i++) printf("%s%s", i ? " " : "", tokenizer_token(t, ids[i]));
}

// ---- one sentence, stage by stage -----------------------------------------------------------

static void show_stages(const Tokenizer *t, const char *text) {
    int len = (int)strlen(text);
    // "cleaned": the same normalizer with lower-casing and accent stripping switched off.
    Tokenizer clean_only = *t;
    clean_only.do_lower_case = clean_only.strip_accents = false;
    char *cleaned = tokenizer_normalize(&clean_only, text, len);
    char *norm = tokenizer_normalize(t, text, len);
    Span *words = NULL;
    int nw = pretokenize(norm, (int)strlen(norm), &words);
    int *pieces = NULL;
    printf("== one sentence through the four stages ==\n");
    printf("text            : ");
    show(text, len);
    printf("\n");
    printf("1 cleaned       : ");
    show(cleaned, (int)strlen(cleaned));
    printf("   (controls and zero-width characters dropped, spaces around CJK)\n");
    printf("2 normalized    : ");
    show(norm, (int)strlen(norm));
    printf("   (%s)\n", t->do_lower_case ? "lower-cased, accents stripped" : "cased: left as it is");
    printf("3 pre-tokens    :");
    for (int w = 0; w < nw; w++) printf(" %.*s%s", words[w].len, norm + words[w].start, w + 1 < nw ? " |" : "");
    printf("   (%d words)\n", nw);
    printf("4 word pieces   :");
    for (int w = 0; w < nw; w++) {
        int n0 = (int)arrlen(pieces);
        wordpiece(t, norm + words[w].start, words[w].len, &pieces);
        for (int k = n0; k < arrlen(pieces); k++) printf(" %s", tokenizer_token(t, pieces[k]));
    }
    printf("   (%d pieces)\n", (int)arrlen(pieces));
    printf("  input_ids     : %d", t->cls_id);
    for (int k = 0; k < arrlen(pieces); k++) printf(" %d", pieces[k]);
    printf(" %d   ([CLS] ... [SEP])\n", t->sep_id);
    printf("  attention_mask:");
    for (int k = 0; k < arrlen(pieces) + 2; k++) printf(" 1");
    printf("\n\n");
    arrfree(words);
    arrfree(pieces);
    free(norm);
    free(cleaned);
}

// ---- pairs and batches --------------------------------------------------------------------

static void print_batch(const Tokenizer *t, const Batch *b, bool types) {
    for (int r = 0; r < b->B; r++) {
        const int *ids = b->input_ids + (long)r * b->T;
        printf("  row %d tokens        : ", r);
        print_tokens(t, ids, b->T);
        printf("\n");
        printf("        input_ids     :");
        for (int j = 0; j < b->T; j++) printf(" %d", ids[j]);
        printf("\n        attention_mask:");
        for (int j = 0; j < b->T; j++) printf(" %d", b->attention_mask[(long)r * b->T + j]);
        if (types) {
            printf("\n        token_type_ids:");
            for (int j = 0; j < b->T; j++) printf(" %d", b->token_type_ids[(long)r * b->T + j]);
        }
        printf("\n");
    }
}

static void show_pair(const Tokenizer *t, const char *a, const char *b, int max_length) {
    TokenizedSet s = tokenize_texts(t, &a, &b, 1);
    Batch full = {0}, cut = {0};
    int row = 0;
    EncodeOptions none = {0}, trunc = {.max_length = max_length};
    collate(t, &s, &row, 1, &none, &full);
    collate(t, &s, &row, 1, &trunc, &cut);
    printf("== a sentence pair: [CLS] a [SEP] b [SEP] ==\n");
    printf("a = \"%s\"   b = \"%s\"\n", a, b);
    print_batch(t, &full, true);
    int ka, kb;
    truncated_lengths(&s, 0, &trunc, &ka, &kb);
    printf("truncated to max_seq_length %d (longest_first: a keeps %d of %d pieces, b %d of %d):\n", max_length, ka,
           s.off_a[1], kb, s.off_b[1]);
    print_batch(t, &cut, true);
    printf("\n");
    batch_free(&full);
    batch_free(&cut);
    tokenized_set_free(&s);
}

static void show_batches(const Tokenizer *t, const char *const *texts, int n, int max_length, bool left, int multiple) {
    TokenizedSet s = tokenize_texts(t, texts, NULL, n);
    int *rows = xmalloc(sizeof(int) * (size_t)n);
    for (int i = 0; i < n; i++) rows[i] = i;
    Batch b = {0};
    const char *side = left ? "left" : "right";
    printf("== a batch of %d: padding and truncation (max_seq_length %d, padding_side %s) ==\n", n, max_length, side);
    for (int i = 0; i < n; i++) printf("  text %d: \"%s\"\n", i, texts[i]);
    EncodeOptions dyn = {.max_length = max_length, .padding_left = left, .pad_to_multiple_of = multiple};
    collate(t, &s, rows, n, &dyn, &b);
    printf("padding=\"longest\" (dynamic padding): T = %d, the longest row%s\n", b.T,
           multiple ? " rounded up to pad_to_multiple_of" : "");
    print_batch(t, &b, false);
    EncodeOptions fixed = dyn;
    fixed.pad_to_max_length = true;
    collate(t, &s, rows, n, &fixed, &b);
    printf("padding=\"max_length\": T = max_seq_length = %d\n", b.T);
    print_batch(t, &b, false);
    printf("\n");
    batch_free(&b);
    free(rows);
    tokenized_set_free(&s);
}

// ---- real data: what padding costs --------------------------------------------------------

static int cmp_int(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

static void show_dataset(const Tokenizer *t, const char *path, int batch, int seed, const char *plot_path) {
    if (!file_exists(path)) {
        printf("== %s is not fetched: run `make` (or bash data/fetch.sh sst2) ==\n", path);
        return;
    }
    DatasetOptions o = dataset_default_options();
    TextDataset d = dataset_load(path, &o);
    double t0 = now_seconds();
    TokenizedSet s = tokenize_dataset(t, &d);
    double secs = now_seconds() - t0;
    printf("== real data: %s ==\n", path);
    printf("tokenized %d sentences in %.3f s (%.0f sentences/s, one thread)\n", d.n, secs, d.n / secs);
    EncodeOptions none = {0};
    int *len = xmalloc(sizeof(int) * (size_t)d.n), *sorted = xmalloc(sizeof(int) * (size_t)d.n), ka, kb;
    long sum = 0;
    for (int i = 0; i < d.n; i++) sum += len[i] = truncated_lengths(&s, i, &none, &ka, &kb);
    memcpy(sorted, len, sizeof(int) * (size_t)d.n);
    qsort(sorted, (size_t)d.n, sizeof(int), cmp_int);
    printf("length with [CLS]/[SEP]: min %d  median %d  mean %.1f  95th percentile %d  max %d\n", sorted[0],
           sorted[d.n / 2], (double)sum / d.n, sorted[(int)(0.95 * (d.n - 1))], sorted[d.n - 1]);
    const int limits[] = {128, 64, 32, 16};
    for (size_t k = 0; k < ARRAY_LEN(limits); k++) {
        int cut = 0;
        for (int i = 0; i < d.n; i++) cut += len[i] > limits[k];
        printf("  max_seq_length %3d truncates %5d sentences (%.2f%%)\n", limits[k], cut, 100.0 * cut / d.n);
    }
    // one epoch's worth of tokens, in the epoch's shuffled order (epoch_order, as the trainer)
    int *perm = xmalloc(sizeof(int) * (size_t)d.n), *grouped = xmalloc(sizeof(int) * (size_t)d.n);
    epoch_order((uint64_t)seed, 0, perm, d.n);
    group_by_length(len, d.n, batch, perm, grouped);
    long t128 = padded_tokens(len, perm, d.n, batch, 128), t64 = padded_tokens(len, perm, d.n, batch, 64);
    long tdyn = padded_tokens(len, perm, d.n, batch, 0), tgrp = padded_tokens(len, grouped, d.n, batch, 0);
    printf("tokens processed in one epoch, batches of %d (real tokens: %ld):\n", batch, sum);
    printf("  padding=\"max_length\" 128      : %9ld  (%5.1f%% padding)\n", t128, 100.0 * (t128 - sum) / t128);
    printf("  padding=\"max_length\" 64       : %9ld  (%5.1f%% padding)\n", t64, 100.0 * (t64 - sum) / t64);
    printf("  padding=\"longest\" (dynamic)   : %9ld  (%5.1f%% padding)\n", tdyn, 100.0 * (tdyn - sum) / tdyn);
    printf("  dynamic + group_by_length     : %9ld  (%5.1f%% padding)\n", tgrp, 100.0 * (tgrp - sum) / tgrp);
    printf("  the first batch with group_by_length holds the longest sentence (%d tokens): %s\n", sorted[d.n - 1],
           len[grouped[0]] == sorted[d.n - 1] ? "yes" : "no");

    // the length histogram
    int maxlen = sorted[d.n - 1];
    double *x = xmalloc(sizeof(double) * (size_t)(maxlen + 1)), *y = xcalloc((size_t)maxlen + 1, sizeof(double));
    for (int l = 0; l <= maxlen; l++) x[l] = l;
    for (int i = 0; i < d.n; i++) y[len[i]] += 1;
    Plot p = plot_new("SST-2 train: tokens per sentence", "tokens ([CLS] and [SEP] included)", "sentences");
    plot_add(&p, "sentences", x, y, maxlen + 1);
    plot_save(&p, plot_path);
    printf("length histogram: %s\n", plot_path);
    plot_free(&p);
    free(x);
    free(y);
    free(perm);
    free(grouped);
    free(len);
    free(sorted);
    tokenized_set_free(&s);
    dataset_free(&d);
}

// ---- --ids_only: a filter for checking against transformers ------------------------------

static void print_ids_of_lines(const Tokenizer *t) {
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int *ids = NULL;
    for (int lineno = 1; (n = getline(&line, &cap, stdin)) > 0; lineno++) {
        if (line[n - 1] == '\n') n--;
        if (!utf8_valid(line, n)) die("<stdin>:%d: invalid UTF-8", lineno);
        arrsetlen(ids, 0);
        arrput(ids, t->cls_id);
        tokenize_len(t, line, (int)n, &ids);
        arrput(ids, t->sep_id);
        for (int k = 0; k < arrlen(ids); k++) printf(k ? " %d" : "%d", ids[k]);
        putchar('\n');
    }
    arrfree(ids);
    free(line);
}

int main(int argc, char **argv) {
    const char *model = "data/cache/models/all-MiniLM-L6-v2", *vocab = NULL, *output_dir = "runs/07_tokenizer";
    const char *text = "Héllo,\u200bWörld!\tThe café’s crème brûlée costs $3.50 — naïve 東京 tokenization.";
    const char *text_a = "How old are you?", *text_b = "I'm six years old, and my sister is nine.";
    const char *train_file = "data/cache/sst2/train.tsv", *padding_side = "right";
    bool cased = false, ids_only = false;
    int max_seq_length = 12, pad_to_multiple_of = 0, batch = 32, seed = 42;
    ArgSpec specs[] = {
        {"model_name_or_path", ARG_STRING, &model, "checkpoint directory (vocab.txt, tokenizer_config.json)",
         "Tokenizer"},
        {"vocab", ARG_STRING, &vocab, "a vocab.txt to use instead (uncased unless --cased)", NULL},
        {"cased", ARG_BOOL, &cased, "keep case and accents (do_lower_case=False)", NULL},
        {"ids_only", ARG_BOOL, &ids_only, "read lines on stdin, print each one's ids with [CLS]/[SEP], nothing else",
         NULL},
        {"text", ARG_STRING, &text, "the sentence shown stage by stage", "Demonstration"},
        {"text_pair", ARG_STRING, &text_b, "second sentence of the pair example", NULL},
        {"max_seq_length", ARG_INT, &max_seq_length, "truncation length of the pair and batch examples", NULL},
        {"padding_side", ARG_CHOICE, &padding_side, "where [PAD] goes", NULL, "right|left"},
        {"pad_to_multiple_of", ARG_INT, &pad_to_multiple_of, "round the padded length up to a multiple (0: off)", NULL},
        {"train_file", ARG_STRING, &train_file, "data set measured for lengths and padding", "Data"},
        {"per_device_train_batch_size", ARG_INT, &batch, "batch size for the padding totals", NULL},
        {"seed", ARG_INT, &seed, "seed of the epoch order", NULL},
        {"output_dir", ARG_STRING, &output_dir, "where the length histogram goes", NULL},
    };
    ArgParser parser = {
        "07_tokenizer",
        "BERT's WordPiece tokenizer, id for id the same as Hugging Face's BertTokenizer: one sentence\n"
        "through cleaning, normalization, pre-tokenization and WordPiece; a sentence pair with\n"
        "token_type_ids and longest_first truncation; a batch padded to the longest row and to\n"
        "max_seq_length, right or left, with attention masks; on SST-2, sentence lengths and the tokens\n"
        "that max_length padding, dynamic padding and group_by_length cost per epoch.\n"
        "With --ids_only it prints the ids of each stdin line instead.",
        NULL, specs, ARRAY_LEN(specs)};
    args_parse(&parser, argc, argv, NULL, 0);
    if (batch < 1) die("--per_device_train_batch_size must be at least 1");

    Tokenizer *t;
    if (vocab) {
        TokenizerOptions o = tokenizer_default_options();
        o.do_lower_case = !cased;
        t = tokenizer_load(vocab, &o);
    } else {
        if (!dir_exists(model)) die("%s not found: run `bash data/fetch.sh model` (or `make`) first", model);
        t = tokenizer_from_pretrained(model);  // vocab.txt, or tokenizer.json (transformers 5)
        if (cased) t->do_lower_case = t->strip_accents = false;
    }
    if (ids_only) {
        print_ids_of_lines(t);
        tokenizer_free(t);
        return 0;
    }
    printf("tokenizer: %s (vocab %d, do_lower_case %s, strip_accents %s)\n\n", vocab ? vocab : model, t->vocab_size,
           t->do_lower_case ? "true" : "false", t->strip_accents ? "true" : "false");
    show_stages(t, text);
    show_pair(t, text_a, text_b, max_seq_length);
    const char *texts[] = {"I loved it.", "A charming and often affecting journey.", "Bad."};
    show_batches(t, texts, 3, max_seq_length, !strcmp(padding_side, "left"), pad_to_multiple_of);
    mkdir_p(output_dir);
    char *plot_path = path_join(output_dir, "lengths.png");
    show_dataset(t, train_file, batch, seed, plot_path);
    free(plot_path);
    tokenizer_free(t);
    return 0;
}
