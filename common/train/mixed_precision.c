// mixed_precision.c — see mixed_precision.h (lesson 14).
#include "common/train/mixed_precision.h"

#include <stdlib.h>
#include <string.h>

#include "common/model/loss.h"
#include "common/core/util.h"

void mixed_init(MixedPrecision *mp, BertModel *m, uint64_t seed) {
    const size_t n = m->ps.numel;
    mp->master = mp->group_grads = NULL;
    if (mp->loss_scaling) mp->scaler = grad_scaler_default();
    rng_seed(&mp->rng, seed, RNG_STREAM_ROUNDING);
    if (mp->format == FMT_FP32) return;
    if (mp->master_weights) {
        mp->master = xmalloc(sizeof(float) * n);
        memcpy(mp->master, m->ps.params, sizeof(float) * n);
    }
    mp->group_grads = xmalloc(sizeof(float) * n);
    round_array(m->ps.params, n, mp->format);
    m->act_format = mp->format;
}

void mixed_free(MixedPrecision *mp) {
    free(mp->master);
    free(mp->group_grads);
    mp->master = mp->group_grads = NULL;
}

float mixed_loss_scale(const MixedPrecision *mp) { return mp->loss_scaling ? mp->scaler.scale : 1.0f; }

void mixed_backward(MixedPrecision *mp, BertModel *m, float example_weight) {
    if (!m->labels) die("internal: mixed_backward after a forward without labels");
    const size_t n = m->ps.numel;
    float *g = m->ps.grads;
    const int BK = m->B * m->config.num_labels;
    // d(scale * sum_b w loss_b)/dlogits = scale * w * (p - onehot), stored in the format
    cross_entropy_backward(m->probs, m->labels, m->B, m->config.num_labels, example_weight * mixed_loss_scale(mp),
                           m->dlogits);
    if (mp->format == FMT_FP32) {
        bert_backward_from_dlogits(m, m->dlogits);
        return;
    }
    round_array(m->dlogits, (size_t)BK, mp->format);
    memcpy(mp->group_grads, g, sizeof(float) * n);  // the group so far, fp32
    memset(g, 0, sizeof(float) * n);
    bert_backward_from_dlogits(m, m->dlogits);  // this micro-batch alone
    for (size_t i = 0; i < n; i++) g[i] = mp->group_grads[i] + round_to(g[i], mp->format);
}

MixedStep mixed_step(MixedPrecision *mp, BertModel *m, Optimizer *opt, double lr, double max_grad_norm) {
    MixedStep r = {false, 0, mixed_loss_scale(mp)};
    ParamSet *ps = &m->ps;
    if (mp->loss_scaling && grad_scaler_unscale(&mp->scaler, ps->grads, ps->numel)) {
        grad_scaler_update(&mp->scaler, true);
        r.skipped = true;
        r.grad_norm = grad_global_norm(ps);
        return r;
    }
    r.grad_norm = max_grad_norm > 0 ? clip_grad_norm(ps, max_grad_norm) : grad_global_norm(ps);
    ParamSet master = *ps;  // the same tensors, with the fp32 masters as the parameters
    if (mp->master) master.params = mp->master;
    optimizer_step(opt, &master, lr);
    if (mp->master) memcpy(ps->params, mp->master, sizeof(float) * ps->numel);
    if (mp->format == FMT_BF16 && mp->stochastic_rounding && !mp->master)
        round_array_bf16_stochastic(ps->params, ps->numel, &mp->rng);
    else round_array(ps->params, ps->numel, mp->format);
    if (mp->loss_scaling) grad_scaler_update(&mp->scaler, false);
    return r;
}
