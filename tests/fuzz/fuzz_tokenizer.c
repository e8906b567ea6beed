// fuzz_tokenizer.c — tokenize_len (lesson 07) on arbitrary bytes (invalid UTF-8, NULs, controls)
// with the real bert-base-uncased vocab when it is fetched, else the tiny test vocab; run from
// the repository root. Every id must lie in the vocab.
#include <stdlib.h>

#include "common/text/tokenizer.h"
#include "common/core/util.h"
#include <stb_ds.h>
#include "tests/fuzz/fuzz.h"

static Tokenizer *tok;

static void load_once(void) {
    const char *real = "data/cache/models/bert-base-uncased-vocab/vocab.txt";
    tok = tokenizer_load(file_exists(real) ? real : "tests/fixtures/bert/tiny/vocab.txt", NULL);
    int *ids = NULL;  // warm the per-thread scratch up before the harness tracks allocations
    tokenize(tok, "warm up: Ünïcode 東京 and punctuation!", &ids);
    arrfree(ids);
}

static void parse(const uint8_t *data, size_t size) {
    int *ids = NULL;
    tokenize_len(tok, (const char *)data, (int)size, &ids);
    for (int i = 0; i < arrlen(ids); i++)
        if (ids[i] < 0 || ids[i] >= tok->vocab_size) abort();
    arrfree(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!tok) load_once();
    return fuzz_bytes(parse, data, size);
}
