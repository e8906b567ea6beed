// matmul_bf16.h — the Linear layer with bf16 products and fp32 accumulation: the CPU half of
// mixed precision, what torch.autocast("cpu", dtype=torch.bfloat16) does to nn.Linear (and what
// the Hugging Face Trainer turns on with bf16=True, use_cpu=True). Used by the trainer's
// `--device cpu --bf16` through BertModel.autocast_bf16 (common/model/bert.c).
//
// torch's CPU autocast keeps two op lists (aten/src/ATen/autocast_mode.cpp, AutocastCPU):
//   lower_precision_fp: linear, addmm, mm, bmm, matmul, baddbmm, scaled_dot_product_attention, conv
//                       — inputs cast to bf16, the output is bf16
//   fp32:               the losses (nll_loss, cross_entropy, ...), prod, cdist, ... — run in fp32
// Everything else (layer_norm, softmax, gelu, tanh, dropout, add) runs in its inputs' dtype, with
// type promotion: in BERT the residual stream is fp32 (the embeddings and every LayerNorm output
// are fp32 because their weights are), bf16 + fp32 promotes to fp32, so each LayerNorm runs in
// fp32; only what flows from one Linear to the next (GELU, tanh) is bf16.
//
// So, per Linear layer, with bf(x) = x rounded to the nearest bf16 (ties to even, precision.h):
//   forward:   out  = bf( bf(inp) · bf(W)^T + bf(b) )          products exact, sums in fp32
//   backward:  g    = bf(dout)                                 (the gradient of a bf16 tensor is bf16)
//              dinp += bf( g · bf(W) )                          added in fp32 where inp was fp32
//              dW   += bf( g^T · bf(inp) )                      the fp32 master's .grad, in fp32
//              db   += bf( sum over rows of g )
// The weights the caller passes are the fp32 MASTER weights (the optimizer updates them); the
// bf16 copies are made on every call, as autocast does.
//
// Where bert.c differs from torch under autocast (all inside the attention block and its
// neighbours; the step stays within test_bf16_cpu.c's measured tolerances of fp32):
//   - the attention products (matmul/bmm or scaled_dot_product_attention: on torch's bf16 list)
//     run in fp32. Their inputs q, k, v are already bf16 values (Linear outputs), so Q·K^T has the
//     same exact products; but the probabilities are not rounded to bf16 before P·V, nor the
//     scores (eager attention rounds them).
//   - dropout, GELU and tanh on a bf16 tensor return bf16 in torch; here their fp32 results are
//     rounded only where the next Linear reads them (the same values there), not where they join
//     the fp32 residual sum (a dropout's 1/(1-p) scaling) or feed a backward (tanh's output).
//
// The products (gemm_bf16) run on one of two paths, chosen at run time:
//   avx512bf16  vdpbf16ps (AVX512_BF16: Intel Cooper Lake / Sapphire Rapids and later, AMD Zen 4
//               and later): 32 bf16 x bf16 products per instruction, accumulated in fp32 lanes
//   fallback    every other CPU: the operands are rounded to bf16 VALUES kept in fp32 and the
//               fp32 sgemm multiplies them. The product of two bf16 numbers (8-bit significands)
//               is exact in fp32 (24 bits), so this computes the same products as vdpbf16ps and
//               differs only in the order of the fp32 sums (and vdpbf16ps flushes subnormals to 0).
// The fallback is a correct emulation, not a speed-up: it costs two rounding passes over the
// operands on top of the fp32 product.
#pragma once
#include <stdbool.h>

// bf16_dot_available: whether this CPU has AVX512_BF16 (cpuid, asked once).
bool bf16_dot_available(void);
// gemm_bf16_path: the path gemm_bf16 takes here, and why, for one log line.
const char *gemm_bf16_path(void);

// gemm_bf16: C (M,N) = bf(op(A)) · bf(op(B)) + beta * C with fp32 sums, op(X) = X or X^T as in
// sgemm (matmul.h); A, B are dense (lda = its row length). beta = 0 ignores what C held.
void gemm_bf16(bool trans_a, bool trans_b, int M, int N, int K, const float *A, const float *B, float beta, float *C);
// gemm_bf16_dot: the avx512bf16 path alone: op(A) and op(B)^T packed as bf16 rows with k
// contiguous (zero-padded to whole 4x4 tiles and to k a multiple of 32), each 4x4 tile of C from
// vdpbf16ps, C = A16 · B16^T + beta * C. Only on a CPU where bf16_dot_available(), unless
// `emulated`: then each vdpbf16ps is computed lane by lane in C (the tests check the packing and
// tiling that way on any CPU; subnormal bf16 inputs, which the instruction flushes to 0, are kept).
void gemm_bf16_dot(bool emulated, bool trans_a, bool trans_b, int M, int N, int K, const float *A, const float *B,
                   float beta, float *C);

// linear_forward_bf16 / linear_backward_bf16: the Linear layer of matmul.h under bf16 autocast
// (the formulas above); the same shapes and accumulation rules as linear_forward/backward.
void linear_forward_bf16(float *out, const float *inp, const float *weight, const float *bias, int BT, int C, int OC);
void linear_backward_bf16(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                          const float *weight, int BT, int C, int OC);
