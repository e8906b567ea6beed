// bert_model_check.h — the whole GPU BERT (kernels/bert_cuda.cu) against the CPU BERT
// (common/bert.c), which tests/test_bert.c checks against transformers: logits, loss and every
// gradient tensor of one step, with dropout off and with dropout on (the CPU's masks uploaded),
// then training steps (10 on the GPU; clipping at 1.0, AdamW with weight decay) with the same losses and
// gradient norms. Products in float32 (TF32 off). Shared by tests/gpu/test_bert.cu and the CPU
// emulation (tests/emulate/test_bert_emulated.cpp). bert_checkpointing_checks (at the end): the
// GPU BERT with gradient checkpointing against itself without.
//
// "Relative error" of a tensor is max_i |gpu_i - cpu_i| / max_i |cpu_i| (as tests/test_bert.c).
#pragma once
#include <stdarg.h>

#include "kernels/bert_cuda.cuh"
#include "tests/gpu/bert_kernels_check.h"

extern "C" {
#include "common/memory.h"
}

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
        GpuBert g = gpu_bert_create(&m, B, T, GEMM_FP32);
        compare_step(out, "evaluation step", &m, &g, b, false);
        gpu_bert_free(&g);
    }
    {
        m.config.hidden_dropout_prob = m.config.attention_probs_dropout_prob = m.config.classifier_dropout = 0.1f;
        GpuBert g = gpu_bert_create(&m, B, T, GEMM_FP32);
        compare_step(out, "training step, dropout 0.1 (CPU masks)", &m, &g, b, true);
        gpu_bert_free(&g);
    }
    BertModel fresh = bert_load(dir, 0, 0, NULL);
    bert_alloc_acts(&fresh, B, T);
    GpuBert g = gpu_bert_create(&fresh, B, T, GEMM_FP32);
    compare_training(out, &fresh, &g, b, steps);
    gpu_bert_free(&g);
    bert_free(&fresh);
    bert_free(&m);
    return out;
}

// ---------------------------------------------------------------------------------------------
// gradient checkpointing

// is_embedding_table: the three lookup tables, whose gradients the GPU sums with atomicAdd
// (embeddings_backward_kernel): the order of the additions, so the last bits, vary from run to run.
static bool is_embedding_table(const char *name) {
    return strstr(name, "word_embeddings") || strstr(name, "position_embeddings") || strstr(name, "token_type_embeddings");
}

// bert_checkpointing_checks: the model in `dir` with dropout 0.1 on a B x T batch, on the GPU
// without and with gradient checkpointing (the same seed, so the same dropout masks):
//   - memory: the activations shrink by exactly what common/memory.h says checkpointing saves
//     (the same buffers: (L-1) layers' worth of everything but `out`), and the total is the
//     formula plus the GPU-only buffers plus alignment (gpu_bert_acts_beyond_formula);
//   - the loss is the same float and every gradient the same bits, except the embedding tables:
//     their atomicAdd sums may round differently (1e-6 of the tensor's scale allowed);
//   - uploaded CPU masks are refused (tested by the caller: it exits).
// B T must be at most 256 (the column sums of the bias and LayerNorm gradients are then one block
// per column, so not order-dependent either) and every per-layer buffer a whole number of 256-byte
// blocks (B T a multiple of 64, B NH T^2 of 256): then the layouts carry no padding for the
// formula to miss, and the saving is compared exactly.
static std::vector<KernelCheck> bert_checkpointing_checks(const char *dir, int B, int T) {
    std::vector<KernelCheck> out;
    BertModel m = bert_load(dir, 0, 0, NULL);
    const BertConfig *c = &m.config;
    if (B * T > 256 || (B * T) % 64 || ((size_t)B * c->num_attention_heads * T * T) % 256)
        die("internal: bert_checkpointing_checks needs B T <= 256, a multiple of 64, and B NH T^2 a multiple of 256");
    m.config.hidden_dropout_prob = m.config.attention_probs_dropout_prob = m.config.classifier_dropout = 0.1f;
    GpuBert plain = gpu_bert_create(&m, B, T, GEMM_FP32);
    m.gradient_checkpointing = true;
    GpuBert ckpt = gpu_bert_create(&m, B, T, GEMM_FP32);

    // memory, against the formula
    const ActivationMemory fa = activation_memory(c, B, T, 4, false), fk = activation_memory(c, B, T, 4, true);
    const size_t saved = plain.acts_bytes - ckpt.acts_bytes, formula_saved = fa.total - fk.total;
    out.push_back(model_line(ckpt.gradient_checkpointing && saved == formula_saved,
                             "checkpointing: activations %zu -> %zu bytes, %zu saved; common/memory.h: %zu saved",
                             plain.acts_bytes, ckpt.acts_bytes, saved, formula_saved));
    const size_t n_buffers = 40 + 20 * (size_t)c->num_hidden_layers;  // an upper bound: each pads < 256 bytes
    for (const GpuBert *g : {&plain, &ckpt}) {
        const size_t want = (g == &plain ? fa : fk).total + gpu_bert_acts_beyond_formula(g);
        out.push_back(model_line(g->acts_bytes >= want && g->acts_bytes - want < 256 * n_buffers,
                                 "%s: activations %zu bytes = formula %zu + GPU-only %zu + alignment %zd",
                                 g == &plain ? "all activations kept" : "checkpointing", g->acts_bytes,
                                 (g == &plain ? fa : fk).total, gpu_bert_acts_beyond_formula(g),
                                 (ssize_t)g->acts_bytes - (ssize_t)want));
    }

    // one training step on each, the same seed
    const ModelBatch b(c, B, T, 23);
    std::vector<float> grads[2];
    float loss[2];
    GpuBert *gs[2] = {&plain, &ckpt};
    for (int i = 0; i < 2; i++) {
        gpu_bert_zero_grad(gs[i]);
        loss[i] = gpu_bert_forward(gs[i], b.ids.data(), b.types.data(), b.mask.data(), b.labels.data(), B, T, true, 1234);
        gpu_bert_backward(gs[i], 1.0f / B);
        grads[i].resize(m.ps.numel);
        gpu_bert_download_grads(gs[i], grads[i].data());
    }
    int same = 0, differ = 0;
    double table_err = 0;
    for (int t = 0; t < m.ps.n_tensors; t++) {
        const ParamTensor *p = &m.ps.tensors[t];
        const float *g0 = grads[0].data() + p->offset, *g1 = grads[1].data() + p->offset;
        if (is_embedding_table(p->name)) table_err = fmax(table_err, max_relative_error(g1, g0, p->numel));
        else if (memcmp(g0, g1, sizeof(float) * p->numel)) {
            differ++;
            out.push_back(model_line(false, "checkpointing: %s's gradient differs from the one without", p->name));
        } else same++;
    }
    out.push_back(model_line(loss[0] == loss[1] && differ == 0 && table_err <= 1e-6,
                             "checkpointing, dropout 0.1: loss %.9g and %.9g; %d gradient tensors bit-identical; the "
                             "embedding tables (atomicAdd) within %.2g", loss[0], loss[1], same, table_err));
    gpu_bert_free(&ckpt);
    gpu_bert_free(&plain);
    bert_free(&m);
    return out;
}
