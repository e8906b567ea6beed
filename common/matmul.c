// matmul.c — see matmul.h. Lesson 08 explains how this version came to be.
#include "common/matmul.h"

#include <string.h>

// element: X[r][c] of op(X), where op transposes when `trans`.
static inline float element(const float *X, int ld, bool trans, int r, int c) {
    return trans ? X[(long)c * ld + r] : X[(long)r * ld + c];
}

void sgemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
           int ldb, float beta, float *C, int ldc) {
#pragma omp parallel for schedule(static) if ((long)M * N * K > 32768)
    for (int i = 0; i < M; i++) {
        float *c = C + (long)i * ldc;
        if (beta == 0.0f) memset(c, 0, sizeof(float) * (size_t)N);
        else if (beta != 1.0f) for (int j = 0; j < N; j++) c[j] *= beta;
        // i-k-j order: the inner loop walks a row of op(B) and of C with unit stride.
        for (int k = 0; k < K; k++) {
            float a = alpha * element(A, lda, trans_a, i, k);
            if (!trans_b) {
                const float *b = B + (long)k * ldb;
                for (int j = 0; j < N; j++) c[j] += a * b[j];
            } else {
                for (int j = 0; j < N; j++) c[j] += a * B[(long)j * ldb + k];
            }
        }
    }
}

void linear_forward(float *out, const float *inp, const float *weight, const float *bias, int BT, int C, int OC) {
    sgemm(false, true, BT, OC, C, 1.0f, inp, C, weight, C, 0.0f, out, OC);  // out = inp · W^T
    if (!bias) return;
    for (int r = 0; r < BT; r++)
        for (int o = 0; o < OC; o++) out[(long)r * OC + o] += bias[o];
}

void linear_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                     const float *weight, int BT, int C, int OC) {
    if (dinp) sgemm(false, false, BT, C, OC, 1.0f, dout, OC, weight, C, 1.0f, dinp, C);        // dinp += dout · W
    if (dweight) sgemm(true, false, OC, C, BT, 1.0f, dout, OC, inp, C, 1.0f, dweight, C);      // dW += dout^T · inp
    if (dbias)
        for (int r = 0; r < BT; r++)
            for (int o = 0; o < OC; o++) dbias[o] += dout[(long)r * OC + o];
}
