// fuzz_bert_config.c — bert_config_load (lesson 10) on an arbitrary DIR/config.json.
#include <libgen.h>
#include <stdio.h>
#include <string.h>

#include "common/model/bert.h"
#include "common/model/bert_io.h"
#include "tests/fuzz/fuzz.h"

static void parse(const char *path) {
    char dir[256];
    snprintf(dir, sizeof dir, "%s", path);
    BertConfig c = bert_config_load(dirname(dir), 0);
    bert_config_free(&c);
}

FUZZ_FILE_TARGET("config.json", parse)
