// matmul.h — the CPU matrix products every later lesson is built on.
// Introduced by lesson 08 (matmul_cpu), which derives the fast version step by step; the CPU
// BERT (lessons 09-11) and the trainer's CPU path call only these functions.
//
// All matrices are row-major. A Linear layer stores its weight as PyTorch does, (out, in):
//
//   linear_forward:   out (BT,OC) = inp (BT,C) · W^T + b          W (OC,C), b (OC)
//   linear_backward:  dinp (BT,C)  += dout (BT,OC) · W
//                     dW   (OC,C)  += dout^T · inp
//                     db   (OC)    += sum over rows of dout
//
// Backward ACCUMULATES (+=) into the gradient buffers: gradients of a parameter used twice, or
// over micro-batches of an accumulation group, add up, as in PyTorch.
#pragma once
#include <stdbool.h>

#include "common/model/madd.h"

// sgemm: C (M,N) = alpha * op(A) · op(B) + beta * C, op(X) = X or X^T, row-major with leading
// dimensions (A is (M,K) with lda >= K, or stored (K,M) when trans_a, and so on). beta = 0
// ignores whatever C held (it may be uninitialised). The attention products (Q·K^T, P·V) call
// it per (batch, head) on strided views.
// Threads: a product of at least 2^23 multiply-adds uses all OpenMP threads (omp_set_num_threads
// or OMP_NUM_THREADS picks how many); smaller ones, and every call made from inside a parallel
// region (say, a loop over heads), run on the calling thread. Calls from several threads at once
// are safe: each thread packs into its own buffers.
void sgemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
           int ldb, float beta, float *C, int ldc);

// sgemm_planned: the same with a given kernel and block sizes (sgemm uses gemm_plan(), the ones
// chosen for this CPU; lesson 08 and the tests run the others).
typedef struct GemmPlan GemmPlan;
void sgemm_planned(const GemmPlan *plan, bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A,
                   int lda, const float *B, int ldb, float beta, float *C, int ldc);

void linear_forward(float *out, const float *inp, const float *weight, const float *bias, int BT, int C, int OC);
// linear_backward: dinp, dweight, dbias may each be NULL when that gradient is not needed.
void linear_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                     const float *weight, int BT, int C, int OC);
