// bert_model_check.h — the whole GPU BERT (kernels/bert_cuda.cu) against the CPU BERT
// (common/bert.c), which tests/test_bert.c checks against transformers: logits, loss and every
// gradient tensor of one step, with dropout off and with dropout on (the CPU's masks uploaded),
// then training steps (10 on the GPU; clipping at 1.0, AdamW with weight decay) with the same losses and
// gradient norms. Products in float32 (TF32 off). Shared by tests/gpu/test_bert.cu and the CPU
// emulation (tests/emulate/test_bert_emulated.cpp).
//
// "Relative error" of a tensor is max_i |gpu_i - cpu_i| / max_i |cpu_i| (as tests/test_bert.c).
#pragma once
#include <stdarg.h>

#include "kernels/bert_cuda.cuh"
#include "tests/gpu/bert_kernels_check.h"

#define BERT_MODEL_TOL 1e-4

// ModelBatch: a padded batch with two token types (ids drawn from the vocabulary with `seed`).
struct ModelBatch {
    int B, T;
    std::vector<int> ids, types, mask, labels;
    ModelBatch(const BertConfig *c, int B_, int T_, uint64_t seed) : B(B_), T(T_) {
        Rng rng;
        rng_seed(&rng, seed, 0);
        ids.resize((size_t)B * T), types.resize((size_t)B * T), mask.resize((size_t)B * T), labels.resize(B);
        for (int b = 0; b < B; b++) {
            const int len = T - (b * 3) % (T - 1);  // row 0 full, the others padded
            for (int t = 0; t < T; t++) {
                const size_t r = (size_t)b * T + t;
                mask[r] = t < len;
                ids[r] = t < len ? (int)rng_below(&rng, (uint32_t)c->vocab_size) : c->pad_token_id;
                types[r] = t >= len / 2 && t < len;
            }
            labels[b] = (int)rng_below(&rng, (uint32_t)c->num_labels);
        }
    }
};

static KernelCheck model_line(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static KernelCheck model_line(bool ok, const char *fmt, ...) {
    KernelCheck r;
    r.ok = ok;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r.line, sizeof r.line, fmt, ap);
    va_end(ap);
    return r;
}

// compare_grads: every gradient tensor (gpu_bert_diff; the key biases must be ~0 on both sides).
static void compare_grads(std::vector<KernelCheck> &out, const char *label, const BertModel *m, const GpuBert *g) {
    std::vector<float> got(m->ps.numel);
    gpu_bert_download_grads(g, got.data());
    const GradDiff d = gpu_bert_diff(m, got.data(), m->ps.grads);
    out.push_back(model_line(d.worst < BERT_MODEL_TOL, "%s: %d gradient tensors, worst %s rel. error %.2g", label,
                             d.tensors, d.worst_name, d.worst));
    out.push_back(model_line(d.key_bias < 1e-6, "%s: key bias gradients (0 in exact arithmetic) at most %.2g of the largest gradient",
                             label, d.key_bias));
}

// compare_step: one forward (and backward) on both, the same batch; with dropout, the CPU draws
// the masks and the GPU uses them.
static void compare_step(std::vector<KernelCheck> &out, const char *label, BertModel *m, GpuBert *g,
                         const ModelBatch &b, bool training) {
    Rng rng;
    rng_seed(&rng, 3, 2);
    params_zero_grad(&m->ps);
    gpu_bert_zero_grad(g);
    const float *cpu_logits = bert_forward(m, b.ids.data(), b.types.data(), b.mask.data(), b.labels.data(), b.B, b.T,
                                           training, training ? &rng : NULL);
    if (training) gpu_bert_use_dropout_masks(g, m);
    const float loss = gpu_bert_forward(g, b.ids.data(), b.types.data(), b.mask.data(), b.labels.data(), b.B, b.T,
                                        training, 99);
    std::vector<float> logits((size_t)b.B * m->config.num_labels);
    gpu_bert_logits(g, logits.data());
    const double e = max_relative_error(logits.data(), cpu_logits, logits.size());
    out.push_back(model_line(e < BERT_MODEL_TOL, "%s: logits relative error %.2g", label, e));
    out.push_back(model_line(fabs(loss - m->loss) <= BERT_MODEL_TOL * fabs(m->loss), "%s: loss GPU %.9g, CPU %.9g",
                             label, loss, m->loss));
    bert_backward(m, 1.0f / b.B);
    gpu_bert_backward(g, 1.0f / b.B);
    compare_grads(out, label, m, g);
}

// compare_training: `steps` steps of lesson 11's loop (zero, forward, backward, clip at 1.0,
// AdamW with weight decay 0.01 at a linearly decaying lr), without dropout, on both.
static void compare_training(std::vector<KernelCheck> &out, BertModel *m, GpuBert *g, const ModelBatch &b, int steps) {
    OptimizerConfig oc = optimizer_defaults(OPT_ADAMW);
    Optimizer opt;
    optimizer_init(&opt, oc, &m->ps);
    gpu_bert_adamw_init(g, oc);
    double worst_loss = 0, worst_norm = 0;
    for (int s = 0; s < steps; s++) {
        const double lr = 1e-3 * (1.0 - (double)s / steps);
        params_zero_grad(&m->ps);
        gpu_bert_zero_grad(g);
        bert_forward(m, b.ids.data(), b.types.data(), b.mask.data(), b.labels.data(), b.B, b.T, false, NULL);
        const float loss = gpu_bert_forward(g, b.ids.data(), b.types.data(), b.mask.data(), b.labels.data(), b.B, b.T, false, 0);
        bert_backward(m, 1.0f / b.B);
        gpu_bert_backward(g, 1.0f / b.B);
        const double norm = clip_grad_norm(&m->ps, 1.0), gnorm = gpu_bert_clip_grad_norm(g, 1.0);
        optimizer_step(&opt, &m->ps, lr);
        gpu_bert_adamw_step(g, lr);
        const double el = fabs(loss - m->loss) / fabs(m->loss), en = fabs(gnorm - norm) / norm;
        if (!(el <= BERT_MODEL_TOL) || !(en <= BERT_MODEL_TOL))
            out.push_back(model_line(false, "training step %d: loss GPU %.9g CPU %.9g, grad norm GPU %.9g CPU %.9g", s,
                                     loss, m->loss, gnorm, norm));
        worst_loss = fmax(worst_loss, el), worst_norm = fmax(worst_norm, en);
    }
    std::vector<float> params(m->ps.numel);
    CUDA_CHECK(cudaMemcpy(params.data(), g->params, sizeof(float) * m->ps.numel, cudaMemcpyDeviceToHost));
    const double ep = gpu_bert_diff(m, params.data(), m->ps.params).worst;  // key biases: see below
    // Parameters: AdamW's m / sqrt(v) turns the last-bit differences of elements whose gradient
    // is near 0 into differences of up to lr per step (the key biases, whose gradient is pure
    // rounding noise, are left out entirely), so they get a looser bound than the loss; the AdamW
    // formula itself is checked element by element in bert_kernels_check.h.
    out.push_back(model_line(worst_loss <= BERT_MODEL_TOL && worst_norm <= BERT_MODEL_TOL && ep < 1e-3,
                             "%d AdamW steps: worst loss rel. diff %.2g, grad norm %.2g, parameters after %.2g", steps,
                             worst_loss, worst_norm, ep));
    // AdamW's moments on both sides (downloaded), then the transfers a checkpoint needs: the
    // optimizer state and the parameters come back exactly as uploaded / as on the GPU.
    Optimizer gopt;
    optimizer_init(&gopt, oc, &m->ps);
    gpu_bert_download_optimizer(g, &gopt);
    const double em = gpu_bert_diff(m, gopt.m, opt.m).worst, ev = gpu_bert_diff(m, gopt.v, opt.v).worst;
    out.push_back(model_line(gopt.step == opt.step && em < BERT_MODEL_TOL && ev < BERT_MODEL_TOL,
                             "AdamW state after %ld steps (GPU %ld): moments m rel. error %.2g, v %.2g", opt.step,
                             gopt.step, em, ev));
    gpu_bert_upload_optimizer(g, &opt);
    Optimizer back;
    optimizer_init(&back, oc, &m->ps);
    gpu_bert_download_optimizer(g, &back);
    const size_t bytes = sizeof(float) * m->ps.numel;
    out.push_back(model_line(back.step == opt.step && !memcmp(back.m, opt.m, bytes) && !memcmp(back.v, opt.v, bytes),
                             "AdamW state uploaded and downloaded again: identical"));
    std::vector<float> before(params);
    gpu_bert_download_params(g, m);
    out.push_back(model_line(!memcmp(m->ps.params, before.data(), bytes), "gpu_bert_download_params: the GPU's parameters"));
    optimizer_free(&back);
    optimizer_free(&gopt);
    optimizer_free(&opt);
}

// bert_model_checks: the checks above on the model in checkpoint `dir`, for a B x T batch, with
// `steps` training steps.
static std::vector<KernelCheck> bert_model_checks(const char *dir, int B, int T, int steps) {
    std::vector<KernelCheck> out;
    BertModel m = bert_load(dir, 0, 0, NULL);
    bert_alloc_acts(&m, B, T);
    const ModelBatch b(&m.config, B, T, 17);
    {
        GpuBert g = gpu_bert_create(&m, B, T, GEMM_FP32, FMT_FP32);
        compare_step(out, "evaluation step", &m, &g, b, false);
        gpu_bert_free(&g);
    }
    {
        m.config.hidden_dropout_prob = m.config.attention_probs_dropout_prob = m.config.classifier_dropout = 0.1f;
        GpuBert g = gpu_bert_create(&m, B, T, GEMM_FP32, FMT_FP32);
        compare_step(out, "training step, dropout 0.1 (CPU masks)", &m, &g, b, true);
        gpu_bert_free(&g);
    }
    BertModel fresh = bert_load(dir, 0, 0, NULL);
    bert_alloc_acts(&fresh, B, T);
    GpuBert g = gpu_bert_create(&fresh, B, T, GEMM_FP32, FMT_FP32);
    compare_training(out, &fresh, &g, b, steps);
    gpu_bert_free(&g);
    bert_free(&fresh);
    bert_free(&m);
    return out;
}
