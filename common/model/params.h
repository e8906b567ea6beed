// params.h — named parameters in one flat buffer, their gradients in a second.
// Introduced by lesson 04 (optimizers); the models (lesson 06's logistic regression, the CPU and
// GPU BERT) keep their weights here, and the optimizers (common/train/optim.h) walk the buffers.
//
// Parameters live llm.c-style in ONE contiguous float buffer, gradients in a second buffer
// with the same layout, described by a table of named tensors. An optimizer then walks a
// flat array, and saving a checkpoint is writing three buffers (params, m, v).
//
//   params: [ tensor 0 | tensor 1 | ... ]      numel floats
//   grads:  [ tensor 0 | tensor 1 | ... ]      same offsets
//
// Each tensor carries a `decay` flag: the Hugging Face Trainer applies weight decay to every
// parameter except biases and LayerNorm weights (see hf_decays()).
#pragma once
#include <stdbool.h>
#include <stddef.h>

#define PARAM_MAX_DIMS 4

typedef struct {
    char name[128];  // Hugging Face name, e.g. "bert.encoder.layer.0.attention.self.query.weight"
    size_t offset;   // first float of this tensor in the params/grads buffers
    size_t numel;
    int ndim;
    int shape[PARAM_MAX_DIMS];
    bool decay;  // weight decay applies to this tensor
} ParamTensor;

typedef struct {
    ParamTensor *tensors;
    int n_tensors;
    size_t numel;   // total floats over all tensors
    float *params;  // (numel), NULL until params_alloc
    float *grads;   // (numel), NULL until params_alloc
} ParamSet;

// params_add: append a tensor (before params_alloc); `decay` is set by hf_decays(name).
// Returns the tensor's index.
int params_add(ParamSet *ps, const char *name, int ndim, const int *shape);
// params_alloc: allocate params and grads (zeroed) for every tensor added.
void params_alloc(ParamSet *ps);
void params_free(ParamSet *ps);
// params_find: the tensor named `name`, or NULL.
ParamTensor *params_find(const ParamSet *ps, const char *name);
// params_zero_grad: grads <- 0 (before each accumulation group).
void params_zero_grad(ParamSet *ps);
// hf_decays: the Trainer's rule. No decay when the lower-cased name matches "bias",
// "layernorm", "rmsnorm", "(^|.)norm($|.)" or "_norm($|.)"; decay otherwise.
bool hf_decays(const char *name);
