// fixture.h — the test suite's shared helpers: reading the reference values that tests/gen_*.py
// write, and running a program as a test does (a command's output, a fresh directory).
//
// A fixture file is text, one array per line:  <key> <count> <v1> <v2> ...
// Values are written with 17 significant digits, so a double survives the round trip.
#pragma once
#include <stdbool.h>

#include "common/model/params.h"

typedef struct {
    char *text;  // the file, with each line's key NUL-terminated in place
    int n_lines;
    char **keys;
    char **values;  // the rest of each line: "<count> v1 v2 ..."
} Fixture;

Fixture fixture_load(const char *path);
void fixture_free(Fixture *f);
bool fixture_has(const Fixture *f, const char *key);
// fixture_doubles: the array stored under `key` (a new allocation); *n gets its length.
// A missing key fails the running test.
double *fixture_doubles(const Fixture *f, const char *key, int *n);
// fixture_words: the whitespace-separated words under `key`, e.g. names (pointers into f).
char **fixture_words(const Fixture *f, const char *key, int *n);
// files_equal: the two files hold the same bytes (checkpoints of a resumed and an uninterrupted run).
bool files_equal(const char *a, const char *b);
// fixture_ints: the same, converted to int (ids, masks, labels, shapes).
int *fixture_ints(const Fixture *f, const char *key, int *n);

// A token batch as tests/gen_bert.py writes it: "shape" (B, T), "input_ids", "attention_mask",
// and optional "token_type_ids" and "labels" (NULL when absent).
typedef struct {
    int B, T;
    int *ids, *types, *mask, *labels;
} FixtureBatch;

FixtureBatch fixture_batch(const Fixture *f);
void fixture_batch_free(FixtureBatch *b);

// worst_grad_error: the largest per-tensor relative error (compare.h) of the gradients `got`
// against `ref`, both laid out as ps; the key biases, whose exact gradient is 0, are skipped (as
// in test_bert.c). *which: the name of the worst tensor.
double worst_grad_error(const ParamSet *ps, const float *got, const float *ref, const char **which);

// run: `sh -c cmd` with its stdout and stderr in one string (a new allocation); *status gets
// its exit code (-1 when a signal ended it).
char *run(const char *cmd, int *status);
// tmpdir: a new path /tmp/bertstep-test-<name>-<pid> for a test's output (removed first when it
// exists, not created).
char *tmpdir(const char *name);
