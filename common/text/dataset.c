// dataset.c — see dataset.h.
#include "common/text/dataset.h"

#include <csv.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "common/core/rng.h"
#include "common/core/util.h"

// A file split into rows of fields, before any column is interpreted.
typedef struct {
    int n_rows, cap;
    int *n_fields;   // (n_rows)
    char ***fields;  // (n_rows) arrays of fields
    int *line;       // (n_rows) line where the row starts
    // the row being built
    int cur_n, cur_cap;
    char **cur;
} Table;

static void table_push_field(Table *t, const char *s, size_t len) {
    if (t->cur_n == t->cur_cap) {
        t->cur_cap = t->cur_cap ? 2 * t->cur_cap : 8;
        t->cur = xrealloc(t->cur, sizeof(char *) * t->cur_cap);
    }
    char *f = xmalloc(len + 1);
    memcpy(f, s, len);
    f[len] = '\0';
    t->cur[t->cur_n++] = f;
}

static void table_end_row(Table *t, int line) {
    if (t->n_rows == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 1024;
        t->n_fields = xrealloc(t->n_fields, sizeof(int) * t->cap);
        t->fields = xrealloc(t->fields, sizeof(char **) * t->cap);
        t->line = xrealloc(t->line, sizeof(int) * t->cap);
    }
    t->n_fields[t->n_rows] = t->cur_n;
    t->fields[t->n_rows] = t->cur;
    t->line[t->n_rows++] = line;
    t->cur = NULL;
    t->cur_n = t->cur_cap = 0;
}

static void table_free(Table *t) {
    for (int r = 0; r < t->n_rows; r++) {
        for (int f = 0; f < t->n_fields[r]; f++) free(t->fields[r][f]);
        free(t->fields[r]);
    }
    free(t->n_fields);
    free(t->fields);
    free(t->line);
}

bool utf8_valid(const char *s, long len) {
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s;
    utf8proc_int32_t cp;
    for (long i = 0; i < len;) {
        utf8proc_ssize_t k = utf8proc_iterate(p + i, len - i, &cp);
        if (k <= 0) return false;
        i += k;
    }
    return true;
}

// read_tsv: rows split on '\n' (a trailing '\r' dropped), fields split on '\t'; blank lines skipped.
static void read_tsv(const char *path, char *text, size_t len, Table *t) {
    int line = 0;
    for (char *s = text; s < text + len;) {
        char *nl = memchr(s, '\n', (size_t)(text + len - s));
        char *end = nl ? nl : text + len;
        line++;
        if (end > s && end[-1] == '\r') end--;
        if (!utf8_valid(s, end - s)) die("%s:%d: invalid UTF-8", path, line);
        if (end > s) {
            for (char *f = s;;) {
                char *tab = memchr(f, '\t', (size_t)(end - f));
                table_push_field(t, f, (size_t)((tab ? tab : end) - f));
                if (!tab) break;
                f = tab + 1;
            }
            table_end_row(t, line);
        }
        s = nl ? nl + 1 : text + len;
    }
}

typedef struct {
    Table *t;
    int line;      // line being fed to libcsv
    int row_line;  // line where the current row started (0 = no row started)
} CsvState;

static void csv_field_cb(void *s, size_t len, void *data) {
    CsvState *st = data;
    if (!st->row_line) st->row_line = st->line;
    table_push_field(st->t, s, len);
}

static void csv_row_cb(int c, void *data) {
    (void)c;
    CsvState *st = data;
    table_end_row(st->t, st->row_line ? st->row_line : st->line);
    st->row_line = 0;
}

// read_csv: RFC 4180 through libcsv, fed one line at a time so errors can name the line.
static void read_csv(const char *path, char *text, size_t len, Table *t) {
    struct csv_parser p;
    if (csv_init(&p, CSV_APPEND_NULL | CSV_STRICT | CSV_STRICT_FINI) != 0) die("cannot initialise the CSV parser");
    CsvState st = {t, 0, 0};
    for (char *s = text; s < text + len;) {
        char *nl = memchr(s, '\n', (size_t)(text + len - s));
        size_t n = (size_t)((nl ? nl + 1 : text + len) - s);
        st.line++;
        if (!utf8_valid(s, (long)n)) die("%s:%d: invalid UTF-8", path, st.line);
        if (csv_parse(&p, s, n, csv_field_cb, csv_row_cb, &st) != n)
            die("%s:%d: malformed CSV (%s)", path, st.line, csv_strerror(csv_error(&p)));
        s += n;
    }
    if (csv_fini(&p, csv_field_cb, csv_row_cb, &st) != 0)
        die("%s:%d: malformed CSV (%s; an unclosed quote?)", path, st.line, csv_strerror(csv_error(&p)));
    csv_free(&p);
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

static bool is_index(const char *s) {
    if (!*s) return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9') return false;
    return true;
}

// column_index: a column given by name (looked up in the header) or by 0-based index.
static int column_index(const char *path, const Table *t, bool header, const char *col, const char *role) {
    if (is_index(col)) {
        int c = atoi(col);
        if (t->n_rows && c >= t->n_fields[0])
            die("%s: %s column %d does not exist (the first row has %d columns)", path, role, c, t->n_fields[0]);
        return c;
    }
    if (!header)
        die("%s: %s column '%s' is a name, but the file has no header row; give a 0-based index", path, role, col);
    for (int c = 0; c < t->n_fields[0]; c++)
        if (!strcmp(t->fields[0][c], col)) return c;
    char have[512] = "";
    for (int c = 0; c < t->n_fields[0] && strlen(have) < 400; c++) {
        strcat(have, c ? ", " : "");
        strncat(have, t->fields[0][c], 60);
    }
    die("%s: no %s column '%s' (columns: %s)", path, role, col, have);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int label_id(const LabelSet *s, const char *name) {
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->names[i], name)) return i;
    return -1;
}

void labelset_copy(LabelSet *dst, const LabelSet *src) {
    dst->n = src->n;
    dst->names = xmalloc(sizeof(char *) * (size_t)(src->n ? src->n : 1));
    for (int i = 0; i < src->n; i++) dst->names[i] = xstrdup(src->names[i]);
}

void labelset_free(LabelSet *s) {
    for (int i = 0; i < s->n; i++) free(s->names[i]);
    free(s->names);
    s->names = NULL;
    s->n = 0;
}

// build_labels: integer labels 0..max become ids as they are; otherwise sorted distinct names.
static void build_labels(const char *path, const Table *t, int first, int col, LabelSet *out) {
    bool all_int = true;
    long max = -1;
    for (int r = first; r < t->n_rows; r++) {
        const char *v = t->fields[r][col];
        if (!*v) die("%s:%d: empty label", path, t->line[r]);
        if (!is_index(v)) all_int = false;
        else if (atol(v) > max) max = atol(v);
    }
    if (all_int) {
        if (max > 100000) die("%s: integer label %ld is too large to be a class id", path, max);
        out->n = (int)max + 1;
        out->names = xmalloc(sizeof(char *) * (size_t)out->n);
        for (int k = 0; k < out->n; k++) {
            char buf[16];
            snprintf(buf, sizeof buf, "%d", k);
            out->names[k] = xstrdup(buf);
        }
        return;
    }
    char **all = xmalloc(sizeof(char *) * (size_t)(t->n_rows - first + 1));
    int n = 0;
    for (int r = first; r < t->n_rows; r++) all[n++] = t->fields[r][col];
    qsort(all, (size_t)n, sizeof(char *), cmp_str);
    out->n = 0;
    out->names = xmalloc(sizeof(char *) * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++)
        if (i == 0 || strcmp(all[i], all[i - 1])) out->names[out->n++] = xstrdup(all[i]);
    free(all);
}

static const char *const problem_names[] = {NULL, "single_label_classification", "regression",
                                            "multi_label_classification"};

const char *problem_type_name(ProblemType p) { return problem_names[p]; }

ProblemType problem_type_parse(const char *name) {
    if (!name || !*name) return PROBLEM_AUTO;
    for (int p = PROBLEM_SINGLE_LABEL; p <= PROBLEM_MULTI_LABEL; p++)
        if (!strcmp(name, problem_names[p])) return (ProblemType)p;
    die("--problem_type %s: not one of %s", name, PROBLEM_TYPE_CHOICES);
}

// parse_number: s as a finite number (strtod's syntax, the whole field), or false.
static bool parse_number(const char *s, double *out) {
    char *end;
    *out = strtod(s, &end);
    return end != s && !*end && isfinite(*out);
}

// infer_problem: PROBLEM_AUTO resolved as transformers resolves it from the label tensor's
// dtype: every label a number and not all integers (a float column) is regression.
static ProblemType infer_problem(const Table *t, int first, int col) {
    bool all_int = true;
    for (int r = first; r < t->n_rows; r++) {
        double v;
        if (!parse_number(t->fields[r][col], &v)) return PROBLEM_SINGLE_LABEL;
        if (v != floor(v)) all_int = false;
    }
    return all_int ? PROBLEM_SINGLE_LABEL : PROBLEM_REGRESSION;
}

// next_name: the next name of a MULTI_LABEL_SEP-joined list at *s (copied into buf), or false.
static bool next_name(const char **s, char *buf, size_t size) {
    while (**s == MULTI_LABEL_SEP || **s == ' ') (*s)++;
    if (!**s) return false;
    size_t n = 0;
    for (; **s && **s != MULTI_LABEL_SEP; (*s)++)
        if (n + 1 < size) buf[n++] = **s;
    while (n && buf[n - 1] == ' ') n--;
    buf[n] = '\0';
    return true;
}

// build_multi_labels: the sorted distinct names of every row's list.
static void build_multi_labels(const Table *t, int first, int col, LabelSet *out) {
    int cap = 16, n = 0;
    char **all = xmalloc(sizeof(char *) * (size_t)cap), buf[256];
    for (int r = first; r < t->n_rows; r++)
        for (const char *s = t->fields[r][col]; next_name(&s, buf, sizeof buf);) {
            if (n == cap) all = xrealloc(all, sizeof(char *) * (size_t)(cap *= 2));
            all[n++] = xstrdup(buf);
        }
    qsort(all, (size_t)n, sizeof(char *), cmp_str);
    out->n = 0;
    out->names = xmalloc(sizeof(char *) * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++)
        if (i == 0 || strcmp(all[i], all[i - 1])) out->names[out->n++] = xstrdup(all[i]);
    for (int i = 0; i < n; i++) free(all[i]);
    free(all);
}

// read_target: row r's label as a regression value or a multi-hot row of K (target[0..K)).
static void read_target(const char *path, int line, const char *v, ProblemType p, const LabelSet *s, float *target) {
    if (p == PROBLEM_REGRESSION) {
        double x;
        if (!parse_number(v, &x)) die("%s:%d: label '%s' is not a number (a regression needs one)", path, line, v);
        target[0] = (float)x;
        return;
    }
    char buf[256];
    for (int k = 0; k < s->n; k++) target[k] = 0.0f;
    for (const char *c = v; next_name(&c, buf, sizeof buf);) {
        int k = label_id(s, buf);
        if (k < 0) die("%s:%d: label '%s' is not one of the %d known labels", path, line, buf, s->n);
        target[k] = 1.0f;
    }
}

static void die_unknown_label(const char *path, int line, const char *name, const LabelSet *s) {
    char known[256] = "";
    for (int k = 0; k < s->n && strlen(known) < 200; k++) {
        strcat(known, k ? ", " : "");
        strncat(known, s->names[k], 40);
    }
    die("%s:%d: label '%s' is not one of the known labels (%s)", path, line, name, known);
}

DatasetOptions dataset_default_options(void) {
    DatasetOptions o = {.text_column = "sentence", .label_column = "label"};
    return o;
}

TextDataset dataset_load(const char *path, const DatasetOptions *opt) {
    size_t len;
    char *text = read_file(path, &len);
    Table t = {0};
    if (ends_with(path, ".csv")) read_csv(path, text, len, &t);
    else read_tsv(path, text, len, &t);
    free(text);
    const bool header = !opt->no_header;
    const int first = header ? 1 : 0;
    if (t.n_rows <= first)
        die("%s: no examples (the file is empty%s)", path, header ? " or has only a header row" : "");

    int c_text = column_index(path, &t, header, opt->text_column, "text");
    int c_text_b = opt->text_column_b ? column_index(path, &t, header, opt->text_column_b, "second text") : -1;
    int c_label = opt->label_column ? column_index(path, &t, header, opt->label_column, "label") : -1;
    const int expected = t.n_fields[0];
    for (int r = first; r < t.n_rows; r++)
        if (t.n_fields[r] != expected)
            die("%s:%d: %d fields, but the %s has %d (a stray tab or comma?)", path, t.line[r], t.n_fields[r],
                header ? "header" : "first row", expected);

    const int rows = t.n_rows - first;
    TextDataset d = {.n = opt->max_samples > 0 && opt->max_samples < rows ? opt->max_samples : rows,
                     .n_rows = rows,
                     .path = xstrdup(path)};
    if (c_label >= 0) {
        d.problem = opt->problem ? opt->problem : infer_problem(&t, first, c_label);
        if (opt->labels) labelset_copy(&d.labels, opt->labels);
        else if (d.problem == PROBLEM_REGRESSION) {  // one output, transformers' default name
            d.labels.n = 1;
            d.labels.names = xmalloc(sizeof(char *));
            d.labels.names[0] = xstrdup("LABEL_0");
        } else if (d.problem == PROBLEM_MULTI_LABEL) build_multi_labels(&t, first, c_label, &d.labels);
        else build_labels(path, &t, first, c_label, &d.labels);
        if (d.problem == PROBLEM_SINGLE_LABEL) d.label = xmalloc(sizeof(int) * (size_t)d.n);
        else d.target = xcalloc((size_t)(d.n + 1) * d.labels.n, sizeof(float));  // + a row for the rest
    }
    d.text = xmalloc(sizeof(char *) * (size_t)d.n);
    d.text_b = c_text_b >= 0 ? xmalloc(sizeof(char *) * (size_t)d.n) : NULL;
    d.line = xmalloc(sizeof(int) * (size_t)d.n);
    for (int r = first; r < t.n_rows; r++) {
        const int i = r - first;
        char **row = t.fields[r];
        if (!row[c_text][0]) die("%s:%d: empty text in column '%s'", path, t.line[r], opt->text_column);
        const int label = d.label ? label_id(&d.labels, row[c_label]) : 0;
        if (label < 0) die_unknown_label(path, t.line[r], row[c_label], &d.labels);
        if (d.target)  // rows past max_samples are checked in the spare last row
            read_target(path, t.line[r], row[c_label], d.problem, &d.labels,
                        d.target + (size_t)(i < d.n ? i : d.n) * d.labels.n);
        if (i >= d.n) continue;  // checked, not kept (max_samples); the table frees it
        d.line[i] = t.line[r];
        d.text[i] = row[c_text];
        row[c_text] = NULL;  // ownership moves to the dataset
        if (d.text_b) {      // the same column twice (a text paired with itself) is a copy
            d.text_b[i] = c_text_b == c_text ? xstrdup(d.text[i]) : row[c_text_b];
            row[c_text_b] = NULL;
        }
        if (d.label) d.label[i] = label;
    }
    table_free(&t);
    return d;
}

void dataset_free(TextDataset *d) {
    for (int i = 0; i < d->n; i++) {
        free(d->text[i]);
        if (d->text_b) free(d->text_b[i]);
    }
    free(d->text);
    free(d->text_b);
    free(d->label);
    free(d->target);
    free(d->line);
    free(d->path);
    labelset_free(&d->labels);
}

void epoch_order(uint64_t seed, int epoch, int *perm, int n) {
    if (epoch < 0 || epoch >= RNG_EPOCH_STREAMS)
        die("epoch %d: the data order has streams for epochs 0..%d (common/core/rng.h)", epoch, RNG_EPOCH_STREAMS - 1);
    Rng r;
    rng_seed(&r, seed, (uint64_t)epoch);  // stream e: epoch e's order (common/core/rng.h)
    rng_permutation(&r, perm, n);
}
