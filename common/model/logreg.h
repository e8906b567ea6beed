// logreg.h — multinomial logistic regression (softmax regression): the small model of Part I.
// Introduced by lesson 05 (accumulation); lesson 06 trains it on SST-2 bag-of-words counts.
//
//   logits (B,K) = X (B,D) · W^T (D,K) + b (K)
//
// Parameters live in a ParamSet (common/model/params.h): "weight" (K,D) gets weight decay, "bias" (K) not.
// Backward ACCUMULATES into the gradient buffer (+=), so a caller can sum micro-batches.
#pragma once
#include "common/model/params.h"
#include "common/core/rng.h"

typedef struct {
    int D, K;  // input features, classes
    ParamSet ps;
    float *W;        // (K,D) view into ps.params
    float *b;        // (K)   view into ps.params
    float *dW, *db;  // views into ps.grads
} LogReg;

// A batch of sparse rows in CSR form: row r's features are col[row_ptr[r] .. row_ptr[r+1]) with
// values val[...] (bag-of-words: word ids and counts).
typedef struct {
    int rows;
    const int *row_ptr;  // (rows+1)
    const int *col;      // (nnz)
    const float *val;    // (nnz)
} CsrRows;

// logreg_init: weights ~ N(0, init_std) from rng (init_std 0 gives zeros), bias 0.
void logreg_init(LogReg *m, int D, int K, Rng *rng, float init_std);
void logreg_free(LogReg *m);
void logreg_forward_dense(const LogReg *m, const float *X, int B, float *logits);
void logreg_backward_dense(LogReg *m, const float *X, int B, const float *dlogits);
// logreg_add_grad_rows: for the examples rows[0..n) of X (N,D) with labels y (N): grads +=
// scale x d(sum of their cross-entropies)/d(params); returns their mean loss. scale 1/n: the
// gradient of this batch's mean loss.
double logreg_add_grad_rows(LogReg *m, const float *X, const int *y, const int *rows, int n, float scale);
void logreg_forward_sparse(const LogReg *m, const CsrRows *X, float *logits);
void logreg_backward_sparse(LogReg *m, const CsrRows *X, const float *dlogits);
