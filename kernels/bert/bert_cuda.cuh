// bert_cuda.cuh — the BERT of common/model/bert.h (BertForSequenceClassification) on the GPU: forward,
// backward, global gradient norm and clipping, and a fused AdamW, built from the kernels of
// kernels/bert/bert_kernels.cuh and cuBLAS. Introduced by lesson 13 (bert_cuda), which checks it
// against the CPU model; the trainer (lesson 16) runs it behind --device cuda.
//
// Layers: kernels/bert (this file, bert_kernels.cuh) includes kernels/core, common/core,
// common/model and, of common/train, only the optimizer and loss-scaler headers (optim.h,
// mixed_precision.h with grad_scaler.h); never kernels/matmul (lesson 12's teaching kernels) or
// kernels/backend, which includes it.
//
// Memory, as in llm.c: ONE device allocation for the parameters, ONE for the gradients (same
// layout as the CPU model's ParamSet: same tensors, same offsets), ONE for the AdamW moments, and
// ONE for everything a step computes (inputs, activations, scratch), carved into the buffers
// below. A GpuBert is loaded from a BertModel (so from the same Hugging Face checkpoint,
// through bert_load) and writes its parameters back into one for saving.
//
// Mixed precision (lesson 14; the recipe of torch.autocast with fp32 parameters): a model created
// with format FMT_BF16 or FMT_FP16 stores its activations and activation gradients in that
// format and reads a narrow COPY of the parameters (one more allocation, same offsets), which the
// fused AdamW writes from the float32 MASTER parameters after every step. Gradients, AdamW's
// moments, LayerNorm statistics, softmax sums and the loss stay float32; the matrix products run
// on the tensor cores (bf16/fp16 inputs, float32 accumulation; kernels/core/cublas_gemm.cuh). fp16
// adds dynamic loss scaling (common/train/grad_scaler.h, torch's GradScaler): the backward starts from
// dlogits * scale, and gpu_bert_step unscales, skips the step on inf/NaN and updates the scale.
// The `void *` buffers below hold float, __nv_bfloat16 or __half by `format`.
//
// Usage, one optimizer step (compare lesson 11's CPU loop):
//
//   GpuBert g = gpu_bert_create(&cpu_model, max_B, max_T, GEMM_FP32, FMT_FP32);  // or FMT_BF16, FMT_FP16
//   gpu_bert_adamw_init(&g, optimizer config);
//   gpu_bert_zero_grad(&g);
//   float loss = gpu_bert_forward(&g, ids, types, mask, labels, B, T, true, seed);  // host arrays
//   gpu_bert_backward(&g, 1.0f / B);
//   MixedStep r = gpu_bert_step(&g, lr, 1.0);  // (unscale,) clip, AdamW; r.skipped on fp16 overflow
//   gpu_bert_download_params(&g, &cpu_model);  // the float32 masters; then bert_save_hf
//
// Dropout on the GPU draws its masks from a counter-based hash of (seed, site, element)
// (bert_kernels.cuh Dropout), not from the CPU's Rng, so a GPU and a CPU training step drop
// different elements. To compare them exactly, a test runs the CPU forward first and then
// gpu_bert_use_dropout_masks(&g, &cpu_model): the next GPU forward uses the CPU's masks.
//
// Gradient checkpointing (lesson 15), as the CPU model does it: set cpu_model.gradient_checkpointing
// before gpu_bert_create and every layer keeps only its output (the next layer's input); the rest
// of GpuLayerActs is ONE set of buffers shared by all layers, and gpu_bert_backward recomputes
// layer l's forward into it just before layer l's backward. The recomputation draws the same
// dropout masks (the same hash of the forward's seed, site and element), so the gradients are
// the same as without checkpointing: the same bits, except where atomicAdd sums in an order that
// varies from run to run (the embedding tables; bias columns of batches over 256 tokens).
// Uploaded CPU masks are refused in this mode: the shared buffers cannot hold every layer's.
#pragma once
#include "kernels/bert/bert_kernels.cuh"

extern "C" {
#include "common/model/bert.h"
#include "common/train/mixed_precision.h"  // MixedStep, GradScaler
#include "common/train/optim.h"
}

// GpuLayerActs: device buffers of one layer's forward, kept for its backward (bert.h BertLayerActs).
// Every void * holds the model's storage format.
typedef struct {
    void *qh, *kh, *vh;          // (B,NH,T,HS) the projections, split into heads
    void *att;                   // (B,NH,T,T) softmax probabilities
    uint8_t *att_keep;           // (B,NH,T,T)
    void *att_drop;              // (B,NH,T,T)
    void *ctx;                   // (B,T,C) attention output before Wo (heads merged)
    uint8_t *attn_keep;          // (B,T,C)
    void *res1;                  // (B,T,C) x + dropout(Wo ctx + bo)
    float *ln1_mean, *ln1_rstd;  // (B,T)
    void *h;                     // (B,T,C)
    void *fc1, *gelu;            // (B,T,I)
    uint8_t *fc2_keep;           // (B,T,C)
    void *res2;                  // (B,T,C) h + dropout(W2 gelu + b2)
    float *ln2_mean, *ln2_rstd;  // (B,T)
    void *out;                   // (B,T,C)
} GpuLayerActs;

typedef struct {
    BertConfig config;  // the CPU model's (id2label is not copied: NULL here)
    cublasHandle_t cublas;
    GemmPrecision precision;      // GEMM_FP32 or GEMM_TF32 for every product of a float32 model
    FloatFormat format;           // storage of activations and the weights read: fp32, bf16, fp16
    bool gradient_checkpointing;  // the CPU model's option: layers keep only their output

    // parameters and gradients: one allocation each, the CPU ParamSet's layout
    int n_tensors;
    ParamTensor *tensors;  // (n_tensors) host copy of the table: names, offsets, decay
    size_t numel;
    float *params, *grads;  // device (numel) each; params are the float32 masters
    void *narrow;           // device (numel) params in `format`; NULL for FMT_FP32
    BertWeights w, g;       // typed device pointers into params / grads
    long *tensor_end;       // device (n_tensors): where each tensor ends, for AdamW
    uint8_t *tensor_decay;  // device (n_tensors)

    // AdamW: the moments in one allocation (m then v), the config and the step count
    OptimizerConfig opt;
    long step;
    float *m, *v;       // device (numel) each, NULL before gpu_bert_adamw_init
    bool loss_scaling;  // fp16: dynamic loss scaling with `scaler`
    GradScaler scaler;  // torch.amp.GradScaler's state (common/train/grad_scaler.h)

    // everything a step computes: one allocation (acts_memory, acts_bytes), for (max_B, max_T)
    void *acts_memory;
    size_t acts_bytes;
    int max_B, max_T;
    int B, T;                                   // the last forward's shape
    uint64_t seed;                              // the last forward's dropout seed (checkpointing recomputes with it)
    float p_hidden, p_attention, p_classifier;  // the last forward's dropout (0 when not training)
    bool masks_given;                           // the next forward uses the masks in the keep buffers
    int *ids, *types, *mask, *labels;           // (B,T) (B,T) (B,T) (B)
    bool has_labels;
    void *emb_sum;               // (B,T,C)
    float *emb_mean, *emb_rstd;  // (B,T)
    void *emb_ln;                // (B,T,C)
    uint8_t *emb_keep;           // (B,T,C)
    void *emb_out;               // (B,T,C)
    GpuLayerActs *acts;          // (L) host array of device pointers (checkpointing: all but `out`
                                 // are layer 0's)
    void *cls, *pooled;          // (B,C) [CLS] rows; tanh(Wp cls + bp)
    uint8_t *pooled_keep;        // (B,C)
    void *pooled_drop;           // (B,C)
    void *logits;                // (B,K)
    float *probs;                // (B,K) softmax of the logits, float32
    float *loss;                 // (1) mean cross-entropy
    void *dlogits;               // (B,K) (times the loss scale)
    void *dx, *dx2;              // (B,T,C)
    void *scratch;               // 8 x (B,T,C) + (B,T,I): temporaries of a layer's forward/backward
    void *datt;                  // (B,NH,T,T)
    void *dhead;                 // 3 x (B,C)
    double *norm_partials;       // (SUM_SQUARES_BLOCKS + 1): the last is the sum of squares

    // grads_final: when set, gpu_bert_backward calls it each time a range [start, end) of the
    // gradient buffer has its final value for this backward, from the end of the buffer to its
    // start (the ParamSet's order is embeddings, layers 0..L-1, pooler, classifier): first the
    // classifier, pooler and layer L-1 together, then layer L-2, ... layer 0, the embeddings
    // last; the ranges cover [0, numel) once. Work queued on stream 0 after a call runs after
    // the range was written. (Data parallel: the trainer's GPU backend starts all-reducing a
    // range while the backward goes on with the layers before it, as PyTorch DDP's buckets.)
    void (*grads_final)(void *ctx, size_t start, size_t end);
    void *grads_final_ctx;
} GpuBert;

// gpu_bert_create: a GPU copy of the CPU model's parameters (gradients zeroed) and activation
// memory for batches of up to max_B x max_T, stored in `format` (FMT_FP32; FMT_BF16 or FMT_FP16:
// mixed precision, see above; FMT_FP16 starts the loss scale at torch's 65536). A float32 model's
// products run in `precision` (GEMM_FP32 or GEMM_TF32); a narrow one's in its format. With
// m->gradient_checkpointing, the activations of one layer only (see above).
GpuBert gpu_bert_create(const BertModel *m, int max_B, int max_T, GemmPrecision precision, FloatFormat format);
void gpu_bert_free(GpuBert *g);
// gpu_bert_memory_bytes: device memory the model holds (params, their narrow copy, grads, moments,
// activations).
size_t gpu_bert_memory_bytes(const GpuBert *g);
// gpu_bert_acts_beyond_formula: the activation bytes the GPU holds beyond common/model/memory.h's
// activation_memory for the same B, T and checkpointing (which counts the same buffers as the CPU
// model's): the batch on the device (ids, types, mask: 3 BT ints; labels: B ints), the loss (1
// float), the backward's gradients in head-split layout (4 BTC floats: dctx, dq, dk, dv as
// (B,NH,T,HS)) and the grad-norm partials (SUM_SQUARES_BLOCKS + 1 doubles). g->acts_bytes is the
// formula plus this plus the 256-byte alignment of each buffer (less than 256 bytes a buffer).
// For a float32 model (FMT_FP32) only: in bf16/fp16 the formula's LayerNorm statistics are narrow,
// the GPU's stay float32.
size_t gpu_bert_acts_beyond_formula(const GpuBert *g);

// gpu_bert_forward: bert_forward on the GPU. Host arrays as bert_forward's: input_ids,
// token_type_ids (NULL = all 0), attention_mask (NULL = all 1), labels (B) or NULL; checked
// (ids in the vocabulary, ...) and uploaded. training applies dropout with masks drawn from
// `seed` (or the given ones, see gpu_bert_use_dropout_masks). Returns the mean cross-entropy
// (NAN without labels); the logits stay on the GPU (gpu_bert_logits).
float gpu_bert_forward(GpuBert *g, const int *input_ids, const int *token_type_ids, const int *attention_mask,
                       const int *labels, int B, int T, bool training, uint64_t seed);
// gpu_bert_logits: download the last forward's logits (B,K) into out.
void gpu_bert_logits(const GpuBert *g, float *out);
// gpu_bert_backward: bert_backward on the GPU: ADD the gradient of sum_b example_weight * loss_b
// (times the loss scale with loss scaling: the gradients are scaled until gpu_bert_step).
void gpu_bert_backward(GpuBert *g, float example_weight);
// gpu_bert_backward_from_dlogits: the same for a loss the caller computed from the last forward's
// logits (gpu_bert_logits): ADD the gradient whose dloss/dlogits (B,K) is the host array dlogits
// (uploaded, times the loss scale). The forward needs no labels.
void gpu_bert_backward_from_dlogits(GpuBert *g, const float *dlogits);
// gpu_bert_loss_scale: what the backward multiplies the loss by (the GradScaler's scale, or 1).
float gpu_bert_loss_scale(const GpuBert *g);
void gpu_bert_zero_grad(GpuBert *g);

// gpu_bert_clip_grad_norm: clip_grad_norm on the GPU (max_norm <= 0: no clipping, the norm only).
// Returns the norm before clipping. Not for a loss-scaled (fp16) model: gpu_bert_step unscales.
double gpu_bert_clip_grad_norm(GpuBert *g, double max_norm);
// gpu_bert_adamw_init / gpu_bert_adamw_step: optimizer_step with an OPT_ADAMW config, fused into
// one kernel over the whole parameter buffer (no decay on the tensors the CPU exempts).
// In a narrow model the step also writes the narrow copy of the updated parameters.
void gpu_bert_adamw_init(GpuBert *g, OptimizerConfig cfg);
void gpu_bert_adamw_step(GpuBert *g, double lr);
// gpu_bert_step: the end of an accumulation group, as common/train/mixed_precision.h mixed_step: with
// loss scaling, unscale the gradients (grads *= 1/scale) and, when their norm is inf or NaN
// (found_inf: fp16 overflowed), skip the optimizer step and halve the scale (grad_scaler_update);
// otherwise clip to max_grad_norm (0: no clipping) and gpu_bert_adamw_step. Returns skipped, the
// norm of the unscaled gradients before clipping, and the scale this step's backward used.
MixedStep gpu_bert_step(GpuBert *g, double lr, double max_grad_norm);

// Transfers between the GPU and a CPU model (same checkpoint, same ParamSet layout).
// The parameters moved are the float32 masters; an upload also rewrites the narrow copy.
void gpu_bert_download_params(const GpuBert *g, BertModel *m);
void gpu_bert_upload_params(GpuBert *g, const BertModel *m);  // after the host parameters changed
void gpu_bert_download_grads(const GpuBert *g, float *out);   // (numel)
// gpu_bert_download_optimizer / gpu_bert_upload_optimizer: AdamW's step and moments to or from
// a CPU Optimizer (optimizer_init'ed on the same ParamSet), for checkpoints and resuming.
void gpu_bert_download_optimizer(const GpuBert *g, Optimizer *opt);
void gpu_bert_upload_optimizer(GpuBert *g, const Optimizer *opt);
// gpu_bert_use_dropout_masks: the CPU model's last forward (training, same B and T) drew
// dropout masks; upload them so that the next GPU forward drops the same elements. Not with
// gradient checkpointing (an error): its layers share one set of mask buffers.
void gpu_bert_use_dropout_masks(GpuBert *g, const BertModel *m);
