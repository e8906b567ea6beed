// compare.c — see compare.h.
#include "common/model/compare.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

double max_relative_error(const float *got, const float *want, size_t n) {
    double diff = 0, scale = 0;
    for (size_t i = 0; i < n; i++) {
        diff = fmax(diff, isnan(got[i]) ? INFINITY : fabs((double)got[i] - want[i]));
        scale = fmax(scale, fabs(want[i]));
    }
    return scale > 0 ? diff / scale : diff;
}

TensorDiff bert_tensor_diff(const BertModel *m, const float *got, const float *want) {
    TensorDiff d = {0};
    double scale = 0;
    for (size_t i = 0; i < m->ps.numel; i++) scale = fmax(scale, fabs(want[i]));
    for (int i = 0; i < m->ps.n_tensors; i++) {
        const ParamTensor *p = &m->ps.tensors[i];
        const float *g = got + p->offset, *w = want + p->offset;
        d.tensors++;
        if (strstr(p->name, "attention.self.key.bias")) {
            for (size_t j = 0; j < p->numel; j++)
                d.key_bias = fmax(d.key_bias, isnan(g[j]) ? INFINITY : fmax(fabs(g[j]), fabs(w[j])) / scale);
            continue;
        }
        const double e = max_relative_error(g, w, p->numel);
        if (!(e <= d.worst)) d.worst = e, snprintf(d.worst_name, sizeof d.worst_name, "%s", p->name);
    }
    return d;
}
