// test_dataset.c — the TSV/CSV loader on real data sets and on every kind of bad row.
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/text/dataset.h"
#include "common/core/util.h"
#include "tests/expect_error.h"

// temp_file: write `content` to a fresh file ending in `suffix`; returns its path.
static char *temp_file(const char *content, const char *suffix) {
    static int counter;
    static char paths[8][128];  // static: the tests stay leak-free under make test-sanitize
    char *path = paths[counter % 8];
    snprintf(path, 128, "/tmp/bertstep-dataset-%d-%d%s", (int)getpid(), counter++, suffix);
    FILE *f = xfopen(path, "wb");
    xfwrite(content, 1, strlen(content), f, path);
    xfclose(f, path);
    return path;
}

static TextDataset load_text(const char *content, const char *suffix) {
    DatasetOptions o = dataset_default_options();
    return dataset_load(temp_file(content, suffix), &o);
}

Test(dataset, sst2_train_and_dev) {
    DatasetOptions o = dataset_default_options();
    if (!file_exists("data/cache/sst2/train.tsv")) cr_skip_test("SST-2 not fetched (bash data/fetch.sh sst2)");
    TextDataset train = dataset_load("data/cache/sst2/train.tsv", &o);
    cr_assert_eq(train.n, 67349);
    cr_assert_eq(train.labels.n, 2);
    o.labels = &train.labels;
    TextDataset dev = dataset_load("data/cache/sst2/dev.tsv", &o);
    cr_assert_eq(dev.n, 872);
    cr_assert_str_eq(dev.text[0], "it 's a charming and often affecting journey . ");
    cr_assert_eq(dev.label[0], 1);
    dataset_free(&dev);
    dataset_free(&train);
}

Test(dataset, trec_string_labels_sorted) {
    DatasetOptions o = dataset_default_options();
    if (!file_exists("data/cache/trec/train.tsv")) cr_skip_test("TREC not fetched (bash data/fetch.sh trec)");
    TextDataset d = dataset_load("data/cache/trec/train.tsv", &o);
    cr_assert_eq(d.n, 5452);
    cr_assert_eq(d.labels.n, 6);
    const char *want[] = {"ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"};
    for (int k = 0; k < 6; k++) cr_assert_str_eq(d.labels.names[k], want[k]);
    cr_assert_str_eq(d.labels.names[d.label[0]], "DESC");
    dataset_free(&d);
}

Test(dataset, csv_quotes_commas_newlines_crlf) {
    TextDataset d = load_text(
        "label,sentence\r\n1,\"a, b\"\r\n0,\"she said \"\"no\"\"\"\r\n1,\"two\nlines\"\r\n0,plain\r\n", ".csv");
    cr_assert_eq(d.n, 4);
    cr_assert_str_eq(d.text[0], "a, b");
    cr_assert_str_eq(d.text[1], "she said \"no\"");
    cr_assert_str_eq(d.text[2], "two\nlines");
    cr_assert_str_eq(d.text[3], "plain");
    cr_assert_eq(d.line[3], 6, "the row after a two-line field starts on line 6 (got %d)", d.line[3]);
    cr_assert_eq(d.label[1], 0);
    dataset_free(&d);
}

Test(dataset, tsv_keeps_quotes_and_drops_cr) {
    TextDataset d = load_text("sentence\tlabel\r\n\"quoted\" start\t1\r\nsecond\t0\r\n", ".tsv");
    cr_assert_eq(d.n, 2);
    cr_assert_str_eq(d.text[0], "\"quoted\" start");
    cr_assert_eq(d.label[1], 0);
    dataset_free(&d);
}

Test(dataset, no_header_columns_by_index_and_pairs) {
    DatasetOptions o = {.text_column = "1", .text_column_b = "2", .label_column = "0", .no_header = true};
    TextDataset d = dataset_load(temp_file("pos\tgood film\tI liked it\nneg\tbad film\tI did not\n", ".tsv"), &o);
    cr_assert_eq(d.n, 2);
    cr_assert_str_eq(d.text_b[1], "I did not");
    cr_assert_str_eq(d.labels.names[d.label[0]], "pos");
    dataset_free(&d);
}

// max_samples keeps the first N rows (run_glue's select(range(N))), while the label set still
// comes from every row and every row is still checked.
Test(dataset, max_samples_keeps_the_first_rows) {
    DatasetOptions o = dataset_default_options();
    o.max_samples = 2;
    TextDataset d = dataset_load(temp_file("sentence\tlabel\none\tb\ntwo\ta\nthree\tc\nfour\ta\n", ".tsv"), &o);
    cr_assert_eq(d.n, 2);
    cr_assert_eq(d.n_rows, 4);
    cr_assert_str_eq(d.text[1], "two");
    cr_assert_eq(d.line[1], 3);
    cr_assert_eq(d.labels.n, 3, "the label set of all rows (a, b, c), got %d labels", d.labels.n);
    cr_assert_str_eq(d.labels.names[d.label[0]], "b");
    dataset_free(&d);
    o.max_samples = 10;  // more than the file has: all of it
    d = dataset_load(temp_file("sentence\tlabel\none\t1\ntwo\t0\n", ".tsv"), &o);
    cr_assert_eq(d.n, 2);
    cr_assert_eq(d.n_rows, 2);
    dataset_free(&d);
}

Test(dataset, max_samples_still_checks_the_rows_it_drops) {
    DatasetOptions o = dataset_default_options();
    o.max_samples = 1;
    const char *path = temp_file("sentence\tlabel\none\t1\n\t0\n", ".tsv");  // line 3: empty text
    EXPECT_ERROR(".tsv:3:", dataset_load(path, &o));
}

Test(dataset, epoch_order_is_a_seeded_permutation) {
    int a[100], b[100], c[100], seen[100] = {0};
    epoch_order(42, 0, a, 100);
    epoch_order(42, 0, b, 100);
    epoch_order(42, 1, c, 100);
    cr_assert(!memcmp(a, b, sizeof a), "same seed and epoch, same order");
    cr_assert(memcmp(a, c, sizeof a), "another epoch, another order");
    for (int i = 0; i < 100; i++) seen[a[i]]++;
    for (int i = 0; i < 100; i++) cr_assert_eq(seen[i], 1);
}

// Each bad file must stop the loader with exit code 1 and one "error: file:line: ..." line.
Test(dataset, unknown_label_in_dev_file) {
    LabelSet train = {2, (char *[]){"0", "1"}};
    DatasetOptions o = dataset_default_options();
    o.labels = &train;
    const char *path = temp_file("sentence\tlabel\nfine\t1\nodd\t7\n", ".tsv");
    EXPECT_ERROR(":3: label '7' is not one of the known labels (0, 1)", dataset_load(path, &o));
}
Test(dataset, ragged_row) {
    EXPECT_ERROR(":3: 3 fields, but the header has 2", load_text("sentence\tlabel\na\t1\nb\t0\textra\n", ".tsv"));
}
Test(dataset, missing_label_column) {
    EXPECT_ERROR("no label column 'label' (columns: sentence, stars)", load_text("sentence\tstars\na\t1\n", ".tsv"));
}
Test(dataset, empty_label) { EXPECT_ERROR(":2: empty label", load_text("sentence\tlabel\na\t\n", ".tsv")); }
Test(dataset, empty_text) {
    EXPECT_ERROR(":2: empty text in column 'sentence'", load_text("sentence\tlabel\n\t1\n", ".tsv"));
}
Test(dataset, invalid_utf8) {
    EXPECT_ERROR(":2: invalid UTF-8", load_text("sentence\tlabel\nbad \xff\xfe byte\t1\n", ".tsv"));
}
Test(dataset, unclosed_csv_quote) {
    EXPECT_ERROR(":2: malformed CSV", load_text("sentence,label\n\"never closed,1\n", ".csv"));
}
Test(dataset, header_only) { EXPECT_ERROR("no examples", load_text("sentence\tlabel\n", ".tsv")); }
Test(dataset, empty_file) { EXPECT_ERROR("no examples", load_text("", ".tsv")); }
