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
//   - data parallel (the trainer under `mpirun -np N`, one GPU per rank: the rank's local rank
//     modulo the GPUs it sees): the ranks' gradients are averaged on the GPUs by NCCL
//     (kernels/core/nccl_comm.cuh), its communicator made at the first step from rank 0's id,
//     sent over MPI (common/train/dist.h). The group's last backward reports each layer's
//     gradients as they become final (GpuBert.grads_final), and each layer's range is queued for
//     all-reduce at once on NCCL's stream, behind an event, while the backward goes on with the
//     layers before it: PyTorch DDP's buckets, one encoder layer a bucket (docs/DESIGN.md).
//     all_reduce_grads makes stream 0 wait for the last of them before the step's norm.
//     BERTSTEP_NCCL=1 takes this path in a single process too (a communicator of 1 rank: the
//     emulated suite and bench/gpu_quick.sh's check).
//
// Layers: kernels/backend is the top of kernels/: it includes kernels/bert (and so kernels/core)
// and common/ up to common/train's backend.h and dist.h. No product file includes it: the trainer reaches it
// through backend.h's backend_open_gpu, linked from build/libbertstep_cuda.a.
#include "kernels/bert/bert_cuda.cuh"
#include "kernels/core/nccl_comm.cuh"

extern "C" {
#include "common/model/bert_io.h"
#include "common/train/backend.h"
#include "common/train/dist.h"
}

// GradSync: the ranks' gradient all-reduce on the GPUs (data parallel; see above).
typedef struct {
    NcclComm nccl;         // made at the first all-reduce (comm NULL before)
    cudaEvent_t written;   // recorded on stream 0 after a bucket's gradients are written
    cudaEvent_t reduced;   // recorded on NCCL's stream after the group's last all-reduce
    size_t floats_queued;  // gradients queued for all-reduce in this accumulation group
    int buckets_queued;
} GradSync;

typedef struct {
    BertModel *host;  // parameters and labels on the host (no activations)
    GpuBert gpu;
    float *logits;      // (max_B,K) the last forward's logits, downloaded
    bool adamw_synced;  // the GPU's AdamW state is the host Optimizer's (uploaded since the last load)
    GradSync *sync;     // NULL: one process, no NCCL
} GpuBackend;

static GpuBackend *gpu_of(Backend *b) { return (GpuBackend *)b->model; }

// ---- data parallel -----------------------------------------------------------------------------

// nccl_wanted: several ranks, or BERTSTEP_NCCL=1 (the NCCL path in a single process).
static bool nccl_wanted(void) {
    const char *v = getenv("BERTSTEP_NCCL");
    return dist_world() > 1 || (v && !strcmp(v, "1"));
}

// use_rank_gpu: under mpirun, rank r uses GPU (its local rank on its machine) mod (GPUs it sees),
// so the ranks of one machine spread over its GPUs (CUDA_VISIBLE_DEVICES may restrict them).
static void use_rank_gpu(void) {
    const char *local = getenv("OMPI_COMM_WORLD_LOCAL_RANK");
    if (!local) return;
    int count = 0;
    CUDA_CHECK(cudaGetDeviceCount(&count));
    CUDA_CHECK(cudaSetDevice(atoi(local) % count));
}

// grad_sync_comm: the communicator, made the first time (a collective call: every rank reaches
// it at the same step): rank 0's NCCL id goes to every rank over MPI.
static NcclComm *grad_sync_comm(GradSync *s) {
    if (s->nccl.comm) return &s->nccl;
    ncclUniqueId id = {};
    if (dist_is_main()) id = nccl_unique_id();
    dist_bcast_from_main(&id, sizeof id);
    s->nccl = nccl_comm_init(id, dist_world(), dist_rank());
    CUDA_CHECK(cudaEventCreateWithFlags(&s->written, cudaEventDisableTiming));
    CUDA_CHECK(cudaEventCreateWithFlags(&s->reduced, cudaEventDisableTiming));
    return &s->nccl;
}

// reduce_bucket: (GpuBert.grads_final) grads[start, end) are final on stream 0: NCCL's stream
// waits for them (an event, not the host), then averages them over the ranks, while stream 0
// goes on with the backward.
static void reduce_bucket(void *ctx, size_t start, size_t end) {
    GpuBackend *g = (GpuBackend *)ctx;
    GradSync *s = g->sync;
    NcclComm *c = grad_sync_comm(s);
    CUDA_CHECK(cudaEventRecord(s->written, 0));
    CUDA_CHECK(cudaStreamWaitEvent(c->stream, s->written, 0));
    nccl_mean_floats(c, g->gpu.grads + start, end - start);
    s->floats_queued += end - start;
    s->buckets_queued++;
}

// gpu_all_reduce_grads: the end of an accumulation group: every gradient averaged over the
// ranks (the whole buffer now when the backward was not told it was the group's last), and
// stream 0's next work (the norm, the step) after the all-reduces.
static void gpu_all_reduce_grads(Backend *b) {
    GpuBackend *g = gpu_of(b);
    GradSync *s = g->sync;
    if (s->floats_queued == 0) reduce_bucket(g, 0, g->gpu.numel);
    if (s->floats_queued != g->gpu.numel)
        die("internal: %zu gradients all-reduced in %d buckets, not the model's %zu", s->floats_queued,
            s->buckets_queued, g->gpu.numel);
    CUDA_CHECK(cudaEventRecord(s->reduced, s->nccl.stream));
    CUDA_CHECK(cudaStreamWaitEvent(0, s->reduced, 0));
    s->floats_queued = 0, s->buckets_queued = 0;
}

static void grad_sync_free(GradSync *s) {
    if (!s) return;
    if (s->nccl.comm) {
        nccl_comm_free(&s->nccl);
        CUDA_CHECK(cudaEventDestroy(s->written));
        CUDA_CHECK(cudaEventDestroy(s->reduced));
    }
    free(s);
}

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
// Data parallel: the group's last backward all-reduces each layer's gradients as it finishes.
static void gpu_backward(Backend *b, float example_weight) {
    GpuBackend *g = gpu_of(b);
    g->gpu.grads_final = g->sync && b->last_backward ? reduce_bucket : NULL;
    g->gpu.grads_final_ctx = g;
    gpu_bert_backward(&g->gpu, example_weight);
}

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
    grad_sync_free(g->sync);
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
    use_rank_gpu();
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
    if (nccl_wanted()) {
        g->sync = (GradSync *)xcalloc(1, sizeof *g->sync), b->all_reduce_grads = gpu_all_reduce_grads;
        printf("data parallel on GPUs: NCCL averages the gradients of %d rank%s, %d buckets (one encoder layer "
               "each) all-reduced while the backward runs\n",
               dist_world(), dist_world() > 1 ? "s" : "", g->host->config.num_hidden_layers + 1);
    }
    return b;
}
