// matmul.c — see matmul.h. Lesson 08 (matmul_cpu) derives this version step by step.
//
// The structure is the one BLIS and OpenBLAS use (Goto's algorithm), written in C:
//
//   C = beta * C                                   (first, once; beta = 0 writes zeros)
//   for each block of NC columns of C:                           jc
//     for each block of KC columns of op(A) / rows of op(B):     pc
//       pack op(B)[pc.., jc..] into panels of NR columns         Bp (KC, NC)  L3
//       for each block of MC rows of C:                          ic
//         pack alpha * op(A)[ic.., pc..] into panels of MR rows  Ap (MC, KC)  L2
//         for each NR-wide panel of Bp, each MR-tall panel of Ap:
//           micro_kernel: the (MR,NR) tile of C += Ap panel · Bp panel
//
// With OpenMP, C is first cut into one slab per thread, and each thread runs the above on its own.
//
// Packing copies each block once into the order the micro-kernel reads it, contiguous and
// already transposed, so the four cases (A or A^T, B or B^T) differ only in the packing and
// the kernel always streams memory with unit stride. The micro-kernel keeps its MR x NR tile
// of C in registers for the whole KC-long dot product: per step of k it loads NR values of B
// and MR values of A and does MR*NR multiply-adds as vector FMAs. Which kernel (and so MR, NR)
// and which KC, MC, NC: common/model/gemm_dispatch.c decides for the CPU it runs on.
#include "common/model/matmul.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "common/core/util.h"
#include "common/model/gemm_dispatch.h"

// The register tile (MR x NR), the micro-kernel and the block sizes (KC, MC, NC) are not
// constants: common/model/gemm_dispatch.c picks them for this CPU on the first call (GemmPlan).
// Products smaller than this many multiply-adds (about n = 200 for n x n) run on one thread: waking
// a team costs microseconds on an idle machine, and milliseconds on a busy one.
#define PARALLEL_MIN_FMAS (1L << 23)

// scratch: a per-thread buffer of at least n floats, 64-byte aligned, kept between calls
// (allocating megabytes on every call would cost page faults each time).
static float *scratch(float **buf, size_t *cap, size_t n) {
    if (n > *cap) {
        free(*buf);
        size_t bytes = (n * sizeof(float) + 63) / 64 * 64;
        *buf = aligned_alloc(64, bytes);
        if (!*buf) die("out of memory allocating a %zu-byte matmul packing buffer", bytes);
        *cap = n;
    }
    return *buf;
}
static _Thread_local float *a_pack, *b_pack;
static _Thread_local size_t a_cap, b_cap;

// pack_transposed: one panel of W columns from a source stored w-major (row w of the panel is
// src[w*ld ..]), panel[k][w] = scale * src[w*ld + k]: a transpose, 8 values of k at a time (8
// contiguous loads per row, then 8 rows of the panel written whole). always_inline: called with a
// constant W below, the compiler unrolls the loops over w.
static inline __attribute__((always_inline)) void pack_transposed(float *restrict dst, const float *restrict src,
                                                                  int ld, int kc, int cols, int W, float scale) {
    int k = 0;
    for (; k + 8 <= kc; k += 8) {
        float t[GEMM_MAX_NR][8];
        for (int w = 0; w < cols; w++)
            for (int kk = 0; kk < 8; kk++) t[w][kk] = scale * src[(long)w * ld + k + kk];
        for (int kk = 0; kk < 8; kk++)
            for (int w = 0; w < cols; w++) dst[(long)(k + kk) * W + w] = t[w][kk];
    }
    for (; k < kc; k++)
        for (int w = 0; w < cols; w++) dst[(long)k * W + w] = scale * src[(long)w * ld + k];
}

// pack_panels: copy the (kc, wc) block of X starting at (k0, w0) into panels of W columns,
//   panel[p][k][w] = scale * X(k0 + k, w0 + p*W + w),  columns past wc zero,   (wc/W, kc, W)
// where X(k, w) = X[k*ld + w] when X is stored k-major, else X[w*ld + k]. Both read the source
// with unit stride; the strided side is the small panel, which stays in cache.
//   A panels: X(k, i) = op(A)[i][k], k-major when trans_a, W = MR, scale = alpha.
//   B panels: X(k, j) = op(B)[k][j], k-major unless trans_b, W = NR.
static void pack_panels(float *dst, const float *X, int ld, bool k_major, int k0, int w0, int kc, int wc, int W,
                        float scale) {
    for (int p = 0; p < wc; p += W, dst += (long)kc * W) {
        int cols = wc - p < W ? wc - p : W;
        if (k_major) {
            for (int k = 0; k < kc; k++) {
                const float *src = X + (long)(k0 + k) * ld + w0 + p;
                for (int w = 0; w < cols; w++) dst[(long)k * W + w] = scale * src[w];
            }
        } else {
            const float *src = X + (long)(w0 + p) * ld + k0;
            if (cols == W && W == 6) pack_transposed(dst, src, ld, kc, 6, 6, scale);  // the kernels' tiles
            else if (cols == W && W == 12) pack_transposed(dst, src, ld, kc, 12, 12, scale);
            else if (cols == W && W == 16) pack_transposed(dst, src, ld, kc, 16, 16, scale);
            else if (cols == W && W == 32) pack_transposed(dst, src, ld, kc, 32, 32, scale);
            else pack_transposed(dst, src, ld, kc, cols, W, scale);
        }
        for (int k = 0; k < kc; k++)
            for (int w = cols; w < W; w++) dst[(long)k * W + w] = 0.0f;
    }
}

// edge_tile: a tile cut by the edge of C (m < MR rows or n < NR columns): the kernel writes
// into a zeroed full tile, and only its valid part is added to C.
static void edge_tile(const GemmPlan *p, int kc, const float *a, const float *b, float *c, long ldc, int m, int n) {
    float tile[GEMM_MAX_MR * GEMM_MAX_NR] = {0};
    p->kernel(kc, a, b, tile, p->nr);
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) c[i * ldc + j] += tile[i * p->nr + j];
}

// multiply_block: C[i0.., j0..] (mc,nc) += Ap · Bp, tile by tile. The loop over Bp's panels is
// the outer one: each (kc,NR) panel of Bp stays in L1 while every panel of Ap goes by.
static void multiply_block(const GemmPlan *p, const float *Ap, const float *Bp, float *C, long ldc, int i0, int j0,
                           int mc, int nc, int kc) {
    const int MR = p->mr, NR = p->nr;
    for (int jr = 0; jr < nc; jr += NR) {
        const float *b = Bp + (long)(jr / NR) * kc * NR;
        int n = nc - jr < NR ? nc - jr : NR;
        for (int ir = 0; ir < mc; ir += MR) {
            const float *a = Ap + (long)(ir / MR) * kc * MR;
            float *c = C + (long)(i0 + ir) * ldc + j0 + jr;
            int m = mc - ir < MR ? mc - ir : MR;
            if (m == MR && n == NR) p->kernel(kc, a, b, c, ldc);
            else edge_tile(p, kc, a, b, c, ldc, m, n);
        }
    }
}

// scale_c: C = beta * C; beta = 0 writes zeros, so NaN or garbage in C does not survive.
static void scale_c(float *C, int ldc, int M, int N, float beta) {
    if (beta == 1.0f) return;
    for (int i = 0; i < M; i++) {
        float *c = C + (long)i * ldc;
        if (beta == 0.0f) memset(c, 0, sizeof(float) * (size_t)N);
        else
            for (int j = 0; j < N; j++) c[j] *= beta;
    }
}

// gemm_blocked: C (M,N) += alpha * op(A) · op(B) on the calling thread, block by block.
static void gemm_blocked(const GemmPlan *p, bool trans_a, bool trans_b, int M, int N, int K, float alpha,
                         const float *A, int lda, const float *B, int ldb, float *C, int ldc) {
    const int MR = p->mr, NR = p->nr, KC = p->kc, MC = p->mc, NC = p->nc;
    int mc_max = M < MC ? (M + MR - 1) / MR * MR : MC, nc_max = N < NC ? (N + NR - 1) / NR * NR : NC;
    int kc_max = K < KC ? K : KC;
    float *Ap = scratch(&a_pack, &a_cap, (size_t)kc_max * mc_max),
          *Bp = scratch(&b_pack, &b_cap, (size_t)kc_max * nc_max);
    for (int jc = 0; jc < N; jc += NC) {
        int nc = N - jc < NC ? N - jc : NC;
        for (int pc = 0; pc < K; pc += KC) {
            int kc = K - pc < KC ? K - pc : KC;
            pack_panels(Bp, B, ldb, !trans_b, pc, jc, kc, nc, NR, 1.0f);
            for (int ic = 0; ic < M; ic += MC) {
                int mc = M - ic < MC ? M - ic : MC;
                pack_panels(Ap, A, lda, trans_a, pc, ic, kc, mc, MR, alpha);
                multiply_block(p, Ap, Bp, C, ldc, ic, jc, mc, nc, kc);
            }
        }
    }
}

void sgemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
           int ldb, float beta, float *C, int ldc) {
    sgemm_planned(gemm_plan(), trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void sgemm_planned(const GemmPlan *p, bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A,
                   int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    scale_c(C, ldc, M, N, beta);
    if (K <= 0 || alpha == 0.0f) return;
    bool parallel = (long)M * N * K >= PARALLEL_MIN_FMAS && !omp_in_parallel() && omp_get_max_threads() > 1;
    if (!parallel) {
        gemm_blocked(p, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, C, ldc);
        return;
    }
    // Threads: C is cut into one slab per thread along its longer side, in whole register tiles,
    // and each thread multiplies its slab with the one-thread algorithm above. Nothing is shared,
    // so no thread ever waits for another until the end (packing op(B), or op(A), is repeated
    // per thread: a small price next to the multiply-adds).
    const bool by_rows = M / p->mr >= N / p->nr;
    const int unit = by_rows ? p->mr : p->nr, len = by_rows ? M : N, tiles = (len + unit - 1) / unit;
#pragma omp parallel
    {
        int me = omp_get_thread_num(), nth = omp_get_num_threads();
        int first = (int)((long)tiles * me / nth) * unit, last = (int)((long)tiles * (me + 1) / nth) * unit;
        if (last > len) last = len;
        if (first < last && by_rows)  // rows [first, last) of op(A) and C
            gemm_blocked(p, trans_a, trans_b, last - first, N, K, alpha, trans_a ? A + first : A + (long)first * lda,
                         lda, B, ldb, C + (long)first * ldc, ldc);
        else if (first < last)  // columns [first, last) of op(B) and C
            gemm_blocked(p, trans_a, trans_b, M, last - first, K, alpha, A, lda,
                         trans_b ? B + (long)first * ldb : B + first, ldb, C + first, ldc);
    }
}

void linear_forward(float *out, const float *inp, const float *weight, const float *bias, int BT, int C, int OC) {
    // out = inp · W^T + b: every row starts as b, and sgemm adds the product to it (beta = 1)
    if (bias)
        for (int r = 0; r < BT; r++) memcpy(out + (long)r * OC, bias, sizeof(float) * (size_t)OC);
    sgemm(false, true, BT, OC, C, 1.0f, inp, C, weight, C, bias ? 1.0f : 0.0f, out, OC);
}

void linear_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                     const float *weight, int BT, int C, int OC) {
    if (dinp) sgemm(false, false, BT, C, OC, 1.0f, dout, OC, weight, C, 1.0f, dinp, C);    // dinp += dout · W
    if (dweight) sgemm(true, false, OC, C, BT, 1.0f, dout, OC, inp, C, 1.0f, dweight, C);  // dW += dout^T · inp
    if (dbias)
        for (int r = 0; r < BT; r++)
            for (int o = 0; o < OC; o++) dbias[o] += dout[(long)r * OC + o];
}
