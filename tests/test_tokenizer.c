// test_tokenizer.c — common/tokenizer against transformers' BertTokenizer: every Unicode code
// point, the hard set, every line of SST-2, SST-5 and TREC (uncased and cased), invalid UTF-8,
// batches with pairs/truncation/padding, and group_by_length. References: tests/gen_tokenizer.py
// and tests/gen_tokenizer_tables.py, in tests/fixtures/tokenizer/.
#include <criterion/criterion.h>
#include <stb_ds.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <utf8proc.h>

#include "common/text/dataset.h"
#include "common/core/rng.h"
#include "common/text/batch.h"
#include "common/text/tokenizer.h"
#include "common/core/util.h"
#include "tests/expect_error.h"
#include "tests/fixture.h"

#define VOCAB       "data/cache/models/bert-base-uncased-vocab/vocab.txt"
#define MODEL_DIR   "data/cache/models/all-MiniLM-L6-v2"
#define IDS_FIXTURE "tests/fixtures/tokenizer/ids.txt"
#define HARD        "tests/fixtures/tokenizer/hard.txt"

static Tokenizer *load(bool cased) {
    if (!file_exists(VOCAB)) cr_skip_test("the BERT vocab is not fetched (bash data/fetch.sh vocab)");
    TokenizerOptions o = tokenizer_default_options();
    o.do_lower_case = !cased;
    return tokenizer_load(VOCAB, &o);
}

static uint64_t fnv1a64(const char *s, size_t n, uint64_t h) {
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 0x100000001B3ULL;
    return h;
}
#define FNV_START 0xCBF29CE484222325ULL

// key: a printf-formatted fixture key (a static buffer, to be used at once).
static const char *key(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const char *key(const char *fmt, ...) {
    static char buf[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return buf;
}

// encode_line: [CLS] tokens [SEP] of text[0..len), into the stb_ds array *ids (reset first).
static void encode_line(const Tokenizer *t, const char *text, int len, int **ids) {
    arrsetlen(*ids, 0);
    arrput(*ids, t->cls_id);
    tokenize_len(t, text, len, ids);
    arrput(*ids, t->sep_id);
}

static bool ids_equal(const int *ids, int n, const double *want, int nw) {
    if (n != nw) return false;
    for (int i = 0; i < n; i++)
        if (ids[i] != (int)want[i]) return false;
    return true;
}

static char *ids_text(const int *ids, int n) {
    char *s = xmalloc(16 * (size_t)n + 2);
    int at = 0;
    for (int i = 0; i < n; i++) at += sprintf(s + at, "%s%d", i ? " " : "", ids[i]);
    s[at++] = '\n';
    s[at] = '\0';
    return s;
}

// ---- every code point --------------------------------------------------------------------

static uint64_t parse_hash(const char *w) { return strtoull(w, NULL, 16); }

Test(tokenizer, every_code_point_as_the_rust_tokenizer) {
    Tokenizer *uncased = load(false), *cased = load(true);
    Fixture f = fixture_load("tests/fixtures/tokenizer/unicode.txt");
    int nb, n1, n2;
    char **hu = fixture_words(&f, "uncased", &nb), **hc = fixture_words(&f, "cased", &n1),
         **hp = fixture_words(&f, "pretokenize", &n2);
    cr_assert_eq(nb, 0x110000 / 4096);
    int bad = 0;
    Span *words = NULL;
    for (int b = 0; b < nb; b++) {
        uint64_t u = FNV_START, c = FNV_START, p = FNV_START;
        for (int32_t cp = b * 4096; cp < (b + 1) * 4096; cp++) {
            if (cp >= 0xD800 && cp <= 0xDFFF) continue;
            char s[8] = "a";
            int n = (int)utf8proc_encode_char(cp, (utf8proc_uint8_t *)s + 1);
            char *nu = tokenizer_normalize(uncased, s + 1, n), *nc = tokenizer_normalize(cased, s + 1, n);
            u = fnv1a64(nu, strlen(nu), u);
            u = fnv1a64("\n", 1, u);
            c = fnv1a64(nc, strlen(nc), c);
            c = fnv1a64("\n", 1, c);
            free(nu);
            free(nc);
            s[n + 1] = 'a';
            arrsetlen(words, 0);
            int nw = pretokenize(s, n + 2, &words);
            p = fnv1a64(nw == 2 ? "W" : nw == 1 ? "O" : nw == 3 ? "P" : "?", 1, p);
        }
        bool ok = u == parse_hash(hu[b]) && c == parse_hash(hc[b]) && p == parse_hash(hp[b]);
        if (!ok && bad++ < 5)
            cr_log_error("code points U+%04X..U+%04X: uncased %s, cased %s, pre-tokens %s", b * 4096, b * 4096 + 4095,
                         u == parse_hash(hu[b]) ? "ok" : "differ", c == parse_hash(hc[b]) ? "ok" : "differ",
                         p == parse_hash(hp[b]) ? "ok" : "differ");
    }
    cr_expect_eq(bad, 0, "%d of %d blocks of 4096 code points normalize or pre-tokenize differently", bad, nb);

    // runs of combining marks: canonical ordering with the Rust normalizer's combining classes
    int nr;
    char **runs = fixture_words(&f, "mark_runs", &nr), **want = fixture_words(&f, "mark_runs_uncased", &n1);
    uint64_t h = FNV_START;
    for (int r = 0; r < nr; r++) {
        char s[64];
        int n = 0;
        for (char *p = runs[r]; *p; p += *p == '-')
            n += (int)utf8proc_encode_char((int32_t)strtol(p, &p, 16), (utf8proc_uint8_t *)s + n);
        char *norm = tokenizer_normalize(uncased, s, n);
        h = fnv1a64(norm, strlen(norm), h);
        h = fnv1a64("\n", 1, h);
        free(norm);
    }
    cr_expect_eq(h, parse_hash(want[0]), "runs of combining marks are ordered differently");
    arrfree(words);
    fixture_free(&f);
    tokenizer_free(uncased);
    tokenizer_free(cased);
}

// ---- the hard set -------------------------------------------------------------------------

// read_lines: the lines of a file split on '\n' only (a line may hold \r or NUL), with lengths.
static int read_lines(const char *path, char ***lines, int **lens) {
    size_t len;
    char *text = read_file(path, &len);
    int n = 0;
    *lines = NULL;
    *lens = NULL;
    for (size_t s = 0; s < len;) {
        char *nl = memchr(text + s, '\n', len - s);
        size_t e = nl ? (size_t)(nl - text) : len;
        arrput(*lines, text + s);
        arrput(*lens, (int)(e - s));
        n++;
        s = e + 1;
    }
    return n;
}

static void check_hard_set(bool cased) {
    Tokenizer *t = load(cased);
    Fixture f = fixture_load(IDS_FIXTURE);
    char **lines;
    int *lens, n = read_lines(HARD, &lines, &lens), nf, bad = 0;
    double *count = fixture_doubles(&f, "hard_lines", &nf);
    cr_assert_eq(n, (int)count[0], "hard.txt has %d lines, the fixture %d", n, (int)count[0]);
    int *ids = NULL;
    for (int i = 0; i < n; i++) {
        double *want = fixture_doubles(&f, key("hard_%s_%d", cased ? "cased" : "uncased", i), &nf);
        encode_line(t, lines[i], lens[i], &ids);
        if (!ids_equal(ids, (int)arrlen(ids), want, nf) && bad++ < 10) {
            char *got = ids_text(ids, (int)arrlen(ids));
            cr_log_error("hard.txt:%d (%s): got %s", i + 1, cased ? "cased" : "uncased", got);
            free(got);
        }
        free(want);
    }
    cr_expect_eq(bad, 0, "%d of %d hard lines differ from transformers (%s)", bad, n, cased ? "cased" : "uncased");
    arrfree(ids);
    free(count);
    fixture_free(&f);
    tokenizer_free(t);
}

Test(tokenizer, hard_set_uncased) { check_hard_set(false); }
Test(tokenizer, hard_set_cased) { check_hard_set(true); }

Test(tokenizer, invalid_utf8_is_dropped_like_replacement_characters) {
    Tokenizer *t = load(false);
    Fixture f = fixture_load(IDS_FIXTURE);
    int n;
    double *count = fixture_doubles(&f, "invalid_count", &n);
    int *ids = NULL;
    for (int i = 0; i < (int)count[0]; i++) {
        char bytes[256];
        char **hex = fixture_words(&f, key("invalid_%d_bytes", i), &n);
        for (int k = 0; k < n; k++) bytes[k] = (char)strtol(hex[k], NULL, 16);
        int nw;
        double *want = fixture_doubles(&f, key("invalid_%d_ids", i), &nw);
        encode_line(t, bytes, n, &ids);
        cr_expect(ids_equal(ids, (int)arrlen(ids), want, nw),
                  "invalid UTF-8 case %d differs from decode(errors='replace')", i);
        free(want);
        free(hex);
    }
    arrfree(ids);
    free(count);
    fixture_free(&f);
    tokenizer_free(t);
}

// ---- the data sets, every line ------------------------------------------------------------

static void check_dataset(const char *name, bool cased) {
    char path[256];
    snprintf(path, sizeof path, "data/cache/%s.tsv", name);
    if (!file_exists(path)) cr_skip_test("%s not fetched (bash data/fetch.sh)", path);
    Tokenizer *t = load(cased);
    Fixture f = fixture_load(IDS_FIXTURE);
    DatasetOptions o = dataset_default_options();
    o.label_column = NULL;
    TextDataset d = dataset_load(path, &o);
    char set[64];
    snprintf(set, sizeof set, "%s", name);
    *strchr(set, '/') = '_';
    int n;
    double *lines = fixture_doubles(&f, key("%s_lines", set), &n);
    cr_assert_eq(d.n, (int)lines[0], "%s: %d sentences, the fixture has %d", path, d.n, (int)lines[0]);
    int nchunks;
    char **want = fixture_words(&f, key("%s_%s", set, cased ? "cased" : "uncased"), &nchunks);
    cr_assert_eq(nchunks, (d.n + 15) / 16);
    // Lines are hashed 16 at a time, as printed by `07_tokenizer --ids_only`: one wrong id in
    // any line changes its block's hash, and the block's line numbers are reported.
    int *ids = NULL, bad = 0;
    for (int c = 0; c < nchunks; c++) {
        uint64_t h = FNV_START;
        for (int i = 16 * c; i < d.n && i < 16 * c + 16; i++) {
            encode_line(t, d.text[i], (int)strlen(d.text[i]), &ids);
            char *s = ids_text(ids, (int)arrlen(ids));
            h = fnv1a64(s, strlen(s), h);
            free(s);
        }
        if (h != parse_hash(want[c]) && bad++ < 5)
            cr_log_error("%s (%s): a line among file lines %d..%d differs", path, cased ? "cased" : "uncased",
                         d.line[16 * c], d.line[(16 * c + 15 < d.n ? 16 * c + 15 : d.n - 1)]);
    }
    cr_expect_eq(bad, 0, "%s: %d blocks of 16 lines differ from transformers", path, bad);
    double *first = fixture_doubles(&f, key("%s_%s_first", set, cased ? "cased" : "uncased"), &n);
    encode_line(t, d.text[0], (int)strlen(d.text[0]), &ids);
    cr_expect(ids_equal(ids, (int)arrlen(ids), first, n), "%s: the first sentence's ids differ", path);
    free(first);
    free(want);
    free(lines);
    arrfree(ids);
    dataset_free(&d);
    fixture_free(&f);
    tokenizer_free(t);
}

Test(tokenizer, sst2_train) {
    check_dataset("sst2/train", false);
    check_dataset("sst2/train", true);
}
Test(tokenizer, sst2_dev) {
    check_dataset("sst2/dev", false);
    check_dataset("sst2/dev", true);
}
Test(tokenizer, sst5) {
    const char *sets[] = {"sst5/train", "sst5/dev", "sst5/test"};
    for (int k = 0; k < 3; k++) {
        check_dataset(sets[k], false);
        check_dataset(sets[k], true);
    }
}
Test(tokenizer, trec) {
    check_dataset("trec/train", false);
    check_dataset("trec/train", true);
    check_dataset("trec/test", false);
    check_dataset("trec/test", true);
}

// ---- batches ------------------------------------------------------------------------------

static void expect_array(const int *got, const double *want, int n, const char *what, int k) {
    for (int i = 0; i < n; i++)
        if (got[i] != (int)want[i]) {
            cr_expect_fail("batch case %d: %s[%d] = %d, transformers %d", k, what, i, got[i], (int)want[i]);
            return;
        }
}

Test(tokenizer, batches_truncation_padding_pairs) {
    Tokenizer *t = load(false);
    Fixture f = fixture_load(IDS_FIXTURE);
    char **lines;
    int *lens, nlines = read_lines(HARD, &lines, &lens), n;
    char **text = xmalloc(sizeof(char *) * (size_t)nlines);
    for (int i = 0; i < nlines; i++) {
        text[i] = xmalloc((size_t)lens[i] + 1);
        memcpy(text[i], lines[i], (size_t)lens[i]);
        text[i][lens[i]] = '\0';
    }
    // (lines holding NUL are not among the batches' texts: tokenize_texts takes C strings)
    double *count = fixture_doubles(&f, "enc_count", &n);
    Batch b = {0};
    for (int k = 0; k < (int)count[0]; k++) {
        double *opt = fixture_doubles(&f, key("enc%d_options", k), &n);
        EncodeOptions o = {.max_length = (int)opt[0],
                           .pad_to_max_length = opt[1] != 0,
                           .pad_to_multiple_of = (int)opt[2],
                           .padding_left = opt[3] != 0};
        bool pairs = opt[4] != 0;
        int na, nb = 0;
        double *a = fixture_doubles(&f, key("enc%d_a", k), &na);
        double *bi = NULL;
        if (pairs) { bi = fixture_doubles(&f, key("enc%d_b", k), &nb); }
        const char **ta = xmalloc(sizeof(char *) * (size_t)na), **tb = xmalloc(sizeof(char *) * (size_t)na);
        int *rows = xmalloc(sizeof(int) * (size_t)na);
        for (int i = 0; i < na; i++) {
            ta[i] = text[(int)a[i]];
            tb[i] = pairs ? text[(int)bi[i]] : NULL;
            rows[i] = na - 1 - i;  // collate in reverse order, then compare row by row
        }
        TokenizedSet s = tokenize_texts(t, ta, pairs ? tb : NULL, na);
        collate(t, &s, rows, na, &o, &b);
        double *shape = fixture_doubles(&f, key("enc%d_shape", k), &n);
        cr_expect_eq(b.B, (int)shape[0], "case %d: B", k);
        cr_expect_eq(b.T, (int)shape[1], "case %d: T = %d, transformers pads to %d", k, b.T, (int)shape[1]);
        if (b.T == (int)shape[1]) {
            const char *fields[] = {"input_ids", "token_type_ids", "attention_mask"};
            int *got[] = {b.input_ids, b.token_type_ids, b.attention_mask};
            for (int fi = 0; fi < 3; fi++) {
                double *want = fixture_doubles(&f, key("enc%d_%s", k, fields[fi]), &n);
                for (int r = 0; r < b.B; r++)
                    expect_array(got[fi] + (long)r * b.T, want + (long)(na - 1 - r) * b.T, b.T, fields[fi], k);
                free(want);
            }
            for (int r = 0; r < b.B; r++) {
                int sum = 0;
                for (int j = 0; j < b.T; j++) sum += b.attention_mask[(long)r * b.T + j];
                cr_expect_eq(b.length[r], sum, "case %d row %d: length is not the mask's sum", k, r);
            }
        }
        tokenized_set_free(&s);
        free(shape);
        free(rows);
        free(ta);
        free(tb);
        free(a);
        free(bi);
        free(opt);
    }
    batch_free(&b);
    for (int i = 0; i < nlines; i++) free(text[i]);
    free(text);
    free(count);
    arrfree(lines);
    arrfree(lens);
    fixture_free(&f);
    tokenizer_free(t);
}

Test(tokenizer, group_by_length_as_transformers) {
    Fixture f = fixture_load(IDS_FIXTURE);
    int n;
    double *count = fixture_doubles(&f, "gbl_count", &n);
    for (int k = 0; k < (int)count[0]; k++) {
        int nl;
        double *batch = fixture_doubles(&f, key("gbl%d_batch", k), &n);
        double *len = fixture_doubles(&f, key("gbl%d_lengths", k), &nl);
        double *perm = fixture_doubles(&f, key("gbl%d_perm", k), &n);
        double *want = fixture_doubles(&f, key("gbl%d_order", k), &n);
        int *li = xmalloc(sizeof(int) * (size_t)nl), *pi = xmalloc(sizeof(int) * (size_t)nl),
            *order = xmalloc(sizeof(int) * (size_t)nl);
        for (int i = 0; i < nl; i++) {
            li[i] = (int)len[i];
            pi[i] = (int)perm[i];
        }
        group_by_length(li, nl, (int)batch[0], pi, order);
        cr_expect(ids_equal(order, nl, want, n), "group_by_length case %d (n %d, batch %d) differs from transformers",
                  k, nl, (int)batch[0]);
        free(li);
        free(pi);
        free(order);
        free(batch);
        free(len);
        free(perm);
        free(want);
    }
    free(count);
    fixture_free(&f);
}

// ---- loading ------------------------------------------------------------------------------

Test(tokenizer, from_pretrained_reads_tokenizer_config) {
    if (!file_exists(MODEL_DIR "/vocab.txt")) cr_skip_test("the checkpoint is not fetched (bash data/fetch.sh model)");
    Tokenizer *t = tokenizer_from_pretrained(MODEL_DIR);
    cr_expect(t->do_lower_case && t->strip_accents && t->tokenize_chinese_chars);
    cr_expect_eq(t->model_max_length, 512);
    cr_expect_eq(t->vocab_size, 30522);
    cr_expect_eq(t->cls_id, 101);
    cr_expect_eq(t->sep_id, 102);
    cr_expect_eq(t->pad_id, 0);
    cr_expect_eq(t->unk_id, 100);
    cr_expect_eq(t->mask_id, 103);
    cr_expect_str_eq(tokenizer_token(t, 7592), "hello");
    cr_expect_eq(tokenizer_id(t, "##ization"), 3989);
    tokenizer_free(t);
}

// ---- tokenizer.json without vocab.txt (transformers 5 checkpoints) --------------------------

#define JSON_DIR "tests/fixtures/tokenizer_json"

// unescape: \t and \n of sentences.txt back into the characters, in place.
static void unescape(char *s) {
    char *w = s;
    for (char *r = s; *r; r++) {
        if (r[0] == '\\' && (r[1] == 't' || r[1] == 'n')) *w++ = *++r == 't' ? '\t' : '\n';
        else *w++ = *r;
    }
    *w = '\0';
}

Test(tokenizer, tokenizer_json_gives_the_ids_of_transformers) {
    Fixture f = fixture_load(JSON_DIR "/ids.txt");
    char *text = read_file(JSON_DIR "/sentences.txt", NULL);
    const char *configs[] = {"uncased", "cased", "cased_strip_nocjk", "uncased_keep_accents", "sequence"};
    int *ids = NULL, checked = 0;
    for (size_t c = 0; c < ARRAY_LEN(configs); c++) {
        char *dir = path_join(JSON_DIR, configs[c]);
        Tokenizer *t = tokenizer_from_pretrained(dir);
        char *copy = xstrdup(text), *save = NULL;
        int i = 0;
        for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save), i++) {
            unescape(line);
            encode_line(t, line, (int)strlen(line), &ids);
            int nw;
            double *want = fixture_doubles(&f, key("%s_%d", configs[c], i), &nw);
            cr_expect(ids_equal(ids, (int)arrlen(ids), want, nw), "%s, sentence %d: %s", configs[c], i, line);
            free(want);
            checked++;
        }
        free(copy);
        free(dir);
        tokenizer_free(t);
    }
    cr_expect_eq(checked, 5 * 8);
    arrfree(ids);
    free(text);
    fixture_free(&f);
}

Test(tokenizer, tokenizer_json_reads_the_normalizer_options) {
    Tokenizer *t = tokenizer_from_pretrained(JSON_DIR "/cased_strip_nocjk");
    cr_expect(!t->do_lower_case && t->strip_accents && !t->tokenize_chinese_chars);
    cr_expect_eq(t->unk_id, tokenizer_id(t, "[UNK]"));
    cr_expect_eq(t->unk_id, 4);
    tokenizer_free(t);
    t = tokenizer_from_pretrained(JSON_DIR "/uncased_keep_accents");
    cr_expect(t->do_lower_case && !t->strip_accents && t->tokenize_chinese_chars);
    tokenizer_free(t);
}

Test(tokenizer, tokenizer_json_of_another_model_is_an_error) {
    EXPECT_ERROR("the model is BPE, not WordPiece", tokenizer_from_pretrained(JSON_DIR "/bpe"));
    EXPECT_ERROR("no vocab.txt or tokenizer.json", tokenizer_from_pretrained("tests/fixtures"));
}

static char *temp_vocab(const char *content) {
    static int counter;
    char *path = xmalloc(128);
    snprintf(path, 128, "/tmp/bertstep-vocab-%d-%d.txt", (int)getpid(), counter++);
    FILE *f = xfopen(path, "wb");
    xfwrite(content, 1, strlen(content), f, path);
    xfclose(f, path);
    return path;
}

Test(tokenizer, tiny_vocab_wordpiece) {
    Tokenizer *t = tokenizer_load(temp_vocab("[PAD]\n[UNK]\n[CLS]\n[SEP]\nun\n##aff\n##able\nunaff\n##a\n,\n"), NULL);
    int *ids = NULL;
    tokenize(t, "UnAffable, unx", &ids);
    // "unaffable" -> unaff ##able (longest first piece wins over un); "unx" -> no "##x": [UNK]
    int want[] = {7, 6, 9, 1};
    cr_assert_eq(arrlen(ids), 4);
    for (int i = 0; i < 4; i++) cr_expect_eq(ids[i], want[i], "piece %d", i);
    cr_expect_eq(t->mask_id, -1);
    arrfree(ids);
    tokenizer_free(t);
}

Test(tokenizer, vocab_without_unk_is_an_error) {
    char *path = temp_vocab("[PAD]\n[CLS]\n[SEP]\nhello\n");
    EXPECT_ERROR("the vocab has no [UNK] token", tokenizer_load(path, NULL));
    unlink(path);
    free(path);
}

Test(tokenizer, vocab_with_invalid_utf8_is_an_error) {
    char *path = temp_vocab("[PAD]\n[UNK]\n[CLS]\n[SEP]\nbad\xff\n");
    EXPECT_ERROR(".txt:5: invalid UTF-8", tokenizer_load(path, NULL));
    unlink(path);
    free(path);
}

// A batch carries the labels of its rows, in the order collate was given them; texts without
// labels give a batch without (and a loss asked of it is an error).
Test(tokenizer, batch_carries_the_labels_of_its_rows) {
    Tokenizer *t = tokenizer_from_pretrained("tests/fixtures/trainer/tiny-bert");
    DatasetOptions o = dataset_default_options();
    TextDataset d = dataset_load("tests/fixtures/trainer/train.tsv", &o);
    TokenizedSet s = tokenize_dataset(t, &d);
    EncodeOptions eo = {.max_length = 16};
    Batch b = {0};
    int rows[] = {3, 0, 2};
    collate(t, &s, rows, 3, &eo, &b);
    cr_assert(b.labels);
    for (int r = 0; r < 3; r++)
        cr_expect_eq(b.labels[r], d.label[rows[r]], "row %d: label %d, the data set says %d", r, b.labels[r],
                     d.label[rows[r]]);
    cr_expect_eq(batch_labels(&b), b.labels);
    const char *texts[] = {"a bird"};
    TokenizedSet bare = tokenize_texts(t, texts, NULL, 1);
    collate(t, &bare, rows + 1, 1, &eo, &b);
    cr_expect_null(b.labels, "texts without labels give a batch without");
    tokenized_set_free(&bare);
    tokenized_set_free(&s);
    batch_free(&b);
    dataset_free(&d);
    tokenizer_free(t);
}

Test(tokenizer, loss_of_an_unlabelled_batch_is_an_error) {
    char *path = temp_vocab("[PAD]\n[UNK]\n[CLS]\n[SEP]\na\n");
    Tokenizer *t = tokenizer_load(path, NULL);
    const char *a[] = {"a"};
    TokenizedSet s = tokenize_texts(t, a, NULL, 1);
    EncodeOptions o = {0};
    Batch batch = {0};
    int rows[] = {0};
    collate(t, &s, rows, 1, &o, &batch);
    EXPECT_ERROR("a loss needs labels, and this batch has none", batch_labels(&batch));
    batch_free(&batch);
    tokenized_set_free(&s);
    tokenizer_free(t);
    unlink(path);
    free(path);
}

Test(tokenizer, truncation_below_the_specials_is_an_error) {
    Tokenizer *t = tokenizer_load(temp_vocab("[PAD]\n[UNK]\n[CLS]\n[SEP]\na\n"), NULL);
    const char *a[] = {"a a a"}, *b[] = {"a"};
    TokenizedSet s = tokenize_texts(t, a, b, 1);
    EncodeOptions o = {.max_length = 2};
    Batch batch = {0};
    int rows[] = {0};
    EXPECT_ERROR("max_length 2 leaves no room for the 3 special tokens", collate(t, &s, rows, 1, &o, &batch));
    tokenized_set_free(&s);
    tokenizer_free(t);
}

// ---- lesson 07's command-line interface -----------------------------------------------------

Test(tokenizer, lesson_ids_only_prints_the_hard_set) {
    if (!file_exists("build/07_tokenizer")) cr_skip_test("build/07_tokenizer is not built");
    if (!file_exists(VOCAB)) cr_skip_test("the BERT vocab is not fetched");
    Fixture f = fixture_load(IDS_FIXTURE);
    int cased_n;
    for (int cased = 0; cased < 2; cased++) {
        char cmd[256];
        snprintf(cmd, sizeof cmd, "build/07_tokenizer --vocab " VOCAB "%s --ids_only < " HARD, cased ? " --cased" : "");
        FILE *p = popen(cmd, "r");
        cr_assert(p, "cannot run %s", cmd);
        char *line = NULL;
        size_t cap = 0;
        int i = 0, bad = 0;
        for (; getline(&line, &cap, p) > 0; i++) {
            int n;
            double *want = fixture_doubles(&f, key("hard_%s_%d", cased ? "cased" : "uncased", i), &n);
            int *ids = NULL;
            char *s = line, *e;
            for (long v = strtol(s, &e, 10); e != s; v = strtol(s, &e, 10)) {
                arrput(ids, (int)v);
                s = e;
            }
            if (!ids_equal(ids, (int)arrlen(ids), want, n)) bad++;
            arrfree(ids);
            free(want);
        }
        free(line);
        cr_expect_eq(pclose(p), 0, "%s failed", cmd);
        cr_expect_eq(bad, 0, "%s: %d lines differ", cmd, bad);
        double *count = fixture_doubles(&f, "hard_lines", &cased_n);
        cr_expect_eq(i, (int)count[0], "%s printed %d lines for %d", cmd, i, (int)count[0]);
        free(count);
    }
    fixture_free(&f);
}

Test(tokenizer, lesson_rejects_invalid_utf8_with_the_line) {
    if (!file_exists("build/07_tokenizer")) cr_skip_test("build/07_tokenizer is not built");
    if (!file_exists(VOCAB)) cr_skip_test("the BERT vocab is not fetched");
    FILE *p = popen(
        "printf 'fine\\nbad \\377 byte\\n' | build/07_tokenizer --vocab " VOCAB " --ids_only 2>&1 >/dev/null", "r");
    char msg[512] = "";
    cr_assert(fgets(msg, sizeof msg, p));
    int status = pclose(p);
    cr_expect_neq(status, 0, "invalid UTF-8 must fail");
    cr_expect(strstr(msg, "<stdin>:2: invalid UTF-8"), "the error names the line: %s", msg);
}

// ---- robustness ---------------------------------------------------------------------------

// Random bytes (mostly invalid UTF-8, brackets, multi-byte starts): tokenize never crashes and
// every id is a vocab id.
Test(tokenizer, random_bytes_never_crash) {
    Tokenizer *t = load(false);
    Rng r;
    rng_seed(&r, 7, 0);
    const char alphabet[] = "[]ab CLSEP#\t\n\xc3\xa9\xe2\x80\x8b\xf0\x9f\x98\x80\xff\xed\xa0\x80\xcc\x81";
    int *ids = NULL;
    char text[300];
    for (int k = 0; k < 20000; k++) {
        int n = (int)rng_below(&r, sizeof text);
        for (int i = 0; i < n; i++)
            text[i] = rng_below(&r, 4) ? alphabet[rng_below(&r, sizeof alphabet - 1)] : (char)rng_u32(&r);
        arrsetlen(ids, 0);
        tokenize_len(t, text, n, &ids);
        for (int i = 0; i < arrlen(ids); i++)
            cr_assert(ids[i] >= 0 && ids[i] < t->vocab_size, "id %d out of range", ids[i]);
    }
    arrfree(ids);
    tokenizer_free(t);
}
