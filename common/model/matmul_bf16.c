// matmul_bf16.c — see matmul_bf16.h.
#include "common/model/matmul_bf16.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/core/util.h"
#include "common/model/matmul.h"
#include "common/model/precision.h"

bool bf16_dot_available(void) {
#if defined(__x86_64__) && defined(__GNUC__)
    return __builtin_cpu_supports("avx512bf16");  // cpuid leaf 7.1 EAX bit 5, read once by libgcc
#else
    return false;
#endif
}

const char *gemm_bf16_path(void) {
    return bf16_dot_available() ? "avx512bf16: vdpbf16ps bf16 dot products, fp32 sums"
                                : "fallback: this CPU has no AVX512_BF16, so the operands are rounded to bf16 and "
                                  "multiplied in fp32 (the same products, no speed-up)";
}

// rounded_copy: a new array of the n floats of x, each rounded to bf16 (kept as fp32).
static float *rounded_copy(const float *x, size_t n) {
    float *r = xmalloc(sizeof(float) * n);
    memcpy(r, x, sizeof(float) * n);
    round_array(r, n, FMT_BF16);
    return r;
}

// ---------------------------------------------------------------------------------------------
// the avx512bf16 path: every C[i][j] is a dot product of row i of op(A) and column j of op(B),
// both packed as bf16 rows with k contiguous, so vdpbf16ps reads 32 of each per instruction.

#define TILE 4  // a TILE x TILE block of C: 16 zmm accumulators + 8 loads per step of 32 k

// pack_rows_bf16: out (Rpad,K2) bf16 = rows of X (R,K) read as X[r*ld + k], or as X[k*ld + r] when
// `transposed`; the padding (rows R..Rpad, columns K..K2) is 0, which adds nothing to a dot.
static uint16_t *pack_rows_bf16(const float *X, bool transposed, int R, int K, int ld, int Rpad, int K2) {
    uint16_t *out = xcalloc((size_t)Rpad * K2, sizeof(uint16_t));
    for (int r = 0; r < R; r++)
        for (int k = 0; k < K; k++)
            out[(size_t)r * K2 + k] = fp32_to_bf16(transposed ? X[(size_t)k * ld + r] : X[(size_t)r * ld + k]);
    return out;
}

typedef void (*DotTile)(int K2, const uint16_t *a, const uint16_t *b, float out[TILE][TILE]);

// dot_tile_emulated: what dot_tile_avx512bf16 computes, lane by lane in plain C (the tests run
// the packing and tiling through it on a CPU without the instruction). The same products and
// per-lane sums; the 16 lanes are then added in order (_mm512_reduce_add_ps adds them as a tree).
static void dot_tile_emulated(int K2, const uint16_t *a, const uint16_t *b, float out[TILE][TILE]) {
    for (int i = 0; i < TILE; i++)
        for (int j = 0; j < TILE; j++) {
            float lane[16] = {0};
            for (int k = 0; k < K2; k += 32)
                for (int l = 0; l < 16; l++) {
                    const uint16_t *x = a + (size_t)i * K2 + k + 2 * l, *y = b + (size_t)j * K2 + k + 2 * l;
                    lane[l] += bf16_to_fp32(x[1]) * bf16_to_fp32(y[1]);
                    lane[l] += bf16_to_fp32(x[0]) * bf16_to_fp32(y[0]);
                }
            float sum = 0;
            for (int l = 0; l < 16; l++) sum += lane[l];
            out[i][j] = sum;
        }
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define BF16_TARGET __attribute__((target("avx512f,avx512bf16")))

// dot_tile_avx512bf16: out (TILE,TILE) = A16 rows · B16 rows over K2 (a multiple of 32):
//   vdpbf16ps acc, a, b:  acc[l] += a[2l+1] * b[2l+1];  acc[l] += a[2l] * b[2l]   (l < 16, fp32)
// then the 16 lanes of each accumulator are added. Untested on hardware (written for Sapphire
// Rapids / Zen 4; this project's machines lack AVX512_BF16): dot_tile_emulated is its spec.
static BF16_TARGET void dot_tile_avx512bf16(int K2, const uint16_t *a, const uint16_t *b, float out[TILE][TILE]) {
    __m512 acc[TILE][TILE];
    for (int i = 0; i < TILE; i++)
        for (int j = 0; j < TILE; j++) acc[i][j] = _mm512_setzero_ps();
    for (int k = 0; k < K2; k += 32) {
        __m512bh av[TILE], bv[TILE];
        for (int i = 0; i < TILE; i++) av[i] = (__m512bh)_mm512_loadu_si512(a + (size_t)i * K2 + k);
        for (int j = 0; j < TILE; j++) bv[j] = (__m512bh)_mm512_loadu_si512(b + (size_t)j * K2 + k);
        for (int i = 0; i < TILE; i++)
            for (int j = 0; j < TILE; j++) acc[i][j] = _mm512_dpbf16_ps(acc[i][j], av[i], bv[j]);
    }
    for (int i = 0; i < TILE; i++)
        for (int j = 0; j < TILE; j++) out[i][j] = _mm512_reduce_add_ps(acc[i][j]);
}
#define DOT_TILE_NATIVE dot_tile_avx512bf16
#else
#define DOT_TILE_NATIVE NULL
#endif

// gemm_tiles: C (M,N) = A16 (M,K2) · B16 (N,K2)^T + beta * C, tile by tile, A16 and B16 holding
// whole tiles of rows (zero-padded).
static void gemm_tiles(DotTile tile, int M, int N, int K2, const uint16_t *A16, const uint16_t *B16, float beta,
                       float *C) {
    const int MT = (M + TILE - 1) / TILE, NT = (N + TILE - 1) / TILE;
#pragma omp parallel for schedule(dynamic, 1) if ((double)M * N * K2 >= (double)(1 << 23))
    for (int it = 0; it < MT; it++)
        for (int jt = 0; jt < NT; jt++) {
            float d[TILE][TILE];
            tile(K2, A16 + (size_t)it * TILE * K2, B16 + (size_t)jt * TILE * K2, d);
            for (int i = it * TILE; i < M && i < (it + 1) * TILE; i++)
                for (int j = jt * TILE; j < N && j < (jt + 1) * TILE; j++) {
                    float *c = &C[(size_t)i * N + j];
                    *c = d[i - it * TILE][j - jt * TILE] + (beta == 0 ? 0 : beta * *c);
                }
        }
}

void gemm_bf16_dot(bool emulated, bool trans_a, bool trans_b, int M, int N, int K, const float *A, const float *B,
                   float beta, float *C) {
    DotTile tile = emulated ? dot_tile_emulated : DOT_TILE_NATIVE;
    if (!emulated && !bf16_dot_available()) die("internal: gemm_bf16_dot on a CPU without AVX512_BF16");
    const int K2 = (K + 31) / 32 * 32, Mpad = (M + TILE - 1) / TILE * TILE, Npad = (N + TILE - 1) / TILE * TILE;
    // op(A)[i][k] = A[i*K + k], or A[k*M + i] when trans_a; op(B)^T[j][k] = B[j*K + k] when
    // trans_b, else B[k*N + j]
    uint16_t *a16 = pack_rows_bf16(A, trans_a, M, K, trans_a ? M : K, Mpad, K2);
    uint16_t *b16 = pack_rows_bf16(B, !trans_b, N, K, trans_b ? K : N, Npad, K2);
    gemm_tiles(tile, M, N, K2, a16, b16, beta, C);
    free(a16);
    free(b16);
}

void gemm_bf16(bool trans_a, bool trans_b, int M, int N, int K, const float *A, const float *B, float beta, float *C) {
    if (bf16_dot_available()) {
        gemm_bf16_dot(false, trans_a, trans_b, M, N, K, A, B, beta, C);
        return;
    }
    float *a = rounded_copy(A, (size_t)M * K), *b = rounded_copy(B, (size_t)K * N);
    sgemm(trans_a, trans_b, M, N, K, 1.0f, a, trans_a ? M : K, b, trans_b ? K : N, beta, C, N);
    free(a);
    free(b);
}

// ---------------------------------------------------------------------------------------------
// the Linear layer under autocast

void linear_forward_bf16(float *out, const float *inp, const float *weight, const float *bias, int BT, int C, int OC) {
    // out = bf(bf(inp) · bf(W)^T + bf(b)): every row starts as bf(b), the product is added in fp32
    if (bias)
        for (int r = 0; r < BT; r++) {
            memcpy(out + (long)r * OC, bias, sizeof(float) * (size_t)OC);
            round_array(out + (long)r * OC, (size_t)OC, FMT_BF16);
        }
    gemm_bf16(false, true, BT, OC, C, inp, weight, bias ? 1.0f : 0.0f, out);
    round_array(out, (size_t)BT * OC, FMT_BF16);
}

// add_rounded: acc[i] += bf(x[i]), i < n (a bf16 gradient added to an fp32 one).
static void add_rounded(float *acc, float *x, size_t n) {
    round_array(x, n, FMT_BF16);
    for (size_t i = 0; i < n; i++) acc[i] += x[i];
}

void linear_backward_bf16(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                          const float *weight, int BT, int C, int OC) {
    float *g = rounded_copy(dout, (size_t)BT * OC);  // g = bf(dout)       (BT,OC)
    if (dinp) {
        float *t = xmalloc(sizeof(float) * (size_t)BT * C);  // g · bf(W)   (BT,C)
        gemm_bf16(false, false, BT, C, OC, g, weight, 0.0f, t);
        add_rounded(dinp, t, (size_t)BT * C);
        free(t);
    }
    if (dweight) {
        float *t = xmalloc(sizeof(float) * (size_t)OC * C);  // g^T · bf(inp)   (OC,C)
        gemm_bf16(true, false, OC, C, BT, g, inp, 0.0f, t);
        add_rounded(dweight, t, (size_t)OC * C);
        free(t);
    }
    if (dbias) {
        float *s = xcalloc((size_t)OC, sizeof(float));  // sum over rows of g, in fp32   (OC)
        for (int r = 0; r < BT; r++)
            for (int o = 0; o < OC; o++) s[o] += g[(long)r * OC + o];
        add_rounded(dbias, s, (size_t)OC);
        free(s);
    }
    free(g);
}
