// params.c — see params.h.
#include "common/model/params.h"

#include <ctype.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include "common/core/util.h"

int params_add(ParamSet *ps, const char *name, int ndim, const int *shape) {
    if (ps->params) die("params_add(%s): the parameter buffer is already allocated", name);
    if (ndim < 1 || ndim > PARAM_MAX_DIMS)
        die("params_add(%s): %d dimensions (1..%d allowed)", name, ndim, PARAM_MAX_DIMS);
    if (strlen(name) >= sizeof ps->tensors[0].name) die("params_add: name too long: %s", name);
    ps->tensors = xrealloc(ps->tensors, sizeof(ParamTensor) * (size_t)(ps->n_tensors + 1));
    ParamTensor *t = &ps->tensors[ps->n_tensors];
    memset(t, 0, sizeof *t);
    strcpy(t->name, name);
    t->ndim = ndim;
    t->numel = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] <= 0) die("params_add(%s): dimension %d is %d", name, d, shape[d]);
        t->shape[d] = shape[d];
        t->numel *= (size_t)shape[d];
    }
    t->offset = ps->numel;
    t->decay = hf_decays(name);
    ps->numel += t->numel;
    return ps->n_tensors++;
}

void params_alloc(ParamSet *ps) {
    ps->params = xcalloc(ps->numel, sizeof(float));
    ps->grads = xcalloc(ps->numel, sizeof(float));
}

void params_free(ParamSet *ps) {
    free(ps->tensors);
    free(ps->params);
    free(ps->grads);
    memset(ps, 0, sizeof *ps);
}

ParamTensor *params_find(const ParamSet *ps, const char *name) {
    for (int i = 0; i < ps->n_tensors; i++)
        if (!strcmp(ps->tensors[i].name, name)) return &ps->tensors[i];
    return NULL;
}

void params_zero_grad(ParamSet *ps) { memset(ps->grads, 0, ps->numel * sizeof(float)); }

bool hf_decays(const char *name) {
    static const char *patterns[] = {"bias", "layernorm", "rmsnorm", "(^|\\.)norm($|\\.)", "_norm($|\\.)"};
    char lower[128];
    size_t n = strlen(name);
    if (n >= sizeof lower) n = sizeof lower - 1;
    for (size_t i = 0; i < n; i++) lower[i] = (char)tolower((unsigned char)name[i]);
    lower[n] = '\0';
    for (size_t i = 0; i < ARRAY_LEN(patterns); i++) {
        regex_t re;
        if (regcomp(&re, patterns[i], REG_EXTENDED | REG_NOSUB) != 0) die("hf_decays: bad pattern %s", patterns[i]);
        int hit = regexec(&re, lower, 0, NULL, 0) == 0;
        regfree(&re);
        if (hit) return false;
    }
    return true;
}
