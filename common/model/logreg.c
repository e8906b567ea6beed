// logreg.c — see logreg.h.
#include "common/model/logreg.h"

#include <stdlib.h>
#include <string.h>

#include "common/core/util.h"
#include "common/model/loss.h"

void logreg_init(LogReg *m, int D, int K, Rng *rng, float init_std) {
    memset(m, 0, sizeof *m);
    m->D = D;
    m->K = K;
    params_add(&m->ps, "weight", 2, (int[]){K, D});
    params_add(&m->ps, "bias", 1, (int[]){K});
    params_alloc(&m->ps);
    m->W = m->ps.params + m->ps.tensors[0].offset;
    m->b = m->ps.params + m->ps.tensors[1].offset;
    m->dW = m->ps.grads + m->ps.tensors[0].offset;
    m->db = m->ps.grads + m->ps.tensors[1].offset;
    for (size_t i = 0; i < (size_t)K * D; i++) m->W[i] = init_std * rng_normal(rng);
}

void logreg_free(LogReg *m) { params_free(&m->ps); }

void logreg_forward_dense(const LogReg *m, const float *X, int B, float *logits) {
    for (int r = 0; r < B; r++)
        for (int k = 0; k < m->K; k++) {
            const float *x = X + (size_t)r * m->D, *w = m->W + (size_t)k * m->D;
            float z = m->b[k];
            for (int d = 0; d < m->D; d++) z += x[d] * w[d];
            logits[(size_t)r * m->K + k] = z;
        }
}

// dW[k,:] += sum_r dlogits[r,k] * x_r ;  db[k] += sum_r dlogits[r,k]
void logreg_backward_dense(LogReg *m, const float *X, int B, const float *dlogits) {
    for (int r = 0; r < B; r++)
        for (int k = 0; k < m->K; k++) {
            float g = dlogits[(size_t)r * m->K + k];
            const float *x = X + (size_t)r * m->D;
            float *dw = m->dW + (size_t)k * m->D;
            for (int d = 0; d < m->D; d++) dw[d] += g * x[d];
            m->db[k] += g;
        }
}

double logreg_add_grad_rows(LogReg *m, const float *X, const int *y, const int *rows, int n, float scale) {
    const int D = m->D, K = m->K;
    float *x = xmalloc(sizeof(float) * (size_t)n * D),
          *logits = xmalloc(sizeof(float) * (size_t)n * K);  // (n,D), (n,K)
    float *probs = xmalloc(sizeof(float) * (size_t)n * K), *dlogits = xmalloc(sizeof(float) * (size_t)n * K);
    int *yb = xmalloc(sizeof(int) * (size_t)n);
    for (int i = 0; i < n; i++) {
        memcpy(x + (size_t)i * D, X + (size_t)rows[i] * D, sizeof(float) * (size_t)D);
        yb[i] = y[rows[i]];
    }
    logreg_forward_dense(m, x, n, logits);
    const double loss = cross_entropy_forward(logits, yb, n, K, probs);
    cross_entropy_backward(probs, yb, n, K, scale, dlogits);
    logreg_backward_dense(m, x, n, dlogits);
    free(x), free(logits), free(probs), free(dlogits), free(yb);
    return loss;
}

void logreg_forward_sparse(const LogReg *m, const CsrRows *X, float *logits) {
    for (int r = 0; r < X->rows; r++)
        for (int k = 0; k < m->K; k++) {
            const float *w = m->W + (size_t)k * m->D;
            float z = m->b[k];
            for (int j = X->row_ptr[r]; j < X->row_ptr[r + 1]; j++) z += X->val[j] * w[X->col[j]];
            logits[(size_t)r * m->K + k] = z;
        }
}

void logreg_backward_sparse(LogReg *m, const CsrRows *X, const float *dlogits) {
    for (int r = 0; r < X->rows; r++)
        for (int k = 0; k < m->K; k++) {
            float g = dlogits[(size_t)r * m->K + k];
            float *dw = m->dW + (size_t)k * m->D;
            for (int j = X->row_ptr[r]; j < X->row_ptr[r + 1]; j++) dw[X->col[j]] += g * X->val[j];
            m->db[k] += g;
        }
}
