// optim.h — optimizers and gradient clipping over a ParamSet (common/model/params.h).
// Introduced by lesson 04 (optimizers) and lesson 05 (clipping); reused by the CPU BERT
// (lesson 11), the GPU BERT (lesson 13) and the trainer (lesson 16).
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include "common/model/params.h"

typedef enum { OPT_SGD, OPT_ADAM, OPT_ADAMW } OptimizerKind;

typedef struct {
    OptimizerKind kind;
    double momentum;      // SGD only: 0 = plain SGD
    double dampening;     // SGD with momentum: the gradient enters the buffer times (1 - dampening)
    bool nesterov;        // SGD with momentum: step along g + momentum * buf instead of buf
    double beta1, beta2;  // Adam/AdamW: decay rates of the first and second moments
    double eps;           // Adam/AdamW: added to sqrt(v_hat) so tiny v cannot blow up the step
    double weight_decay;  // SGD/Adam: L2 added to the gradient; AdamW: decoupled decay
} OptimizerConfig;

typedef struct {
    OptimizerConfig cfg;
    long step;  // updates taken so far (Adam's bias correction uses step+1)
    size_t numel;
    float *m;  // (numel) SGD momentum buffer / Adam first moment
    float *v;  // (numel) Adam second moment (NULL for SGD)
} Optimizer;

// optimizer_defaults: torch's defaults for `kind` (AdamW: betas 0.9/0.999, eps 1e-8,
// weight_decay 0.01 as torch.optim.AdamW; the HF Trainer passes its own weight_decay, default 0).
OptimizerConfig optimizer_defaults(OptimizerKind kind);
void optimizer_init(Optimizer *opt, OptimizerConfig cfg, const ParamSet *ps);
void optimizer_free(Optimizer *opt);
// optimizer_step: one update of every parameter at learning rate lr, torch.optim semantics:
//   SGD:   g += wd*p (decay tensors);  buf = momentum*buf + (1-dampening)*g (buf = g at step 0);
//          p -= lr*buf  (nesterov: p -= lr*(g + momentum*buf))
//   Adam:  g += wd*p (decay tensors);  m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2
//          p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)
//   AdamW: p *= 1 - lr*wd (decay tensors), then the Adam update with no L2 term.
void optimizer_step(Optimizer *opt, ParamSet *ps, double lr);

// AdamCoefs: the scalars of Adam/AdamW update number t (1-based) at learning rate lr, computed
// once per step in double and rounded to float, so the CPU loop and the GPU kernel (lesson 13)
// apply the same numbers:  step_size = lr / (1 - b1^t),  bias2_sqrt = sqrt(1 - b2^t),
// shrink = 1 - lr * weight_decay (AdamW's decoupled decay, for tensors that decay).
typedef struct {
    float step_size, bias2_sqrt, b1, b2, eps, shrink;
} AdamCoefs;
AdamCoefs adam_coefs(const OptimizerConfig *c, long t, double lr);
// optimizer_step_range: the same update on floats [begin, end) of the buffers, with
// `decay` for all of them; optimizer_step calls it per tensor (and the GPU mirrors it).
void optimizer_step_range(Optimizer *opt, float *params, const float *grads, size_t begin, size_t end, bool decay,
                          double lr);
const char *optimizer_name(OptimizerKind kind);

// The Trainer's --optim names that this project implements (transformers' OptimizerNames).
#define OPTIM_CHOICES "adamw_torch|adamw_torch_fused|adamw|sgd"
// optimizer_config_hf: the optimizer the Hugging Face Trainer builds for --optim `optim` and
// --optim_args `optim_args` ("momentum=0.9,nesterov=True", may be NULL), as its
// get_optimizer_cls_and_kwargs does: adamw_torch and adamw_torch_fused (and the older "adamw")
// are torch.optim.AdamW with adam_beta1/2 and adam_epsilon; sgd is torch.optim.SGD with
// torch's defaults (momentum 0) unless optim_args sets momentum, dampening or nesterov. The
// weight decay is the Trainer's (its decay parameter group), not torch's default. Any other
// name, or an optim_args key the optimizer does not take, is one error line.
OptimizerConfig optimizer_config_hf(const char *optim, const char *optim_args, double beta1, double beta2, double eps,
                                    double weight_decay);

// grad_global_norm: sqrt(sum over every gradient element of g^2).
double grad_global_norm(const ParamSet *ps);
// clip_grad_norm: torch.nn.utils.clip_grad_norm_: scale every gradient by
// min(1, max_norm / (norm + 1e-6)). Returns the norm BEFORE clipping.
double clip_grad_norm(ParamSet *ps, double max_norm);
