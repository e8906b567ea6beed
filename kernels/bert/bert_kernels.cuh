// bert_kernels.cuh — the layers of common/model/layers.h on the GPU, one kernel (or a small set) per
// layer, forward and backward, with the same math and the same shapes as the CPU function each
// one mirrors; the Linear layers and the attention products go through cuBLAS.
// Introduced by lesson 13 (bert_cuda); kernels/bert/bert_cuda.cu builds the GPU BERT from them.
//
// Conventions: every pointer is device memory; row-major arrays; shapes in comments with
// B = batch, T = tokens, C = channels, NH = heads, HS = C/NH, I = intermediate size. Each function
// launches on the default stream (asynchronously) and checks the launch. As on the CPU, a
// backward OVERWRITES its input's gradient and ADDS to its parameters' gradients (a Linear's
// backward adds to every gradient, its input's included).
//
// Storage type S (lesson 14): each layer function is a template over the type its activations,
// activation gradients and weights are stored in: float, __nv_bfloat16 or __half (kernels/bert/bert_cuda.cu
// picks one per model). A kernel loads S into float registers (to_float), computes in float32 and
// rounds once when it stores (from_float<S>, round to nearest even); LayerNorm statistics,
// softmax sums, the loss and every reduction stay float32 (double where the CPU uses double).
// Parameter GRADIENTS are always float32 (the `float *d...` arguments): a weight gradient is a
// cuBLAS product of narrow inputs into a float32 C, bias and LayerNorm gradients are float sums.
// With S = float every kernel computes exactly what it did before the templates.
//
// The same source also compiles with g++ against stand-ins for CUDA's headers that run the
// kernels on the CPU (and cuBLAS as the CPU sgemm; tests/emulate/): `make test` checks every
// kernel against its CPU function that way, on a machine without a GPU.
#pragma once
#include <stdint.h>
extern "C" {
#include "common/train/optim.h"  // AdamCoefs
}

#include "kernels/core/cublas_gemm.cuh"

// to_float / from_float<S>: a stored element into float32 (exact), a float32 into storage type S
// (round to nearest even: the GPU's cvt.rn instructions; inf on fp16 overflow).
__device__ __forceinline__ float to_float(float x) { return x; }
__device__ __forceinline__ float to_float(__nv_bfloat16 x) { return __bfloat162float(x); }
__device__ __forceinline__ float to_float(__half x) { return __half2float(x); }
template <typename S> __device__ __forceinline__ S from_float(float x);
template <> __device__ __forceinline__ float from_float<float>(float x) { return x; }
template <> __device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float x) {
    return __float2bfloat16_rn(x);
}
template <> __device__ __forceinline__ __half from_float<__half>(float x) { return __float2half_rn(x); }

// StorageOf<S>::format: the FloatFormat (common/model/precision.h) of storage type S, for cuBLAS.
template <typename S> struct StorageOf;
template <> struct StorageOf<float> { static constexpr FloatFormat format = FMT_FP32; };
template <> struct StorageOf<__nv_bfloat16> { static constexpr FloatFormat format = FMT_BF16; };
template <> struct StorageOf<__half> { static constexpr FloatFormat format = FMT_FP16; };

// Dropout: how a forward pass makes its dropout masks (the `keep` arrays, 1 = kept).
//   p == 0 (evaluation, or no dropout):  keep = 1 and out = inp, as dropout_forward with no Rng;
//   given:  the masks are already in `keep` (uploaded from the CPU model, so that the GPU and the
//           CPU drop the same elements: how the tests compare a training step exactly);
//   else:   keep_i = (uniform(seed, i) >= p), a counter-based hash of (seed, i), so every
//           element draws independently on any thread and the same seed repeats the masks.
// A kept element is scaled by 1/(1-p) (inverted dropout).
typedef struct {
    float p;
    uint64_t seed;
    bool given;
} Dropout;

// dropout_site_seed: the seed of dropout site `site` (the embeddings, each layer's three, the
// pooler) in a forward pass with `seed`, so that every site draws its own masks.
uint64_t dropout_site_seed(uint64_t seed, uint64_t site);

// ---- embeddings (layers.h embeddings_forward / embeddings_backward) ----
// out[b,t] = word[ids[b,t]] + pos[t] + type[types[b,t]]                          (B,T,C)
template <typename S>
void embeddings_forward_gpu(S *out, const int *ids, const int *types, const S *word, const S *pos, const S *type, int B,
                            int T, int C);
// dword[ids[b,t]] += dout[b,t]; dpos[t] += dout[b,t]; dtype[types[b,t]] += dout[b,t]: atomic
// adds, because two tokens with the same id add into the same row (the order of the additions,
// and so the last bits, vary from run to run).
template <typename S>
void embeddings_backward_gpu(float *dword, float *dpos, float *dtype, const S *dout, const int *ids, const int *types,
                             int B, int T, int C);

// ---- LayerNorm (layernorm_forward / layernorm_backward) ----
// per row of C: out = (x - mean) * rstd * weight + bias, rstd = 1/sqrt(var + eps)   (N,C), mean/rstd (N)
template <typename S>
void layernorm_forward_gpu(S *out, float *mean, float *rstd, const S *inp, const S *weight, const S *bias, int N, int C,
                           float eps);
// n = (x - mean) rstd, dn = dout weight:  dinp = rstd (dn - mean(dn) - n mean(dn n));
// dweight += sum_rows dout n;  dbias += sum_rows dout
template <typename S>
void layernorm_backward_gpu(S *dinp, float *dweight, float *dbias, const S *dout, const S *inp, const S *weight,
                            const float *mean, const float *rstd, int N, int C);

// ---- element-wise activations (gelu_*, tanh_*) ----
template <typename S> void gelu_forward_gpu(S *out, const S *inp, long N);                   // x Phi(x)
template <typename S> void gelu_backward_gpu(S *dinp, const S *dout, const S *inp, long N);  // dout (Phi + x phi)
template <typename S> void tanh_forward_gpu(S *out, const S *inp, long N);
template <typename S> void tanh_backward_gpu(S *dinp, const S *dout, const S *out, long N);  // dout (1 - out^2)

// ---- softmax with a key mask (softmax_forward / softmax_backward) ----
// scores (B, rows_per_batch, n): each row p_j = exp(s_j - max) / sum_k exp(s_k - max) over the
// keys j with mask[b, j] != 0 (mask (B,n), NULL = all on); masked keys get p_j = 0. In place is fine.
template <typename S>
void softmax_forward_gpu(S *probs, const S *scores, const int *mask, int B, int rows_per_batch, int n);
// ds_j = p_j (dp_j - sum_k p_k dp_k), for `rows` rows of n.
template <typename S> void softmax_backward_gpu(S *dscores, const S *dprobs, const S *probs, long rows, int n);

// ---- dropout (dropout_forward / dropout_backward), with the residual add fused ----
// out = residual + keep * inp / (1-p)   (residual NULL: no add), keep made as Dropout says.
// With a residual this is add_forward(dropout_forward(inp), residual) in one pass.
template <typename S>
void dropout_forward_gpu(S *out, uint8_t *keep, const S *inp, const S *residual, long N, Dropout d);
// dinp = dout * keep / (1-p)   (p = 0: dinp = dout * keep, keep being all 1)
template <typename S> void dropout_backward_gpu(S *dinp, const S *dout, const uint8_t *keep, long N, float p);

// ---- attention (attention_forward / attention_backward) ----
// The CPU keeps q, k, v as (B,T,C) with heads side by side and multiplies strided views per
// (b,h). cuBLAS's strided-batched product wants each head's (T,HS) matrix contiguous, at one
// fixed stride from the next: split_heads copies (B,T,NH,HS) to (B,NH,T,HS), merge_heads back.
template <typename S>
void split_heads_gpu(S *out, const S *inp, int B, int T, int NH, int HS);  // (B,T,C) -> (B,NH,T,HS)
template <typename S>
void merge_heads_gpu(S *out, const S *inp, int B, int T, int NH, int HS);  // (B,NH,T,HS) -> (B,T,C)
// On heads (B,NH,T,HS), per (b,h), as two strided-batched products of B*NH matrices:
//   att  = softmax(qh kh^T / sqrt(HS)) over keys with mask[b,key] = 1     (B,NH,T,T)
//   attd = dropout(att)                                                   (B,NH,T,T), keep (B,NH,T,T)
//   ctxh = attd vh                                                        (B,NH,T,HS)
// (narrow S: the scores, probabilities and their gradients are stored in S too.)
template <typename S>
void attention_forward_gpu(cublasHandle_t h, GemmPrecision prec, S *ctxh, S *att, uint8_t *keep, S *attd, const S *qh,
                           const S *kh, const S *vh, const int *mask, int B, int T, int NH, int HS, Dropout d);
// dattd = dctxh vh^T, dvh = attd^T dctxh, datt = dropout_backward(dattd), ds = softmax_backward(datt),
// dqh = ds kh / sqrt(HS), dkh = ds^T qh / sqrt(HS). datt (B,NH,T,T) is scratch.
template <typename S>
void attention_backward_gpu(cublasHandle_t h, GemmPrecision prec, S *dqh, S *dkh, S *dvh, S *datt, const S *dctxh,
                            const S *qh, const S *kh, const S *vh, const S *att, const uint8_t *keep, const S *attd,
                            int B, int T, int NH, int HS, float dropout_p);

// ---- Linear (common/model/matmul.h linear_forward / linear_backward), through cuBLAS ----
// prec (GEMM_FP32 or GEMM_TF32) applies to S = float; bf16/fp16 products are tensor-core products
// accumulated in float32 whatever prec says.
// out (BT,OC) = inp (BT,C) W^T + b          W (OC,C), b (OC) or NULL
template <typename S>
void linear_forward_gpu(cublasHandle_t h, GemmPrecision prec, S *out, const S *inp, const S *weight, const S *bias,
                        int BT, int C, int OC);
// dinp += dout W;  dW += dout^T inp (float32 C);  db += sum_rows dout   (each may be NULL)
template <typename S>
void linear_backward_gpu(cublasHandle_t h, GemmPrecision prec, S *dinp, float *dweight, float *dbias, const S *dout,
                         const S *inp, const S *weight, int BT, int C, int OC);

// ---- the loss (common/model/loss.h cross_entropy_forward / cross_entropy_backward) ----
// logits (B,K), labels (B): probs (B,K) = softmax, *loss = mean_b (logsumexp(z_b) - z_b[label_b]),
// computed in double per row as on the CPU. `loss` is one device float.
template <typename S>
void cross_entropy_forward_gpu(float *loss, float *probs, const S *logits, const int *labels, int B, int K);
// dlogits = (probs - onehot(labels)) * scale
template <typename S>
void cross_entropy_backward_gpu(S *dlogits, const float *probs, const int *labels, int B, int K, float scale);

// ---- the optimizer step (common/train/optim.h grad_global_norm, clip_grad_norm, AdamW) ----
// sum_squares_gpu: *out (one device double) = sum_i x_i^2, accumulated in double as on the CPU.
// An inf or NaN among the x_i makes the sum inf or NaN: the fp16 loss scaler's found-inf test.
// partials: SUM_SQUARES_BLOCKS device doubles of scratch.
#define SUM_SQUARES_BLOCKS 512
void sum_squares_gpu(double *out, double *partials, const float *x, long n);
// scale_gpu: x *= s (clipping applies min(1, max_norm / (norm + 1e-6)) so; unscaling 1/scale).
void scale_gpu(float *x, long n, float s);
// convert_gpu: dst[i] = src[i] stored in S, for i < n (the narrow copy of the parameters).
template <typename S> void convert_gpu(S *dst, const float *src, long n);

// AdamW over the whole parameter buffer in one launch. The tensors partition [0, n): tensor i
// ends at tensor_end[i] and decays when decay[i] (device arrays, n_tensors each). Per element,
// exactly the formula of common/train/optim.c adam_range for AdamW:
//   p *= 1 - lr wd (decay tensors);  m += (1-b1)(g - m);  v = b2 v + (1-b2) g^2
//   p -= step_size m / (sqrt(v) / bias2_sqrt + eps),  step_size = lr/(1-b1^t), bias2_sqrt = sqrt(1-b2^t)
// The per-step scalars are common/train/optim.h AdamCoefs (adam_coefs), the CPU optimizer's own.
// params are the float32 (master) weights; `narrow` (NULL: none) gets the updated p stored in S,
// the copy the next forward reads (mixed precision: lesson 14).
template <typename S>
void adamw_gpu(float *params, S *narrow, const float *grads, float *m, float *v, long n, const long *tensor_end,
               const uint8_t *decay, int n_tensors, AdamCoefs c);
