// mixed_precision.h — training the CPU BERT as a GPU does in fp16 or bf16, emulated by rounding.
// Introduced by lesson 14 (mixed_precision). The GPU BERT (kernels/bert/bert_cuda.cuh, lesson 13
// --precision bf16|fp16, the trainer's --device cuda --bf16 / --fp16) runs the same recipe for
// real and reports its steps as a MixedStep.
//
// What a GPU does with torch.autocast + GradScaler (fp16) or autocast in bf16:
//   - matmuls read fp16/bf16 copies of the weights and activations and write fp16/bf16 outputs
//     (accumulating in fp32 inside the tensor cores); LayerNorm, softmax and the loss in fp32
//   - the gradients of activations flowing backward are fp16/bf16; each weight gradient comes out
//     of a narrow matmul, is converted to fp32 and added to the fp32 .grad
//   - the optimizer updates fp32 MASTER weights with fp32 AdamW moments; the narrow copies are
//     made again from the masters for the next forward
//   - fp16 only: the loss is multiplied by the GradScaler's scale before the backward, the
//     gradients are divided by it before clipping, a step with inf/NaN gradients is skipped
//
// What this emulation does, on the CPU, in fp32 arithmetic: it ROUNDS to the narrow format
// exactly where the GPU would STORE a narrow tensor, and nowhere else:
//   - the weights the forward/backward read (m->ps.params holds the rounded copy, `master` the
//     fp32 one), every activation a layer keeps (BertModel.act_format, common/model/bert.c: q, k, v,
//     attention context, residual sums, LayerNorm outputs, FFN pre-activation and GELU output,
//     each layer's output, the logits), the gradient passed from layer to layer, dloss/dlogits
//     (scaled), and each micro-batch's weight gradients before they are added in fp32.
//   - the arithmetic between two stores stays fp32 (a GPU kernel also computes in fp32 registers
//     and rounds once on the store); the attention probabilities are not rounded (a fused
//     attention kernel keeps them on chip). Rounding is round-to-nearest-even, as the GPU's
//     conversion instructions. Overflow gives inf and underflow 0, exactly as on the GPU.
// It is not bit-identical to a GPU (the order of the fp32 sums inside a matmul differs, and
// cuBLAS may keep an fp16 output's rounding at a different point), but the phenomena (fp16
// underflow and overflow, bf16's coarse spacing) are the same ones, at the same magnitudes.
#pragma once
#include <stdbool.h>

#include "common/model/bert.h"
#include "common/train/grad_scaler.h"
#include "common/train/optim.h"
#include "common/model/precision.h"

typedef struct {
    FloatFormat format;        // what params, activations and gradients are stored in
    bool master_weights;       // fp32 master weights the optimizer updates (the normal recipe)
    bool loss_scaling;         // dynamic loss scaling (fp16)
    bool stochastic_rounding;  // without master weights (bf16): stochastic rounding on the write-back
    GradScaler scaler;         // used when loss_scaling
    float *master;             // (numel) fp32 master weights; NULL without
    float *group_grads;        // (numel) fp32 gradients of the accumulation group before this micro-batch
    Rng rng;                   // bits for stochastic rounding
} MixedPrecision;

// mixed_init: switch a loaded model to `mp->format` (fill the config fields first): keep fp32
// masters when asked, round the weights, set m->act_format. FMT_FP32 changes nothing.
void mixed_init(MixedPrecision *mp, BertModel *m, uint64_t seed);
void mixed_free(MixedPrecision *mp);
// mixed_loss_scale: what the loss is multiplied by (the GradScaler's scale, or 1).
float mixed_loss_scale(const MixedPrecision *mp);
// mixed_backward: bert_backward(m, example_weight) with the loss multiplied by the scale,
// dlogits rounded to the format, and this micro-batch's weight gradients rounded to the format
// before they are added (in fp32) to the group's gradients in m->ps.grads.
void mixed_backward(MixedPrecision *mp, BertModel *m, float example_weight);

typedef struct {
    bool skipped;      // inf/NaN gradients with loss scaling: no optimizer (and no scheduler) step
    double grad_norm;  // of the unscaled gradients, before clipping
    float scale;       // the loss scale this step used
} MixedStep;

// mixed_step: the end of an accumulation group: unscale (loss scaling), skip on inf/NaN and
// back off, clip to max_grad_norm (0: no clipping), the optimizer step on the fp32 masters, the
// rounded copy written back to m->ps.params, the scaler's update.
MixedStep mixed_step(MixedPrecision *mp, BertModel *m, Optimizer *opt, double lr, double max_grad_norm);
