// Lesson 13 — BERT on the GPU: the model of lessons 09-11 as CUDA kernels and cuBLAS products,
// checked against the CPU model on the same batch, then timed beside it.
//
// One training step is: forward (dropout on), backward, clip the global gradient norm to 1.0,
// AdamW. The lesson runs that step on the CPU (common/model/bert.c, lesson 11) and on the GPU
// (kernels/bert/bert_cuda.cu) on the same batch, with the same dropout masks (drawn on the CPU and
// uploaded), and prints how far the GPU's logits, loss and gradients are from the CPU's:
//
//   relative error of a tensor = max_i |gpu_i - cpu_i| / max_i |cpu_i|
//
// then times the GPU step (masks drawn on the GPU now) and reports samples/s, the speed-up over
// the CPU step, and the model FLOP rate as a fraction of what cuBLAS reaches on this model's
// largest product in the same run (MFU against cuBLAS):
//
//   FLOPs per step = 3 x forward (the backward does two products per forward product), forward =
//   per layer 2 B T (4 C^2 + 2 C I) + 4 B T^2 C (attention), plus the pooler and classifier.
//
// Memory: what the model holds (gpu_bert_memory_bytes) beside lesson 15's formula (common/model/memory.h)
// and beside what the GPU's free memory really dropped by (cudaMemGetInfo).
//
// --gradient_checkpointing then runs the same step with each layer's activations dropped in the
// forward and recomputed in the backward (lesson 15), on the same parameters and dropout seed:
// its gradients against the step without, the activation memory saved, and the time it costs.
//
// --precision picks what the GPU step computes in: fp32 (checked to 1e-4 against the CPU), tf32
// (float32 storage, products on the tensor cores with 10-bit inputs), or lesson 14's mixed
// precision: bf16 or fp16 activations and weight copies, float32 master weights and AdamW
// moments, fp16 with dynamic loss scaling (kernels/bert/bert_cuda.cuh). The narrower ones print their
// distance from the float32 CPU step without judging it (tests/gpu holds the measured tolerances).
//
// Without a GPU it runs the CPU half, says that no CUDA device was found, and exits 0.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/bert/bert_cuda.cuh"

extern "C" {
#include "common/core/args.h"
#include "common/model/bert_io.h"
#include "common/model/compare.h"
#include "common/model/memory.h"
#include "common/model/safetensors.h"
}

#define MINILM "data/cache/models/all-MiniLM-L6-v2"
#define TINY   "tests/fixtures/bert/tiny"

// ---------------------------------------------------------------------------------------------
// a model with random weights at a named shape (--random_shape)

typedef struct {
    const char *name;
    int layers, hidden, heads, intermediate;
} Shape;

static const Shape shapes[] = {
    {"bert-base", 12, 768, 12, 3072},  // bert-base-uncased
    {"minilm", 6, 384, 12, 1536},      // all-MiniLM-L6-v2
};

// write_random_checkpoint: DIR/config.json and DIR/model.safetensors of a BERT of shape s (vocab
// 30522, 512 positions, 2 labels) initialised as transformers does: weights normal(0, 0.02),
// biases 0, LayerNorm weights 1. bert_load then reads it like any checkpoint (and checks every
// tensor's shape against the config); it creates the pooler and classifier itself.
static void write_random_checkpoint(const char *dir, const Shape *s, uint64_t seed) {
    const int C = s->hidden, I = s->intermediate, V = 30522, P = 512;
    mkdir_p(dir);
    char *path = path_join(dir, "config.json");
    FILE *f = xfopen(path, "w");
    fprintf(f,
            "{\"architectures\": [\"BertForSequenceClassification\"], \"model_type\": \"bert\", \"vocab_size\": %d, "
            "\"hidden_size\": %d, \"num_hidden_layers\": %d, \"num_attention_heads\": %d, \"intermediate_size\": %d, "
            "\"max_position_embeddings\": %d, \"type_vocab_size\": 2, \"num_labels\": 2}\n",
            V, C, s->layers, s->heads, I, P);
    xfclose(f, path);
    free(path);

    enum { NORMAL, ZERO, ONE };
    typedef struct {
        char name[96];
        int shape[2], ndim, init;
    } Spec;
    Spec *t = (Spec *)xcalloc(8 + 16 * (size_t)s->layers, sizeof(Spec));
    int n = 0;
    auto add = [&](const char *name, int d0, int d1, int init) {
        snprintf(t[n].name, sizeof t[n].name, "%s", name);
        t[n].shape[0] = d0, t[n].shape[1] = d1, t[n].ndim = d1 ? 2 : 1, t[n].init = init;
        n++;
    };
    add("bert.embeddings.word_embeddings.weight", V, C, NORMAL);
    add("bert.embeddings.position_embeddings.weight", P, C, NORMAL);
    add("bert.embeddings.token_type_embeddings.weight", 2, C, NORMAL);
    add("bert.embeddings.LayerNorm.weight", C, 0, ONE);
    add("bert.embeddings.LayerNorm.bias", C, 0, ZERO);
    const struct {
        const char *suffix;
        int out, in;
    } linears[] = {{"attention.self.query", C, C},   {"attention.self.key", C, C}, {"attention.self.value", C, C},
                   {"attention.output.dense", C, C}, {"intermediate.dense", I, C}, {"output.dense", C, I}};
    for (int l = 0; l < s->layers; l++) {
        char name[96];
        for (const auto &lin : linears) {
            snprintf(name, sizeof name, "bert.encoder.layer.%d.%s.weight", l, lin.suffix);
            add(name, lin.out, lin.in, NORMAL);
            snprintf(name, sizeof name, "bert.encoder.layer.%d.%s.bias", l, lin.suffix);
            add(name, lin.out, 0, ZERO);
        }
        for (const char *ln : {"attention.output.LayerNorm", "output.LayerNorm"}) {
            snprintf(name, sizeof name, "bert.encoder.layer.%d.%s.weight", l, ln);
            add(name, C, 0, ONE);
            snprintf(name, sizeof name, "bert.encoder.layer.%d.%s.bias", l, ln);
            add(name, C, 0, ZERO);
        }
    }
    Rng rng;
    rng_seed(&rng, seed, RNG_STREAM_CHECKPOINT);
    StWrite *w = (StWrite *)xmalloc(sizeof(StWrite) * n);
    for (int i = 0; i < n; i++) {
        const long numel = (long)t[i].shape[0] * (t[i].ndim == 2 ? t[i].shape[1] : 1);
        float *data = (float *)xmalloc(sizeof(float) * numel);
        for (long j = 0; j < numel; j++) data[j] = t[i].init == NORMAL ? 0.02f * rng_normal(&rng) : t[i].init == ONE;
        w[i] = StWrite{t[i].name, t[i].ndim, t[i].shape, data};
    }
    path = path_join(dir, "model.safetensors");
    st_write(path, w, n);
    free(path);
    for (int i = 0; i < n; i++) free((void *)w[i].data);
    free(w), free(t);
}

// load_model: the checkpoint, or a random one of shape `random_shape` (written to a temporary
// directory, loaded, removed).
static BertModel load_model(const char *dir, const char *random_shape, uint64_t seed, char *label, size_t n) {
    if (!strcmp(random_shape, "none")) {
        snprintf(label, n, "%s", dir);
        return bert_load(dir, 0, seed, NULL);
    }
    const Shape *s = !strcmp(random_shape, "bert-base") ? &shapes[0] : &shapes[1];
    char tmp[] = "/tmp/bertstep-13-XXXXXX";
    if (!mkdtemp(tmp)) die("mkdtemp %s failed", tmp);
    write_random_checkpoint(tmp, s, seed);
    BertModel m = bert_load(tmp, 0, seed, NULL);
    rm_rf(tmp);
    snprintf(label, n, "random weights at %s's shape", s->name);
    return m;
}

// ---------------------------------------------------------------------------------------------
// the batch and the step

typedef struct {
    int B, T;
    int *ids, *mask, *labels;  // (B,T) (B,T) (B)
    int shortest;
} Batch;

// make_batch: B sequences of T random token ids; row b keeps T - b T / (2B) tokens (the first
// full, the last about half padding), as a length-sorted batch of real sentences would.
static Batch make_batch(const BertConfig *c, int B, int T, uint64_t seed) {
    Batch b = {
        B, T, (int *)xmalloc(sizeof(int) * B * T), (int *)xmalloc(sizeof(int) * B * T), (int *)xmalloc(sizeof(int) * B),
        T};
    Rng rng;
    rng_seed(&rng, seed, RNG_STREAM_EXAMPLES);
    for (int i = 0; i < B; i++) {
        const int len = T - i * T / (2 * B);
        b.shortest = len;
        for (int t = 0; t < T; t++) {
            b.mask[i * T + t] = t < len;
            b.ids[i * T + t] = t < len ? (int)rng_below(&rng, (uint32_t)c->vocab_size) : c->pad_token_id;
        }
        b.labels[i] = (int)rng_below(&rng, (uint32_t)c->num_labels);
    }
    return b;
}

// forward_flops: the matrix-product FLOPs of one forward pass at B x T (padding included: the
// GPU computes it).
static double forward_flops(const BertConfig *c, int B, int T) {
    const double C = c->hidden_size, I = c->intermediate_size, BT = (double)B * T;
    const double layer = 2 * BT * (4 * C * C + 2 * C * I) + 4.0 * B * T * T * C;
    return c->num_hidden_layers * layer + 2.0 * B * C * C + 2.0 * B * C * c->num_labels;
}

typedef struct {
    double lr, max_grad_norm;
    OptimizerConfig opt;
} StepConfig;

// ---------------------------------------------------------------------------------------------
// the GPU half

// cublas_tflops: cuBLAS's rate on this model's largest product (the feed-forward up-projection,
// (B*T, C) x (C, I)^T) with the model's storage format f (inputs and output) and, for float32,
// precision p: the mean of 10 after 2 warm-up runs.
static double cublas_tflops(cublasHandle_t h, GemmPrecision p, FloatFormat f, int BT, int C, int I) {
    const GemmShape s = gemm_shape_padded(BT, I, C, 1, false, true, 0);
    const size_t e = (size_t)format_bytes(f);
    void *A = cuda_malloc(e * gemm_elements_a(&s), "cuBLAS rate: A");
    void *W = cuda_malloc(e * gemm_elements_b(&s), "cuBLAS rate: W");
    void *out = cuda_malloc(e * gemm_elements_c(&s), "cuBLAS rate: out");
    CUDA_CHECK(cudaMemset(A, 0x3C, e * gemm_elements_a(&s)));  // every float 0.0116, bf16 0.0115, fp16 1.06
    CUDA_CHECK(cudaMemset(W, 0x3C, e * gemm_elements_b(&s)));
    for (int r = 0; r < 2; r++) gemm_cublas_ex(h, &s, A, W, f, out, f, p == GEMM_TF32);
    CUDA_CHECK(cudaDeviceSynchronize());
    const double t0 = now_seconds();
    for (int r = 0; r < 10; r++) gemm_cublas_ex(h, &s, A, W, f, out, f, p == GEMM_TF32);
    CUDA_CHECK(cudaDeviceSynchronize());
    const double seconds = (now_seconds() - t0) / 10;
    CUDA_CHECK(cudaFree(A));
    CUDA_CHECK(cudaFree(W));
    CUDA_CHECK(cudaFree(out));
    return gemm_flops(&s) / seconds / 1e12;
}

// gpu_step: one training step on the GPU (with fp16, maybe a skipped one); returns the loss,
// *r what the optimizer step did.
static float gpu_step(GpuBert *g, const Batch *b, const StepConfig *sc, uint64_t seed, MixedStep *r) {
    gpu_bert_zero_grad(g);
    const float loss = gpu_bert_forward(g, b->ids, NULL, b->mask, b->labels, b->B, b->T, true, seed);
    gpu_bert_backward(g, 1.0f / b->B);
    *r = gpu_bert_step(g, sc->lr, sc->max_grad_norm);
    return loss;
}

// time_steps: `warmup` untimed steps, then the mean seconds of `steps` (masks drawn on the GPU
// from seed, seed + 1, ...); *loss and *last are the last step's, *skipped counts the timed steps
// fp16 skipped on overflow.
static double time_steps(GpuBert *g, const Batch *b, const StepConfig *sc, uint64_t seed, int warmup, int steps,
                         float *loss, MixedStep *last, int *skipped) {
    for (int s = 0; s < warmup; s++) gpu_step(g, b, sc, seed + s, last);
    CUDA_CHECK(cudaDeviceSynchronize());
    *skipped = 0;
    const double t0 = now_seconds();
    for (int s = 0; s < steps; s++) {
        *loss = gpu_step(g, b, sc, seed + warmup + s, last);
        *skipped += last->skipped;
    }
    CUDA_CHECK(cudaDeviceSynchronize());
    return (now_seconds() - t0) / steps;
}

// create_measured: gpu_bert_create and the AdamW moments; *took = what the GPU's free memory
// dropped by (the model's buffers, the cuBLAS handle, the driver's page rounding).
static GpuBert create_measured(const BertModel *m, int B, int T, GemmPrecision prec, FloatFormat format,
                               const StepConfig *sc, size_t *took) {
    const size_t before = gpu_free_bytes();
    GpuBert g = gpu_bert_create(m, B, T, prec, format);
    gpu_bert_adamw_init(&g, sc->opt);
    *took = before - gpu_free_bytes();
    return g;
}

// print_memory: the model's memory; a float32 model's activations against lesson 15's formula.
static void print_memory(const GpuBert *g, size_t took) {
    printf("GPU memory: %.1f MB (parameters%s, gradients, AdamW moments, activations for %d x %d%s); the free memory "
           "dropped by %.1f MB (cudaMemGetInfo: + the cuBLAS handle, 2 MiB pages)\n",
           gpu_bert_memory_bytes(g) / 1e6, g->format == FMT_FP32 ? "" : " and their 16-bit copy", g->max_B, g->max_T,
           g->gradient_checkpointing ? ", gradient checkpointing" : "", took / 1e6);
    if (g->format != FMT_FP32) return;  // the formula's LayerNorm statistics would be 16-bit; the GPU's are not
    const ActivationMemory f = activation_memory(&g->config, g->max_B, g->max_T, 4, g->gradient_checkpointing);
    const size_t beyond = gpu_bert_acts_beyond_formula(g);
    printf("  activations %.2f MB = lesson 15's formula %.2f MB + GPU-only buffers %.2f MB + alignment %.4f MB\n",
           g->acts_bytes / 1e6, f.total / 1e6, beyond / 1e6, (double)(g->acts_bytes - f.total - beyond) / 1e6);
}

// step_grads: one training step's gradients (dropout from `seed`), downloaded into out (numel).
static void step_grads(GpuBert *g, const Batch *b, uint64_t seed, float *out) {
    gpu_bert_zero_grad(g);
    gpu_bert_forward(g, b->ids, NULL, b->mask, b->labels, b->B, b->T, true, seed);
    gpu_bert_backward(g, 1.0f / b->B);
    gpu_bert_download_grads(g, out);
}

// compare_checkpointing: the plain model *g (freed here: one model on the GPU at a time) against a
// checkpointed one on the same parameters: one step's gradients from the same dropout seed, the
// activation memory, the step time. Returns false when the gradients differ by more than the
// order of atomicAdd's sums (the embedding tables' and the bias columns') can explain.
static bool compare_checkpointing(GpuBert *g, BertModel *m, const Batch *b, const StepConfig *sc, uint64_t seed,
                                  int warmup, int steps, double plain_seconds) {
    float *want = (float *)xmalloc(sizeof(float) * m->ps.numel), *got = (float *)xmalloc(sizeof(float) * m->ps.numel);
    step_grads(g, b, seed, want);
    gpu_bert_download_params(g, m);  // the checkpointed model starts from these parameters
    const GemmPrecision prec = g->precision;
    const FloatFormat g_format = g->format;
    const size_t plain_acts = g->acts_bytes;
    gpu_bert_free(g);
    m->gradient_checkpointing = true;
    size_t took;
    GpuBert k = create_measured(m, b->B, b->T, prec, g_format, sc, &took);
    step_grads(&k, b, seed, got);
    const TensorDiff d = bert_tensor_diff(m, got, want);
    float loss = 0;
    MixedStep last = {};
    int skipped = 0;
    const double seconds = time_steps(&k, b, sc, seed, warmup, steps, &loss, &last, &skipped);
    printf("\ngradient checkpointing: each layer keeps only its input; the backward recomputes the layer\n");
    print_memory(&k, took);
    printf("  activations %.2f MB -> %.2f MB (%.1f%% less)\n", plain_acts / 1e6, k.acts_bytes / 1e6,
           100.0 * (double)(plain_acts - k.acts_bytes) / (double)plain_acts);
    printf("  gradients against the step without (same parameters and dropout seed): worst of %d tensors %.2g (%s)%s\n",
           d.tensors, d.worst, d.worst_name[0] ? d.worst_name : "-",
           d.worst == 0 ? ", the same bits" : ": atomicAdd's order");
    printf("GPU step with gradient checkpointing: %.2f ms, %.1f samples/s: %.2fx the step without (%.2f ms)\n",
           seconds * 1e3, b->B / seconds, seconds / plain_seconds, plain_seconds * 1e3);
    gpu_bert_free(&k);
    free(want), free(got);
    return d.worst < 1e-5 && d.key_bias < 1e-6;
}

// compare_with_cpu: the GPU's step on the batch and dropout masks of the CPU's step that just ran
// (m holds its activations and gradients). Prints the differences; returns false when a float32
// result is outside the tolerance (TF32, bf16 and fp16 are printed, not judged).
static bool compare_with_cpu(GpuBert *g, BertModel *m, const Batch *b, const StepConfig *sc, double cpu_norm,
                             const float *cpu_grads, const char *precision) {
    gpu_bert_zero_grad(g);
    gpu_bert_use_dropout_masks(g, m);
    const float loss = gpu_bert_forward(g, b->ids, NULL, b->mask, b->labels, b->B, b->T, true, 0);
    gpu_bert_backward(g, 1.0f / b->B);
    const int K = m->config.num_labels;
    float *logits = (float *)xmalloc(sizeof(float) * b->B * K), *grads = (float *)xmalloc(sizeof(float) * m->ps.numel);
    gpu_bert_logits(g, logits);
    gpu_bert_download_grads(g, grads);
    const float unscale = 1.0f / gpu_bert_loss_scale(g);  // fp16: the gradients are times the loss scale
    for (size_t i = 0; i < m->ps.numel; i++) grads[i] *= unscale;
    const double e_logits = max_relative_error(logits, m->logits, (size_t)b->B * K);
    const double e_loss = fabs(loss - m->loss) / fabs(m->loss);
    const TensorDiff d = bert_tensor_diff(m, grads, cpu_grads);
    const MixedStep r = gpu_bert_step(g, sc->lr, sc->max_grad_norm);
    const double norm = r.grad_norm, e_norm = fabs(norm - cpu_norm) / cpu_norm;
    CUDA_CHECK(cudaMemcpy(grads, g->params, sizeof(float) * m->ps.numel, cudaMemcpyDeviceToHost));
    const TensorDiff dp = bert_tensor_diff(m, grads, m->ps.params);  // grads now holds the updated parameters
    printf("check, GPU (%s) against CPU (float32; same batch, same dropout masks):\n", precision);
    printf("  logits      max rel. error %.2g\n", e_logits);
    printf("  loss        GPU %.6f  CPU %.6f  rel. error %.2g\n", loss, m->loss, e_loss);
    printf(
        "  gradients   worst of %d tensors: %.2g (%s); key biases (0 in exact arithmetic) within %.1g of the largest\n",
        d.tensors, d.worst, d.worst_name, d.key_bias);
    printf("  grad norm   GPU %.6f  CPU %.6f  rel. error %.2g%s\n", norm, cpu_norm, e_norm,
           r.skipped ? " (fp16 overflow: the step was skipped)" : "");
    printf("  parameters after AdamW: worst tensor rel. error %.2g\n", dp.worst);
    free(logits), free(grads);
    if (!strcmp(precision, "tf32")) {
        printf("  (TF32 rounds the products' inputs to 10 mantissa bits: errors near 1e-3 are expected)\n");
        return true;
    }
    if (strcmp(precision, "fp32")) {
        printf("  (%s stores every activation with %d mantissa bits: errors near %s are expected; lesson 14)\n",
               precision, strcmp(precision, "bf16") ? 10 : 7, strcmp(precision, "bf16") ? "1e-3" : "1e-2");
        return true;
    }
    const bool ok = e_logits < 1e-4 && e_loss < 1e-4 && d.worst < 1e-4 && d.key_bias < 1e-6 && e_norm < 1e-4;
    printf("  %s\n",
           ok ? "ok: every float32 result within 1e-4 of the CPU's"
              : "WRONG: a float32 result is off by more than 1e-4");
    return ok;
}

// ---------------------------------------------------------------------------------------------
// the lesson's steps

typedef struct {
    const char *model_dir, *random_shape, *precision;
    int batch, max_len, steps, warmup, seed;
    double lr, wd, max_grad_norm;
    bool compare_cpu, checkpointing;
} Options;

static Options parse_options(int argc, char **argv) {
    Options o = {dir_exists(MINILM) ? MINILM : TINY, "none", "fp32", 8, 64, 10, 2, 42, 2e-5, 0.01, 1.0, true, false};
    ArgSpec specs[] = {
        {"model_name_or_path", ARG_STRING, &o.model_dir,
         "BERT checkpoint directory (all-MiniLM-L6-v2 when fetched, else the tests' tiny BERT)", "Model"},
        {"random_shape", ARG_CHOICE, &o.random_shape, "random weights at a named shape instead of a checkpoint", NULL,
         "none|bert-base|minilm"},
        {"per_device_train_batch_size", ARG_INT, &o.batch, "sequences per step", "Step"},
        {"max_seq_length", ARG_INT, &o.max_len, "tokens per sequence (capped at the model's max_position_embeddings)",
         NULL},
        {"learning_rate", ARG_FLOAT, &o.lr, "AdamW learning rate", NULL},
        {"weight_decay", ARG_FLOAT, &o.wd, "AdamW decoupled weight decay (not on biases and LayerNorm)", NULL},
        {"max_grad_norm", ARG_FLOAT, &o.max_grad_norm, "clip the global gradient norm to this", NULL},
        {"precision", ARG_CHOICE, &o.precision,
         "the GPU step: fp32 (TF32 off), tf32 products, or bf16/fp16 mixed precision (fp32 masters, lesson 14)", "GPU",
         "fp32|tf32|bf16|fp16"},
        {"steps", ARG_INT, &o.steps, "timed GPU steps (the mean is reported)", NULL},
        {"warmup", ARG_INT, &o.warmup, "untimed GPU steps before timing", NULL},
        {"compare_cpu", ARG_BOOL, &o.compare_cpu, "run the CPU step (timed, and compared with the GPU's)", NULL},
        {"gradient_checkpointing", ARG_BOOL, &o.checkpointing,
         "then the step with gradient checkpointing (lesson 15): gradients, memory, time", NULL},
        {"seed", ARG_INT, &o.seed, "seed of the batch, the new classifier and dropout", "Run"},
    };
    ArgParser parser = {"13_bert_cuda",
                        "BERT on the GPU: one training step (forward with dropout, backward, clipping, AdamW) on the\n"
                        "CPU (lesson 11) and on the GPU (CUDA kernels per layer, cuBLAS for the products), same batch\n"
                        "and dropout masks; prints how far the GPU's logits, loss and gradients are from the CPU's,\n"
                        "then both step times and the GPU's FLOP rate against cuBLAS. Without a GPU: the CPU half.\n"
                        "The default step is fp32; --precision bf16|fp16 and --gradient_checkpointing are for after\n"
                        "lessons 14 (mixed precision) and 15 (memory), which explain them.",
                        NULL, specs, (int)ARRAY_LEN(specs)};
    args_parse(&parser, argc, argv, NULL, 0);
    if (o.batch < 1 || o.max_len < 2 || o.steps < 1 || o.warmup < 0)
        die("need --per_device_train_batch_size >= 1, --max_seq_length >= 2, --steps >= 1, --warmup >= 0");
    return o;
}

// gemm_precision_of / format_of: what --precision means for the products and for storage.
static GemmPrecision gemm_precision_of(const char *precision) {
    return !strcmp(precision, "tf32") ? GEMM_TF32 : GEMM_FP32;
}
static FloatFormat format_of(const char *precision) {
    return !strcmp(precision, "bf16") ? FMT_BF16 : !strcmp(precision, "fp16") ? FMT_FP16 : FMT_FP32;
}

// print_setup: the model, the batch, the step; returns the step's model FLOPs (printed too).
static double print_setup(const BertModel *m, const char *label, const Batch *b, const Options *o) {
    const BertConfig *c = &m->config;
    printf("model: %s: %d layers, hidden %d, %d heads, intermediate %d, %d labels, %zu parameters\n", label,
           c->num_hidden_layers, c->hidden_size, c->num_attention_heads, c->intermediate_size, c->num_labels,
           m->ps.numel);
    printf("batch: %d sequences x %d tokens (%d..%d real, the rest padding), random ids and labels (seed %d)\n", b->B,
           b->T, b->shortest, b->T, o->seed);
    printf("step: forward (dropout %g) + backward + clip to %g + AdamW (lr %g, weight decay %g)\n",
           c->hidden_dropout_prob, o->max_grad_norm, o->lr, o->wd);
    const double flops = 3 * forward_flops(c, b->B, b->T);
    printf("model FLOPs per step: %.4g GFLOP (3 x forward; see the lesson's header)\n", flops / 1e9);
    return flops;
}

typedef struct {
    double seconds, norm;  // the step's time; the gradient norm before clipping
    float *grads;          // (numel) the gradients before clipping, for the comparison
} CpuStep;

// cpu_step: lesson 11's training step on the batch, timed (dropout masks from the seed's stream 2,
// kept in m for gpu_bert_use_dropout_masks).
static CpuStep cpu_step(BertModel *m, const Batch *b, const StepConfig *sc, uint64_t seed) {
    Optimizer opt;
    optimizer_init(&opt, sc->opt, &m->ps);
    bert_alloc_acts(m, b->B, b->T);  // (only here: at bert-base 32 x 512 they are gigabytes)
    Rng rng;
    rng_seed(&rng, seed, RNG_STREAM_DROPOUT);
    params_zero_grad(&m->ps);
    CpuStep r = {};
    double t0 = now_seconds();
    bert_forward(m, b->ids, NULL, b->mask, b->labels, b->B, b->T, true, &rng);
    bert_backward(m, 1.0f / b->B);
    r.seconds = now_seconds() - t0;
    r.grads = (float *)xmalloc(sizeof(float) * m->ps.numel);
    memcpy(r.grads, m->ps.grads, sizeof(float) * m->ps.numel);
    t0 = now_seconds();
    r.norm = clip_grad_norm(&m->ps, sc->max_grad_norm);
    optimizer_step(&opt, &m->ps, sc->lr);
    r.seconds += now_seconds() - t0;
    // 3 decimals: the 4th follows the summation order of the machine's sgemm (as lesson 11)
    printf("CPU step: loss %.3f, grad norm %.3f, %.1f ms, %.1f samples/s\n", m->loss, r.norm, r.seconds * 1e3,
           b->B / r.seconds);
    optimizer_free(&opt);
    return r;
}

static void report_no_gpu(const char *why) {
    printf("no CUDA device found: the GPU half was not run (bench/gpu.sh runs it on a GPU machine)\n");
    fflush(stdout);
    fprintf(stderr, "note: %s\n", why);
}

static void print_gpu(const GpuBert *g, size_t took) {
    char gpu[256];
    gpu_describe(gpu, sizeof gpu);
    printf("GPU: %s\n", gpu);
    print_memory(g, took);
}

// time_gpu_step: the timed GPU steps (masks drawn on the GPU) and what they reach: samples/s, the
// speed-up over the CPU step (when it ran), and the model FLOP rate as a fraction of cuBLAS's on
// this model's largest product in this run. Returns the mean seconds of a step.
static double time_gpu_step(GpuBert *g, const Batch *b, const StepConfig *sc, const Options *o, double flops,
                            double cpu_seconds) {
    MixedStep r = {};
    float loss = 0;
    int skipped = 0;
    const double gpu_seconds = time_steps(g, b, sc, (uint64_t)o->seed, o->warmup, o->steps, &loss, &r, &skipped);
    const BertConfig *c = &g->config;
    const double rate =
        cublas_tflops(g->cublas, g->precision, g->format, b->B * b->T, c->hidden_size, c->intermediate_size);
    const double achieved = flops / gpu_seconds / 1e12;
    const char *what = !strcmp(o->precision, "fp32") ? "float32 (TF32 off)"
        : !strcmp(o->precision, "tf32")              ? "TF32"
        : !strcmp(o->precision, "bf16")              ? "bf16 (float32 master weights)"
                                                     : "fp16 (float32 master weights, dynamic loss scaling)";
    printf("timing: %d warm-up step(s), then the mean of %d; %s\n", o->warmup, o->steps, what);
    printf("GPU step: %.2f ms, %.1f samples/s (last loss %.4f, grad norm %.4f)\n", gpu_seconds * 1e3,
           b->B / gpu_seconds, loss, r.grad_norm);
    if (g->format == FMT_FP16)
        printf("fp16: %d of the timed steps skipped on overflow, loss scale now %g\n", skipped, g->scaler.scale);
    if (o->compare_cpu) printf("GPU step is %.1fx the CPU step\n", cpu_seconds / gpu_seconds);
    printf("cuBLAS %s on %dx%dx%d (this model's feed-forward product): %.2f TFLOP/s in this run\n",
           g->format == FMT_FP32 ? gemm_precision_name(g->precision) : format_name(g->format), b->B * b->T,
           c->intermediate_size, c->hidden_size, rate);
    printf("GPU step: %.2f TFLOP/s of model FLOPs = %.1f%% of that cuBLAS rate (MFU against cuBLAS)\n", achieved,
           100 * achieved / rate);
    return gpu_seconds;
}

int main(int argc, char **argv) {
    const Options o = parse_options(argc, argv);
    char label[512];
    BertModel m = load_model(o.model_dir, o.random_shape, (uint64_t)o.seed, label, sizeof label);
    const int T = o.max_len < m.config.max_position_embeddings ? o.max_len : m.config.max_position_embeddings;
    const Batch b = make_batch(&m.config, o.batch, T, (uint64_t)o.seed);
    StepConfig sc = {o.lr, o.max_grad_norm, optimizer_defaults(OPT_ADAMW)};
    sc.opt.weight_decay = o.wd;
    const double flops = print_setup(&m, label, &b, &o);

    // The GPU model is created before the CPU step changes the parameters: both start equal.
    char why[256];
    const bool have_gpu = gpu_available(why, sizeof why);
    GpuBert g = {};
    size_t took = 0;
    if (have_gpu) g = create_measured(&m, b.B, T, gemm_precision_of(o.precision), format_of(o.precision), &sc, &took);

    const CpuStep cpu = o.compare_cpu ? cpu_step(&m, &b, &sc, (uint64_t)o.seed) : CpuStep{};
    bool ok = true;
    if (!have_gpu) {
        report_no_gpu(why);
    } else {
        print_gpu(&g, took);
        if (o.compare_cpu) ok = compare_with_cpu(&g, &m, &b, &sc, cpu.norm, cpu.grads, o.precision);
        const double gpu_seconds = time_gpu_step(&g, &b, &sc, &o, flops, cpu.seconds);
        if (o.checkpointing)
            ok &= compare_checkpointing(&g, &m, &b, &sc, (uint64_t)o.seed, o.warmup, o.steps, gpu_seconds);
        else gpu_bert_free(&g);
    }
    bert_free(&m);
    free(cpu.grads), free(b.ids), free(b.mask), free(b.labels);
    if (!ok)
        die("the GPU step disagrees with the CPU step%s (see the lines above)",
            o.checkpointing ? " or with itself under gradient checkpointing" : "");
    return 0;
}
