// tokenizer.h — BERT's WordPiece tokenizer: text -> word-piece ids.
// Introduced by lesson 07; common/text/batch.h turns its ids into the batches BERT takes (lessons 10-16).
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
// Lists of ids and words are stb_ds dynamic arrays (`int *ids = NULL; tokenize(t, s, &ids);
// arrlen(ids); arrfree(ids);`); the functions append to them.
#pragma once
#include <stdbool.h>
#include <stdint.h>

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
// tokenizer_load_json: a `tokenizers` tokenizer.json (what transformers 5 saves instead of
// vocab.txt): the WordPiece vocab of "model", the options of its BertNormalizer (lowercase,
// strip_accents, handle_chinese_chars). Any other model, normalizer or pre-tokenizer is one
// error line.
Tokenizer *tokenizer_load_json(const char *path);
// tokenizer_from_pretrained: DIR/vocab.txt with the options of DIR/tokenizer_config.json
// (do_lower_case, strip_accents, tokenize_chinese_chars) when it exists, else DIR/tokenizer.json;
// model_max_length from tokenizer_config.json either way.
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
