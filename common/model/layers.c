// layers.c — see layers.h. Lesson 09 derives and gradient-checks each backward.
#include "common/model/layers.h"

#include <math.h>
#include <omp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/model/matmul.h"
#include "common/model/vec_math.h"
#include "common/core/util.h"

// Loops over fewer elements than this run on one thread: starting threads costs more than the work.
#define PARALLEL_MIN 16384

void embeddings_forward(float *out, const int *ids, const int *types, const float *word, const float *pos,
                        const float *type, int B, int T, int C) {
#pragma omp parallel for collapse(2) if ((long)B * T * C > PARALLEL_MIN)
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            long r = (long)b * T + t;
            const float *w = word + (long)ids[r] * C, *p = pos + (long)t * C,
                        *y = type + (long)(types ? types[r] : 0) * C;
            float *o = out + r * C;
            for (int c = 0; c < C; c++) o[c] = w[c] + p[c] + y[c];
        }
}

// Serial on purpose: two tokens with the same id add into the same row.
void embeddings_backward(float *dword, float *dpos, float *dtype, const float *dout, const int *ids, const int *types,
                         int B, int T, int C) {
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            long r = (long)b * T + t;
            const float *d = dout + r * C;
            float *w = dword + (long)ids[r] * C, *p = dpos + (long)t * C, *y = dtype + (long)(types ? types[r] : 0) * C;
            for (int c = 0; c < C; c++) {
                w[c] += d[c];
                p[c] += d[c];
                y[c] += d[c];
            }
        }
}

void layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *weight, const float *bias,
                       int N, int C, float eps) {
#pragma omp parallel for if ((long)N * C > PARALLEL_MIN)
    for (int r = 0; r < N; r++) {
        const float *x = inp + (long)r * C;
        float *o = out + (long)r * C;
        double m = 0, var = 0;
        for (int c = 0; c < C; c++) m += x[c];
        m /= C;
        for (int c = 0; c < C; c++) var += (x[c] - m) * (x[c] - m);
        var /= C;
        float s = (float)(1.0 / sqrt(var + eps));
        for (int c = 0; c < C; c++) o[c] = ((float)(x[c] - m) * s) * weight[c] + bias[c];
        mean[r] = (float)m;
        rstd[r] = s;
    }
}

void layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                        const float *weight, const float *mean, const float *rstd, int N, int C) {
#pragma omp parallel for if ((long)N * C > PARALLEL_MIN)
    for (int r = 0; r < N; r++) {
        const float *x = inp + (long)r * C, *d = dout + (long)r * C;
        float *dx = dinp + (long)r * C;
        double mean_dn = 0, mean_dn_n = 0;  // mean(dn), mean(dn * n)
        for (int c = 0; c < C; c++) {
            float n = (x[c] - mean[r]) * rstd[r], dn = d[c] * weight[c];
            mean_dn += dn;
            mean_dn_n += dn * n;
        }
        mean_dn /= C;
        mean_dn_n /= C;
        for (int c = 0; c < C; c++) {
            float n = (x[c] - mean[r]) * rstd[r], dn = d[c] * weight[c];
            dx[c] = rstd[r] * (dn - (float)mean_dn - n * (float)mean_dn_n);
        }
    }
    // Parameter gradients sum over rows. Each thread takes a range of channels and walks the rows
    // in order, reading each row's range contiguously (vectorized across channels); every
    // channel's sum still runs over r = 0, 1, ... in double, so no thread count changes a bit.
#pragma omp parallel if ((long)N * C > PARALLEL_MIN)
    {
        int nth = omp_get_num_threads(), me = omp_get_thread_num();
        int c0 = (int)((long)C * me / nth), c1 = (int)((long)C * (me + 1) / nth);
        double *dw = xcalloc(2 * (size_t)(c1 - c0) + 1, sizeof(double)), *db = dw + (c1 - c0);
        for (int r = 0; r < N; r++) {
            const float *d = dout + (long)r * C, *x = inp + (long)r * C;
            for (int c = c0; c < c1; c++) {
                dw[c - c0] += d[c] * ((x[c] - mean[r]) * rstd[r]);
                db[c - c0] += d[c];
            }
        }
        for (int c = c0; c < c1; c++) {
            dweight[c] += (float)dw[c - c0];
            dbias[c] += (float)db[c - c0];
        }
        free(dw);
    }
}

// GELU and softmax use erf_approx and exp_approx (vec_math.h), not libm's erff and expf: the
// same values to a few ulp, but a loop of them vectorizes (`omp simd`), and libm's calls do not.
void gelu_forward(float *out, const float *inp, int N) {
#pragma omp parallel for simd if (N > PARALLEL_MIN)
    for (int i = 0; i < N; i++) out[i] = 0.5f * inp[i] * (1.0f + erf_approx(inp[i] * (float)M_SQRT1_2));
}

void gelu_backward(float *dinp, const float *dout, const float *inp, int N) {
    const float inv_sqrt_2pi = (float)(0.5 * M_2_SQRTPI * M_SQRT1_2);  // 1/sqrt(2 pi)
#pragma omp parallel for simd if (N > PARALLEL_MIN)
    for (int i = 0; i < N; i++) {
        float x = inp[i];
        float cdf = 0.5f * (1.0f + erf_approx(x * (float)M_SQRT1_2)), pdf = inv_sqrt_2pi * exp_approx(-0.5f * x * x);
        dinp[i] = dout[i] * (cdf + x * pdf);
    }
}

void tanh_forward(float *out, const float *inp, int N) {
    for (int i = 0; i < N; i++) out[i] = tanhf(inp[i]);
}

void tanh_backward(float *dinp, const float *dout, const float *out, int N) {
    for (int i = 0; i < N; i++) dinp[i] = dout[i] * (1.0f - out[i] * out[i]);
}

void softmax_forward(float *probs, const float *scores, const int *key_mask, int rows, int n) {
    for (int r = 0; r < rows; r++) {
        const float *s = scores + (long)r * n;
        float *p = probs + (long)r * n;
        float max = -INFINITY;
#pragma omp simd reduction(max : max)
        for (int j = 0; j < n; j++)
            if ((!key_mask || key_mask[j]) && s[j] > max) max = s[j];
#pragma omp simd
        for (int j = 0; j < n; j++) p[j] = (!key_mask || key_mask[j]) ? exp_approx(s[j] - max) : 0.0f;
        float sum = 0;  // in order of j: a vectorized sum would give other bits on other vector widths
        for (int j = 0; j < n; j++) sum += p[j];
#pragma omp simd
        for (int j = 0; j < n; j++) p[j] /= sum;
    }
}

void softmax_backward(float *dscores, const float *dprobs, const float *probs, int rows, int n) {
    for (int r = 0; r < rows; r++) {
        const float *p = probs + (long)r * n, *dp = dprobs + (long)r * n;
        float *ds = dscores + (long)r * n;
        float dot = 0;  // sum_k p_k dp_k
        for (int j = 0; j < n; j++) dot += p[j] * dp[j];
        for (int j = 0; j < n; j++) ds[j] = p[j] * (dp[j] - dot);
    }
}

void dropout_forward(float *out, uint8_t *keep, const float *inp, int64_t N, float p, Rng *rng) {
    if (p <= 0.0f || !rng) {
        if (out != inp) memmove(out, inp, sizeof(float) * (size_t)N);
        memset(keep, 1, (size_t)N);
        return;
    }
    if (p >= 1.0f) die("dropout probability must be below 1 (got %g)", p);
    const float scale = 1.0f / (1.0f - p);
    for (int64_t i = 0; i < N; i++) {
        keep[i] = rng_uniform(rng) >= p;
        out[i] = keep[i] ? inp[i] * scale : 0.0f;
    }
}

void dropout_backward(float *dinp, const float *dout, const uint8_t *keep, int64_t N, float p) {
    const float scale = p > 0.0f ? 1.0f / (1.0f - p) : 1.0f;
#pragma omp parallel for if (N > PARALLEL_MIN)
    for (int64_t i = 0; i < N; i++) dinp[i] = keep[i] ? dout[i] * scale : 0.0f;
}

// The attention products run per (batch, head) on strided views: row t of head h in q is
// q + (b*T + t)*C + h*HS, so its leading dimension is C. The dropout masks are drawn first, in
// one fixed order, so the parallel loop over (b,h) gives the same masks on any thread count.
void attention_forward(float *ctx, float *att, uint8_t *keep, float *attd, const float *q, const float *k,
                       const float *v, const int *mask, int B, int T, int C, int NH, float dropout_p, Rng *rng) {
    const int HS = C / NH;
    const float scale = 1.0f / sqrtf((float)HS);
    const long TT = (long)T * T;
    const bool drop = dropout_p > 0.0f && rng;
    const float keep_scale = drop ? 1.0f / (1.0f - dropout_p) : 1.0f;
    if (drop)
        for (long i = 0; i < (long)B * NH * TT; i++) keep[i] = rng_uniform(rng) >= dropout_p;
    else memset(keep, 1, (size_t)B * NH * TT);
#pragma omp parallel for collapse(2) if (B * NH > 1)
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++) {
            long off = (long)b * T * C + h * HS, a = ((long)b * NH + h) * TT;
            // att = softmax(q k^T * scale)        (T,T)
            sgemm(false, true, T, T, HS, scale, q + off, C, k + off, C, 0.0f, att + a, T);
            softmax_forward(att + a, att + a, mask ? mask + (long)b * T : NULL, T, T);
            // attd = dropout(att), with the masks drawn above
            for (long i = 0; i < TT; i++) attd[a + i] = keep[a + i] ? att[a + i] * keep_scale : 0.0f;
            // ctx_h = attd v_h                     (T,HS)
            sgemm(false, false, T, HS, T, 1.0f, attd + a, T, v + off, C, 0.0f, ctx + off, C);
        }
}

void attention_backward(float *dq, float *dk, float *dv, float *datt, const float *dctx, const float *q, const float *k,
                        const float *v, const float *att, const uint8_t *keep, const float *attd, int B, int T, int C,
                        int NH, float dropout_p) {
    const int HS = C / NH;
    const float scale = 1.0f / sqrtf((float)HS);
    const long TT = (long)T * T;
#pragma omp parallel for collapse(2) if (B * NH > 1)
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++) {
            long off = (long)b * T * C + h * HS, a = ((long)b * NH + h) * TT;
            float *d = datt + a;
            sgemm(false, true, T, T, HS, 1.0f, dctx + off, C, v + off, C, 0.0f, d, T);          // dattd = dctx v^T
            sgemm(true, false, T, HS, T, 1.0f, attd + a, T, dctx + off, C, 0.0f, dv + off, C);  // dv = attd^T dctx
            dropout_backward(d, d, keep + a, TT, dropout_p);                                    // datt
            softmax_backward(d, d, att + a, T, T);                                              // ds
            sgemm(false, false, T, HS, T, scale, d, T, k + off, C, 0.0f, dq + off, C);          // dq = ds k * scale
            sgemm(true, false, T, HS, T, scale, d, T, q + off, C, 0.0f, dk + off, C);           // dk = ds^T q * scale
        }
}

void add_forward(float *out, const float *a, const float *b, int64_t N) {
#pragma omp parallel for if (N > PARALLEL_MIN)
    for (int64_t i = 0; i < N; i++) out[i] = a[i] + b[i];
}
