// test_logreg.c — softmax regression gradients against finite differences, dense and sparse,
// and accumulation: micro-batches weighted by 1/group give the one-batch gradient.
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include "common/model/logreg.h"
#include "common/model/loss.h"

enum { B = 12, D = 7, K = 3 };

static void random_batch(Rng *rng, float *x, int *y) {
    for (int i = 0; i < B * D; i++) x[i] = rng_normal(rng);
    for (int b = 0; b < B; b++) y[b] = (int)rng_below(rng, K);
}

// mean_loss_dense: the model's mean cross-entropy on the batch.
static double mean_loss_dense(const LogReg *m, const float *x, const int *y) {
    float logits[B * K];
    logreg_forward_dense(m, x, B, logits);
    return cross_entropy_forward(logits, y, B, K, NULL);
}

// dense_grad: gradient of the mean loss over rows [first, first+count), weighted by `weight`.
static void dense_grad(LogReg *m, const float *x, const int *y, int first, int count, float weight) {
    float logits[B * K], probs[B * K], dlogits[B * K];
    logreg_forward_dense(m, x + first * D, count, logits);
    cross_entropy_forward(logits, y + first, count, K, probs);
    cross_entropy_backward(probs, y + first, count, K, weight, dlogits);
    logreg_backward_dense(m, x + first * D, count, dlogits);
}

Test(logreg, dense_gradient_matches_finite_differences) {
    Rng rng;
    rng_seed(&rng, 1, 0);
    float x[B * D];
    int y[B];
    random_batch(&rng, x, y);
    LogReg m;
    logreg_init(&m, D, K, &rng, 0.3f);
    dense_grad(&m, x, y, 0, B, 1.0f / B);
    const float h = 1e-3f;
    for (size_t i = 0; i < m.ps.numel; i++) {
        float keep = m.ps.params[i];
        m.ps.params[i] = keep + h;
        double up = mean_loss_dense(&m, x, y);
        m.ps.params[i] = keep - h;
        double down = mean_loss_dense(&m, x, y);
        m.ps.params[i] = keep;
        double fd = (up - down) / (2 * h);
        cr_assert(fabs(fd - m.ps.grads[i]) <= 1e-3 * fmax(1.0, fabs(fd)),
                  "param %zu: analytic %g, finite difference %g", i, m.ps.grads[i], fd);
    }
    logreg_free(&m);
}

Test(logreg, sparse_equals_dense) {
    Rng rng;
    rng_seed(&rng, 2, 0);
    float x[B * D];
    int y[B];
    random_batch(&rng, x, y);
    for (int i = 0; i < B * D; i += 3) x[i] = 0.0f;  // make it really sparse in places
    int row_ptr[B + 1], col[B * D];
    float val[B * D];
    int nnz = 0;
    for (int r = 0; r < B; r++) {
        row_ptr[r] = nnz;
        for (int j = 0; j < D; j++)
            if (x[r * D + j] != 0.0f) {
                col[nnz] = j;
                val[nnz++] = x[r * D + j];
            }
    }
    row_ptr[B] = nnz;
    CsrRows rows = {B, row_ptr, col, val};
    LogReg m;
    logreg_init(&m, D, K, &rng, 0.3f);
    float dense_logits[B * K], sparse_logits[B * K], dl[B * K];
    logreg_forward_dense(&m, x, B, dense_logits);
    logreg_forward_sparse(&m, &rows, sparse_logits);
    for (int i = 0; i < B * K; i++) cr_assert_float_eq(dense_logits[i], sparse_logits[i], 1e-5);
    for (int i = 0; i < B * K; i++) dl[i] = rng_normal(&rng);
    logreg_backward_dense(&m, x, B, dl);
    float *dense_grads = malloc(sizeof(float) * m.ps.numel);
    for (size_t i = 0; i < m.ps.numel; i++) dense_grads[i] = m.ps.grads[i];
    params_zero_grad(&m.ps);
    logreg_backward_sparse(&m, &rows, dl);
    for (size_t i = 0; i < m.ps.numel; i++) cr_assert_float_eq(dense_grads[i], m.ps.grads[i], 1e-5);
    free(dense_grads);
    logreg_free(&m);
}

Test(logreg, accumulated_micro_batches_equal_one_batch) {
    Rng rng;
    rng_seed(&rng, 3, 0);
    float x[B * D];
    int y[B];
    random_batch(&rng, x, y);
    LogReg m;
    logreg_init(&m, D, K, &rng, 0.3f);
    dense_grad(&m, x, y, 0, B, 1.0f / B);
    float one[K * D + K];
    for (size_t i = 0; i < m.ps.numel; i++) one[i] = m.ps.grads[i];
    params_zero_grad(&m.ps);
    for (int first = 0; first < B; first += 5)  // micro-batches of 5, 5 and a short one of 2
        dense_grad(&m, x, y, first, first + 5 <= B ? 5 : B - first, 1.0f / B);
    for (size_t i = 0; i < m.ps.numel; i++) cr_assert_float_eq(one[i], m.ps.grads[i], 1e-6, "entry %zu", i);
    logreg_free(&m);
}
