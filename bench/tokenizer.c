// bench/tokenizer.c — sentences per second of common/tokenizer over a whole data set, one
// thread; bench/tokenizer.sh runs it beside Hugging Face's Rust tokenizer.
//   build/bench/tokenizer VOCAB TSV [REPEATS]
// Prints the best of REPEATS runs of (a) tokenize_dataset: every sentence's word-piece ids, and
// (b) the same plus collate into padded batches of 32 (input_ids, token_type_ids,
// attention_mask), and an FNV-1a 64 checksum of all ids with [CLS]/[SEP], one line per sentence
// as `07_tokenizer --ids_only` prints them, so the script can check both tokenizers agree.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/text/dataset.h"
#include "common/text/batch.h"
#include "common/text/tokenizer.h"
#include "common/core/util.h"

static uint64_t checksum(const Tokenizer *t, const TokenizedSet *s) {
    uint64_t h = 0xCBF29CE484222325ULL;
    char buf[32];
    for (int i = 0; i < s->n; i++) {
        int n = s->off_a[i + 1] - s->off_a[i];
        for (int k = -1; k <= n; k++) {
            int id = k < 0 ? t->cls_id : k == n ? t->sep_id : s->ids_a[s->off_a[i] + k];
            int len = snprintf(buf, sizeof buf, "%s%d%s", k < 0 ? "" : " ", id, k == n ? "\n" : "");
            for (int j = 0; j < len; j++) h = (h ^ (unsigned char)buf[j]) * 0x100000001B3ULL;
        }
    }
    return h;
}

int main(int argc, char **argv) {
    if (argc < 3) die("usage: %s VOCAB TSV [REPEATS]", argv[0]);
    int repeats = argc > 3 ? (int)parse_long(argv[3], "REPEATS") : 5;
    Tokenizer *t = tokenizer_load(argv[1], NULL);
    DatasetOptions o = dataset_default_options();
    o.label_column = NULL;
    TextDataset d = dataset_load(argv[2], &o);
    double best_ids = 1e30, best_batches = 1e30;
    uint64_t sum = 0;
    int *rows = xmalloc(sizeof(int) * (size_t)d.n);
    for (int i = 0; i < d.n; i++) rows[i] = i;
    for (int r = 0; r < repeats; r++) {
        double t0 = now_seconds();
        TokenizedSet s = tokenize_dataset(t, &d);
        double t1 = now_seconds();
        Batch b = {0};
        EncodeOptions e = {.max_length = 128};
        for (int i = 0; i < d.n; i += 32) collate(t, &s, rows + i, d.n - i < 32 ? d.n - i : 32, &e, &b);
        double t2 = now_seconds();
        if (t1 - t0 < best_ids) best_ids = t1 - t0;
        if (t2 - t0 < best_batches) best_batches = t2 - t0;
        if (r == 0) sum = checksum(t, &s);
        batch_free(&b);
        tokenized_set_free(&s);
    }
    printf("sentences %d\n", d.n);
    printf("c_ids_per_s %.0f\n", d.n / best_ids);
    printf("c_batches_per_s %.0f\n", d.n / best_batches);
    printf("checksum %016llx\n", (unsigned long long)sum);
    free(rows);
    dataset_free(&d);
    tokenizer_free(t);
    return 0;
}
