// backend.h — the model as the trainer sees it: forward, backward, an optimizer step, saving.
// Introduced by lesson 16 (the trainer). The CPU backend (backend_cpu.c) is the BERT of lessons
// 10-11; the GPU backend (kernels/backend/backend_gpu.cu, lesson 13's GpuBert) plugs in behind the same
// table, so the training loop, checkpoints, evaluation and logging are written once. Whether a
// binary has the GPU backend is decided by what it links (backend.c explains).
//
// The parameters a checkpoint saves are always the host ParamSet `ps` (fp32, Hugging Face
// names) and the host Optimizer; a backend that keeps copies elsewhere (a GPU) copies them in
// params_changed (after a checkpoint was loaded into ps) and out in sync_to_host (before a
// save). The CPU backend trains ps itself and leaves both NULL.
#pragma once
#include <stdbool.h>

#include "common/text/batch.h"
#include "common/model/bert.h"
#include "common/train/grad_scaler.h"
#include "common/train/optim.h"
#include "common/model/precision.h"
#include "common/core/rng.h"

typedef struct Backend Backend;
struct Backend {
    const char *device;     // "cpu" or "cuda"
    int num_labels;         // K
    char *const *id2label;  // (K) class names (config.json's id2label)
    int max_position_embeddings;
    BertConfig *config;  // the host model's config: its problem_type is what save_pretrained writes
    ParamSet *ps;        // every parameter and gradient, host fp32, Hugging Face names
    void *model;         // the backend's own model struct

    // forward: logits (B,K) of a padded batch (owned by the backend). loss NULL: logits only;
    // else *loss gets the mean cross-entropy against batch->labels (which the batch must carry),
    // and the backward may follow. training turns dropout on, masks drawn from rng.
    const float *(*forward)(Backend *b, const Batch *batch, bool training, Rng *rng, double *loss);
    // backward: ADD the gradient of sum_b example_weight * loss_b of the last forward to the grads.
    void (*backward)(Backend *b, float example_weight);
    // backward_from_dlogits: the same for a loss computed by the caller from the last forward's
    // logits: ADD the gradient of the loss whose dloss/dlogits (B,K) is given (the trainer's MSE,
    // BCE-with-logits and label-smoothed cross-entropy, computed on the host: trainer.c).
    void (*backward_from_dlogits)(Backend *b, const float *dlogits);
    void (*zero_grad)(Backend *b);
    // step: clip the global gradient norm to max_grad_norm (0: no clipping), then one optimizer
    // update at lr. Returns the norm before clipping (what the Trainer logs as grad_norm). With
    // loss scaling (fp16) the gradients are unscaled first, and a step whose gradients hold inf
    // or NaN is skipped: opt->step does not advance (the trainer then skips the scheduler step).
    double (*step)(Backend *b, Optimizer *opt, double lr, double max_grad_norm);
    // save_pretrained: config.json (with id2label), model.safetensors and the tokenizer files
    // into `dir`, which must not exist yet (Hugging Face layout, loadable by transformers).
    void (*save_pretrained)(Backend *b, const char *dir);
    void (*params_changed)(Backend *b);                // may be NULL
    void (*sync_to_host)(Backend *b, Optimizer *opt);  // may be NULL
    void (*close)(Backend *b);
    // set_format: train in mixed precision (lesson 14) with float32 master weights and optimizer
    // state; called once, before the first forward. The GPU's: activations and weight copies
    // stored in FMT_BF16 or FMT_FP16. The CPU's: FMT_BF16 only, torch's CPU autocast (the Linear
    // layers in bf16, common/model/matmul_bf16.h). NULL: the backend trains in fp32 only.
    void (*set_format)(Backend *b, FloatFormat format);
    GradScaler *scaler;  // fp16's dynamic loss scale (saved in checkpoints); NULL without
    // try_alloc_batch: activations for batches of up to max_batch sequences instead; false (and
    // none allocated) when memory runs out (--auto_find_batch_size). NULL: the backend cannot.
    bool (*try_alloc_batch)(Backend *b, int max_batch);
    // all_reduce_grads: data parallel (common/train/dist.h): the gradients <- their mean over the
    // ranks, where the backend keeps them; called at the end of every accumulation group, after
    // its last backward. NULL: the trainer averages ps->grads on the host (dist_mean_floats).
    // last_backward: set by the trainer before each backward, true for a group's last, whose
    // gradients the backend may start reducing while the backward runs (the GPU's NCCL buckets).
    void (*all_reduce_grads)(Backend *b);
    bool last_backward;
};

// backend_open: the model in checkpoint directory `dir` for K labels named label_names[0..K)
// (a classifier with another size is re-created from `seed`; K = 0 and label_names NULL keep
// config.json's labels, as evaluate and predict do with a fine-tuned model), able to run batches of up to
// max_batch sequences of max_seq_length tokens, on `device` ("cpu" or "cuda"; another name, or
// cuda where backend_gpu_unavailable says why not, is one error line). gradient_checkpointing: keep only
// each layer's input and recompute the layer in the backward (lesson 15; the same gradients).
Backend *backend_open(const char *device, const char *dir, int K, const char *const *label_names, unsigned long seed,
                      int max_batch, int max_seq_length, bool gradient_checkpointing);
// backend_open_cpu: the CPU BERT (common/model/bert.h).
Backend *backend_open_cpu(const char *dir, int K, const char *const *label_names, unsigned long seed, int max_batch,
                          int max_seq_length, bool gradient_checkpointing);
// The GPU backend: defined by kernels/backend/backend_gpu.cu (lesson 13's GpuBert) in a build
// with nvcc, by common/train/backend_no_cuda.c without; the trainer links one of the two.
// backend_gpu_unavailable: NULL when --device cuda can run here, else why not, for one error
// line ("this build has no CUDA ...", "no CUDA device: ...").
const char *backend_gpu_unavailable(void);
// backend_open_gpu: as backend_open_cpu, on the GPU (only when backend_gpu_unavailable is NULL).
Backend *backend_open_gpu(const char *dir, int K, const char *const *label_names, unsigned long seed, int max_batch,
                          int max_seq_length, bool gradient_checkpointing);

// backend_load_bert: what every backend starts from: the host BertModel of checkpoint `dir`
// (bert_load), its config checked against max_seq_length, its id2label set to label_names.
BertModel *backend_load_bert(const char *dir, int K, const char *const *label_names, unsigned long seed,
                             int max_seq_length);
// backend_of_bert: a Backend table over host model m (ps, labels and sizes filled in from it);
// the caller sets device, model and the functions.
Backend *backend_of_bert(BertModel *m);
