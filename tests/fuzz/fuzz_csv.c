// fuzz_csv.c — dataset_load on an arbitrary CSV file: sentence + label columns by name, the
// label set built from the file.
#include "common/text/dataset.h"
#include "tests/fuzz/fuzz.h"

static void parse(const char *path) {
    DatasetOptions opt = dataset_default_options();
    TextDataset d = dataset_load(path, &opt);
    dataset_free(&d);
}

FUZZ_FILE_TARGET("input.csv", parse)
