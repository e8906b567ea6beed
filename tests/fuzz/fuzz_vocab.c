// fuzz_vocab.c — tokenizer_load (lesson 07) on an arbitrary vocab.txt, then one sentence tokenized
// with it: every id must lie in the vocab.
#include <stdlib.h>

#include "common/text/tokenizer.h"
#include <stb_ds.h>
#include "tests/fuzz/fuzz.h"

static void parse(const char *path) {
    Tokenizer *t = tokenizer_load(path, NULL);
    int *ids = NULL;
    tokenize(t, "Hello, WORLD! naïve 東京 [SEP] unaffable##s", &ids);
    for (int i = 0; i < arrlen(ids); i++)
        if (ids[i] < 0 || ids[i] >= t->vocab_size) abort();
    arrfree(ids);
    tokenizer_free(t);
}

FUZZ_FILE_TARGET("vocab.txt", parse)
