// grad_scaler.h — dynamic loss scaling for fp16 training, with the semantics of PyTorch's
// torch.amp.GradScaler (torch/amp/grad_scaler.py and the _amp_update_scale_ kernel,
// aten/src/ATen/native/cuda/AmpKernels.cu). Introduced by lesson 14 (mixed_precision); the
// trainer (lesson 16, --fp16) uses it and saves its state in checkpoints.
//
// fp16 gradients below 6e-8 become 0. Multiplying the loss by `scale` multiplies every gradient
// by `scale` (the backward is linear in dloss), lifting small gradients into fp16's range; the
// optimizer must then see grads / scale. Per optimizer step:
//
//   backward of (loss * scale)                 in practice: dlogits * scale
//   grads *= 1 / scale                         grad_scaler_unscale, BEFORE clipping
//   found_inf = any grad is inf or NaN         (the scale was too large: fp16 overflowed)
//   if found_inf: skip the optimizer step and the scheduler step
//   grad_scaler_update(found_inf):
//     found_inf:  scale *= backoff_factor (0.5), growth_tracker = 0
//     otherwise:  growth_tracker += 1; when it reaches growth_interval (2000):
//                 scale *= growth_factor (2) (if still finite), growth_tracker = 0
//
// So the scale settles just below the largest value that does not overflow, and every 2000
// clean steps it tries twice as large again (one skipped step if that overflows).
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

typedef struct {
    float scale;           // init_scale 2^16 = 65536
    float growth_factor;   // 2.0
    float backoff_factor;  // 0.5
    int growth_interval;   // 2000
    int growth_tracker;    // clean steps since the last change ("_growth_tracker")
} GradScaler;

// grad_scaler_default: torch's defaults (init_scale 65536, growth 2, backoff 0.5, interval 2000).
GradScaler grad_scaler_default(void);
// grad_scaler_unscale: grads[i] *= 1/scale (the reciprocal in fp32, as torch); returns true
// when any gradient is inf or NaN (found_inf).
bool grad_scaler_unscale(const GradScaler *s, float *grads, size_t n);
// grad_scaler_update: the scale for the next step from this step's found_inf.
void grad_scaler_update(GradScaler *s, bool found_inf);

// grad_scaler_state: the state as torch's GradScaler.state_dict() names it: {"scale",
// "growth_factor", "backoff_factor", "growth_interval", "_growth_tracker"}.
cJSON *grad_scaler_state(const GradScaler *s);
// grad_scaler_load_state: read that object back; `where` names the file in error lines.
GradScaler grad_scaler_load_state(const cJSON *state, const char *where);
