// batch.h — from labelled text to model input: a data set tokenized once, then padded batches.
// Introduced by lesson 07 (truncation, padding); lessons 10-16 and the trainer feed BERT through it.
//
// Tokenizing (common/text/tokenizer.h) turns one text into word-piece ids; batching, here, turns
// the ids of B examples into what BERT's forward pass takes: [CLS] a [SEP] (b [SEP]), truncated to
// max_length, padded to a common T, with token types, attention mask and the examples' labels.
//
//     DatasetOptions d = dataset_default_options();
//     d.max_samples = 1000;                                     // the first 1000 rows (0: all)
//     TextDataset train = dataset_load("train.tsv", &d);
//     TokenizedSet s = tokenize_dataset(tok, &train);           // once: ids and labels of every example
//     EncodeOptions o = {.max_length = 128};                    // truncate to 128, dynamic padding
//     Batch b = {0};
//     collate(tok, &s, order + start, B, &o, &b);               // each step: b.input_ids (B,T), b.labels (B)
//     ...
//     batch_free(&b), tokenized_set_free(&s);
#pragma once
#include <stdbool.h>

#include "common/text/dataset.h"
#include "common/text/tokenizer.h"

typedef struct {
    int max_length;          // max_seq_length: at most this many tokens per example, [CLS]/[SEP]
                             // included; longer ones are truncated (longest_first for pairs).
                             // 0 = no truncation
    bool pad_to_max_length;  // padding="max_length": T = max_length; false: T = the longest
                             // example in the batch (dynamic padding, DataCollatorWithPadding)
    int pad_to_multiple_of;  // round T up to a multiple of this (0 = no rounding); max_length
                             // must then be a multiple of it too, as transformers requires
    bool padding_left;       // padding_side="left": pads before the tokens instead of after
} EncodeOptions;

// Every example of a data set tokenized once (stage 1-4 ids, no specials, not truncated):
// example i's ids are ids_a[off_a[i] .. off_a[i+1]) (and the same for b with pairs), its class
// label[i].
typedef struct {
    int n;
    int *ids_a, *off_a;  // (total), (n+1)
    int *ids_b, *off_b;  // NULL for single sentences
    int *label;          // (n) class ids; NULL when the examples have none (a predict file, bare texts)
} TokenizedSet;

// tokenize_dataset: every example of d, with its label when d has a label column.
TokenizedSet tokenize_dataset(const Tokenizer *t, const TextDataset *d);
// tokenize_texts: the same from arrays of strings (b may be NULL), without labels.
TokenizedSet tokenize_texts(const Tokenizer *t, const char *const *a, const char *const *b, int n);
void tokenized_set_free(TokenizedSet *s);
// truncated_lengths: how many of a's and b's ids example i keeps under o->max_length, with the
// Rust tokenizer's longest_first rule for pairs: with m = max_length - 3 places, a shorter text
// that fits in half of m is kept whole and the longer one gets the rest; otherwise both are cut
// to half, the longer one (b on a tie) getting the odd place. A single text keeps max_length - 2.
// Returns the example's length with [CLS]/[SEP].
int truncated_lengths(const TokenizedSet *s, int i, const EncodeOptions *o, int *keep_a, int *keep_b);

// A batch of B examples padded to T tokens: exactly what BERT's forward pass takes.
typedef struct {
    int B, T;
    int *input_ids;       // (B,T) token ids; [PAD] where attention_mask is 0
    int *token_type_ids;  // (B,T) 0 for [CLS] a [SEP], 1 for b [SEP], 0 for padding
    int *attention_mask;  // (B,T) 1 for real tokens, 0 for padding
    int *length;          // (B) real tokens in each row (the sum of its mask)
    int *labels;          // (B) each row's class id; NULL when the set has no labels
    long cap;             // elements allocated per (B,T) array; collate reuses them
} Batch;

// collate: examples rows[0..B) of s as one padded batch, with their labels (out's arrays are
// reused and grown).
void collate(const Tokenizer *t, const TokenizedSet *s, const int *rows, int B, const EncodeOptions *o, Batch *out);
void batch_free(Batch *b);
// batch_labels: b->labels for a loss (die when the batch has none: its set was unlabelled).
const int *batch_labels(const Batch *b);

// group_by_length: Hugging Face's group_by_length order (LengthGroupedSampler). `perm` is the
// epoch's random order (epoch_order); it is cut into mega-batches of
// min(n / (4*batch_size), 50) batches (at least 1), each sorted by length, longest first
// (stable), and the longest example overall is moved to the very first position, so an
// out-of-memory shows up at step 1. lengths: (n) encoded lengths; order: (n) output.
void group_by_length(const int *lengths, int n, int batch_size, const int *perm, int *order);

// padded_tokens: the tokens a model processes in one epoch when batches of `batch` follow
// `order` (n examples of lengths len) and each batch is padded to its longest row (or to `fixed`
// when > 0). Lesson 07 compares padding strategies with it, lesson 15 their memory.
long padded_tokens(const int *len, const int *order, int n, int batch, int fixed);
