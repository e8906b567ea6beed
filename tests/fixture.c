// fixture.c — see fixture.h. (Compiled into the test binary with the test_*.c files.)
#include "tests/fixture.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/core/util.h"
#include "common/model/compare.h"

Fixture fixture_load(const char *path) {
    Fixture f = {0};
    cr_assert(file_exists(path), "fixture %s is missing (regenerate it with the tests/gen_*.py script)", path);
    f.text = read_file(path, NULL);
    int cap = 64;
    f.keys = xmalloc(sizeof(char *) * cap);
    f.values = xmalloc(sizeof(char *) * cap);
    for (char *line = f.text; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = '\0';
        char *sp = strchr(line, ' ');
        if (sp && line[0] != '#') {
            *sp = '\0';
            if (f.n_lines == cap) {
                cap *= 2;
                f.keys = xrealloc(f.keys, sizeof(char *) * cap);
                f.values = xrealloc(f.values, sizeof(char *) * cap);
            }
            f.keys[f.n_lines] = line;
            f.values[f.n_lines++] = sp + 1;
        }
        line = nl ? nl + 1 : NULL;
    }
    return f;
}

void fixture_free(Fixture *f) {
    free(f->text);
    free(f->keys);
    free(f->values);
}

static int find_key(const Fixture *f, const char *key) {
    for (int i = 0; i < f->n_lines; i++)
        if (!strcmp(f->keys[i], key)) return i;
    return -1;
}

bool fixture_has(const Fixture *f, const char *key) { return find_key(f, key) >= 0; }

double *fixture_doubles(const Fixture *f, const char *key, int *n) {
    int i = find_key(f, key);
    cr_assert(i >= 0, "fixture has no key %s", key);
    char *s = f->values[i], *end;
    *n = (int)strtol(s, &end, 10);
    double *v = xmalloc(sizeof(double) * (size_t)(*n > 0 ? *n : 1));
    for (int k = 0; k < *n; k++) {
        s = end;
        v[k] = strtod(s, &end);
        cr_assert(end != s, "fixture key %s: value %d of %d is missing", key, k, *n);
    }
    return v;
}

char **fixture_words(const Fixture *f, const char *key, int *n) {
    int i = find_key(f, key);
    cr_assert(i >= 0, "fixture has no key %s", key);
    char *s = f->values[i], *end;
    *n = (int)strtol(s, &end, 10);
    char **w = xmalloc(sizeof(char *) * (size_t)(*n > 0 ? *n : 1));
    s = end;
    for (int k = 0; k < *n; k++) {
        while (*s == ' ') s++;
        w[k] = s;
        while (*s && *s != ' ') s++;
        if (*s) *s++ = '\0';
    }
    return w;
}

bool files_equal(const char *a, const char *b) {
    size_t na, nb;
    char *x = read_file(a, &na), *y = read_file(b, &nb);
    bool same = na == nb && !memcmp(x, y, na);
    free(x);
    free(y);
    return same;
}

int *fixture_ints(const Fixture *f, const char *key, int *n) {
    double *d = fixture_doubles(f, key, n);
    int *v = xmalloc(sizeof(int) * (size_t)(*n > 0 ? *n : 1));
    for (int i = 0; i < *n; i++) v[i] = (int)d[i];
    free(d);
    return v;
}

FixtureBatch fixture_batch(const Fixture *f) {
    FixtureBatch b = {0};
    int n;
    int *shape = fixture_ints(f, "shape", &n);
    b.B = shape[0], b.T = shape[1];
    free(shape);
    b.ids = fixture_ints(f, "input_ids", &n);
    b.mask = fixture_ints(f, "attention_mask", &n);
    b.types = fixture_has(f, "token_type_ids") ? fixture_ints(f, "token_type_ids", &n) : NULL;
    b.labels = fixture_has(f, "labels") ? fixture_ints(f, "labels", &n) : NULL;
    return b;
}

void fixture_batch_free(FixtureBatch *b) { free(b->ids), free(b->types), free(b->mask), free(b->labels); }

double worst_grad_error(const ParamSet *ps, const float *got, const float *ref, const char **which) {
    double worst = 0;
    for (int i = 0; i < ps->n_tensors; i++) {
        const ParamTensor *p = &ps->tensors[i];
        if (strstr(p->name, "attention.self.key.bias")) continue;
        double e = max_relative_error(got + p->offset, ref + p->offset, p->numel);
        if (e > worst) worst = e, *which = p->name;
    }
    return worst;
}

char *run(const char *cmd, int *status) {
    char out_path[64], full[4096];
    snprintf(out_path, sizeof out_path, "/tmp/bertstep-test-out-%d", (int)getpid());
    snprintf(full, sizeof full, "%s > %s 2>&1", cmd, out_path);
    int st = system(full);
    *status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    char *out = read_file(out_path, NULL);
    unlink(out_path);
    return out;
}

char *tmpdir(const char *name) {
    char *d = xmalloc(128);
    snprintf(d, 128, "/tmp/bertstep-test-%s-%d", name, (int)getpid());
    rm_rf(d);
    return d;
}
