// tokenizer.h — BERT's WordPiece tokenizer (text -> ids) and batching (ids -> model input).
// Introduced by lesson 07; lessons 10-16 and the trainer feed BERT through it.
//
// The ids are those of Hugging Face transformers' BertTokenizer for the same vocab.txt and
// options (in transformers 5, BertTokenizer and BertTokenizerFast are one class: the Rust
// `tokenizers` pipeline). tests/test_tokenizer.c checks this line by line on SST-2, SST-5, TREC
// and a hard set. The stages, in order:
//   1. special tokens ([CLS] [SEP] [PAD] [MASK] [UNK], matched case-sensitively in the raw text)
//      are cut out first and never split;
//   2. normalize: drop NUL, U+FFFD and control/format characters, whitespace -> ' ', spaces
//      around CJK ideographs, strip accents (NFD, drop non-spacing marks Mn), lower-case;
//   3. pre-tokenize: split on whitespace, every punctuation character is a word of its own;
//   4. WordPiece: each word -> the longest vocab prefix, then "##"-prefixed longest pieces of
//      the rest; a word with an unmatchable rest, or over 100 characters, is one [UNK].
// Decomposition (NFD) and case mapping come from utf8proc; which characters count as control,
// punctuation or accent is read from common/text/tokenizer_tables.h, the Unicode 8.0 tables that the
// Rust tokenizer uses (tests/gen_tokenizer_tables.py explains why and regenerates them).
// Invalid UTF-8 bytes are dropped, which is exactly what transformers does with text decoded
// with errors="replace" (U+FFFD is removed in stage 2); the data loaders reject such files
// with file:line instead.
//
// Feeding a model (lessons 10-16):
//     Tokenizer *tok = tokenizer_from_pretrained("data/cache/models/all-MiniLM-L6-v2");
//     TokenizedSet s = tokenize_dataset(tok, &train);      // once: ids of every example
//     EncodeOptions o = {.max_length = 128};                // truncate to 128, dynamic padding
//     Batch b = {0};
//     collate(tok, &s, order + start, B, &o, &b);           // each step: b.input_ids (B,T) ...
//
// Lists of ids and words are stb_ds dynamic arrays (`int *ids = NULL; tokenize(t, s, &ids);
// arrlen(ids); arrfree(ids);`); the functions append to them.
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "common/text/dataset.h"

typedef struct {
    char *key;
    int value;
} VocabEntry;  // stb_ds string hash map: token -> id

typedef struct {
    bool do_lower_case;           // lower-case the text (uncased checkpoints); default true
    int strip_accents;            // 1 strip, 0 keep, -1 = same as do_lower_case (transformers' None); default -1
    bool tokenize_chinese_chars;  // spaces around CJK ideographs; default true
} TokenizerOptions;

typedef struct {
    int vocab_size;     // lines in vocab.txt (= rows of the embedding matrix)
    char **tokens;      // (vocab_size) id -> token; line i of vocab.txt is id i
    VocabEntry *vocab;  // stb_ds map token -> id
    bool do_lower_case, strip_accents, tokenize_chinese_chars;
    int max_input_chars_per_word;                 // 100: longer words become [UNK]
    int max_token_bytes;                          // the longest vocab token, "##" included: no longer piece is tried
    int unk_id, cls_id, sep_id, pad_id, mask_id;  // mask_id is -1 when the vocab has no [MASK]
    int model_max_length;                         // from tokenizer_config.json, 0 when unknown
} Tokenizer;

TokenizerOptions tokenizer_default_options(void);
// tokenizer_load: a vocab.txt (one token per line); opt NULL = defaults (uncased). A vocab
// without [UNK], [CLS], [SEP] or [PAD], or with invalid UTF-8, is an error naming file and line.
Tokenizer *tokenizer_load(const char *vocab_path, const TokenizerOptions *opt);
// tokenizer_from_pretrained: DIR/vocab.txt with the options of DIR/tokenizer_config.json
// (do_lower_case, strip_accents, tokenize_chinese_chars, model_max_length) when it exists.
Tokenizer *tokenizer_from_pretrained(const char *model_dir);
void tokenizer_free(Tokenizer *t);
// tokenizer_id: the id of a token, or -1 when it is not in the vocab.
int tokenizer_id(const Tokenizer *t, const char *token);
// tokenizer_token: the token of an id (die when out of range).
const char *tokenizer_token(const Tokenizer *t, int id);

// ---- the stages (lesson 07 prints each) ---------------------------------------------------

typedef struct {
    int start, len;
} Span;  // bytes [start, start+len) of a string

// tokenizer_normalize: stage 2 on text without special tokens; a new string (free it).
char *tokenizer_normalize(const Tokenizer *t, const char *text, int len);
// pretokenize: stage 3 on a normalized string; appends its words to *words; returns how many.
int pretokenize(const char *normalized, int len, Span **words);
// wordpiece: stage 4 on one word; appends its ids to *ids; returns how many.
int wordpiece(const Tokenizer *t, const char *word, int len, int **ids);
// tokenize: stages 1-4 on raw text: the word-piece ids, without [CLS]/[SEP]; returns how many
// were appended to *ids.
int tokenize(const Tokenizer *t, const char *text, int **ids);
// tokenize_len: the same for text[0..len), which may hold NUL characters (they are dropped).
int tokenize_len(const Tokenizer *t, const char *text, int len, int **ids);

// ---- encoding: [CLS] a [SEP] (b [SEP]), truncation, padding, masks ------------------------

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

// A batch of B examples padded to T tokens: exactly what BERT's forward pass takes.
typedef struct {
    int B, T;
    int *input_ids;       // (B,T) token ids; [PAD] where attention_mask is 0
    int *token_type_ids;  // (B,T) 0 for [CLS] a [SEP], 1 for b [SEP], 0 for padding
    int *attention_mask;  // (B,T) 1 for real tokens, 0 for padding
    int *length;          // (B) real tokens in each row (the sum of its mask)
    long cap;             // elements allocated per array; collate reuses them
} Batch;

// Every example of a data set tokenized once (stage 1-4 ids, no specials, not truncated):
// example i's ids are ids_a[off_a[i] .. off_a[i+1]) (and the same for b with pairs).
typedef struct {
    int n;
    int *ids_a, *off_a;  // (total), (n+1)
    int *ids_b, *off_b;  // NULL for single sentences
} TokenizedSet;

TokenizedSet tokenize_dataset(const Tokenizer *t, const TextDataset *d);
// tokenize_texts: the same from arrays of strings (b may be NULL).
TokenizedSet tokenize_texts(const Tokenizer *t, const char *const *a, const char *const *b, int n);
void tokenized_set_free(TokenizedSet *s);
// truncated_lengths: how many of a's and b's ids example i keeps under o->max_length, with the
// Rust tokenizer's longest_first rule for pairs: with m = max_length - 3 places, a shorter text
// that fits in half of m is kept whole and the longer one gets the rest; otherwise both are cut
// to half, the longer one (b on a tie) getting the odd place. A single text keeps max_length - 2.
// Returns the example's length with [CLS]/[SEP].
int truncated_lengths(const TokenizedSet *s, int i, const EncodeOptions *o, int *keep_a, int *keep_b);
// collate: examples rows[0..B) of s as one padded batch (out's arrays are reused and grown).
void collate(const Tokenizer *t, const TokenizedSet *s, const int *rows, int B, const EncodeOptions *o, Batch *out);
void batch_free(Batch *b);

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
