// Lesson 09 — the layers of a transformer, each a forward and a backward function, each backward
// checked against finite differences.
//
// A BERT encoder is built from a handful of layers (common/model/layers.c): token + position + type
// embeddings, LayerNorm, GELU, softmax with a padding mask, multi-head self-attention, dropout,
// residual additions, and the Linear layer of lesson 08 (common/model/matmul.c). For every one we
// check the backward the same way: take a fixed random "upstream gradient" R and the scalar
//
//   loss = sum_i out_i * R_i          so that  d loss / d out = R,
//
// run the backward with dout = R, and compare each input gradient with the central difference
//
//   d loss / d x_j  ~  (loss(x_j + h) - loss(x_j - h)) / 2h.
//
// The printed error is max_j |analytic_j - numeric_j| / max_j |numeric_j|. float32 arithmetic
// and the O(h^2) error of the difference put it around 1e-4..1e-3 when the backward is right;
// a wrong formula gives errors of order 1.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/core/args.h"
#include "common/model/layers.h"
#include "common/core/rng.h"
#include "common/core/util.h"

#define OK_BELOW 1e-2  // a verdict threshold far above rounding, far below a wrong formula

static int B = 2, T = 5, C = 8, NH = 2, V = 10;
static float h_step = 1e-2f, dropout_p = 0.1f;
static uint64_t seed = 42;
static Rng rng;

static float *randn(long n, float scale) {
    float *x = xmalloc(sizeof(float) * (size_t)n);
    for (long i = 0; i < n; i++) x[i] = scale * rng_normal(&rng);
    return x;
}

static float *zeros(long n) { return xcalloc((size_t)n, sizeof(float)); }

// dot: sum_i a_i b_i in double, so the loss itself adds little rounding.
static double dot(const float *a, const float *b, long n) {
    double s = 0;
    for (long i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

// check: compare `analytic` (n) with the central difference of loss() in every entry of x.
static void check(const char *what, float *x, long n, const float *analytic, double (*loss)(void)) {
    double diff = 0, scale = 0;
    for (long j = 0; j < n; j++) {
        float saved = x[j];
        x[j] = saved + h_step;
        double up = loss();
        x[j] = saved - h_step;
        double down = loss();
        x[j] = saved;
        double numeric = (up - down) / (2.0 * h_step);
        diff = fmax(diff, fabs(analytic[j] - numeric));
        scale = fmax(scale, fabs(numeric));
    }
    double rel = diff / scale;
    printf("  d loss / d %-8s %5ld values   max rel error %.1e   %s\n", what, n, rel, rel < OK_BELOW ? "ok" : "WRONG");
}

// ---- 1. embeddings --------------------------------------------------------------------------
static int *ids, *types;
static float *word, *pos, *type, *emb_out, *R_emb;

static double emb_loss(void) {
    embeddings_forward(emb_out, ids, types, word, pos, type, B, T, C);
    return dot(emb_out, R_emb, (long)B * T * C);
}

static void embeddings_demo(void) {
    printf("== 1. embeddings: out[b,t] = word[id] + position[t] + type[token type]   (B,T,C) = (%d,%d,%d) ==\n", B, T,
           C);
    ids = xmalloc(sizeof(int) * B * T), types = xmalloc(sizeof(int) * B * T);
    for (int i = 0; i < B * T; i++) ids[i] = (int)rng_below(&rng, (uint32_t)V), types[i] = i % T >= T / 2;
    ids[1] = ids[0];  // one id used twice: its gradient row must receive both contributions
    word = randn((long)V * C, 1), pos = randn((long)T * C, 1), type = randn(2L * C, 1);
    emb_out = zeros((long)B * T * C), R_emb = randn((long)B * T * C, 1);
    float *dword = zeros((long)V * C), *dpos = zeros((long)T * C), *dtype = zeros(2L * C);
    emb_loss();
    embeddings_backward(dword, dpos, dtype, R_emb, ids, types, B, T, C);
    check("word", word, (long)V * C, dword, emb_loss);
    check("position", pos, (long)T * C, dpos, emb_loss);
    check("type", type, 2L * C, dtype, emb_loss);
    free(dword), free(dpos), free(dtype);
}

// ---- 2. LayerNorm -----------------------------------------------------------------------------
static float *ln_in, *ln_w, *ln_b, *ln_out, *ln_mean, *ln_rstd, *R_ln;

static double ln_loss(void) {
    layernorm_forward(ln_out, ln_mean, ln_rstd, ln_in, ln_w, ln_b, B * T, C, 1e-12f);
    return dot(ln_out, R_ln, (long)B * T * C);
}

static void layernorm_demo(void) {
    printf("\n== 2. LayerNorm: (x - mean) / sqrt(var + eps) * weight + bias, per row of C = %d ==\n", C);
    const long n = (long)B * T * C;
    ln_in = randn(n, 3), ln_w = zeros(C), ln_b = zeros(C), ln_out = zeros(n), R_ln = randn(n, 1);
    ln_mean = zeros(B * T), ln_rstd = zeros(B * T);
    for (int c = 0; c < C; c++) ln_w[c] = 1;
    ln_loss();
    double m = 0, v = 0;
    for (int c = 0; c < C; c++) m += ln_out[c] / C;
    for (int c = 0; c < C; c++) v += (ln_out[c] - m) * (ln_out[c] - m) / C;
    printf("  row 0 in:  mean %+.4f  std %.4f\n", ln_mean[0], 1 / ln_rstd[0]);
    printf("  row 0 out: mean %+.4f  std %.4f  (weight 1, bias 0)\n", fabs(m) < 5e-7 ? 0.0 : m, sqrt(v));
    for (int c = 0; c < C; c++) ln_w[c] = 1 + 0.3f * rng_normal(&rng), ln_b[c] = 0.3f * rng_normal(&rng);
    float *din = zeros(n), *dw = zeros(C), *db = zeros(C);
    ln_loss();
    layernorm_backward(din, dw, db, R_ln, ln_in, ln_w, ln_mean, ln_rstd, B * T, C);
    check("input", ln_in, n, din, ln_loss);
    check("weight", ln_w, C, dw, ln_loss);
    check("bias", ln_b, C, db, ln_loss);
    free(din), free(dw), free(db);
}

// ---- 3. GELU and tanh -------------------------------------------------------------------------
static float *act_in, *act_out, *R_act;
static const int N_ACT = 64;

static double gelu_loss(void) {
    gelu_forward(act_out, act_in, N_ACT);
    return dot(act_out, R_act, N_ACT);
}

static double tanh_loss(void) {
    tanh_forward(act_out, act_in, N_ACT);
    return dot(act_out, R_act, N_ACT);
}

static void activation_demo(void) {
    printf("\n== 3. GELU(x) = x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)), and the pooler's tanh ==\n");
    float xs[] = {-3, -1, -0.5f, 0, 0.5f, 1, 3}, ys[ARRAY_LEN(xs)];
    gelu_forward(ys, xs, ARRAY_LEN(xs));
    printf("  x      ");
    for (size_t i = 0; i < ARRAY_LEN(xs); i++) printf(" %8.3f", xs[i]);
    printf("\n  GELU(x)");
    for (size_t i = 0; i < ARRAY_LEN(xs); i++) printf(" %8.4f", ys[i]);
    printf("\n");
    // GPT-2's "gelu_new" replaces Phi by a tanh formula; BERT's config says "gelu", the erf form.
    double worst = 0;
    for (float x = -6; x <= 6; x += 0.001f) {
        float y;
        gelu_forward(&y, &x, 1);
        worst = fmax(worst, fabs(y - 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)))));
    }
    printf("  the tanh approximation (\"gelu_new\") differs by up to %.1e on [-6, 6]: not the same model\n", worst);
    act_in = randn(N_ACT, 2), act_out = zeros(N_ACT), R_act = randn(N_ACT, 1);
    float *din = zeros(N_ACT);
    gelu_loss();
    gelu_backward(din, R_act, act_in, N_ACT);
    check("GELU in", act_in, N_ACT, din, gelu_loss);
    tanh_loss();
    tanh_backward(din, R_act, act_out, N_ACT);
    check("tanh in", act_in, N_ACT, din, tanh_loss);
    free(din);
}

// ---- 4. softmax with a padding mask ---------------------------------------------------------
static float *sm_in, *sm_out, *R_sm;
static int sm_mask[6] = {1, 1, 1, 1, 0, 0};

static double softmax_loss(void) {
    softmax_forward(sm_out, sm_in, sm_mask, 2, 6);
    return dot(sm_out, R_sm, 12);
}

static void softmax_demo(void) {
    printf("\n== 4. softmax over the keys, padding masked: p_j = exp(s_j - max) / sum over real keys ==\n");
    sm_in = randn(12, 2), sm_out = zeros(12), R_sm = randn(12, 1);
    softmax_loss();
    printf("  scores ");
    for (int j = 0; j < 6; j++) printf(" %7.3f", sm_in[j]);
    printf("\n  mask   ");
    for (int j = 0; j < 6; j++) printf(" %7d", sm_mask[j]);
    printf("\n  probs  ");
    double sum = 0;
    for (int j = 0; j < 6; j++) printf(" %7.4f", sm_out[j]), sum += sm_out[j];
    printf("   (sum %.6f)\n", sum);
    float *din = zeros(12);
    softmax_backward(din, R_sm, sm_out, 2, 6);
    check("scores", sm_in, 12, din, softmax_loss);
    for (int j = 0; j < 12; j++) din[j] = sm_out[j] * R_sm[j];  // forgetting the "- sum_k p_k dp_k" term
    printf("  the same check on a wrong backward, ds_j = p_j dp_j:\n");
    check("scores", sm_in, 12, din, softmax_loss);
    free(din);
}

// ---- 5. dropout ---------------------------------------------------------------------------------
static void dropout_demo(void) {
    printf("\n== 5. inverted dropout, p = %g: keep with probability 1-p, scale kept values by 1/(1-p) ==\n", dropout_p);
    const long n = 100000;
    float *in = zeros(n), *out = zeros(n), *again = zeros(n);
    uint8_t *keep = xmalloc((size_t)n), *keep2 = xmalloc((size_t)n);
    for (long i = 0; i < n; i++) in[i] = 1.0f;
    Rng r1, r2;
    rng_seed(&r1, seed, RNG_STREAM_DROPOUT), rng_seed(&r2, seed, RNG_STREAM_DROPOUT);
    dropout_forward(out, keep, in, n, dropout_p, &r1);
    dropout_forward(again, keep2, in, n, dropout_p, &r2);
    long kept = 0;
    for (long i = 0; i < n; i++) kept += keep[i];
    printf("  %ld of %ld kept (%.2f%%); mean of the input %.4f, of the output %.4f\n", kept, n, 100.0 * kept / n,
           dot(in, in, n) / n, dot(out, in, n) / n);
    printf("  the same seed draws the same mask: %s\n", memcmp(keep, keep2, (size_t)n) ? "no" : "yes");
    dropout_forward(again, keep2, in, n, dropout_p, NULL);
    printf("  evaluation (no rng): output = input: %s\n", memcmp(again, in, sizeof(float) * n) ? "no" : "yes");
    free(in), free(out), free(again), free(keep), free(keep2);
}

// ---- 6. multi-head self-attention with padding and dropout -------------------------------------
static float *q, *k, *v, *ctx, *att, *attd, *R_att;
static uint8_t *att_keep;
static int *pad_mask;

// att_loss: re-seeding the dropout stream on every call keeps the mask fixed while x moves.
static double att_loss(void) {
    Rng r;
    rng_seed(&r, seed, RNG_STREAM_DROPOUT);
    attention_forward(ctx, att, att_keep, attd, q, k, v, pad_mask, B, T, C, NH, dropout_p, &r);
    return dot(ctx, R_att, (long)B * T * C);
}

static void attention_demo(void) {
    printf("\n== 6. self-attention, %d heads of %d: softmax(q k^T / sqrt(%d)) v per (batch, head), dropout %g ==\n", NH,
           C / NH, C / NH, dropout_p);
    const long n = (long)B * T * C, na = (long)B * NH * T * T;
    q = randn(n, 1), k = randn(n, 1), v = randn(n, 1), ctx = zeros(n), R_att = randn(n, 1);
    att = zeros(na), attd = zeros(na), att_keep = xmalloc((size_t)na);
    pad_mask = xmalloc(sizeof(int) * B * T);
    for (int i = 0; i < B * T; i++) pad_mask[i] = !(i / T == 1 && i % T >= T - 2);  // sequence 1 ends in 2 pads
    att_loss();
    printf("  sequence 1, head 0, query 0 attends to keys: ");
    for (int j = 0; j < T; j++) printf(" %.4f", att[(long)(1 * NH + 0) * T * T + j]);
    printf("  (last %d are padding)\n", 2);
    float *dq = zeros(n), *dk = zeros(n), *dv = zeros(n), *datt = zeros(na);
    attention_backward(dq, dk, dv, datt, R_att, q, k, v, att, att_keep, attd, B, T, C, NH, dropout_p);
    check("q", q, n, dq, att_loss);
    check("k", k, n, dk, att_loss);
    check("v", v, n, dv, att_loss);
    free(dq), free(dk), free(dv), free(datt);
}

int main(int argc, char **argv) {
    int seed_arg = (int)seed;
    double h = h_step, p = dropout_p;
    ArgSpec specs[] = {
        {"batch_size", ARG_INT, &B, "sequences in the toy batch (B)", "Shapes"},
        {"seq_len", ARG_INT, &T, "tokens per sequence (T)", NULL},
        {"hidden_size", ARG_INT, &C, "channels (C)", NULL},
        {"num_attention_heads", ARG_INT, &NH, "attention heads (must divide hidden_size)", NULL},
        {"attention_probs_dropout_prob", ARG_FLOAT, &p, "dropout probability (attention and the dropout demo)",
         "Check"},
        {"fd_step", ARG_FLOAT, &h, "h of the central difference (loss(x+h) - loss(x-h)) / 2h", NULL},
        {"seed", ARG_INT, &seed_arg, "random seed for the inputs and dropout masks", "Run"},
    };
    ArgParser parser = {"09_transformer_layers",
                        "The layers of a BERT encoder (embeddings, LayerNorm, GELU, softmax, dropout, attention),\n"
                        "each forward and backward, every backward checked against finite differences.",
                        NULL, specs, ARRAY_LEN(specs)};
    args_parse(&parser, argc, argv, NULL, 0);
    if (B < 1 || T < 3 || C < 1 || NH < 1 || C % NH)
        die("need batch_size >= 1, seq_len >= 3, hidden_size a multiple of num_attention_heads");
    if (h <= 0 || p < 0 || p >= 1) die("need fd_step > 0 and 0 <= attention_probs_dropout_prob < 1");
    h_step = (float)h, dropout_p = (float)p, seed = (uint64_t)seed_arg;
    rng_seed(&rng, seed, RNG_STREAM_EXAMPLES);
    printf("Finite-difference checks, h = %g: max rel error = max |analytic - numeric| / max |numeric|\n\n", h_step);
    embeddings_demo();
    layernorm_demo();
    activation_demo();
    softmax_demo();
    dropout_demo();
    attention_demo();
    printf("\nA residual connection out = x + f(x) passes dout to both x and f(x): its backward is a copy.\n");
    return 0;
}
