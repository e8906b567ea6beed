// compare.h — how far computed tensors are from reference ones: one tensor (max_relative_error)
// and a whole BERT's parameters or gradients, tensor by tensor (bert_tensor_diff).
// Introduced by lesson 13 (bert_cuda), which prints both when it checks the GPU's training step
// against the CPU's: that is why they are product code and not test helpers. The tests assert
// with them (a narrow-format model against float32, the CPU model against transformers, the GPU
// model and backend against the CPU's).
#pragma once
#include <stddef.h>

#include "common/model/bert.h"

// max_relative_error: how far a tensor is from a reference one:
//   max_i |got_i - want_i| / max_i |want_i|
// a tolerance on the tensor's scale, so elements that happen to be near 0 do not blow it up.
// NaN counts as infinitely wrong; an all-zero reference gives the absolute difference.
double max_relative_error(const float *got, const float *want, size_t n);

// TensorDiff: arrays in a BERT's parameter layout (gradients, parameters, AdamW moments) against
// reference ones, tensor by tensor. The key biases are set apart: their gradient is exactly 0 in
// exact arithmetic (adding b to every key adds q.b to every score of a softmax row, which softmax
// ignores), so both sides hold rounding noise there, which must be tiny (key_bias: largest |value|
// / largest |reference value|) rather than relatively close.
typedef struct {
    double worst;  // the largest max_relative_error of a tensor, key biases left out
    char worst_name[128];
    double key_bias;
    int tensors;
} TensorDiff;

// bert_tensor_diff: `got` against `want`, both (m->ps.numel) host arrays laid out as m's ParamSet
// (e.g. the GPU's gradients, downloaded, against m->ps.grads).
TensorDiff bert_tensor_diff(const BertModel *m, const float *got, const float *want);
