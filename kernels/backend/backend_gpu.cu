// backend_gpu.cu — the trainer's GPU backend: lesson 13's GpuBert (kernels/bert/bert_cuda.cuh) behind
// common/train/backend.h, so lesson 16's loop, checkpoints, evaluation and logging run unchanged on
// --device cuda. Introduced by lesson 16 (the trainer).
//
// Where things live:
//   - the host BertModel `host` (loaded by backend_load_bert, as the CPU backend's) holds the
//     ParamSet the trainer saves and loads: its parameters are a copy of the GPU's, refreshed by
//     sync_to_host (before a checkpoint) and pushed back by params_changed (after one is loaded).
//     It has no activations: every step runs on the GPU.
//   - AdamW's moments live on the GPU. The host Optimizer (its config, step counter and moments)
//     is uploaded before the first step and after params_changed (a resumed checkpoint brings
//     its own), so the GPU update uses exactly the host optimizer's hyper-parameters and step;
//     the host counter is kept equal after each step, and sync_to_host downloads the moments.
//   - dropout: GpuBert draws masks from a hash of (seed, site, element); each training forward
//     takes a fresh 64-bit seed from the trainer's Rng, so a run is reproducible from --seed
//     (the GPU drops other elements than the CPU would: bert_cuda.cuh). With gradient
//     checkpointing the backward recomputes each layer with the same seed, so the same masks.
//   - precision: fp32 products (GEMM_FP32), as the CPU backend, unless the trainer asks for
//     --bf16 / --fp16 (set_format): GpuBert then stores activations and a weight copy in that
//     format, keeps float32 masters and moments, and (fp16) scales the loss, exposing its
//     GradScaler as b->scaler for checkpoints; a step that overflowed is skipped (opt->step
//     stays).
//
// Layers: kernels/backend is the top of kernels/: it includes kernels/bert (and so kernels/core)
// and common/ up to common/train's backend.h. No product file includes it: the trainer reaches it
// through backend.h's backend_open_gpu, linked from build/libbertstep_cuda.a.
#include "kernels/bert/bert_cuda.cuh"

extern "C" {
#include "common/model/bert_io.h"
#include "common/train/backend.h"
}

typedef struct {
    BertModel *host;  // parameters and labels on the host (no activations)
    GpuBert gpu;
    float *logits;      // (max_B,K) the last forward's logits, downloaded
    bool adamw_synced;  // the GPU's AdamW state is the host Optimizer's (uploaded since the last load)
} GpuBackend;

static GpuBackend *gpu_of(Backend *b) { return (GpuBackend *)b->model; }

// forward: upload the batch (gpu_bert_forward checks it), run, download the logits (B,K).
static const float *gpu_forward(Backend *b, const Batch *x, bool training, Rng *rng, double *loss) {
    GpuBackend *g = gpu_of(b);
    const uint64_t seed = training ? ((uint64_t)rng_u32(rng) << 32 | rng_u32(rng)) : 0;
    const int *labels = loss ? batch_labels(x) : NULL;
    const float l = gpu_bert_forward(&g->gpu, x->input_ids, x->token_type_ids, x->attention_mask, labels, x->B, x->T,
                                     training, seed);
    if (loss) *loss = l;
    gpu_bert_logits(&g->gpu, g->logits);
    return g->logits;
}

// backward: gpu_bert_backward ADDS to the gradients, so accumulation steps sum as on the CPU.
static void gpu_backward(Backend *b, float example_weight) { gpu_bert_backward(&gpu_of(b)->gpu, example_weight); }

// backward_from_dlogits: the trainer's own losses (MSE, BCE, label smoothing) from the
// downloaded logits; their dlogits go back up and the GPU runs the rest of the backward.
static void gpu_backward_from_dlogits(Backend *b, const float *dlogits) {
    gpu_bert_backward_from_dlogits(&gpu_of(b)->gpu, dlogits);
}

static void gpu_zero_grad(Backend *b) { gpu_bert_zero_grad(&gpu_of(b)->gpu); }

// step: (unscale,) clip (the norm before clipping is returned), then the fused AdamW at lr with
// the host Optimizer's config and step counter; gpu_bert_step skips it on an fp16 overflow.
static double gpu_step(Backend *b, Optimizer *opt, double lr, double max_grad_norm) {
    GpuBackend *g = gpu_of(b);
    if (!g->adamw_synced) gpu_bert_upload_optimizer(&g->gpu, opt), g->adamw_synced = true;
    const MixedStep r = gpu_bert_step(&g->gpu, lr, max_grad_norm);
    opt->step = g->gpu.step;
    return r.grad_norm;
}

// set_format: the GpuBert again, in `format`, from the host parameters (nothing trained yet).
static void gpu_set_format(Backend *b, FloatFormat format) {
    GpuBackend *g = gpu_of(b);
    const int max_B = g->gpu.max_B, max_T = g->gpu.max_T;
    gpu_bert_free(&g->gpu);
    g->gpu = gpu_bert_create(g->host, max_B, max_T, GEMM_FP32, format);
    g->adamw_synced = false;
    b->scaler = g->gpu.loss_scaling ? &g->gpu.scaler : NULL;
}

static void gpu_sync_to_host(Backend *b, Optimizer *opt) {
    GpuBackend *g = gpu_of(b);
    gpu_bert_download_params(&g->gpu, g->host);
    if (g->adamw_synced) gpu_bert_download_optimizer(&g->gpu, opt);
}

static void gpu_params_changed(Backend *b) {
    GpuBackend *g = gpu_of(b);
    gpu_bert_upload_params(&g->gpu, g->host);
    g->adamw_synced = false;  // the host Optimizer may have been loaded too: upload it before the next step
}

// save_pretrained: the GPU's parameters into the host model, then the CPU backend's writer.
static void gpu_save_pretrained(Backend *b, const char *dir) {
    GpuBackend *g = gpu_of(b);
    gpu_bert_download_params(&g->gpu, g->host);
    bert_save_hf(g->host, dir);
}

static void gpu_close(Backend *b) {
    GpuBackend *g = gpu_of(b);
    gpu_bert_free(&g->gpu);
    bert_free(g->host);
    free(g->host);
    free(g->logits);
    free(g);
    free(b);
}

extern "C" const char *backend_gpu_unavailable(void) {
    static char why[256];
    char reason[200];
    if (gpu_available(reason, sizeof reason)) return NULL;
    snprintf(why, sizeof why, "no CUDA device: %s", reason);
    return why;
}

extern "C" Backend *backend_open_gpu(const char *dir, int K, const char *const *label_names, unsigned long seed,
                                     int max_batch, int max_seq_length, bool gradient_checkpointing) {
    GpuBackend *g = (GpuBackend *)xcalloc(1, sizeof *g);
    g->host = backend_load_bert(dir, K, label_names, seed, max_seq_length);
    g->host->gradient_checkpointing = gradient_checkpointing;  // gpu_bert_create takes the option from it
    g->gpu = gpu_bert_create(g->host, max_batch, max_seq_length, GEMM_FP32, FMT_FP32);
    g->logits = (float *)xmalloc(sizeof(float) * (size_t)max_batch * g->host->config.num_labels);
    Backend *b = backend_of_bert(g->host);
    b->device = "cuda", b->model = g;
    b->forward = gpu_forward, b->backward = gpu_backward, b->zero_grad = gpu_zero_grad, b->step = gpu_step;
    b->backward_from_dlogits = gpu_backward_from_dlogits;
    b->save_pretrained = gpu_save_pretrained, b->params_changed = gpu_params_changed;
    b->sync_to_host = gpu_sync_to_host, b->close = gpu_close, b->set_format = gpu_set_format;
    return b;
}
