// bert_model_check.h — the whole GPU BERT (kernels/bert/bert_cuda.cu) against the CPU BERT
// (common/model/bert.c), which tests/test_bert.c checks against transformers: logits, loss and every
// gradient tensor of one step, with dropout off and with dropout on (the CPU's masks uploaded),
// then training steps (10 on the GPU; clipping at 1.0, AdamW with weight decay) with the same losses and
// gradient norms. Products in float32 (TF32 off). Then the mixed-precision models (bf16, fp16
// with loss scaling; float32 masters) against the same float32 CPU model, with measured
// tolerances (bert_mixed_checks), and the GPU BERT with gradient checkpointing against itself
// without (bert_checkpointing_checks). Shared by tests/gpu/test_bert.cu and the CPU emulation
// (tests/emulate/test_bert_emulated.cpp).
//
// "Relative error" of a tensor is max_i |gpu_i - cpu_i| / max_i |cpu_i| (as tests/test_bert.c).
#pragma once
#include <stdarg.h>

#include "kernels/bert/bert_cuda.cuh"
#include "tests/gpu/bert_kernels_check.h"

extern "C" {
#include "common/model/bert_io.h"
#include "common/model/compare.h"
#include "common/model/memory.h"
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

// compare_grads: every gradient tensor (bert_tensor_diff; the key biases must be ~0 on both sides).
static void compare_grads(std::vector<KernelCheck> &out, const char *label, const BertModel *m, const GpuBert *g) {
    std::vector<float> got(m->ps.numel);
    gpu_bert_download_grads(g, got.data());
    const TensorDiff d = bert_tensor_diff(m, got.data(), m->ps.grads);
    out.push_back(model_line(d.worst < BERT_MODEL_TOL, "%s: %d gradient tensors, worst %s rel. error %.2g", label,
                             d.tensors, d.worst_name, d.worst));
    out.push_back(model_line(d.key_bias < 1e-6,
                             "%s: key bias gradients (0 in exact arithmetic) at most %.2g of the largest gradient",
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
    const float loss =
        gpu_bert_forward(g, b.ids.data(), b.types.data(), b.mask.data(), b.labels.data(), b.B, b.T, training, 99);
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

// train_step_both: step s of `steps` of lesson 11's loop (zero, forward, backward, clip at 1.0,
// AdamW at a linearly decaying lr) on the CPU model (optimizer opt) and on the GPU one
// (gpu_bert_step), without dropout. Returns the GPU's loss; *cpu_norm and *gpu_step what the
// two optimizer steps did.
static float train_step_both(BertModel *m, Optimizer *opt, GpuBert *g, const ModelBatch &b, int s, int steps,
                             double *cpu_norm, MixedStep *gpu_step) {
    const double lr = 1e-3 * (1.0 - (double)s / steps);
    params_zero_grad(&m->ps);
    gpu_bert_zero_grad(g);
    bert_forward(m, b.ids.data(), b.types.data(), b.mask.data(), b.labels.data(), b.B, b.T, false, NULL);
    const float loss =
        gpu_bert_forward(g, b.ids.data(), b.types.data(), b.mask.data(), b.labels.data(), b.B, b.T, false, 0);
    bert_backward(m, 1.0f / b.B);
    gpu_bert_backward(g, 1.0f / b.B);
    *cpu_norm = clip_grad_norm(&m->ps, 1.0);
    optimizer_step(opt, &m->ps, lr);
    *gpu_step = gpu_bert_step(g, lr, 1.0);
    return loss;
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
        double norm;
        MixedStep r;
        const float loss = train_step_both(m, &opt, g, b, s, steps, &norm, &r);
        const double gnorm = r.grad_norm;
        const double el = fabs(loss - m->loss) / fabs(m->loss), en = fabs(gnorm - norm) / norm;
        if (!(el <= BERT_MODEL_TOL) || !(en <= BERT_MODEL_TOL))
            out.push_back(model_line(false, "training step %d: loss GPU %.9g CPU %.9g, grad norm GPU %.9g CPU %.9g", s,
                                     loss, m->loss, gnorm, norm));
        worst_loss = fmax(worst_loss, el), worst_norm = fmax(worst_norm, en);
    }
    std::vector<float> params(m->ps.numel);
    CUDA_CHECK(cudaMemcpy(params.data(), g->params, sizeof(float) * m->ps.numel, cudaMemcpyDeviceToHost));
    const double ep = bert_tensor_diff(m, params.data(), m->ps.params).worst;  // key biases: see below
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
    const double em = bert_tensor_diff(m, gopt.m, opt.m).worst, ev = bert_tensor_diff(m, gopt.v, opt.v).worst;
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
    out.push_back(
        model_line(!memcmp(m->ps.params, before.data(), bytes), "gpu_bert_download_params: the GPU's parameters"));
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

// ---------------------------------------------------------------------------------------------
// gradient checkpointing

// is_embedding_table: the three lookup tables, whose gradients the GPU sums with atomicAdd
// (embeddings_backward_kernel): the order of the additions, so the last bits, vary from run to run.
static bool is_embedding_table(const char *name) {
    return strstr(name, "word_embeddings") || strstr(name, "position_embeddings") ||
        strstr(name, "token_type_embeddings");
}

// bert_checkpointing_checks: the model in `dir` with dropout 0.1 on a B x T batch, on the GPU
// without and with gradient checkpointing (the same seed, so the same dropout masks):
//   - memory: the activations shrink by exactly what common/model/memory.h says checkpointing saves
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
    GpuBert plain = gpu_bert_create(&m, B, T, GEMM_FP32, FMT_FP32);
    m.gradient_checkpointing = true;
    GpuBert ckpt = gpu_bert_create(&m, B, T, GEMM_FP32, FMT_FP32);

    // memory, against the formula
    const ActivationMemory fa = activation_memory(c, B, T, 4, false), fk = activation_memory(c, B, T, 4, true);
    const size_t saved = plain.acts_bytes - ckpt.acts_bytes, formula_saved = fa.total - fk.total;
    out.push_back(model_line(ckpt.gradient_checkpointing && saved == formula_saved,
                             "checkpointing: activations %zu -> %zu bytes, %zu saved; common/model/memory.h: %zu saved",
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
        loss[i] =
            gpu_bert_forward(gs[i], b.ids.data(), b.types.data(), b.mask.data(), b.labels.data(), B, T, true, 1234);
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
                             "embedding tables (atomicAdd) within %.2g",
                             loss[0], loss[1], same, table_err));
    gpu_bert_free(&ckpt);
    gpu_bert_free(&plain);
    bert_free(&m);
    return out;
}

// ---------------------------------------------------------------------------------------------
// Mixed precision (lesson 14): the bf16 and fp16 GPU models against the float32 CPU model.

// MixedTolerances: the largest relative errors a narrow model may show against the float32 CPU
// model. Measured on the tiny BERT (tests/fixtures/bert/tiny), batch 2 x 6 (ModelBatch seed 17),
// under the CPU emulation (tests/emulate, whose bf16/fp16 rounding is bit for bit the GPU's),
// and set at about 3x the measured value:
//                     logits   loss     worst gradient   key-bias noise   loss over 3 AdamW steps
//   bf16  measured    1.5e-2   7.7e-3   2.9e-2           9.1e-5           7.7e-3
//   fp16  measured    1.6e-3   1.1e-4   2.1e-3           9.2e-6           7.8e-4
// bf16 is ~8x coarser than fp16 (7 mantissa bits against 10), as lesson 14's CPU emulation
// measures (tests/test_precision.c: logits 9.5e-3 / 7.5e-4, worst gradient 2.8e-2 / 2.8e-3).
struct MixedTolerances {
    double logits, loss, grads, key_bias, train_loss;
};
static const MixedTolerances MIXED_TOL_BF16 = {5e-2, 2.5e-2, 1e-1, 3e-4, 2.5e-2};
static const MixedTolerances MIXED_TOL_FP16 = {5e-3, 5e-4, 7e-3, 3e-5, 2.5e-3};

// compare_mixed_step: one evaluation forward and backward of a `format` model against the CPU's
// float32 one (m: its logits, loss and gradients already computed on batch b). fp16 gradients
// come back times the loss scale: they are unscaled here (a power of 2: exact).
static void compare_mixed_step(std::vector<KernelCheck> &out, const BertModel *m, GpuBert *g, const ModelBatch &b,
                               const MixedTolerances &tol) {
    const char *name = format_name(g->format);
    gpu_bert_zero_grad(g);
    const float loss =
        gpu_bert_forward(g, b.ids.data(), b.types.data(), b.mask.data(), b.labels.data(), b.B, b.T, false, 0);
    gpu_bert_backward(g, 1.0f / b.B);
    std::vector<float> logits((size_t)b.B * m->config.num_labels), grads(m->ps.numel);
    gpu_bert_logits(g, logits.data());
    gpu_bert_download_grads(g, grads.data());
    const float unscale = 1.0f / gpu_bert_loss_scale(g);
    for (float &x : grads) x *= unscale;
    const double el = max_relative_error(logits.data(), m->logits, logits.size());
    const double eloss = fabs(loss - m->loss) / fabs(m->loss);
    const TensorDiff d = bert_tensor_diff(m, grads.data(), m->ps.grads);
    out.push_back(model_line(el < tol.logits, "%s: logits relative error %.2g (tolerance %.2g)", name, el, tol.logits));
    out.push_back(model_line(eloss < tol.loss, "%s: loss GPU %.7f, CPU float32 %.7f: rel. error %.2g (tolerance %.2g)",
                             name, loss, m->loss, eloss, tol.loss));
    out.push_back(model_line(d.worst < tol.grads,
                             "%s: %d gradient tensors (scale %g undone), worst %s rel. error %.2g (tolerance %.2g)",
                             name, d.tensors, 1.0f / unscale, d.worst_name, d.worst, tol.grads));
    out.push_back(
        model_line(d.key_bias < tol.key_bias,
                   "%s: key bias gradients (0 in exact arithmetic) at most %.2g of the largest (tolerance %.2g)", name,
                   d.key_bias, tol.key_bias));
}

// compare_mixed_training: `steps` steps of train_step_both on a `format` model (gpu_bert_step:
// unscale, clip at 1.0, AdamW on the float32 masters) beside the float32 CPU model: the losses
// stay within tol.train_loss of the CPU's, no step is skipped at fp16's default scale.
static void compare_mixed_training(std::vector<KernelCheck> &out, BertModel *m, GpuBert *g, const ModelBatch &b,
                                   int steps, const MixedTolerances &tol) {
    OptimizerConfig oc = optimizer_defaults(OPT_ADAMW);
    Optimizer opt;
    optimizer_init(&opt, oc, &m->ps);
    gpu_bert_adamw_init(g, oc);
    double worst = 0, worst_norm = 0, first = 0, last = 0;
    int skipped = 0;
    for (int s = 0; s < steps; s++) {
        double norm;
        MixedStep r;
        const float loss = train_step_both(m, &opt, g, b, s, steps, &norm, &r);
        skipped += r.skipped;
        worst = fmax(worst, fabs(loss - m->loss) / fabs(m->loss));
        worst_norm = fmax(worst_norm, fabs(r.grad_norm - norm) / norm);
        if (s == 0) first = m->loss;
        last = m->loss;
    }
    out.push_back(
        model_line(worst < tol.train_loss && worst_norm < tol.grads && skipped == 0 && g->step == steps && last < first,
                   "%s: %d AdamW steps (float32 masters): worst loss rel. diff %.2g from the float32 CPU's "
                   "(tolerance %.2g), grad norm %.2g (tolerance %.2g), %d skipped, CPU loss %.4f -> %.4f",
                   format_name(g->format), steps, worst, tol.train_loss, worst_norm, tol.grads, skipped, first, last));
    optimizer_free(&opt);
}

// check_fp16_overflow: with a loss scale far too large (2^100) the fp16 backward overflows; the
// step must be skipped (no AdamW: the float32 masters, the moments and the step counter stay
// bit-identical), the scale halves and the growth tracker restarts, as torch's GradScaler.
static void check_fp16_overflow(std::vector<KernelCheck> &out, GpuBert *g, const ModelBatch &b) {
    gpu_bert_adamw_init(g, optimizer_defaults(OPT_ADAMW));
    gpu_bert_zero_grad(g);
    gpu_bert_forward(g, b.ids.data(), b.types.data(), b.mask.data(), b.labels.data(), b.B, b.T, false, 0);
    gpu_bert_backward(g, 1.0f / b.B);
    const MixedStep clean = gpu_bert_step(g, 1e-3, 1.0);  // at the default scale: a real step
    const size_t n = g->numel;
    std::vector<float> before(3 * n), after(3 * n);
    auto download_state = [&](std::vector<float> &to) {
        CUDA_CHECK(cudaMemcpy(to.data(), g->params, sizeof(float) * n, cudaMemcpyDeviceToHost));
        CUDA_CHECK(cudaMemcpy(to.data() + n, g->m, sizeof(float) * 2 * n, cudaMemcpyDeviceToHost));  // m, v
    };
    download_state(before);
    const long step = g->step;
    g->scaler.scale = ldexpf(1.0f, 100);
    gpu_bert_zero_grad(g);
    gpu_bert_forward(g, b.ids.data(), b.types.data(), b.mask.data(), b.labels.data(), b.B, b.T, false, 0);
    gpu_bert_backward(g, 1.0f / b.B);
    const MixedStep r = gpu_bert_step(g, 1e-3, 1.0);
    download_state(after);
    out.push_back(model_line(!clean.skipped && clean.scale == 65536.0f && step == 1,
                             "fp16: a step at the default scale %g is taken (grad norm %.3g)", clean.scale,
                             clean.grad_norm));
    out.push_back(model_line(
        r.skipped && !isfinite(r.grad_norm) && g->scaler.scale == ldexpf(1.0f, 99) && g->scaler.growth_tracker == 0 &&
            g->step == step && !memcmp(before.data(), after.data(), sizeof(float) * 3 * n),
        "fp16: loss scale 2^100 overflows: skipped %d, grad norm %g, scale now 2^%g, growth tracker %d, "
        "masters and moments %s, step %ld",
        r.skipped, r.grad_norm, log2(g->scaler.scale), g->scaler.growth_tracker,
        memcmp(before.data(), after.data(), sizeof(float) * 3 * n) ? "CHANGED" : "bit-identical", g->step));
}

// bert_mixed_checks: the bf16 and fp16 models on the tiny BERT, batch 2 x 6 (where MixedTolerances
// were measured): one step against the float32 CPU model, 3 AdamW steps beside it, and the
// forced fp16 overflow.
static std::vector<KernelCheck> bert_mixed_checks() {
    const char *dir = "tests/fixtures/bert/tiny";
    const int B = 2, T = 6, steps = 3;
    const MixedTolerances tol[2] = {MIXED_TOL_BF16, MIXED_TOL_FP16};
    std::vector<KernelCheck> out;
    BertModel m = bert_load(dir, 0, 0, NULL);
    bert_alloc_acts(&m, B, T);
    const ModelBatch b(&m.config, B, T, 17);
    params_zero_grad(&m.ps);
    bert_forward(&m, b.ids.data(), b.types.data(), b.mask.data(), b.labels.data(), B, T, false, NULL);
    bert_backward(&m, 1.0f / B);
    const FloatFormat formats[2] = {FMT_BF16, FMT_FP16};
    for (int f = 0; f < 2; f++) {
        GpuBert g = gpu_bert_create(&m, B, T, GEMM_FP32, formats[f]);
        compare_mixed_step(out, &m, &g, b, tol[f]);
        gpu_bert_free(&g);
    }
    for (int f = 0; f < 2; f++) {
        BertModel fresh = bert_load(dir, 0, 0, NULL);
        bert_alloc_acts(&fresh, B, T);
        GpuBert g = gpu_bert_create(&fresh, B, T, GEMM_FP32, formats[f]);
        compare_mixed_training(out, &fresh, &g, b, steps, tol[f]);
        gpu_bert_free(&g);
        bert_free(&fresh);
    }
    GpuBert g = gpu_bert_create(&m, B, T, GEMM_FP32, FMT_FP16);
    check_fp16_overflow(out, &g, b);
    gpu_bert_free(&g);
    bert_free(&m);
    return out;
}
