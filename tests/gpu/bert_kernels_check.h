// bert_kernels_check.h — every kernel of kernels/bert/bert_kernels.cu against the CPU function it
// mirrors (common/model/layers.c, common/model/matmul.c, common/model/loss.c, common/train/optim.c), on fresh random
// inputs, with every output poisoned (NaN, or 0xFF bytes) before the kernel runs, and every
// element compared. Gradients that a backward ADDS to start from the same random values on both
// sides, so the "+=" is checked too. Shared by the GPU tests (tests/gpu/test_bert.cu) and the CPU
// emulation of the same kernels (tests/emulate/test_bert_emulated.cpp).
//
// An element is wrong when |got - want| > tol * max_i |want_i| (the tensor's scale, so elements
// near zero do not blow a relative error up) or when it is NaN; tol is 1e-6 for element-wise
// kernels (same formula, only rounding: nvcc fuses multiply-adds) and 1e-5 for reductions and
// products (other summation orders).
#pragma once
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <vector>

#include "kernels/bert/bert_kernels.cuh"

extern "C" {
#include "common/model/layers.h"
#include "common/model/loss.h"
#include "common/model/matmul.h"
#include "common/train/optim.h"
}

typedef struct {
    bool ok;
    char line[320];  // "layernorm_forward_gpu out (6x300): worst 3.1e-08 (tol 1e-05)"
} KernelCheck;

typedef struct {
    int B, T, C, NH, I, V, K;
} KernelDims;

// KernelChecker: host and device buffers of one check, freed at the end; the result lines.
struct KernelChecker {
    Rng rng;
    std::vector<void *> host, device;
    std::vector<KernelCheck> results;

    explicit KernelChecker(uint64_t seed) { rng_seed(&rng, seed, 0); }
    ~KernelChecker() { release(); }
    void release() {
        for (void *p : host) free(p);
        for (void *p : device) CUDA_CHECK(cudaFree(p));
        host.clear(), device.clear();
    }

    float *uniform(long n, float lo = -1.0f, float hi = 1.0f) {
        float *x = (float *)xmalloc(sizeof(float) * n);
        for (long i = 0; i < n; i++) x[i] = lo + (hi - lo) * rng_uniform(&rng);
        host.push_back(x);
        return x;
    }
    int *ints(long n, int below) {
        int *x = (int *)xmalloc(sizeof(int) * n);
        for (long i = 0; i < n; i++) x[i] = (int)rng_below(&rng, (uint32_t)below);
        host.push_back(x);
        return x;
    }
    template <typename X> X *copy(const X *x, long n) {
        X *c = (X *)xmalloc(sizeof(X) * n);
        memcpy(c, x, sizeof(X) * n);
        host.push_back(c);
        return c;
    }
    template <typename X> X *up(const X *x, long n) {
        X *d = (X *)cuda_malloc(sizeof(X) * n, "kernel check input");
        CUDA_CHECK(cudaMemcpy(d, x, sizeof(X) * n, cudaMemcpyHostToDevice));
        device.push_back(d);
        return d;
    }
    // poisoned: a device output whose bytes are all 0xFF (NaN as floats).
    template <typename X> X *poisoned(long n) {
        X *d = (X *)cuda_malloc(sizeof(X) * n, "kernel check output");
        CUDA_CHECK(cudaMemset(d, 0xFF, sizeof(X) * n));
        device.push_back(d);
        return d;
    }
    template <typename X> X *down(const X *d, long n) {
        X *x = (X *)xmalloc(sizeof(X) * n);
        CUDA_CHECK(cudaMemcpy(x, d, sizeof(X) * n, cudaMemcpyDeviceToHost));
        host.push_back(x);
        return x;
    }

    // expect: every element of the device array `got` against the host `want`.
    void expect(const char *what, const float *got_dev, const float *want, long rows, long cols, double tol) {
        const long n = rows * cols;
        const float *got = down(got_dev, n);
        double scale = 0.0, worst = 0.0;
        for (long i = 0; i < n; i++) scale = fmax(scale, fabs(want[i]));
        if (scale == 0.0) scale = 1.0;
        long bad = 0, first = -1;
        for (long i = 0; i < n; i++) {
            const double err = fabs((double)got[i] - want[i]) / scale;
            if (!(err <= tol)) bad++, first = first < 0 ? i : first;
            worst = isnan(err) ? INFINITY : fmax(worst, err);
        }
        KernelCheck r;
        r.ok = bad == 0;
        if (r.ok) snprintf(r.line, sizeof r.line, "%s (%ldx%ld): worst %.2g (tol %.0e)", what, rows, cols, worst, tol);
        else
            snprintf(r.line, sizeof r.line,
                     "%s (%ldx%ld): %ld of %ld elements wrong, first [%ld] = %.9g, want %.9g (tol %.0e)", what, rows,
                     cols, bad, n, first, got[first], want[first], tol);
        results.push_back(r);
    }
    void expect_bytes(const char *what, const uint8_t *got_dev, const uint8_t *want, long n) {
        const uint8_t *got = down(got_dev, n);
        long bad = 0, first = -1;
        for (long i = 0; i < n; i++)
            if (got[i] != want[i]) bad++, first = first < 0 ? i : first;
        KernelCheck r;
        r.ok = bad == 0;
        if (r.ok) snprintf(r.line, sizeof r.line, "%s (%ld bytes): identical", what, n);
        else
            snprintf(r.line, sizeof r.line, "%s: %ld of %ld bytes differ, first [%ld] = %d, want %d", what, bad, n,
                     first, got[first], want[first]);
        results.push_back(r);
    }
    void expect_true(bool ok, const char *fmt, double a, double b) {
        KernelCheck r;
        r.ok = ok;
        snprintf(r.line, sizeof r.line, fmt, a, b);
        results.push_back(r);
    }
};

constexpr double TOL_ELEMENTWISE = 1e-6, TOL_REDUCTION = 1e-5;

static void check_embeddings(KernelChecker &k, const KernelDims &d) {
    const int B = d.B, T = d.T, C = d.C;
    const long BT = (long)B * T, BTC = BT * C;
    int *ids = k.ints(BT, d.V), *types = k.ints(BT, 2);
    float *word = k.uniform((long)d.V * C), *pos = k.uniform((long)T * C), *type = k.uniform(2L * C);
    float *want = k.uniform(BTC);
    for (const int *ty : {(const int *)types, (const int *)NULL}) {
        embeddings_forward(want, ids, ty, word, pos, type, B, T, C);
        float *out = k.poisoned<float>(BTC);
        embeddings_forward_gpu(out, k.up(ids, BT), ty ? k.up(ty, BT) : NULL, k.up(word, (long)d.V * C),
                               k.up(pos, (long)T * C), k.up(type, 2L * C), B, T, C);
        k.expect(ty ? "embeddings_forward_gpu out" : "embeddings_forward_gpu out (types NULL)", out, want, BT, C,
                 TOL_ELEMENTWISE);
    }
    // backward: ids from a small vocabulary repeat, so rows receive several additions
    float *dout = k.uniform(BTC), *dword = k.uniform((long)d.V * C), *dpos = k.uniform((long)T * C),
          *dtype = k.uniform(2L * C);
    float *gw = k.up(dword, (long)d.V * C), *gp = k.up(dpos, (long)T * C), *gt = k.up(dtype, 2L * C);
    embeddings_backward_gpu(gw, gp, gt, k.up(dout, BTC), k.up(ids, BT), k.up(types, BT), B, T, C);
    embeddings_backward(dword, dpos, dtype, dout, ids, types, B, T, C);
    k.expect("embeddings_backward_gpu dword", gw, dword, d.V, C, TOL_REDUCTION);
    k.expect("embeddings_backward_gpu dpos", gp, dpos, T, C, TOL_REDUCTION);
    k.expect("embeddings_backward_gpu dtype", gt, dtype, 2, C, TOL_REDUCTION);
}

static void check_layernorm(KernelChecker &k, int N, int C) {
    float *x = k.uniform((long)N * C, -2.0f, 3.0f), *w = k.uniform(C), *b = k.uniform(C);
    float *out = k.uniform((long)N * C), *mean = k.uniform(N), *rstd = k.uniform(N);
    layernorm_forward(out, mean, rstd, x, w, b, N, C, 1e-12f);
    float *gx = k.up(x, (long)N * C), *gw = k.up(w, C), *gmean = k.poisoned<float>(N), *grstd = k.poisoned<float>(N);
    float *gout = k.poisoned<float>((long)N * C);
    layernorm_forward_gpu(gout, gmean, grstd, gx, gw, k.up(b, C), N, C, 1e-12f);
    k.expect("layernorm_forward_gpu out", gout, out, N, C, TOL_REDUCTION);
    k.expect("layernorm_forward_gpu mean", gmean, mean, N, 1, TOL_REDUCTION);
    k.expect("layernorm_forward_gpu rstd", grstd, rstd, N, 1, TOL_REDUCTION);

    float *dout = k.uniform((long)N * C), *dw = k.uniform(C), *db = k.uniform(C), *dx = k.uniform((long)N * C);
    float *gdw = k.up(dw, C), *gdb = k.up(db, C), *gdx = k.poisoned<float>((long)N * C);
    // the GPU backward reads the CPU's mean and rstd, so the two differ only in the backward
    layernorm_backward_gpu(gdx, gdw, gdb, k.up(dout, (long)N * C), gx, gw, k.up(mean, N), k.up(rstd, N), N, C);
    layernorm_backward(dx, dw, db, dout, x, w, mean, rstd, N, C);
    k.expect("layernorm_backward_gpu dinp", gdx, dx, N, C, TOL_REDUCTION);
    k.expect("layernorm_backward_gpu dweight", gdw, dw, 1, C, TOL_REDUCTION);
    k.expect("layernorm_backward_gpu dbias", gdb, db, 1, C, TOL_REDUCTION);
}

static void check_activations(KernelChecker &k, long N) {
    float *x = k.uniform(N, -4.0f, 4.0f), *dout = k.uniform(N), *want = k.uniform(N), *gx = k.up(x, N),
          *gd = k.up(dout, N);
    float *got = k.poisoned<float>(N);
    gelu_forward(want, x, (int)N);
    gelu_forward_gpu(got, gx, N);
    k.expect("gelu_forward_gpu", got, want, 1, N, TOL_ELEMENTWISE);
    gelu_backward(want, dout, x, (int)N);
    CUDA_CHECK(cudaMemset(got, 0xFF, sizeof(float) * N));
    gelu_backward_gpu(got, gd, gx, N);
    k.expect("gelu_backward_gpu", got, want, 1, N, TOL_ELEMENTWISE);
    tanh_forward(want, x, (int)N);
    CUDA_CHECK(cudaMemset(got, 0xFF, sizeof(float) * N));
    tanh_forward_gpu(got, gx, N);
    k.expect("tanh_forward_gpu", got, want, 1, N, TOL_ELEMENTWISE);
    float *y = k.copy(want, N);  // tanh outputs
    tanh_backward(want, dout, y, (int)N);
    CUDA_CHECK(cudaMemset(got, 0xFF, sizeof(float) * N));
    tanh_backward_gpu(got, gd, k.up(y, N), N);
    k.expect("tanh_backward_gpu", got, want, 1, N, TOL_ELEMENTWISE);
}

// random_mask: (B,n) of 0/1, every row with at least its first key on (as a real batch: [CLS]).
static int *random_mask(KernelChecker &k, int B, int n) {
    int *mask = k.ints((long)B * n, 4);
    for (long i = 0; i < (long)B * n; i++) mask[i] = mask[i] != 0 || i % n == 0;
    return mask;
}

static void check_softmax(KernelChecker &k, int B, int rows_per_batch, int n) {
    const long rows = (long)B * rows_per_batch, N = rows * n;
    float *s = k.uniform(N, -5.0f, 5.0f), *want = k.uniform(N);
    int *mask = random_mask(k, B, n);
    for (long r = 0; r < rows; r++) softmax_forward(want + r * n, s + r * n, mask + r / rows_per_batch * n, 1, n);
    float *got = k.poisoned<float>(N);
    softmax_forward_gpu(got, k.up(s, N), k.up(mask, (long)B * n), B, rows_per_batch, n);
    k.expect("softmax_forward_gpu (key mask)", got, want, rows, n, TOL_REDUCTION);
    float *p = k.copy(want, N), *dp = k.uniform(N);
    softmax_backward(want, dp, p, (int)rows, n);
    CUDA_CHECK(cudaMemset(got, 0xFF, sizeof(float) * N));
    softmax_backward_gpu(got, k.up(dp, N), k.up(p, N), rows, n);
    k.expect("softmax_backward_gpu", got, want, rows, n, TOL_REDUCTION);
}

static void check_dropout(KernelChecker &k, long N) {
    const float p = 0.25f;
    float *x = k.uniform(N), *res = k.uniform(N), *want = k.uniform(N);
    uint8_t *keep = (uint8_t *)xmalloc(N), *ones = (uint8_t *)xmalloc(N);
    k.host.push_back(keep), k.host.push_back(ones);
    for (long i = 0; i < N; i++) keep[i] = rng_uniform(&k.rng) >= p, ones[i] = 1;
    float *gx = k.up(x, N), *gres = k.up(res, N), *got = k.poisoned<float>(N);
    // p = 0: the identity, every keep = 1 (dropout_forward without an Rng)
    uint8_t *gkeep = k.poisoned<uint8_t>(N);
    dropout_forward_gpu(got, gkeep, gx, (const float *)NULL, N, Dropout{0.0f, 1, false});
    dropout_forward(want, keep, x, N, 0.0f, NULL);
    k.expect("dropout_forward_gpu p=0", got, want, 1, N, 0.0);
    k.expect_bytes("dropout_forward_gpu p=0 keep", gkeep, ones, N);
    // masks given (uploaded from the CPU): out = residual + keep x / (1-p), as dropout then add
    for (long i = 0; i < N; i++) keep[i] = rng_uniform(&k.rng) >= p;
    CUDA_CHECK(cudaMemcpy(gkeep, keep, N, cudaMemcpyHostToDevice));
    CUDA_CHECK(cudaMemset(got, 0xFF, sizeof(float) * N));
    dropout_forward_gpu(got, gkeep, gx, gres, N, Dropout{p, 1, true});
    dropout_backward(want, x, keep, N, p);  // = keep x / (1-p), the forward with a given mask
    add_forward(want, want, res, N);
    // (not bit for bit: nvcc may fuse the scaling and the residual add into one multiply-add)
    k.expect("dropout_forward_gpu given masks + residual", got, want, 1, N, TOL_ELEMENTWISE);
    // drawn masks: a fraction 1-p kept (within 5 standard deviations), out consistent with keep,
    // the same seed the same masks, another seed other masks
    CUDA_CHECK(cudaMemset(gkeep, 0xFF, N));
    CUDA_CHECK(cudaMemset(got, 0xFF, sizeof(float) * N));
    dropout_forward_gpu(got, gkeep, gx, (const float *)NULL, N, Dropout{p, dropout_site_seed(7, 3), false});
    uint8_t *drawn = k.down(gkeep, N);
    long kept = 0;
    for (long i = 0; i < N; i++) kept += drawn[i] == 1;
    const double frac = (double)kept / N, sd = sqrt(p * (1.0 - p) / N);
    k.expect_true(fabs(frac - (1.0 - p)) < 5 * sd, "dropout_forward_gpu drawn masks keep %.4f, want 0.75 +- %.4f", frac,
                  5 * sd);
    dropout_backward(want, x, drawn, N, p);
    k.expect("dropout_forward_gpu drawn masks: out = keep x / (1-p)", got, want, 1, N, 0.0);
    dropout_forward_gpu(got, gkeep, gx, (const float *)NULL, N, Dropout{p, dropout_site_seed(7, 3), false});
    k.expect_bytes("dropout_forward_gpu same seed, same masks", gkeep, drawn, N);
    dropout_forward_gpu(got, gkeep, gx, (const float *)NULL, N, Dropout{p, dropout_site_seed(7, 4), false});
    const uint8_t *other = k.down(gkeep, N);
    long same = 0;
    for (long i = 0; i < N; i++) same += other[i] == drawn[i];
    k.expect_true(same < N, "dropout_forward_gpu another site: %.0f of %.0f masks equal", (double)same, (double)N);
    // backward
    float *dout = k.uniform(N);
    dropout_backward(want, dout, keep, N, p);
    CUDA_CHECK(cudaMemcpy(gkeep, keep, N, cudaMemcpyHostToDevice));
    CUDA_CHECK(cudaMemset(got, 0xFF, sizeof(float) * N));
    dropout_backward_gpu(got, k.up(dout, N), gkeep, N, p);
    k.expect("dropout_backward_gpu", got, want, 1, N, 0.0);
}

// check_attention: the CPU's attention_forward/backward (heads side by side) against
// split_heads + attention_*_gpu + merge_heads, without dropout and with the CPU's masks.
static void check_attention(KernelChecker &k, cublasHandle_t h, const KernelDims &d, float p) {
    const int B = d.B, T = d.T, C = d.C, NH = d.NH, HS = C / NH;
    const long BTC = (long)B * T * C, ATT = (long)B * NH * T * T;
    float *q = k.uniform(BTC), *kk = k.uniform(BTC), *v = k.uniform(BTC);
    int *mask = random_mask(k, B, T);
    float *ctx = k.uniform(BTC), *att = k.uniform(ATT), *attd = k.uniform(ATT);
    uint8_t *keep = (uint8_t *)xmalloc(ATT);
    k.host.push_back(keep);
    Rng drop;
    rng_seed(&drop, 5, 2);
    attention_forward(ctx, att, keep, attd, q, kk, v, mask, B, T, C, NH, p, p > 0 ? &drop : NULL);

    float *qh = k.poisoned<float>(BTC), *kh = k.poisoned<float>(BTC), *vh = k.poisoned<float>(BTC);
    split_heads_gpu(qh, k.up(q, BTC), B, T, NH, HS);
    split_heads_gpu(kh, k.up(kk, BTC), B, T, NH, HS);
    split_heads_gpu(vh, k.up(v, BTC), B, T, NH, HS);
    float *gatt = k.poisoned<float>(ATT), *gattd = k.poisoned<float>(ATT), *ctxh = k.poisoned<float>(BTC);
    float *gctx = k.poisoned<float>(BTC);
    uint8_t *gkeep = p > 0 ? k.up(keep, ATT) : k.poisoned<uint8_t>(ATT);
    attention_forward_gpu(h, GEMM_FP32, ctxh, gatt, gkeep, gattd, qh, kh, vh, k.up(mask, (long)B * T), B, T, NH, HS,
                          Dropout{p, 0, true});
    merge_heads_gpu(gctx, ctxh, B, T, NH, HS);
    char what[96];
    snprintf(what, sizeof what, "attention_forward_gpu att (p=%g)", p);
    k.expect(what, gatt, att, (long)B * NH * T, T, TOL_REDUCTION);
    snprintf(what, sizeof what, "attention_forward_gpu attd (p=%g)", p);
    k.expect(what, gattd, attd, (long)B * NH * T, T, TOL_REDUCTION);
    snprintf(what, sizeof what, "attention_forward_gpu ctx (p=%g)", p);
    k.expect(what, gctx, ctx, (long)B * T, C, TOL_REDUCTION);

    float *dctx = k.uniform(BTC), *dq = k.uniform(BTC), *dk = k.uniform(BTC), *dv = k.uniform(BTC),
          *datt = k.uniform(ATT);
    attention_backward(dq, dk, dv, datt, dctx, q, kk, v, att, keep, attd, B, T, C, NH, p);
    float *dctxh = k.poisoned<float>(BTC), *dqh = k.poisoned<float>(BTC), *dkh = k.poisoned<float>(BTC);
    float *dvh = k.poisoned<float>(BTC), *out = k.poisoned<float>(BTC);
    split_heads_gpu(dctxh, k.up(dctx, BTC), B, T, NH, HS);
    // the backward reads the CPU's forward results, so only the backward is compared
    attention_backward_gpu(h, GEMM_FP32, dqh, dkh, dvh, k.poisoned<float>(ATT), dctxh, qh, kh, vh, k.up(att, ATT),
                           k.up(keep, ATT), k.up(attd, ATT), B, T, NH, HS, p);
    const char *names[3] = {"attention_backward_gpu dq", "attention_backward_gpu dk", "attention_backward_gpu dv"};
    const float *heads[3] = {dqh, dkh, dvh}, *wants[3] = {dq, dk, dv};
    for (int i = 0; i < 3; i++) {
        CUDA_CHECK(cudaMemset(out, 0xFF, sizeof(float) * BTC));
        merge_heads_gpu(out, heads[i], B, T, NH, HS);
        snprintf(what, sizeof what, "%s (p=%g)", names[i], p);
        k.expect(what, out, wants[i], (long)B * T, C, TOL_REDUCTION);
    }
}

static void check_linear(KernelChecker &k, cublasHandle_t h, int BT, int C, int OC) {
    float *x = k.uniform((long)BT * C), *w = k.uniform((long)OC * C), *b = k.uniform(OC),
          *want = k.uniform((long)BT * OC);
    linear_forward(want, x, w, b, BT, C, OC);
    float *gx = k.up(x, (long)BT * C), *gw = k.up(w, (long)OC * C), *got = k.poisoned<float>((long)BT * OC);
    linear_forward_gpu(h, GEMM_FP32, got, gx, gw, k.up(b, OC), BT, C, OC);
    k.expect("linear_forward_gpu", got, want, BT, OC, TOL_REDUCTION);
    float *dout = k.uniform((long)BT * OC), *dx = k.uniform((long)BT * C), *dw = k.uniform((long)OC * C),
          *db = k.uniform(OC);
    float *gdx = k.up(dx, (long)BT * C), *gdw = k.up(dw, (long)OC * C), *gdb = k.up(db, OC);
    linear_backward_gpu(h, GEMM_FP32, gdx, gdw, gdb, k.up(dout, (long)BT * OC), gx, gw, BT, C, OC);
    linear_backward(dx, dw, db, dout, x, w, BT, C, OC);
    k.expect("linear_backward_gpu dinp (+=)", gdx, dx, BT, C, TOL_REDUCTION);
    k.expect("linear_backward_gpu dweight (+=)", gdw, dw, OC, C, TOL_REDUCTION);
    k.expect("linear_backward_gpu dbias (+=)", gdb, db, 1, OC, TOL_REDUCTION);
}

static void check_cross_entropy(KernelChecker &k, int B, int K) {
    float *logits = k.uniform((long)B * K, -3.0f, 3.0f), *probs = k.uniform((long)B * K);
    int *labels = k.ints(B, K);
    float loss = (float)cross_entropy_forward(logits, labels, B, K, probs);
    float *gloss = k.poisoned<float>(1), *gprobs = k.poisoned<float>((long)B * K);
    int *glabels = k.up(labels, B);
    cross_entropy_forward_gpu(gloss, gprobs, k.up(logits, (long)B * K), glabels, B, K);
    k.expect("cross_entropy_forward_gpu loss", gloss, &loss, 1, 1, TOL_ELEMENTWISE);
    k.expect("cross_entropy_forward_gpu probs", gprobs, probs, B, K, TOL_ELEMENTWISE);
    float *want = k.uniform((long)B * K), *got = k.poisoned<float>((long)B * K);
    cross_entropy_backward(probs, labels, B, K, 1.0f / 3, want);
    cross_entropy_backward_gpu(got, k.up(probs, (long)B * K), glabels, B, K, 1.0f / 3);
    k.expect("cross_entropy_backward_gpu", got, want, B, K, TOL_ELEMENTWISE);
}

// check_optimizer: the global norm, clipping, and 3 AdamW steps over a ParamSet of three tensors
// (two decayed, one bias), against grad_global_norm / clip_grad_norm / optimizer_step.
static void check_optimizer(KernelChecker &k, int rows, int cols) {
    ParamSet ps = {};
    int wshape[2] = {rows, cols}, bshape[1] = {cols};
    params_add(&ps, "layer.dense.weight", 2, wshape);
    params_add(&ps, "layer.dense.bias", 1, bshape);
    params_add(&ps, "layer.output.weight", 2, wshape);
    params_alloc(&ps);
    const long n = (long)ps.numel;
    memcpy(ps.params, k.uniform(n), sizeof(float) * n);
    long *ends = (long *)xmalloc(sizeof(long) * ps.n_tensors);
    uint8_t *decay = (uint8_t *)xmalloc(ps.n_tensors);
    k.host.push_back(ends), k.host.push_back(decay);
    for (int i = 0; i < ps.n_tensors; i++)
        ends[i] = (long)(ps.tensors[i].offset + ps.tensors[i].numel), decay[i] = ps.tensors[i].decay;
    float *gp = k.up(ps.params, n), *gg = k.poisoned<float>(n), *gm = k.poisoned<float>(n), *gv = k.poisoned<float>(n);
    CUDA_CHECK(cudaMemset(gm, 0, sizeof(float) * n));
    CUDA_CHECK(cudaMemset(gv, 0, sizeof(float) * n));
    long *gends = k.up(ends, ps.n_tensors);
    uint8_t *gdecay = k.up(decay, ps.n_tensors);
    double *gsum = k.poisoned<double>(1), *partials = k.poisoned<double>(SUM_SQUARES_BLOCKS);
    OptimizerConfig oc = optimizer_defaults(OPT_ADAMW);
    oc.weight_decay = 0.1;
    Optimizer opt;
    optimizer_init(&opt, oc, &ps);
    for (int step = 0; step < 3; step++) {
        const float *g = k.uniform(n, -3.0f, 3.0f);
        memcpy(ps.grads, g, sizeof(float) * n);
        CUDA_CHECK(cudaMemcpy(gg, g, sizeof(float) * n, cudaMemcpyHostToDevice));
        const double norm = clip_grad_norm(&ps, 1.0);
        sum_squares_gpu(gsum, partials, gg, n);
        const double gnorm = sqrt(*k.down(gsum, 1));
        // double sums in two orders agree to ~1e-13 here; one element lost would move it by ~1e-7
        k.expect_true(fabs(gnorm - norm) <= 1e-10 * norm, "sum_squares_gpu: norm %.17g, CPU %.17g", gnorm, norm);
        scale_gpu(gg, n, (float)(1.0 / (norm + 1e-6)));  // the factor clip_grad_norm applied
        k.expect("scale_gpu (clipping)", gg, ps.grads, 1, n, 0.0);
        const double lr = 1e-2 * (step + 1);
        adamw_gpu(gp, (float *)NULL, gg, gm, gv, n, gends, gdecay, ps.n_tensors, adam_coefs(&oc, opt.step + 1, lr));
        optimizer_step(&opt, &ps, lr);
        k.expect("adamw_gpu params", gp, ps.params, 1, n, TOL_ELEMENTWISE);
        k.expect("adamw_gpu m", gm, opt.m, 1, n, TOL_ELEMENTWISE);
        k.expect("adamw_gpu v", gv, opt.v, 1, n, TOL_ELEMENTWISE);
    }
    optimizer_free(&opt);
    params_free(&ps);
}

// bert_kernel_checks: every check at dimensions d (d.C > 256 exercises the row kernels' strided
// loops; odd sizes their edges). Returns the result lines, in order.
static std::vector<KernelCheck> bert_kernel_checks(const KernelDims &d, uint64_t seed) {
    KernelChecker k(seed);
    cublasHandle_t h;
    CUBLAS_CHECK(cublasCreate(&h));
    const long BTC = (long)d.B * d.T * d.C;
    check_embeddings(k, d);
    check_layernorm(k, d.B * d.T, d.C);
    check_activations(k, (long)d.B * d.T * d.I);
    check_softmax(k, d.B, d.NH * d.T, d.T);
    check_dropout(k, BTC);
    check_attention(k, h, d, 0.0f);
    check_attention(k, h, d, 0.2f);
    check_linear(k, h, d.B * d.T, d.C, d.I);
    check_linear(k, h, d.B, d.C, d.K);
    check_cross_entropy(k, d.B, d.K);
    check_optimizer(k, d.C, d.I);
    CUBLAS_CHECK(cublasDestroy(h));
    return k.results;
}
