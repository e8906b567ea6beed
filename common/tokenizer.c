// tokenizer.c — see tokenizer.h. Each stage mirrors a piece of Hugging Face `tokenizers`
// (normalizers::BertNormalizer, pre_tokenizers::BertPreTokenizer, models::WordPiece,
// processors::TemplateProcessing and the truncation/padding code); comments name them.
#include "common/tokenizer.h"

#include <cjson/cJSON.h>
#include <stb_ds.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "common/util.h"

// ---- character classes --------------------------------------------------------------------

// is_whitespace: Rust's char::is_whitespace (the Unicode White_Space property). Of those, the
// ones outside Zs/Zl/Zp (U+000B, U+000C, U+0085) are control characters and are dropped before
// this test is ever asked, so \t \n \r and the Z categories are all that remain.
static bool is_whitespace(int32_t c) {
    if (c < 0x80) return c == ' ' || (c >= '\t' && c <= '\r');
    if (c == 0x85) return true;
    utf8proc_category_t k = utf8proc_category(c);
    return k == UTF8PROC_CATEGORY_ZS || k == UTF8PROC_CATEGORY_ZL || k == UTF8PROC_CATEGORY_ZP;
}

// is_dropped: what BertNormalizer's clean_text removes: NUL, U+FFFD and every "other" character
// (Cc control, Cf format such as zero-width joiners, Co private use, Cn unassigned) except the
// \t \n \r that count as whitespace.
static bool is_dropped(int32_t c) {
    if (c < 0x80) return (c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f;
    if (c == 0xfffd) return true;
    switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_CC: case UTF8PROC_CATEGORY_CF: case UTF8PROC_CATEGORY_CO:
        return true;
    default:
        return false;
    }
}

// is_punctuation: BERT's rule: every non-alphanumeric printable ASCII character ($ + < = > ^ ` |
// ~ included, though Unicode calls them symbols), and every Unicode punctuation category P*.
static bool is_punctuation(int32_t c) {
    if (c < 0x80) return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126);
    utf8proc_category_t k = utf8proc_category(c);
    return k >= UTF8PROC_CATEGORY_PC && k <= UTF8PROC_CATEGORY_PO;
}

// is_cjk: the CJK Unified Ideographs blocks BERT splits into single characters (Japanese kana
// and Korean Hangul are not in them and are tokenized like any other letters).
static bool is_cjk(int32_t c) {
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
           (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

// lower: Rust's char::to_lowercase. It equals Unicode's simple lower-case mapping except for
// U+0130 (capital I with dot above), whose full mapping is two characters, i + U+0307.
static int lower(int32_t c, int32_t *out) {
    if (c < 0x80) { out[0] = (c >= 'A' && c <= 'Z') ? c + 32 : c; return 1; }
    if (c == 0x130) { out[0] = 'i'; out[1] = 0x307; return 2; }
    out[0] = utf8proc_tolower(c);
    return 1;
}

// ---- stage 2: normalize -------------------------------------------------------------------

// normalize_char: one input character through BertNormalizer, in its order: clean_text,
// handle_chinese_chars, strip_accents (NFD, drop Mn), lowercase. Writes at most 3 + 3*18
// code points; returns how many.
static int normalize_char(const Tokenizer *t, int32_t c, int32_t *out) {
    if (is_dropped(c)) return 0;
    if (is_whitespace(c)) { out[0] = ' '; return 1; }
    int n = 0;
    bool cjk = t->tokenize_chinese_chars && is_cjk(c);
    if (cjk) out[n++] = ' ';
    int32_t d[18];
    int nd = 1;
    d[0] = c;
    if (t->strip_accents && c >= 0x80) {
        int last = 0;   // boundclass state, unused for a single character
        nd = (int)utf8proc_decompose_char(c, d, ARRAY_LEN(d), UTF8PROC_DECOMPOSE, &last);
    }
    for (int i = 0; i < nd; i++) {
        if (t->strip_accents && utf8proc_category(d[i]) == UTF8PROC_CATEGORY_MN) continue;
        if (t->do_lower_case) n += lower(d[i], out + n);
        else out[n++] = d[i];
    }
    if (cjk) out[n++] = ' ';
    return n;
}

static int ccc(int32_t c) { return c < 0x300 ? 0 : utf8proc_get_property(c)->combining_class; }

// canonical_order: NFD's last step: within each run of combining characters (combining class
// > 0), a stable sort by class. Marks that strip_accents drops were never written, and removing
// elements from a stable sort leaves the others in sorted order, so sorting what is left is
// the same as sorting before dropping.
static void canonical_order(int32_t *cp, long n) {
    for (long i = 1; i < n; i++) {
        int k = ccc(cp[i]);
        if (k == 0) continue;
        for (long j = i; j > 0 && ccc(cp[j - 1]) > k; j--) {
            int32_t tmp = cp[j - 1]; cp[j - 1] = cp[j]; cp[j] = tmp;
        }
    }
}

// next_char: decode one UTF-8 character at s[*i] and advance; an invalid byte is skipped and
// reported as U+FFFD (which normalize then drops, like transformers after errors="replace").
static int32_t next_char(const char *s, int len, int *i) {
    unsigned char b = (unsigned char)s[*i];
    if (b < 0x80) { (*i)++; return b; }
    utf8proc_int32_t c;
    utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + *i, len - *i, &c);
    if (k <= 0) { (*i)++; return 0xfffd; }
    *i += (int)k;
    return c;
}

// normalize_into: stage 2 of s[0..len), appended to the stb_ds byte array *out (not NUL-terminated).
static void normalize_into(const Tokenizer *t, const char *s, int len, char **out, int32_t **cps) {
    arrsetlen(*cps, 0);
    int32_t buf[64];
    for (int i = 0; i < len;) {
        int n = normalize_char(t, next_char(s, len, &i), buf);
        for (int k = 0; k < n; k++) arrput(*cps, buf[k]);
    }
    if (t->strip_accents) canonical_order(*cps, arrlen(*cps));
    for (long k = 0; k < arrlen(*cps); k++) {
        int32_t c = (*cps)[k];
        if (c < 0x80) { arrput(*out, (char)c); continue; }
        utf8proc_uint8_t u[4];
        int nb = (int)utf8proc_encode_char(c, u);
        memcpy(arraddnptr(*out, nb), u, (size_t)nb);
    }
}

char *tokenizer_normalize(const Tokenizer *t, const char *text, int len) {
    char *norm = NULL;
    int32_t *cps = NULL;
    normalize_into(t, text, len, &norm, &cps);
    long n = arrlen(norm);
    char *s = xmalloc((size_t)n + 1);
    if (n) memcpy(s, norm, (size_t)n);
    s[n] = '\0';
    arrfree(norm);
    arrfree(cps);
    return s;
}

// ---- stage 3: pre-tokenize ----------------------------------------------------------------

int pretokenize(const char *s, int len, Span **words) {
    long n0 = arrlen(*words);
    int start = -1;   // start of the word being read, -1 when between words
    for (int i = 0; i < len;) {
        int at = i;
        int32_t c = next_char(s, len, &i);
        bool space = is_whitespace(c), punct = !space && is_punctuation(c);
        if ((space || punct) && start >= 0) {
            arrput(*words, ((Span){start, at - start}));
            start = -1;
        }
        if (punct) arrput(*words, ((Span){at, i - at}));
        else if (!space && start < 0) start = at;
    }
    if (start >= 0) arrput(*words, ((Span){start, len - start}));
    return (int)(arrlen(*words) - n0);
}

// ---- stage 4: WordPiece -------------------------------------------------------------------

static int utf8_chars(const char *s, int len) {
    int n = 0;
    for (int i = 0; i < len; i++) n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

// lookup: the id of "##"s[0..len) (continuation) or s[0..len), or -1.
static int lookup(const Tokenizer *t, const char *s, int len, bool continuation, char *key) {
    int p = continuation ? 2 : 0;
    memcpy(key, "##", (size_t)p);
    memcpy(key + p, s, (size_t)len);
    key[p + len] = '\0';
    return tokenizer_id(t, key);
}

// wordpiece: greedy longest match, as models::WordPiece: from `start`, the longest piece that
// is in the vocab ("##"-prefixed after the first) is taken and matching resumes after it.
// Pieces longer than the longest vocab token cannot match, so they are not tried.
int wordpiece(const Tokenizer *t, const char *w, int len, int **ids) {
    long n0 = arrlen(*ids);
    if (utf8_chars(w, len) > t->max_input_chars_per_word) { arrput(*ids, t->unk_id); return 1; }
    char key[256];   // max_token_bytes < 254 is checked at load
    for (int start = 0; start < len;) {
        int end = len;
        if (end - start > t->max_token_bytes) {
            end = start + t->max_token_bytes;
            while (((unsigned char)w[end] & 0xC0) == 0x80) end--;   // back to a character start
        }
        int id = -1;
        while (end > start) {
            id = lookup(t, w + start, end - start, start > 0, key);
            if (id >= 0) break;
            do end--; while (end > start && ((unsigned char)w[end] & 0xC0) == 0x80);
        }
        if (id < 0) {   // no piece of the rest is in the vocab: the whole word is [UNK]
            arrsetlen(*ids, n0);
            arrput(*ids, t->unk_id);
            return 1;
        }
        arrput(*ids, id);
        start = end;
    }
    return (int)(arrlen(*ids) - n0);
}

// ---- stage 1 and all together -------------------------------------------------------------

static const char *const SPECIAL_NAMES[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};

// special_at: the id of the special token starting at s (and its length in *len), or -1.
static int special_at(const Tokenizer *t, const char *s, int *len) {
    const int ids[] = {t->pad_id, t->unk_id, t->cls_id, t->sep_id, t->mask_id};
    for (size_t k = 0; k < ARRAY_LEN(SPECIAL_NAMES); k++) {
        int n = (int)strlen(SPECIAL_NAMES[k]);
        if (ids[k] >= 0 && !strncmp(s, SPECIAL_NAMES[k], (size_t)n)) { *len = n; return ids[k]; }
    }
    return -1;
}

typedef struct { char *norm; int32_t *cps; Span *words; } Scratch;

static void tokenize_segment(const Tokenizer *t, const char *s, int len, int **ids, Scratch *sc) {
    if (len == 0) return;
    arrsetlen(sc->norm, 0);
    arrsetlen(sc->words, 0);
    normalize_into(t, s, len, &sc->norm, &sc->cps);
    int nw = pretokenize(sc->norm, (int)arrlen(sc->norm), &sc->words);
    for (int w = 0; w < nw; w++) wordpiece(t, sc->norm + sc->words[w].start, sc->words[w].len, ids);
}

int tokenize(const Tokenizer *t, const char *text, int **ids) {
    long n0 = arrlen(*ids);
    Scratch sc = {0};
    const char *seg = text;
    for (const char *p = strchr(text, '['); p; p = strchr(p, '[')) {
        int len, id = special_at(t, p, &len);
        if (id < 0) { p++; continue; }
        tokenize_segment(t, seg, (int)(p - seg), ids, &sc);
        arrput(*ids, id);
        seg = p += len;
    }
    tokenize_segment(t, seg, (int)strlen(seg), ids, &sc);
    arrfree(sc.norm);
    arrfree(sc.cps);
    arrfree(sc.words);
    return (int)(arrlen(*ids) - n0);
}

// ---- loading ------------------------------------------------------------------------------

TokenizerOptions tokenizer_default_options(void) {
    return (TokenizerOptions){.do_lower_case = true, .strip_accents = -1, .tokenize_chinese_chars = true};
}

static int required_id(const Tokenizer *t, const char *token, const char *path) {
    int id = tokenizer_id(t, token);
    if (id < 0) die("%s: the vocab has no %s token", path, token);
    return id;
}

Tokenizer *tokenizer_load(const char *path, const TokenizerOptions *opt) {
    TokenizerOptions o = opt ? *opt : tokenizer_default_options();
    size_t len;
    char *text = read_file(path, &len);
    Tokenizer *t = xcalloc(1, sizeof(Tokenizer));
    t->do_lower_case = o.do_lower_case;
    t->strip_accents = o.strip_accents < 0 ? o.do_lower_case : o.strip_accents;
    t->tokenize_chinese_chars = o.tokenize_chinese_chars;
    t->max_input_chars_per_word = 100;
    sh_new_arena(t->vocab);
    // Line i (without its '\n') is token i, as transformers' load_vocab reads it; a repeated
    // token keeps its last id, as a Python dict would.
    int cap = 0;
    for (size_t s = 0; s < len;) {
        char *nl = memchr(text + s, '\n', len - s);
        size_t e = nl ? (size_t)(nl - text) : len;
        if (e > s && text[e - 1] == '\r') text[e - 1] = '\0';
        text[e] = '\0';
        if (!utf8_valid(text + s, (long)strlen(text + s))) die("%s:%d: invalid UTF-8", path, t->vocab_size + 1);
        size_t n = strlen(text + s);
        if (n > 250) die("%s:%d: token of %zu bytes (vocab tokens are short words)", path, t->vocab_size + 1, n);
        if (t->vocab_size == cap) t->tokens = xrealloc(t->tokens, sizeof(char *) * (size_t)(cap = cap ? 2 * cap : 32768));
        t->tokens[t->vocab_size] = xstrdup(text + s);
        shput(t->vocab, text + s, t->vocab_size);
        if ((int)n > t->max_token_bytes) t->max_token_bytes = (int)n;
        t->vocab_size++;
        s = e + 1;
    }
    free(text);
    if (t->vocab_size == 0) die("%s: empty vocab", path);
    t->unk_id = required_id(t, "[UNK]", path);
    t->cls_id = required_id(t, "[CLS]", path);
    t->sep_id = required_id(t, "[SEP]", path);
    t->pad_id = required_id(t, "[PAD]", path);
    t->mask_id = tokenizer_id(t, "[MASK]");
    return t;
}

// json_bool: a boolean member of obj, or `dflt` when absent or null.
static int json_bool(const cJSON *obj, const char *key, int dflt, const char *path) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v || cJSON_IsNull(v)) return dflt;
    if (!cJSON_IsBool(v)) die("%s: \"%s\" must be true, false or null", path, key);
    return cJSON_IsTrue(v);
}

Tokenizer *tokenizer_from_pretrained(const char *dir) {
    char *vocab = path_join(dir, "vocab.txt"), *config = path_join(dir, "tokenizer_config.json");
    if (!file_exists(vocab)) die("%s: no vocab.txt (a BERT checkpoint directory has config.json, model.safetensors, vocab.txt)", dir);
    TokenizerOptions o = tokenizer_default_options();
    int model_max_length = 0;
    if (file_exists(config)) {
        char *text = read_file(config, NULL);
        cJSON *j = cJSON_Parse(text);
        if (!j || !cJSON_IsObject(j)) die("%s: not a JSON object", config);
        o.do_lower_case = json_bool(j, "do_lower_case", o.do_lower_case, config);
        o.strip_accents = json_bool(j, "strip_accents", o.strip_accents, config);
        o.tokenize_chinese_chars = json_bool(j, "tokenize_chinese_chars", o.tokenize_chinese_chars, config);
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "model_max_length");
        // transformers writes a huge number (1e30) when the model sets no limit.
        if (cJSON_IsNumber(m) && m->valuedouble >= 1 && m->valuedouble < 1e9) model_max_length = (int)m->valuedouble;
        cJSON_Delete(j);
        free(text);
    }
    Tokenizer *t = tokenizer_load(vocab, &o);
    t->model_max_length = model_max_length;
    free(vocab);
    free(config);
    return t;
}

void tokenizer_free(Tokenizer *t) {
    if (!t) return;
    for (int i = 0; i < t->vocab_size; i++) free(t->tokens[i]);
    free(t->tokens);
    shfree(t->vocab);
    free(t);
}

// stb_ds's shgeti writes a scratch field inside the table; the _ts form used here does not, so
// several threads may tokenize with one Tokenizer.
int tokenizer_id(const Tokenizer *t, const char *token) {
    ptrdiff_t at;
    stbds_hmget_key_ts(t->vocab, sizeof *t->vocab, (void *)token, sizeof t->vocab->key, &at, STBDS_HM_STRING);
    return at < 0 ? -1 : t->vocab[at].value;
}

const char *tokenizer_token(const Tokenizer *t, int id) {
    if (id < 0 || id >= t->vocab_size) die("token id %d is outside the vocab (0..%d)", id, t->vocab_size - 1);
    return t->tokens[id];
}

// ---- data sets ----------------------------------------------------------------------------

// tokenize_all: texts[0..n) into one id array with offsets.
static void tokenize_all(const Tokenizer *t, const char *const *texts, int n, int **ids, int **off) {
    int *all = NULL;
    *off = xmalloc(sizeof(int) * (size_t)(n + 1));
    for (int i = 0; i < n; i++) {
        (*off)[i] = (int)arrlen(all);
        tokenize(t, texts[i], &all);
    }
    (*off)[n] = (int)arrlen(all);
    *ids = xmalloc(sizeof(int) * (size_t)((*off)[n] + 1));
    memcpy(*ids, all, sizeof(int) * (size_t)(*off)[n]);
    arrfree(all);
}

TokenizedSet tokenize_texts(const Tokenizer *t, const char *const *a, const char *const *b, int n) {
    TokenizedSet s = {.n = n};
    tokenize_all(t, a, n, &s.ids_a, &s.off_a);
    if (b) tokenize_all(t, b, n, &s.ids_b, &s.off_b);
    return s;
}

TokenizedSet tokenize_dataset(const Tokenizer *t, const TextDataset *d) {
    return tokenize_texts(t, (const char *const *)d->text, (const char *const *)d->text_b, d->n);
}

void tokenized_set_free(TokenizedSet *s) {
    free(s->ids_a); free(s->off_a); free(s->ids_b); free(s->off_b);
    *s = (TokenizedSet){0};
}

// ---- encoding -----------------------------------------------------------------------------

int truncated_lengths(const TokenizedSet *s, int i, const EncodeOptions *o, int *keep_a, int *keep_b) {
    int na = s->off_a[i + 1] - s->off_a[i];
    int nb = s->ids_b ? s->off_b[i + 1] - s->off_b[i] : 0;
    int specials = s->ids_b ? 3 : 2;
    *keep_a = na;
    *keep_b = nb;
    if (o->max_length > 0 && na + nb + specials > o->max_length) {
        int m = o->max_length - specials;   // places for text
        if (m < 0) die("max_length %d leaves no room for the %d special tokens", o->max_length, specials);
        if (!s->ids_b) *keep_a = m;
        else {   // tokenizers' truncate_encodings, LongestFirst
            int shorter = na < nb ? na : nb, longer;
            longer = shorter > m ? shorter : (shorter > m - shorter ? shorter : m - shorter);
            if (shorter + longer > m) { shorter = m / 2; longer = shorter + m % 2; }
            if (na > nb) { *keep_a = longer; *keep_b = shorter; }
            else { *keep_a = shorter; *keep_b = longer; }
        }
    }
    return *keep_a + *keep_b + specials;
}

static void batch_reserve(Batch *b, long n) {
    if (n <= b->cap) return;
    b->input_ids = xrealloc(b->input_ids, sizeof(int) * (size_t)n);
    b->token_type_ids = xrealloc(b->token_type_ids, sizeof(int) * (size_t)n);
    b->attention_mask = xrealloc(b->attention_mask, sizeof(int) * (size_t)n);
    b->cap = n;
}

// Row layout (processors::TemplateProcessing for BERT):  [CLS] a [SEP]        types 0..0
//                                                                 b [SEP]  types 1..1
void collate(const Tokenizer *t, const TokenizedSet *s, const int *rows, int B, const EncodeOptions *o, Batch *out) {
    out->length = xrealloc(out->length, sizeof(int) * (size_t)(B > 0 ? B : 1));
    int T = 0;
    for (int r = 0; r < B; r++) {
        int ka, kb;
        out->length[r] = truncated_lengths(s, rows[r], o, &ka, &kb);
        if (out->length[r] > T) T = out->length[r];
    }
    if (o->pad_to_max_length) {
        if (o->max_length <= 0) die("padding to max_length needs a max_length");
        T = o->max_length;
    }
    if (o->pad_to_multiple_of > 0) T = (T + o->pad_to_multiple_of - 1) / o->pad_to_multiple_of * o->pad_to_multiple_of;
    out->B = B;
    out->T = T;
    batch_reserve(out, (long)B * T);
    for (int r = 0; r < B; r++) {
        int i = rows[r], ka, kb;
        int n = truncated_lengths(s, i, o, &ka, &kb);
        int pad = T - n, at = o->padding_left ? pad : 0;
        int *ids = out->input_ids + (long)r * T, *type = out->token_type_ids + (long)r * T, *mask = out->attention_mask + (long)r * T;
        for (int k = 0; k < T; k++) { ids[k] = t->pad_id; type[k] = 0; mask[k] = 0; }
        ids[at++] = t->cls_id;
        memcpy(ids + at, s->ids_a + s->off_a[i], sizeof(int) * (size_t)ka);
        at += ka;
        ids[at++] = t->sep_id;
        if (s->ids_b) {
            memcpy(ids + at, s->ids_b + s->off_b[i], sizeof(int) * (size_t)kb);
            for (int k = at; k < at + kb + 1; k++) type[k] = 1;
            at += kb;
            ids[at++] = t->sep_id;
        }
        for (int k = at - n; k < at; k++) mask[k] = 1;
    }
}

void batch_free(Batch *b) {
    free(b->input_ids); free(b->token_type_ids); free(b->attention_mask); free(b->length);
    *b = (Batch){0};
}

// ---- group_by_length ----------------------------------------------------------------------

typedef struct { int length, pos, index; } Ranked;

// longest first; equal lengths keep their order (Python's sorted is stable)
static int cmp_longest_first(const void *pa, const void *pb) {
    const Ranked *a = pa, *b = pb;
    if (a->length != b->length) return b->length - a->length;
    return a->pos - b->pos;
}

// transformers' get_length_grouped_indices, with the epoch's permutation given.
void group_by_length(const int *lengths, int n, int batch_size, const int *perm, int *order) {
    int mult = n / (batch_size * 4);
    if (mult > 50) mult = 50;
    if (mult == 0) mult = 1;
    int mega = mult * batch_size, best = 0;
    Ranked *r = xmalloc(sizeof(Ranked) * (size_t)(mega > n ? mega : n) + 1);
    for (int start = 0; start < n; start += mega) {
        int m = n - start < mega ? n - start : mega;
        for (int k = 0; k < m; k++) r[k] = (Ranked){lengths[perm[start + k]], k, perm[start + k]};
        qsort(r, (size_t)m, sizeof(Ranked), cmp_longest_first);
        for (int k = 0; k < m; k++) order[start + k] = r[k].index;
        if (lengths[order[start]] > lengths[order[best]]) best = start;   // first maximum, as torch.argmax
    }
    free(r);
    int tmp = order[0]; order[0] = order[best]; order[best] = tmp;
}
