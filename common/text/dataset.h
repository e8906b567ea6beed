// dataset.h — labelled text from TSV and CSV files.
// Introduced by lesson 06 (SST-2 for a bag-of-words model); the tokenizer (lesson 07), the BERT
// lessons and the trainer read their data through it.
//
// A file is a table: a header row (by default) naming the columns, then one example per row.
// One text column (or two, for sentence pairs) and one label column are picked by name or by
// 0-based index. TSV is split on tabs and newlines only (quotes are text, as in GLUE's files);
// CSV follows RFC 4180 via libcsv: quoted fields may hold commas, quotes ("") and newlines.
// Labels may be integers (0..K-1 are the class ids) or strings (sorted names become ids 0..K-1);
// dev and test files are read with the training file's label set, so an id means one class
// everywhere. Any bad row stops the program with `file:line: what is wrong`.
//
// What a label means is transformers' config.problem_type:
//   single_label_classification  one class per example (the above)
//   regression                   one number per example (STS-B's scores); inferred when every
//                                label is a number and not all are integers, as a float label
//                                column makes BertForSequenceClassification regress
//   multi_label_classification   any set of classes per example, written as the names joined by
//                                MULTI_LABEL_SEP ("sports,politics"; an empty field: none);
//                                the classes are the sorted distinct names
#pragma once
#include <stdbool.h>
#include <stdint.h>

typedef enum { PROBLEM_AUTO = 0, PROBLEM_SINGLE_LABEL, PROBLEM_REGRESSION, PROBLEM_MULTI_LABEL } ProblemType;
#define PROBLEM_TYPE_CHOICES "regression|single_label_classification|multi_label_classification"
#define MULTI_LABEL_SEP      ','

// problem_type_name: transformers' string ("regression", ...); NULL for PROBLEM_AUTO.
const char *problem_type_name(ProblemType p);
// problem_type_parse: the reverse; NULL or "" is PROBLEM_AUTO; another string is one error line.
ProblemType problem_type_parse(const char *name);

typedef struct {
    int n;         // classes
    char **names;  // (n) id -> name ("0", "1" for integer labels; "ABBR", "DESC", ... for TREC)
} LabelSet;

typedef struct {
    const char *text_column;    // name or index; default "sentence"
    const char *text_column_b;  // second text column for pairs, or NULL
    const char *label_column;   // name or index; default "label"; NULL = no labels (predict)
    bool no_header;             // the first row is data; columns must then be indices
    const LabelSet *labels;     // fixed label set (dev/test files), or NULL to build one
    int max_samples;            // > 0: keep only the first N examples (run_glue.py's max_train_samples,
                                // max_eval_samples: select(range(N))); every row is still read and
                                // checked, and a label set built from the file covers all rows. 0: all
    ProblemType problem;        // PROBLEM_AUTO: regression for non-integer numbers, else single-label
} DatasetOptions;

typedef struct {
    int n;                // examples
    int n_rows;           // examples in the file (more than n under max_samples)
    char **text;          // (n)
    char **text_b;        // (n) or NULL
    int *label;           // (n) class ids (single-label), or NULL
    float *target;        // (n, labels.n) regression values (labels.n = 1) or multi-hot rows, or NULL
    ProblemType problem;  // what the label column holds (never PROBLEM_AUTO with a label column)
    int *line;            // (n) line of each example in the file, for messages
    LabelSet labels;      // the set used (a copy of options.labels when given)
    char *path;
} TextDataset;

// dataset_default_options: text column "sentence", label column "label", header row.
DatasetOptions dataset_default_options(void);
TextDataset dataset_load(const char *path, const DatasetOptions *opt);
void dataset_free(TextDataset *d);
// label_id: the id of `name` in the set, or -1.
int label_id(const LabelSet *s, const char *name);
void labelset_copy(LabelSet *dst, const LabelSet *src);
void labelset_free(LabelSet *s);
// epoch_order: the order in which epoch `epoch` visits n examples: a permutation drawn from
// PCG32 seeded with (seed, stream = epoch), so every epoch differs, every run with the same
// seed repeats, and a resumed run can recompute the order of any epoch. The epoch streams lie
// below every named stream of common/core/rng.h.
void epoch_order(uint64_t seed, int epoch, int *perm, int n);
// utf8_valid: true when s[0..len) is well-formed UTF-8.
bool utf8_valid(const char *s, long len);
