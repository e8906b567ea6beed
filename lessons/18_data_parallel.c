// Lesson 18 — data parallel: N processes train one model, each on its own share of every batch.
//
//   1. what is split: each rank's batches of an epoch, dealt by the trainer's own functions
//      (epoch_order, steps_shard_batch: accelerate's BatchSamplerShard with even batches)
//   2. the step arithmetic with --world_size (common/train/steps.c, as lesson 02 prints it)
//   3. what is reduced: N ranks simulated in one process on a softmax regression; the mean of
//      their gradients is the big batch's gradient, the mean of their losses its loss, and the
//      norm that clipping sees is the averaged gradient's
//   4. the all-reduce two ways on those N buffers (common/train/allreduce.c): naive (gather to
//      rank 0, broadcast) and ring (reduce-scatter + all-gather), with the bytes each step moved
//   5. on paper: the bytes and times of all-reducing MiniLM's and bert-base's gradients on 2, 4
//      and 8 GPUs over NVLink and over 100 Gb/s Ethernet, against the backward's time
//   6. the command that runs the real thing: lesson 16's trainer under mpirun (common/train/dist.c)
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/core/args.h"
#include "common/core/rng.h"
#include "common/core/util.h"
#include "common/model/bert_io.h"
#include "common/model/logreg.h"
#include "common/model/memory.h"
#include "common/model/precision.h"
#include "common/text/dataset.h"
#include "common/train/allreduce.h"
#include "common/train/steps.h"

// one_epoch_plan: a StepPlan of one epoch of N examples, batch B per device on W devices.
static StepPlan one_epoch_plan(long N, int B, int W) {
    StepPlan p = {.num_examples = N,
                  .per_device_train_batch_size = B,
                  .per_device_eval_batch_size = 1,
                  .gradient_accumulation_steps = 1,
                  .n_devices = W,
                  .num_train_epochs = 1};
    steps_plan(&p);
    return p;
}

// ---- 1. what is split -----------------------------------------------------------------------

static void print_shards(int N, int B, int W, int seed) {
    printf("== 1. What is split: each rank's batches of epoch 0 (%d examples, batch %d per rank, %d ranks, seed %d) "
           "==\n",
           N, B, W, seed);
    StepPlan p = one_epoch_plan(N, B, W);
    int *order = xmalloc(sizeof(int) * (size_t)N), *rows = xmalloc(sizeof(int) * (size_t)B);
    int *seen = xcalloc((size_t)N, sizeof(int));
    epoch_order((uint64_t)seed, 0, order, N);  // every rank draws this same permutation from the seed
    printf("the epoch's order (the same on every rank: drawn from the seed, nothing is sent):");
    for (int i = 0; i < N; i++) printf(" %d", order[i]);
    printf("\n");
    // The ranks' batches in the order they run: round k, rank 0..W-1 (batch k*W + r of the order).
    char **lines = xmalloc(sizeof(char *) * (size_t)W);
    for (int r = 0; r < W; r++) lines[r] = xcalloc(4096, 1);  // <= 200 examples of <= 4 characters, <= 200 batch labels
    for (long k = 0; k < p.batches_per_epoch; k++)
        for (int r = 0; r < W; r++) {
            const int n = steps_shard_batch(&p, order, r, k, rows);
            size_t at = strlen(lines[r]);
            at += (size_t)snprintf(lines[r] + at, 4096 - at, "   batch %ld:", k);
            for (int i = 0; i < n && at < 4000; i++)
                at += (size_t)snprintf(lines[r] + at, 4096 - at, " %d%s", rows[i], seen[rows[i]]++ ? "*" : "");
        }
    for (int r = 0; r < W; r++) printf("rank %d%s\n", r, lines[r]), free(lines[r]);
    printf("(%ld batches per rank; * = an example seen before in this epoch: the last round is completed from the "
           "epoch's start, so every rank runs full batches)\n",
           p.batches_per_epoch);
    free(lines), free(order), free(rows), free(seen);
}

// ---- 3. what is reduced: ranks simulated in one process ------------------------------------

typedef struct {
    int N, D, K;  // examples, features, classes
    float *X;     // (N,D)
    int *y;       // (N)
} Data;

// make_data: N examples of D normal features; the label is the largest of K fixed projections.
static Data make_data(int N, int D, int K, int seed) {
    Rng rng;
    rng_seed(&rng, (uint64_t)seed, RNG_STREAM_EXAMPLES);
    Data d = {N, D, K, xmalloc(sizeof(float) * (size_t)N * D), xmalloc(sizeof(int) * (size_t)N)};
    for (int i = 0; i < N; i++) {
        float *x = d.X + (size_t)i * D, best = -INFINITY;
        for (int j = 0; j < D; j++) x[j] = rng_normal(&rng);
        for (int k = 0; k < K; k++) {
            float s = 0;
            for (int j = 0; j < D; j++) s += x[j] * (float)((j * 7 + k * 3) % 5 - 2);
            if (s > best) best = s, d.y[i] = k;
        }
    }
    return d;
}

// batch_gradient: grad (P) <- d(mean loss of the device's batch k of the epoch)/d(params); returns
// the mean loss.
static double batch_gradient(LogReg *m, const Data *d, const StepPlan *p, const int *order, int rank, long k,
                             float *grad) {
    int *rows = xmalloc(sizeof(int) * (size_t)p->per_device_train_batch_size);
    const int n = steps_shard_batch(p, order, rank, k, rows);
    params_zero_grad(&m->ps);
    const double loss = logreg_add_grad_rows(m, d->X, d->y, rows, n, 1.0f / (float)n);
    memcpy(grad, m->ps.grads, sizeof(float) * m->ps.numel);
    free(rows);
    return loss;
}

static double max_abs_diff(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - (double)b[i]));
    return m;
}

static double norm(const float *g, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)g[i] * g[i];
    return sqrt(s);
}

// ranks_mean: mean (P) <- the mean of the W ranks' gradients of round k, as the trainer forms it
// (the sum, then x 1/W); *loss <- the mean of their losses, what the trainer logs.
static void ranks_mean(LogReg *m, const Data *d, const StepPlan *p, const int *order, long k, float **grads,
                       double *loss, bool print) {
    const int W = p->n_devices;
    const size_t P = m->ps.numel;
    double sum = 0;
    for (int r = 0; r < W; r++) {
        const double l = batch_gradient(m, d, p, order, r, k, grads[r]);
        sum += l;
        if (print) printf("  rank %d: loss %.6f, gradient norm %.6f\n", r, l, norm(grads[r], P));
    }
    *loss = sum / W;
}

static void scale(float *x, size_t n, float s) {
    for (size_t i = 0; i < n; i++) x[i] *= s;
}

// simulate_ranks: section 3; leaves the W ranks' gradients of round 0 in grads for section 4.
static void simulate_ranks(const Data *d, int B, int W, int seed, float **grads) {
    Rng init;
    rng_seed(&init, (uint64_t)seed, RNG_STREAM_INIT);
    LogReg m;
    logreg_init(&m, d->D, d->K, &init, 0.1f);
    const size_t P = m.ps.numel;
    StepPlan one = one_epoch_plan(d->N, B * W, 1), ranks = one_epoch_plan(d->N, B, W);
    int *order = xmalloc(sizeof(int) * (size_t)d->N);
    epoch_order((uint64_t)seed, 0, order, d->N);
    float *big = xmalloc(sizeof(float) * P), *mean = xmalloc(sizeof(float) * P);
    float **copy = xmalloc(sizeof(float *) * (size_t)W);
    for (int r = 0; r < W; r++) copy[r] = xmalloc(sizeof(float) * P);
    CommCount count;

    printf("\n== 3. What is reduced: %d ranks simulated in one process (softmax regression: %d features, %d classes, "
           "%zu parameters; %d examples) ==\n",
           W, d->D, d->K, P, d->N);
    const double big_loss = batch_gradient(&m, d, &one, order, 0, 0, big);
    printf("one process, batch %d (the epoch's first %d examples): loss %.6f, gradient norm %.6f\n", B * W, B * W,
           big_loss, norm(big, P));
    printf("%d ranks, batch %d each (steps_shard_batch deals the same %d examples):\n", W, B, B * W);
    double loss;
    ranks_mean(&m, d, &ranks, order, 0, grads, &loss, true);
    for (int r = 0; r < W; r++) memcpy(copy[r], grads[r], sizeof(float) * P);
    allreduce_naive(copy, W, P, &count);
    memcpy(mean, copy[0], sizeof(float) * P);
    scale(mean, P, 1.0f / (float)W);
    printf("mean of the ranks' losses %.6f (the logged loss) - the batch's %.6f = %.1e\n", loss, big_loss,
           loss - big_loss);
    printf("mean of the ranks' gradients vs the batch's gradient: max |difference| %.1e (float rounding: the sums "
           "are grouped differently)\n",
           max_abs_diff(mean, big, P));
    double mean_of_norms = 0;
    for (int r = 0; r < W; r++) mean_of_norms += norm(grads[r], P) / W;
    printf("clipping sees the norm of the averaged gradient, %.6f (= the batch's); clipping each rank before the "
           "average would see norms averaging %.6f\n",
           norm(mean, P), mean_of_norms);

    // The epoch's last round: the ranks' batches hold repeated examples, a single process a short batch.
    const long last = ranks.batches_per_epoch - 1;
    const int n_last = d->N - (int)(last * B * W);
    float **last_grads = copy;
    batch_gradient(&m, d, &one, order, 0, last, big);
    ranks_mean(&m, d, &ranks, order, last, last_grads, &loss, false);
    allreduce_naive(last_grads, W, P, &count);
    scale(last_grads[0], P, 1.0f / (float)W);
    printf("the epoch's last round (batch %ld): one process has %d examples left, the %d ranks %d (%d repeated): "
           "max |difference| %.1e\n",
           last, n_last, W, B * W, B * W - n_last, max_abs_diff(last_grads[0], big, P));
    printf("(a different gradient: %d ranks at batch %d equal one process at batch %d exactly when %d x %d divides "
           "the examples)\n",
           W, B, B * W, B, W);
    for (int r = 0; r < W; r++) free(copy[r]);
    free(copy), free(order), free(big), free(mean);
    logreg_free(&m);
}

// ---- 4. the all-reduce, two ways --------------------------------------------------------------

static void print_count(const CommCount *c) {
    printf("  bytes sent in each step:");
    for (int s = 0; s < c->steps; s++) printf(" %zu", c->step_bytes[s]);
    printf("\n  bytes each rank sent:");
    for (int r = 0; r < c->ranks; r++) printf(" %zu", c->sent[r]);
    printf("\n");
}

static void compare_allreduce(float **grads, int W, size_t P) {
    const size_t S = sizeof(float) * P;
    printf("\n== 4. The all-reduce on the %d ranks' gradients (%zu floats, S = %zu bytes), two ways ==\n", W, P, S);
    float **naive = xmalloc(sizeof(float *) * (size_t)W), **ring = xmalloc(sizeof(float *) * (size_t)W);
    for (int r = 0; r < W; r++) {
        naive[r] = xmalloc(S), ring[r] = xmalloc(S);
        memcpy(naive[r], grads[r], S), memcpy(ring[r], grads[r], S);
    }
    CommCount cn, cr;
    allreduce_naive(naive, W, P, &cn);
    allreduce_ring(ring, W, P, &cr);
    printf("naive: gather to rank 0, sum in rank order, broadcast (%d steps)\n", cn.steps);
    print_count(&cn);
    printf("  rank 0 sends (N-1) S = %.0f bytes\n", naive_root_bytes(W, (double)S));
    printf("ring: reduce-scatter, then all-gather, %d chunks passed to the next rank (%d steps)\n", W, cr.steps);
    print_count(&cr);
    printf("  each rank sends 2 (N-1)/N S = %.0f bytes\n", ring_bytes_per_rank(W, (double)S));
    double diff = 0, differ = 0;
    for (int r = 0; r < W; r++) {
        diff = fmax(diff, max_abs_diff(ring[r], naive[r], P));
        for (size_t i = 0; i < P; i++) differ += ring[r][i] != naive[r][i];
    }
    printf("ring sum vs naive sum, on every rank: max |difference| %.1e, %.0f of %zu values not bit-identical (each "
           "chunk is added in a rotated rank order)\n",
           diff, differ, (size_t)W * P);
    for (int r = 0; r < W; r++) free(naive[r]), free(ring[r]);
    free(naive), free(ring);
}

// ---- 5. on paper ------------------------------------------------------------------------------

typedef struct {
    double nvlink, ethernet;  // bytes per second, per direction
    double flops;             // achieved FLOP per second of one GPU
    long tokens;              // per GPU per micro-batch
} Hardware;

typedef struct {
    const char *name;
    size_t params, embedding;
} ModelSize;

// backward_seconds: 4 x (parameters outside the embeddings) x tokens FLOP (the backward's two
// matrix products per weight, 2 FLOP each; the attention's T^2 products left out).
static double backward_seconds(const ModelSize *m, const Hardware *h) {
    return 4.0 * (double)(m->params - m->embedding) * (double)h->tokens / h->flops;
}

// ring_seconds: 2 (N-1)/N x bytes over a link of `bw` bytes/s (every rank sends and receives at once).
static double ring_seconds(int N, double bytes, double bw) { return ring_bytes_per_rank(N, bytes) / bw; }

// exposed_seconds: the communication the backward cannot hide when the gradients are all-reduced in
// buckets as they are produced (DDP): the layers' buckets overlap the backward and show only where
// they take longer; the embeddings' gradient comes last (the first layer's) and starts only when
// the backward has ended.
static double exposed_seconds(const ModelSize *m, int N, int e, double bw, const Hardware *h) {
    const double layers = ring_seconds(N, (double)e * (double)(m->params - m->embedding), bw);
    return fmax(0, layers - backward_seconds(m, h)) + ring_seconds(N, (double)e * (double)m->embedding, bw);
}

static void print_model(const ModelSize *m, const BertConfig *c, const Hardware *h) {
    printf("%s: L %d, C %d, I %d, V %d: %zu parameters, %zu of them embeddings (%.0f%%); backward 4 x %zu x %ld / "
           "FLOP/s = %.2f ms\n",
           m->name, c->num_hidden_layers, c->hidden_size, c->intermediate_size, c->vocab_size, m->params, m->embedding,
           100.0 * (double)m->embedding / (double)m->params, m->params - m->embedding, h->tokens,
           1e3 * backward_seconds(m, h));
}

static void paper(const ModelSize *models, int n_models, const Hardware *h) {
    const int Ns[] = {2, 4, 8};
    const FloatFormat fmts[] = {FMT_FP32, FMT_BF16};
    printf("model           grads  S (MB)  N | naive: rank 0 sends  ring: each rank sends (MB) | NVLink: naive   ring"
           " | Ethernet: naive    ring (ms) | exposed: NVLink Ethernet (ms)\n");
    for (int i = 0; i < n_models; i++)
        for (size_t f = 0; f < ARRAY_LEN(fmts); f++)
            for (size_t k = 0; k < ARRAY_LEN(Ns); k++) {
                const int N = Ns[k], e = format_bytes(fmts[f]);
                const double S = (double)e * (double)models[i].params;
                printf("%-15s %-5s %7.1f %2d | %19.1f %27.1f | %13.2f %6.2f | %15.1f %7.2f      | %15.2f %8.2f\n",
                       models[i].name, format_name(fmts[f]), S / 1e6, N, naive_root_bytes(N, S) / 1e6,
                       ring_bytes_per_rank(N, S) / 1e6, 1e3 * 2 * naive_root_bytes(N, S) / h->nvlink,
                       1e3 * ring_seconds(N, S, h->nvlink), 1e3 * 2 * naive_root_bytes(N, S) / h->ethernet,
                       1e3 * ring_seconds(N, S, h->ethernet), 1e3 * exposed_seconds(&models[i], N, e, h->nvlink, h),
                       1e3 * exposed_seconds(&models[i], N, e, h->ethernet, h));
            }
    printf("(naive: rank 0 receives (N-1) S, then sends (N-1) S, one after the other: 2 (N-1) S / bandwidth)\n");
    printf("\nThe layers' all-reduce hides behind the backward when 2 (N-1)/N x e x P / bandwidth < 4 x P x tokens / "
           "FLOP/s,\ni.e. when tokens per GPU > (N-1)/N x e x FLOP/s / (2 x bandwidth): the model's size P cancels.\n");
    printf("tokens per GPU needed  fp32 NVLink  bf16 NVLink  fp32 Ethernet  bf16 Ethernet   (this batch: %ld)\n",
           h->tokens);
    for (size_t k = 0; k < ARRAY_LEN(Ns); k++) {
        const int N = Ns[k];
        const double need = (double)(N - 1) / N * h->flops / 2;  // x e / bandwidth
        printf("  N = %d %22.0f %12.0f %14.0f %14.0f\n", N, 4 * need / h->nvlink, 2 * need / h->nvlink,
               4 * need / h->ethernet, 2 * need / h->ethernet);
    }
}

int main(int argc, char **argv) {
    int num_examples = 67349, batch = 32, accum = 6, world_size = 4, shard_examples = 10, shard_batch = 2;
    int demo_examples = 100, demo_batch = 8, demo_features = 32, demo_classes = 4, max_seq_length = 128, seed = 42;
    double epochs = 3, nvlink = 450, ethernet = 12.5, tflops = 400;
    const char *model_dir = "data/cache/models/all-MiniLM-L6-v2";
    ArgSpec specs[] = {
        {"world_size", ARG_INT, &world_size, "ranks (processes, one device each) training together", "The run"},
        {"num_examples", ARG_INT, &num_examples, "training examples of the plan (SST-2's train set)", NULL},
        {"per_device_train_batch_size", ARG_INT, &batch, "examples per rank per forward/backward", NULL},
        {"gradient_accumulation_steps", ARG_INT, &accum, "micro-batches per optimizer step on each rank", NULL},
        {"num_train_epochs", ARG_FLOAT, &epochs, "passes over the data", NULL},
        {"seed", ARG_INT, &seed, "the epoch's order and the demo's data", NULL},
        {"shard_examples", ARG_INT, &shard_examples, "examples of section 1's printed epoch", "Demos"},
        {"shard_batch", ARG_INT, &shard_batch, "batch per rank of section 1", NULL},
        {"demo_examples", ARG_INT, &demo_examples,
         "examples of section 3's softmax regression (unset: 3 x demo_batch x world_size + 4)", NULL},
        {"demo_batch", ARG_INT, &demo_batch, "batch per rank of section 3", NULL},
        {"demo_features", ARG_INT, &demo_features, "features of section 3's examples", NULL},
        {"demo_classes", ARG_INT, &demo_classes, "classes of section 3", NULL},
        {"model_name_or_path", ARG_STRING, &model_dir, "checkpoint whose config.json sizes section 5's small model",
         "On paper (section 5)"},
        {"max_seq_length", ARG_INT, &max_seq_length, "tokens per sequence: batch x this = tokens per GPU", NULL},
        {"nvlink_gb_per_s", ARG_FLOAT, &nvlink,
         "assumed NVLink bandwidth per GPU per direction, GB/s (H100 SXM, NVLink 4)", NULL},
        {"ethernet_gb_per_s", ARG_FLOAT, &ethernet, "assumed network bandwidth per GPU per direction, GB/s (100 Gb/s)",
         NULL},
        {"gpu_tflops", ARG_FLOAT, &tflops,
         "assumed achieved TFLOP/s of one GPU in the backward (about 40% of an H100 SXM's 989 dense bf16)", NULL},
    };
    ArgParser parser = {
        "18_data_parallel",
        "Data parallel training: what each rank gets (the trainer's own sharding), the step arithmetic with\n"
        "--world_size, N ranks simulated in one process (their averaged gradient is the big batch's), the naive and\n"
        "ring all-reduce with their bytes, on paper for MiniLM and bert-base on NVLink and Ethernet, and the mpirun\n"
        "command of the real thing.",
        NULL, specs, ARRAY_LEN(specs)};
    args_parse(&parser, argc, argv, NULL, 0);
    // By default section 3's data holds three full rounds of every rank's batch and 4 examples more
    // (100 for 4 ranks at batch 8), so the epoch ends on a short round.
    if (!args_was_set(&parser, "demo_examples")) demo_examples = 3 * demo_batch * world_size + 4;
    if (world_size < 1 || world_size > ALLREDUCE_MAX_RANKS)
        die("--world_size must be 1 to %d (got %d)", ALLREDUCE_MAX_RANKS, world_size);
    if (shard_examples < 1 || shard_examples > 100 || shard_batch < 1 || shard_batch > 100)
        die("--shard_examples and --shard_batch must be 1 to 100: section 1 prints every example (got %d, %d)",
            shard_examples, shard_batch);
    if (demo_batch < 1 || demo_features < 1 || demo_classes < 2 || demo_examples < demo_batch * world_size)
        die("section 3 needs --demo_batch >= 1, --demo_features >= 1, --demo_classes >= 2 and --demo_examples >= "
            "demo_batch x world_size (got %d, %d, %d, %d)",
            demo_batch, demo_features, demo_classes, demo_examples);
    if (max_seq_length < 1 || !(nvlink > 0) || !(ethernet > 0) || !(tflops > 0))
        die("--max_seq_length, --nvlink_gb_per_s, --ethernet_gb_per_s and --gpu_tflops must be positive");
    if (!dir_exists(model_dir)) die("%s not found: run `bash data/fetch.sh` (or `make`) first", model_dir);

    print_shards(shard_examples, shard_batch, world_size, seed);

    printf("\n== 2. The step arithmetic with %d ranks (common/train/steps.c, lesson 02's --world_size) ==\n",
           world_size);
    StepPlan plan = {.num_examples = num_examples,
                     .per_device_train_batch_size = batch,
                     .per_device_eval_batch_size = batch,
                     .gradient_accumulation_steps = accum,
                     .n_devices = world_size,
                     .num_train_epochs = epochs,
                     .warmup_ratio = 0.1};
    steps_plan(&plan);
    Interval none = {STRATEGY_NO, 0};
    steps_print_plan(&plan, none, none, none);

    Data d = make_data(demo_examples, demo_features, demo_classes, seed);
    const size_t P = (size_t)demo_classes * demo_features + demo_classes;
    float **grads = xmalloc(sizeof(float *) * (size_t)world_size);
    for (int r = 0; r < world_size; r++) grads[r] = xmalloc(sizeof(float) * P);
    simulate_ranks(&d, demo_batch, world_size, seed, grads);
    compare_allreduce(grads, world_size, P);

    BertConfig minilm = bert_config_load(model_dir, 2), base = bert_base_uncased_config(2);
    const ModelSize models[] = {
        {"MiniLM-L6", bert_param_count(&minilm), bert_embedding_param_count(&minilm)},
        {"bert-base", bert_param_count(&base), bert_embedding_param_count(&base)},
    };
    const Hardware hw = {nvlink * 1e9, ethernet * 1e9, tflops * 1e12, (long)batch * max_seq_length};
    printf("\n== 5. On paper: all-reducing a BERT's gradient on N GPUs (1 MB = 10^6 bytes) ==\n");
    printf("assumed: NVLink %g GB/s and Ethernet %g GB/s per GPU per direction, %g TFLOP/s per GPU, %d x %d = %ld "
           "tokens per GPU; latency left out\n",
           nvlink, ethernet, tflops, batch, max_seq_length, hw.tokens);
    print_model(&models[0], &minilm, &hw);
    print_model(&models[1], &base, &hw);
    paper(models, (int)ARRAY_LEN(models), &hw);

    printf("\n== 6. The real thing: lesson 16's trainer on %d processes (Open MPI; gradients averaged in rank order "
           "before clipping) ==\n",
           world_size);
    printf("mpirun -np %d build/16_trainer train --per_device_train_batch_size %d --gradient_accumulation_steps %d "
           "--threads 1 ...\n",
           world_size, batch, accum);

    for (int r = 0; r < world_size; r++) free(grads[r]);
    free(grads), free(d.X), free(d.y);
    bert_config_free(&minilm);
    return 0;
}
