// bert_kernels.cu — see bert_kernels.cuh. Lesson 13 walks through them.
//
// Three shapes of kernel cover every layer:
//   element-wise  one thread per element (embeddings, GELU, tanh, dropout, head split/merge, bias);
//   per row       one block per row, the threads striding over its columns and meeting in a
//                 block-wide reduction (LayerNorm, softmax, and their backwards);
//   per column    sums over rows (bias and LayerNorm parameter gradients): a block sums a slab
//                 of rows for 32 columns and adds its partial sums atomically.
// Each is a template over the storage type S (bert_kernels.cuh): one body, loads through
// to_float, arithmetic in float, stores through from_float<S>; the end of the file instantiates
// every function for float, __nv_bfloat16 and __half.
#include "kernels/bert/bert_kernels.cuh"

#include <math.h>

// THREADS: threads of an element-wise block, and the most of a row block (the CPU emulation of
// tests/emulate runs the same blocks).
constexpr int THREADS = 256;

static unsigned blocks_for(long n) { return (unsigned)((n + THREADS - 1) / THREADS); }

// row_threads: threads for one row of n: a power of two (the reductions halve it) in [32, 256].
static unsigned row_threads(int n) {
    unsigned t = 32;
    while ((int)t < n && t < THREADS) t *= 2;
    return t;
}

#define CHECK_LAUNCH() CUDA_CHECK_LAUNCH()

// launch_elements(kernel, N, args...): an element-wise kernel, one thread per element of N (its
// last parameter), in blocks of THREADS; checked, an error naming the line of the call.
#define launch_elements(...) launch_elements_at(__FILE__, __LINE__, __VA_ARGS__)
template <typename... Params, typename... Args>
static void launch_elements_at(const char *file, int line, void (*kernel)(Params...), long N, Args... args) {
    LAUNCH(kernel, blocks_for(N), THREADS)(args..., N);
    cuda_check_launch(file, line);
}

// element_index: this thread's element in a one-thread-per-element launch.
__device__ __forceinline__ long element_index() { return blockIdx.x * (long)blockDim.x + threadIdx.x; }

// ---------------------------------------------------------------------------------------------
// block_reduce: op over the value v of every thread of the block, returned to all of them. A
// tree in shared memory `buf` (blockDim.x entries, blockDim.x a power of two): each step the
// lower half of the active threads combines its value with the upper half's, log2(blockDim.x)
// steps in all. Every thread of the block must call it (it contains barriers).
struct Sum {
    template <typename R> __device__ R operator()(R a, R b) const { return a + b; }
};
struct Max {
    __device__ float operator()(float a, float b) const { return fmaxf(a, b); }
};

template <typename R, typename Op> __device__ R block_reduce(R v, R *buf, Op op) {
    const unsigned tid = threadIdx.x;
    buf[tid] = v;
    __syncthreads();
    for (unsigned half = blockDim.x / 2; half > 0; half /= 2) {
        if (tid < half) buf[tid] = op(buf[tid], buf[tid + half]);
        __syncthreads();
    }
    const R result = buf[0];
    __syncthreads();  // everyone has read buf[0] before the next reduction overwrites it
    return result;
}

// ---------------------------------------------------------------------------------------------
// embeddings

template <typename S>
__global__ void embeddings_forward_kernel(S *out, const int *ids, const int *types, const S *word, const S *pos,
                                          const S *type, int T, int C, long N) {
    const long i = element_index();
    if (i >= N) return;
    const long r = i / C;  // the token (b,t)
    const int c = (int)(i % C), t = (int)(r % T);
    out[i] = from_float<S>(to_float(word[(long)ids[r] * C + c]) + to_float(pos[(long)t * C + c]) +
                           to_float(type[(long)(types ? types[r] : 0) * C + c]));
}

template <typename S>
void embeddings_forward_gpu(S *out, const int *ids, const int *types, const S *word, const S *pos, const S *type, int B,
                            int T, int C) {
    const long N = (long)B * T * C;
    launch_elements(embeddings_forward_kernel<S>, N, out, ids, types, word, pos, type, T, C);
}

template <typename S>
__global__ void embeddings_backward_kernel(float *dword, float *dpos, float *dtype, const S *dout, const int *ids,
                                           const int *types, int T, int C, long N) {
    const long i = element_index();
    if (i >= N) return;
    const long r = i / C;
    const int c = (int)(i % C), t = (int)(r % T);
    const float d = to_float(dout[i]);
    atomicAdd(&dword[(long)ids[r] * C + c], d);
    atomicAdd(&dpos[(long)t * C + c], d);
    atomicAdd(&dtype[(long)(types ? types[r] : 0) * C + c], d);
}

template <typename S>
void embeddings_backward_gpu(float *dword, float *dpos, float *dtype, const S *dout, const int *ids, const int *types,
                             int B, int T, int C) {
    const long N = (long)B * T * C;
    launch_elements(embeddings_backward_kernel<S>, N, dword, dpos, dtype, dout, ids, types, T, C);
}

// ---------------------------------------------------------------------------------------------
// LayerNorm: one block per row.

template <typename S>
__global__ void layernorm_forward_kernel(S *out, float *mean, float *rstd, const S *inp, const S *weight, const S *bias,
                                         int C, float eps) {
    __shared__ float buf[THREADS];
    const long r = blockIdx.x;
    const S *x = inp + r * C;
    S *o = out + r * C;
    float sum = 0.0f;
    for (int c = threadIdx.x; c < C; c += blockDim.x) sum += to_float(x[c]);
    const float m = block_reduce(sum, buf, Sum()) / C;  // mean = sum x / C
    float sq = 0.0f;
    for (int c = threadIdx.x; c < C; c += blockDim.x) sq += (to_float(x[c]) - m) * (to_float(x[c]) - m);
    const float s = 1.0f / sqrtf(block_reduce(sq, buf, Sum()) / C + eps);  // rstd = 1 / sqrt(var + eps)
    for (int c = threadIdx.x; c < C; c += blockDim.x)
        o[c] = from_float<S>(((to_float(x[c]) - m) * s) * to_float(weight[c]) + to_float(bias[c]));
    if (threadIdx.x == 0) mean[r] = m, rstd[r] = s;
}

template <typename S>
void layernorm_forward_gpu(S *out, float *mean, float *rstd, const S *inp, const S *weight, const S *bias, int N, int C,
                           float eps) {
    LAUNCH(layernorm_forward_kernel<S>, N, row_threads(C))(out, mean, rstd, inp, weight, bias, C, eps);
    CHECK_LAUNCH();
}

template <typename S>
__global__ void layernorm_backward_kernel(S *dinp, const S *dout, const S *inp, const S *weight, const float *mean,
                                          const float *rstd, int C) {
    __shared__ float buf[THREADS];
    const long r = blockIdx.x;
    const S *x = inp + r * C, *d = dout + r * C;
    S *dx = dinp + r * C;
    const float m = mean[r], s = rstd[r];
    float sum_dn = 0.0f, sum_dn_n = 0.0f;
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        const float n = (to_float(x[c]) - m) * s, dn = to_float(d[c]) * to_float(weight[c]);
        sum_dn += dn;
        sum_dn_n += dn * n;
    }
    const float mean_dn = block_reduce(sum_dn, buf, Sum()) / C, mean_dn_n = block_reduce(sum_dn_n, buf, Sum()) / C;
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        const float n = (to_float(x[c]) - m) * s, dn = to_float(d[c]) * to_float(weight[c]);
        dx[c] = from_float<S>(s * (dn - mean_dn - n * mean_dn_n));
    }
}

// column_sums_kernel: dbias[c] += sum_r dout[r,c], and when inp is not NULL (LayerNorm) also
// dweight[c] += sum_r dout[r,c] n[r,c] with n = (inp[r,c] - mean[r]) rstd[r]. A block is 32
// columns x COL_ROWS threads over a slab of SLAB rows: consecutive threads read consecutive
// columns (coalesced); the COL_ROWS partial sums meet in shared memory, and the block's total is
// added atomically (N / SLAB additions per column).
constexpr int COL_ROWS = THREADS / 32, SLAB = 256;
template <typename S>
__global__ void column_sums_kernel(float *dbias, float *dweight, const S *dout, const S *inp, const float *mean,
                                   const float *rstd, int N, int C) {
    __shared__ float part_b[COL_ROWS][32], part_w[COL_ROWS][32];
    const int tx = threadIdx.x, ty = threadIdx.y, c = blockIdx.x * 32 + tx;
    const int r0 = blockIdx.y * SLAB, r_end = r0 + SLAB < N ? r0 + SLAB : N;
    float db = 0.0f, dw = 0.0f;
    for (int r = r0 + ty; c < C && r < r_end; r += COL_ROWS) {
        const float d = to_float(dout[(long)r * C + c]);
        db += d;
        if (inp) dw += d * ((to_float(inp[(long)r * C + c]) - mean[r]) * rstd[r]);
    }
    part_b[ty][tx] = db, part_w[ty][tx] = dw;
    __syncthreads();
    if (ty != 0 || c >= C) return;
    for (int k = 1; k < COL_ROWS; k++) db += part_b[k][tx], dw += part_w[k][tx];
    atomicAdd(&dbias[c], db);
    if (inp) atomicAdd(&dweight[c], dw);
}

template <typename S>
static void column_sums(float *dbias, float *dweight, const S *dout, const S *inp, const float *mean, const float *rstd,
                        int N, int C) {
    const dim3 grid((C + 31) / 32, (N + SLAB - 1) / SLAB), block(32, COL_ROWS);
    LAUNCH(column_sums_kernel<S>, grid, block)(dbias, dweight, dout, inp, mean, rstd, N, C);
    CHECK_LAUNCH();
}

template <typename S>
void layernorm_backward_gpu(S *dinp, float *dweight, float *dbias, const S *dout, const S *inp, const S *weight,
                            const float *mean, const float *rstd, int N, int C) {
    LAUNCH(layernorm_backward_kernel<S>, N, row_threads(C))(dinp, dout, inp, weight, mean, rstd, C);
    CHECK_LAUNCH();
    column_sums(dbias, dweight, dout, inp, mean, rstd, N, C);
}

// ---------------------------------------------------------------------------------------------
// element-wise activations

constexpr float SQRT1_2 = 0.70710678118654752440f;       // 1/sqrt(2)
constexpr float INV_SQRT_2PI = 0.39894228040143267794f;  // 1/sqrt(2 pi)

template <typename S> __global__ void gelu_forward_kernel(S *out, const S *inp, long N) {
    const long i = element_index();
    if (i >= N) return;
    const float x = to_float(inp[i]);
    out[i] = from_float<S>(0.5f * x * (1.0f + erff(x * SQRT1_2)));
}

template <typename S> __global__ void gelu_backward_kernel(S *dinp, const S *dout, const S *inp, long N) {
    const long i = element_index();
    if (i >= N) return;
    const float x = to_float(inp[i]);
    const float cdf = 0.5f * (1.0f + erff(x * SQRT1_2)), pdf = INV_SQRT_2PI * expf(-0.5f * x * x);
    dinp[i] = from_float<S>(to_float(dout[i]) * (cdf + x * pdf));
}

template <typename S> __global__ void tanh_forward_kernel(S *out, const S *inp, long N) {
    const long i = element_index();
    if (i < N) out[i] = from_float<S>(tanhf(to_float(inp[i])));
}

template <typename S> __global__ void tanh_backward_kernel(S *dinp, const S *dout, const S *out, long N) {
    const long i = element_index();
    if (i >= N) return;
    const float y = to_float(out[i]);
    dinp[i] = from_float<S>(to_float(dout[i]) * (1.0f - y * y));
}

template <typename S> void gelu_forward_gpu(S *out, const S *inp, long N) {
    launch_elements(gelu_forward_kernel<S>, N, out, inp);
}
template <typename S> void gelu_backward_gpu(S *dinp, const S *dout, const S *inp, long N) {
    launch_elements(gelu_backward_kernel<S>, N, dinp, dout, inp);
}
template <typename S> void tanh_forward_gpu(S *out, const S *inp, long N) {
    launch_elements(tanh_forward_kernel<S>, N, out, inp);
}
template <typename S> void tanh_backward_gpu(S *dinp, const S *dout, const S *out, long N) {
    launch_elements(tanh_backward_kernel<S>, N, dinp, dout, out);
}

// ---------------------------------------------------------------------------------------------
// softmax with a key mask: one block per row. The exponentials are summed in float registers and
// computed again for the stores, so each probability is rounded once (narrow S) and the sum is
// of the unrounded values.

template <typename S>
__global__ void softmax_forward_kernel(S *probs, const S *scores, const int *mask, int rows_per_batch, int n) {
    __shared__ float buf[THREADS];
    const long r = blockIdx.x;
    const int *on = mask ? mask + (r / rows_per_batch) * n : NULL;  // the keys of this row's sequence
    const S *s = scores + r * n;
    S *p = probs + r * n;
    float max = -INFINITY;
    for (int j = threadIdx.x; j < n; j += blockDim.x)
        if (!on || on[j]) max = fmaxf(max, to_float(s[j]));
    max = block_reduce(max, buf, Max());
    float sum = 0.0f;
    for (int j = threadIdx.x; j < n; j += blockDim.x) sum += !on || on[j] ? expf(to_float(s[j]) - max) : 0.0f;
    sum = block_reduce(sum, buf, Sum());
    for (int j = threadIdx.x; j < n; j += blockDim.x)  // (in place: thread j reads s[j] before writing p[j])
        p[j] = from_float<S>(!on || on[j] ? expf(to_float(s[j]) - max) / sum : 0.0f);
}

template <typename S>
void softmax_forward_gpu(S *probs, const S *scores, const int *mask, int B, int rows_per_batch, int n) {
    LAUNCH(softmax_forward_kernel<S>, (unsigned)B * rows_per_batch, row_threads(n))
    (probs, scores, mask, rows_per_batch, n);
    CHECK_LAUNCH();
}

template <typename S> __global__ void softmax_backward_kernel(S *dscores, const S *dprobs, const S *probs, int n) {
    __shared__ float buf[THREADS];
    const long r = blockIdx.x;
    const S *p = probs + r * n, *dp = dprobs + r * n;
    S *ds = dscores + r * n;
    float dot = 0.0f;  // sum_k p_k dp_k
    for (int j = threadIdx.x; j < n; j += blockDim.x) dot += to_float(p[j]) * to_float(dp[j]);
    dot = block_reduce(dot, buf, Sum());
    for (int j = threadIdx.x; j < n; j += blockDim.x) ds[j] = from_float<S>(to_float(p[j]) * (to_float(dp[j]) - dot));
}

template <typename S> void softmax_backward_gpu(S *dscores, const S *dprobs, const S *probs, long rows, int n) {
    LAUNCH(softmax_backward_kernel<S>, (unsigned)rows, row_threads(n))(dscores, dprobs, probs, n);
    CHECK_LAUNCH();
}

// ---------------------------------------------------------------------------------------------
// dropout

// splitmix64: a 64-bit mixing function (Steele, Lea, Flood 2014): every input bit flips about
// half the output bits, so consecutive counters give independent-looking numbers.
__host__ __device__ static inline uint64_t splitmix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

uint64_t dropout_site_seed(uint64_t seed, uint64_t site) { return splitmix64(seed ^ splitmix64(site + 1)); }

// dropout_keeps: element i survives when uniform(seed, i) >= p, uniform = the top 24 bits / 2^24.
__device__ __forceinline__ uint8_t dropout_keeps(uint64_t seed, long i, float p) {
    const uint64_t h = splitmix64(seed + (uint64_t)(i + 1) * 0x9E3779B97F4A7C15ull);
    return (float)(h >> 40) * (1.0f / 16777216.0f) >= p;
}

template <typename S>
__global__ void dropout_forward_kernel(S *out, uint8_t *keep, const S *inp, const S *residual, Dropout d, long N) {
    const long i = element_index();
    if (i >= N) return;
    float y = to_float(inp[i]);
    if (d.p > 0.0f) {
        if (!d.given) keep[i] = dropout_keeps(d.seed, i, d.p);
        y = keep[i] ? y * (1.0f / (1.0f - d.p)) : 0.0f;
    } else {
        keep[i] = 1;
    }
    out[i] = from_float<S>(residual ? y + to_float(residual[i]) : y);
}

template <typename S>
void dropout_forward_gpu(S *out, uint8_t *keep, const S *inp, const S *residual, long N, Dropout d) {
    if (d.p >= 1.0f) die("dropout probability must be below 1 (got %g)", d.p);
    launch_elements(dropout_forward_kernel<S>, N, out, keep, inp, residual, d);
}

template <typename S>
__global__ void dropout_backward_kernel(S *dinp, const S *dout, const uint8_t *keep, float scale, long N) {
    const long i = element_index();
    if (i < N) dinp[i] = from_float<S>(keep[i] ? to_float(dout[i]) * scale : 0.0f);
}

template <typename S> void dropout_backward_gpu(S *dinp, const S *dout, const uint8_t *keep, long N, float p) {
    const float scale = p > 0.0f ? 1.0f / (1.0f - p) : 1.0f;
    launch_elements(dropout_backward_kernel<S>, N, dinp, dout, keep, scale);
}

// ---------------------------------------------------------------------------------------------
// attention

// One thread per element of the head-major array (B,NH,T,HS); SPLIT copies into it, else out of it.
template <typename S, bool SPLIT> __global__ void heads_kernel(S *out, const S *inp, int T, int NH, int HS, long N) {
    const long i = element_index();
    if (i >= N) return;
    const int s = (int)(i % HS), t = (int)(i / HS % T), h = (int)(i / ((long)HS * T) % NH);
    const long b = i / ((long)HS * T * NH);
    const long j = ((b * T + t) * NH + h) * HS + s;  // the same element in (B,T,NH,HS) = (B,T,C)
    if (SPLIT) out[i] = inp[j];
    else out[j] = inp[i];
}

template <typename S> void split_heads_gpu(S *out, const S *inp, int B, int T, int NH, int HS) {
    const long N = (long)B * T * NH * HS;
    launch_elements(heads_kernel<S, true>, N, out, inp, T, NH, HS);
}

template <typename S> void merge_heads_gpu(S *out, const S *inp, int B, int T, int NH, int HS) {
    const long N = (long)B * T * NH * HS;
    launch_elements(heads_kernel<S, false>, N, out, inp, T, NH, HS);
}

// product: C = alpha op(A) op(B) + beta C for `batch` packed matrices (gemm_check.h's layout),
// A and B stored in S, C in SC (S, or float for a weight gradient).
template <typename S, typename SC>
static void product(cublasHandle_t h, GemmPrecision prec, bool trans_a, bool trans_b, int M, int N, int K, int batch,
                    float alpha, float beta, const S *A, const S *B, SC *C) {
    GemmShape s = gemm_shape_padded(M, N, K, batch, trans_a, trans_b, 0);
    s.alpha = alpha, s.beta = beta;
    gemm_cublas_ex(h, &s, A, B, StorageOf<S>::format, C, StorageOf<SC>::format, prec == GEMM_TF32);
}

template <typename S>
void attention_forward_gpu(cublasHandle_t h, GemmPrecision prec, S *ctxh, S *att, uint8_t *keep, S *attd, const S *qh,
                           const S *kh, const S *vh, const int *mask, int B, int T, int NH, int HS, Dropout d) {
    const int BH = B * NH;
    const float scale = 1.0f / sqrtf((float)HS);
    product(h, prec, false, true, T, T, HS, BH, scale, 0.0f, qh, kh, att);       // att = q k^T / sqrt(HS)   (T,T)
    softmax_forward_gpu(att, att, mask, B, NH * T, T);                           // over the unmasked keys
    dropout_forward_gpu(attd, keep, att, (const S *)NULL, (long)BH * T * T, d);  // attd = dropout(att)
    product(h, prec, false, false, T, HS, T, BH, 1.0f, 0.0f, attd, vh, ctxh);    // ctx = attd v         (T,HS)
}

template <typename S>
void attention_backward_gpu(cublasHandle_t h, GemmPrecision prec, S *dqh, S *dkh, S *dvh, S *datt, const S *dctxh,
                            const S *qh, const S *kh, const S *vh, const S *att, const uint8_t *keep, const S *attd,
                            int B, int T, int NH, int HS, float dropout_p) {
    const int BH = B * NH;
    const float scale = 1.0f / sqrtf((float)HS);
    product(h, prec, false, true, T, T, HS, BH, 1.0f, 0.0f, dctxh, vh, datt);   // dattd = dctx v^T
    product(h, prec, true, false, T, HS, T, BH, 1.0f, 0.0f, attd, dctxh, dvh);  // dv = attd^T dctx
    dropout_backward_gpu(datt, datt, keep, (long)BH * T * T, dropout_p);        // datt
    softmax_backward_gpu(datt, datt, att, (long)BH * T, T);                     // ds
    product(h, prec, false, false, T, HS, T, BH, scale, 0.0f, datt, kh, dqh);   // dq = ds k / sqrt(HS)
    product(h, prec, true, false, T, HS, T, BH, scale, 0.0f, datt, qh, dkh);    // dk = ds^T q / sqrt(HS)
}

// ---------------------------------------------------------------------------------------------
// Linear

template <typename S> __global__ void add_bias_kernel(S *out, const S *bias, int OC, long N) {
    const long i = element_index();
    if (i < N) out[i] = from_float<S>(to_float(out[i]) + to_float(bias[i % OC]));
}

template <typename S>
void linear_forward_gpu(cublasHandle_t h, GemmPrecision prec, S *out, const S *inp, const S *weight, const S *bias,
                        int BT, int C, int OC) {
    product(h, prec, false, true, BT, OC, C, 1, 1.0f, 0.0f, inp, weight, out);  // out = inp W^T
    if (!bias) return;
    launch_elements(add_bias_kernel<S>, (long)BT * OC, out, bias, OC);
}

template <typename S>
void linear_backward_gpu(cublasHandle_t h, GemmPrecision prec, S *dinp, float *dweight, float *dbias, const S *dout,
                         const S *inp, const S *weight, int BT, int C, int OC) {
    if (dinp) product(h, prec, false, false, BT, C, OC, 1, 1.0f, 1.0f, dout, weight, dinp);    // dinp += dout W
    if (dweight) product(h, prec, true, false, OC, C, BT, 1, 1.0f, 1.0f, dout, inp, dweight);  // dW += dout^T inp
    if (dbias) column_sums(dbias, NULL, dout, (const S *)NULL, NULL, NULL, BT, OC);            // db += sum_rows dout
}

// ---------------------------------------------------------------------------------------------
// cross-entropy: one block; a thread per row (B is a batch of sequences, K a few labels)

template <typename S>
__global__ void cross_entropy_forward_kernel(float *loss, float *probs, const S *logits, const int *labels, int B,
                                             int K) {
    __shared__ double buf[THREADS];
    double total = 0.0;
    for (int b = threadIdx.x; b < B; b += blockDim.x) {
        const S *z = logits + (long)b * K;
        float zmax = to_float(z[0]);
        for (int k = 1; k < K; k++) zmax = fmaxf(zmax, to_float(z[k]));
        double sum = 0.0;
        for (int k = 0; k < K; k++) sum += exp((double)to_float(z[k]) - zmax);
        const double logsumexp = zmax + log(sum);
        total += logsumexp - to_float(z[labels[b]]);  // -log p[label]
        for (int k = 0; k < K; k++) probs[(long)b * K + k] = (float)exp((double)to_float(z[k]) - logsumexp);
    }
    total = block_reduce(total, buf, Sum());
    if (threadIdx.x == 0) *loss = (float)(total / B);
}

template <typename S>
void cross_entropy_forward_gpu(float *loss, float *probs, const S *logits, const int *labels, int B, int K) {
    LAUNCH(cross_entropy_forward_kernel<S>, 1, row_threads(B))(loss, probs, logits, labels, B, K);
    CHECK_LAUNCH();
}

template <typename S>
__global__ void cross_entropy_backward_kernel(S *dlogits, const float *probs, const int *labels, int K, float scale,
                                              long N) {
    const long i = element_index();
    if (i < N) dlogits[i] = from_float<S>((probs[i] - (i % K == labels[i / K] ? 1.0f : 0.0f)) * scale);
}

template <typename S>
void cross_entropy_backward_gpu(S *dlogits, const float *probs, const int *labels, int B, int K, float scale) {
    launch_elements(cross_entropy_backward_kernel<S>, (long)B * K, dlogits, probs, labels, K, scale);
}

// ---------------------------------------------------------------------------------------------
// gradient norm, clipping, AdamW

// sum_squares_kernel: each block sums x_i^2 over a grid-strided share of the elements, in double.
__global__ void sum_squares_kernel(double *partials, const float *x, long n) {
    __shared__ double buf[THREADS];
    double sum = 0.0;
    for (long i = element_index(); i < n; i += (long)gridDim.x * blockDim.x) sum += (double)x[i] * x[i];
    sum = block_reduce(sum, buf, Sum());
    if (threadIdx.x == 0) partials[blockIdx.x] = sum;
}

// sum_kernel: one block adds up n doubles.
__global__ void sum_kernel(double *out, const double *x, int n) {
    __shared__ double buf[THREADS];
    double sum = 0.0;
    for (int i = threadIdx.x; i < n; i += blockDim.x) sum += x[i];
    sum = block_reduce(sum, buf, Sum());
    if (threadIdx.x == 0) *out = sum;
}

void sum_squares_gpu(double *out, double *partials, const float *x, long n) {
    const long blocks = blocks_for(n) < SUM_SQUARES_BLOCKS ? blocks_for(n) : SUM_SQUARES_BLOCKS;
    LAUNCH(sum_squares_kernel, (unsigned)blocks, THREADS)(partials, x, n);
    CHECK_LAUNCH();
    LAUNCH(sum_kernel, 1, THREADS)(out, partials, (int)blocks);
    CHECK_LAUNCH();
}

__global__ void scale_kernel(float *x, float s, long n) {
    const long i = element_index();
    if (i < n) x[i] *= s;
}

void scale_gpu(float *x, long n, float s) { launch_elements(scale_kernel, n, x, s); }

template <typename S> __global__ void convert_kernel(S *dst, const float *src, long n) {
    const long i = element_index();
    if (i < n) dst[i] = from_float<S>(src[i]);
}

template <typename S> void convert_gpu(S *dst, const float *src, long n) {
    launch_elements(convert_kernel<S>, n, dst, src);
}

template <typename S>
__global__ void adamw_kernel(float *params, S *narrow, const float *grads, float *m, float *v, const long *tensor_end,
                             const uint8_t *decay, int n_tensors, AdamCoefs c, long n) {
    const long i = element_index();
    if (i >= n) return;
    int lo = 0, hi = n_tensors - 1;  // the tensor holding element i: the first that ends after i
    while (lo < hi) {
        const int mid = (lo + hi) / 2;
        if (tensor_end[mid] > i) hi = mid;
        else lo = mid + 1;
    }
    const float g = grads[i];
    float p = params[i], mi = m[i], vi = v[i];
    if (decay[lo]) p *= c.shrink;                          // AdamW: decay the weight itself
    mi += (1.0f - c.b1) * (g - mi);                        // m = b1 m + (1-b1) g
    vi = c.b2 * vi + (1.0f - c.b2) * g * g;                // v = b2 v + (1-b2) g^2
    const float denom = sqrtf(vi) / c.bias2_sqrt + c.eps;  // sqrt(v_hat) + eps
    p -= c.step_size * mi / denom;                         // p -= lr m_hat / denom
    params[i] = p, m[i] = mi, v[i] = vi;
    if (narrow) narrow[i] = from_float<S>(p);  // the copy the next forward reads
}

template <typename S>
void adamw_gpu(float *params, S *narrow, const float *grads, float *m, float *v, long n, const long *tensor_end,
               const uint8_t *decay, int n_tensors, AdamCoefs c) {
    launch_elements(adamw_kernel<S>, n, params, narrow, grads, m, v, tensor_end, decay, n_tensors, c);
}

// ---------------------------------------------------------------------------------------------
// every layer function for the three storage types (their declarations are in bert_kernels.cuh)

#define BERT_KERNELS_FOR(S)                                                                                            \
    template void embeddings_forward_gpu(S *, const int *, const int *, const S *, const S *, const S *, int, int,     \
                                         int);                                                                         \
    template void embeddings_backward_gpu(float *, float *, float *, const S *, const int *, const int *, int, int,    \
                                          int);                                                                        \
    template void layernorm_forward_gpu(S *, float *, float *, const S *, const S *, const S *, int, int, float);      \
    template void layernorm_backward_gpu(S *, float *, float *, const S *, const S *, const S *, const float *,        \
                                         const float *, int, int);                                                     \
    template void gelu_forward_gpu(S *, const S *, long);                                                              \
    template void gelu_backward_gpu(S *, const S *, const S *, long);                                                  \
    template void tanh_forward_gpu(S *, const S *, long);                                                              \
    template void tanh_backward_gpu(S *, const S *, const S *, long);                                                  \
    template void softmax_forward_gpu(S *, const S *, const int *, int, int, int);                                     \
    template void softmax_backward_gpu(S *, const S *, const S *, long, int);                                          \
    template void dropout_forward_gpu(S *, uint8_t *, const S *, const S *, long, Dropout);                            \
    template void dropout_backward_gpu(S *, const S *, const uint8_t *, long, float);                                  \
    template void split_heads_gpu(S *, const S *, int, int, int, int);                                                 \
    template void merge_heads_gpu(S *, const S *, int, int, int, int);                                                 \
    template void attention_forward_gpu(cublasHandle_t, GemmPrecision, S *, S *, uint8_t *, S *, const S *, const S *, \
                                        const S *, const int *, int, int, int, int, Dropout);                          \
    template void attention_backward_gpu(cublasHandle_t, GemmPrecision, S *, S *, S *, S *, const S *, const S *,      \
                                         const S *, const S *, const S *, const uint8_t *, const S *, int, int, int,   \
                                         int, float);                                                                  \
    template void linear_forward_gpu(cublasHandle_t, GemmPrecision, S *, const S *, const S *, const S *, int, int,    \
                                     int);                                                                             \
    template void linear_backward_gpu(cublasHandle_t, GemmPrecision, S *, float *, float *, const S *, const S *,      \
                                      const S *, int, int, int);                                                       \
    template void cross_entropy_forward_gpu(float *, float *, const S *, const int *, int, int);                       \
    template void cross_entropy_backward_gpu(S *, const float *, const int *, int, int, float);                        \
    template void convert_gpu(S *, const float *, long);                                                               \
    template void adamw_gpu(float *, S *, const float *, float *, float *, long, const long *, const uint8_t *, int,   \
                            AdamCoefs);
BERT_KERNELS_FOR(float)
BERT_KERNELS_FOR(__nv_bfloat16)
BERT_KERNELS_FOR(__half)
