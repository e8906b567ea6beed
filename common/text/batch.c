// batch.c — see batch.h. The row layout and the truncation rule mirror Hugging Face `tokenizers`
// (processors::TemplateProcessing, truncate_encodings); comments name them.
#include "common/text/batch.h"

#include <stb_ds.h>
#include <stdlib.h>
#include <string.h>

#include "common/core/util.h"

// ---- data sets in token form --------------------------------------------------------------

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
    if ((*off)[n]) memcpy(*ids, all, sizeof(int) * (size_t)(*off)[n]);
    arrfree(all);
}

TokenizedSet tokenize_texts(const Tokenizer *t, const char *const *a, const char *const *b, int n) {
    TokenizedSet s = {.n = n};
    tokenize_all(t, a, n, &s.ids_a, &s.off_a);
    if (b) tokenize_all(t, b, n, &s.ids_b, &s.off_b);
    return s;
}

TokenizedSet tokenize_dataset(const Tokenizer *t, const TextDataset *d) {
    TokenizedSet s = tokenize_texts(t, (const char *const *)d->text, (const char *const *)d->text_b, d->n);
    if (d->label) {
        s.label = xmalloc(sizeof(int) * (size_t)(d->n ? d->n : 1));
        memcpy(s.label, d->label, sizeof(int) * (size_t)d->n);
    }
    return s;
}

void tokenized_set_free(TokenizedSet *s) {
    free(s->ids_a);
    free(s->off_a);
    free(s->ids_b);
    free(s->off_b);
    free(s->label);
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
        int m = o->max_length - specials;  // places for text
        if (m < 0) die("max_length %d leaves no room for the %d special tokens", o->max_length, specials);
        if (!s->ids_b) *keep_a = m;
        else {  // tokenizers' truncate_encodings, LongestFirst
            int shorter = na < nb ? na : nb, longer;
            longer = shorter > m ? shorter : (shorter > m - shorter ? shorter : m - shorter);
            if (shorter + longer > m) {
                shorter = m / 2;
                longer = shorter + m % 2;
            }
            if (na > nb) {
                *keep_a = longer;
                *keep_b = shorter;
            } else {
                *keep_a = shorter;
                *keep_b = longer;
            }
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
// gather_labels: out->labels[r] = s->label[rows[r]], or no labels when the set has none.
static void gather_labels(const TokenizedSet *s, const int *rows, int B, Batch *out) {
    if (!s->label) {
        free(out->labels);
        out->labels = NULL;
        return;
    }
    out->labels = xrealloc(out->labels, sizeof(int) * (size_t)(B > 0 ? B : 1));
    for (int r = 0; r < B; r++) out->labels[r] = s->label[rows[r]];
}

void collate(const Tokenizer *t, const TokenizedSet *s, const int *rows, int B, const EncodeOptions *o, Batch *out) {
    out->length = xrealloc(out->length, sizeof(int) * (size_t)(B > 0 ? B : 1));
    gather_labels(s, rows, B, out);
    int T = 0;
    for (int r = 0; r < B; r++) {
        int ka, kb;
        out->length[r] = truncated_lengths(s, rows[r], o, &ka, &kb);
        if (out->length[r] > T) T = out->length[r];
    }
    if (o->pad_to_multiple_of > 0 && o->max_length > 0 && o->max_length % o->pad_to_multiple_of)
        die("max_length %d is not a multiple of pad_to_multiple_of %d", o->max_length, o->pad_to_multiple_of);
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
        int *ids = out->input_ids + (long)r * T, *type = out->token_type_ids + (long)r * T,
            *mask = out->attention_mask + (long)r * T;
        for (int k = 0; k < T; k++) {
            ids[k] = t->pad_id;
            type[k] = 0;
            mask[k] = 0;
        }
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
    free(b->input_ids);
    free(b->token_type_ids);
    free(b->attention_mask);
    free(b->length);
    free(b->labels);
    *b = (Batch){0};
}

const int *batch_labels(const Batch *b) {
    if (!b->labels) die("a loss needs labels, and this batch has none (its examples were read without a label column)");
    return b->labels;
}

// ---- group_by_length ----------------------------------------------------------------------

typedef struct {
    int length, pos, index;
} Ranked;

// longest first; equal lengths keep their order (Python's sorted is stable)
static int cmp_longest_first(const void *pa, const void *pb) {
    const Ranked *a = pa, *b = pb;
    if (a->length != b->length) return b->length - a->length;
    return a->pos - b->pos;
}

// transformers' get_length_grouped_indices, with the epoch's permutation given.
void group_by_length(const int *lengths, int n, int batch_size, const int *perm, int *order) {
    if (batch_size < 1) die("group_by_length: batch size %d", batch_size);
    if (n <= 0) return;
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
        if (lengths[order[start]] > lengths[order[best]]) best = start;  // first maximum, as torch.argmax
    }
    free(r);
    int tmp = order[0];
    order[0] = order[best];
    order[best] = tmp;
}

long padded_tokens(const int *len, const int *order, int n, int batch, int fixed) {
    long total = 0;
    for (int s = 0; s < n; s += batch) {
        int m = 0, e = s + batch < n ? s + batch : n;
        for (int i = s; i < e; i++) m = len[order[i]] > m ? len[order[i]] : m;
        total += (long)(e - s) * (fixed > 0 ? fixed : m);
    }
    return total;
}
