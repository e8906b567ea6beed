// Lesson 14 — mixed precision: fp16 and bf16, loss scaling, fp32 master weights.
//
// A GPU's tensor cores multiply fp16 or bf16 numbers many times faster than fp32, and a 2-byte
// activation takes half the memory of a 4-byte one. The price is range and precision:
//
//   1. the formats: bits, largest and smallest numbers, the spacing near 1 (common/model/precision.h)
//   2. single numbers: a gradient of 1e-8 is 0 in fp16; an activation of 1e5 is inf
//   3. the real gradients of all-MiniLM-L6-v2 on an SST-2 batch, bucketed against fp16's range:
//      how many vanish in fp16, and how many a loss scale of 2^16 rescues
//   4. the same short fine-tune (same data, same dropout masks) in six recipes: fp32; fp16 without
//      loss scaling; fp16 with a GradScaler (common/train/grad_scaler.h: scale 2^16, halve and skip the
//      step on inf/NaN, double after growth_interval clean steps); bf16 with fp32 master weights;
//      bf16 weights only (no masters), rounded to nearest or stochastically. Per step: loss,
//      scale, skipped steps, how many gradients are exactly 0, how many weights moved; a loss plot;
//      how far each run ends from fp32.
//
// There is no GPU here: the narrow formats are EMULATED on the CPU by rounding every tensor a GPU
// would store in fp16/bf16 (weights, activations, gradients) to that format, round-to-nearest-even,
// with fp32 arithmetic in between (common/train/mixed_precision.h says exactly where). The ranges, the
// underflow, the overflow and the lost updates are the real ones; the speed is not (rounding costs
// time on a CPU, the GPU gains it) and lesson 13's GPU path is where fp16/bf16 run on tensor cores.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/core/args.h"
#include "common/text/batch.h"
#include "common/model/bert.h"
#include "common/model/bert_io.h"
#include "common/text/dataset.h"
#include "common/train/grad_scaler.h"
#include "common/train/mixed_precision.h"
#include "common/core/plot.h"
#include "common/model/precision.h"
#include "common/train/schedule.h"
#include "common/text/tokenizer.h"
#include "common/core/util.h"

// ---- 1 and 2: the formats and single numbers ---------------------------------------------------

static void print_formats(void) {
    printf("== 1. the formats ==\n");
    printf("format  bits  sign exponent mantissa  largest      smallest normal  smallest subnormal  spacing at 1\n");
    for (int f = FMT_FP32; f <= FMT_BF16; f++) {
        FormatInfo fi = format_info((FloatFormat)f);
        printf("%-6s  %4d  %4d %8d %8d  %-11.6g  %-15.6g  %-18.6g  %.6g (2^-%d)\n", format_name((FloatFormat)f),
               8 * format_bytes((FloatFormat)f), 1, fi.exponent_bits, fi.mantissa_bits, fi.largest, fi.smallest_normal,
               fi.smallest_subnormal, fi.epsilon, fi.mantissa_bits);
    }
}

static void print_numbers(void) {
    printf("\n== 2. what each format stores ==\n");
    const struct {
        double x;
        const char *what;
    } xs[] = {
        {0.1, "0.1"},
        {1e-8, "a small gradient"},
        {3e-5, "lr 2e-5 x update 1.5"},
        {1.0 + 1e-4, "1 + 1e-4 (a weight after an update)"},
        {1e5, "a large activation"},
        {65504, "fp16's largest"},
        {70000, "just above it"},
    };
    printf("%-36s  %-14s  %-14s  %s\n", "value", "fp32", "fp16", "bf16");
    for (size_t i = 0; i < ARRAY_LEN(xs); i++) {
        float x = (float)xs[i].x;
        printf("%-36s  %-14.9g  %-14.9g  %.9g\n", xs[i].what, x, round_to(x, FMT_FP16), round_to(x, FMT_BF16));
    }
}

// ---- data -------------------------------------------------------------------------------------

// load_examples: the first `max` rows of a TSV (all when max <= 0), tokenized once, with their labels.
static TokenizedSet load_examples(const char *path, int max, const Tokenizer *tok) {
    DatasetOptions o = dataset_default_options();
    o.max_samples = max;
    TextDataset d = dataset_load(path, &o);
    TokenizedSet e = tokenize_dataset(tok, &d);
    dataset_free(&d);
    return e;
}

// The training batches, collated once so every recipe sees the very same tensors.
typedef struct {
    Batch *b;
    int n, B, maxT;
} Batches;

static Batches make_batches(const Tokenizer *tok, const TokenizedSet *ex, int B, int steps, const EncodeOptions *eo,
                            int seed) {
    Batches s = {xcalloc((size_t)steps, sizeof(Batch)), steps, B, 0};
    int *order = xmalloc(sizeof(int) * (size_t)ex->n);
    for (int i = 0, epoch = -1; i < steps; i++) {
        int first = (int)(((long)i * B) % ex->n);
        if (first + B > ex->n) first = 0;
        if ((long)i * B / ex->n != epoch)
            epoch = (int)((long)i * B / ex->n), epoch_order((uint64_t)seed, epoch, order, ex->n);
        collate(tok, ex, order + first, B, eo, &s.b[i]);
        if (s.b[i].T > s.maxT) s.maxT = s.b[i].T;
    }
    free(order);
    return s;
}

// ---- 3: real gradients against fp16's range ---------------------------------------------------

// encoder_range: the floats of the encoder, pooler and classifier (everything but the three
// embedding tables, whose rows not looked up in a batch have gradient exactly 0 in any format).
static void encoder_range(const BertModel *m, size_t *begin, size_t *end) {
    *begin = params_find(&m->ps, "bert.embeddings.LayerNorm.weight")->offset;
    *end = m->ps.numel;
}

// batch_gradients: one micro-batch's gradient in a recipe, its loss divided by `div` as a trainer
// that averages over the group divides it by gradient_accumulation_steps (lesson 05: the HF Trainer
// of transformers 4.57; unscaled again when the recipe scales).
static void batch_gradients(BertModel *m, MixedPrecision mp, const Batch *b, int div, float *out) {
    mixed_init(&mp, m, 0);
    params_zero_grad(&m->ps);
    bert_forward(m, b->input_ids, b->token_type_ids, b->attention_mask, b->labels, b->B, b->T, false, NULL);
    mixed_backward(&mp, m, 1.0f / (float)(b->B * div));
    if (mp.loss_scaling) grad_scaler_unscale(&mp.scaler, m->ps.grads, m->ps.numel);
    memcpy(out, m->ps.grads, sizeof(float) * m->ps.numel);
    if (mp.master) memcpy(m->ps.params, mp.master, sizeof(float) * m->ps.numel);  // back to the fp32 weights
    m->act_format = FMT_FP32;
    mixed_free(&mp);
}

// fp16_fates: of the values x[i] * mul (x[i] != 0): the share fp16 flushes to 0, keeps as a
// subnormal (fewer significant bits), keeps as a normal number, or overflows.
static void fp16_fates(const float *x, size_t lo, size_t hi, double mul, double share[4]) {
    const FormatInfo h = format_info(FMT_FP16);
    long n = 0, c[4] = {0};
    for (size_t i = lo; i < hi; i++) {
        double a = fabs(x[i]) * mul;
        if (x[i] == 0) continue;
        n++;
        c[a < h.smallest_subnormal / 2 ? 0 : a < h.smallest_normal ? 1 : a < 65520 ? 2 : 3]++;
    }
    for (int k = 0; k < 4; k++) share[k] = 100.0 * c[k] / n;
}

static double zero_share(const float *g, const float *ref, size_t lo, size_t hi) {
    long n = 0, z = 0;
    for (size_t i = lo; i < hi; i++) n += ref[i] != 0, z += ref[i] != 0 && g[i] == 0;
    return 100.0 * z / n;
}

static void print_gradient_ranges(BertModel *m, const Batch *b, int accum) {
    printf("\n== 3. the gradients of one batch (%d sentences, %d tokens) against fp16's range ==\n", b->B, b->T);
    const size_t n = m->ps.numel;
    float *g32 = xmalloc(sizeof(float) * n), *g16 = xmalloc(sizeof(float) * n);
    size_t lo, hi;
    encoder_range(m, &lo, &hi);
    batch_gradients(m, (MixedPrecision){.format = FMT_FP32}, b, 1, g32);
    double gmin = INFINITY, gmax = 0;
    long total = 0;
    for (size_t i = lo; i < hi; i++)
        if (g32[i] != 0) total++, gmin = fmin(gmin, fabs(g32[i])), gmax = fmax(gmax, fabs(g32[i]));
    printf("encoder and head gradients that are not 0 in fp32: %ld, |g| from %.3g to %.3g\n", total, gmin, gmax);
    const double muls[] = {1, 1.0 / accum, 65536.0 / accum};
    double f[3][4];
    for (int k = 0; k < 3; k++) fp16_fates(g32, lo, hi, muls[k], f[k]);
    printf("what fp16 does with them       as is    /%d (accumulation %d)   /%d x 2^16 (loss scale)\n", accum, accum,
           accum);
    const char *rows[] = {"0 (below 2^-25)", "subnormal (2^-25 .. 2^-14)", "normal (2^-14 .. 65504)",
                          "inf (above 65504)"};
    for (int r = 0; r < 4; r++)
        printf("%-28s  %6.2f%%  %6.2f%%                  %6.2f%%\n", rows[r], f[0][r], f[1][r], f[2][r]);
    printf("after the emulated fp16 backward (activation gradients rounded too, layer after layer),\n"
           "the share of them that is exactly 0:\n");
    batch_gradients(m, (MixedPrecision){.format = FMT_FP16, .master_weights = true}, b, 1, g16);
    printf("  loss as is, no scaling              : %6.2f%%\n", zero_share(g16, g32, lo, hi));
    batch_gradients(m, (MixedPrecision){.format = FMT_FP16, .master_weights = true}, b, accum, g16);
    printf("  loss / %-2d, no scaling               : %6.2f%%\n", accum, zero_share(g16, g32, lo, hi));
    batch_gradients(m, (MixedPrecision){.format = FMT_FP16, .master_weights = true, .loss_scaling = true}, b, accum,
                    g16);
    printf("  loss / %-2d, x 2^16 (GradScaler)      : %6.2f%%\n", accum, zero_share(g16, g32, lo, hi));
    free(g32), free(g16);
}

// ---- 4: the same fine-tune in six recipes -----------------------------------------------------

typedef struct {
    const char *name;
    MixedPrecision mp;
} Recipe;

typedef struct {
    double *loss;         // (steps)
    float *final_params;  // (numel) the fp32 view of the weights at the end (masters when kept)
    int skipped;
    float final_scale;
} RunResult;

// fraction of v[lo..hi) that is exactly 0
static double zero_fraction(const float *v, size_t lo, size_t hi) {
    size_t z = 0;
    for (size_t i = lo; i < hi; i++) z += v[i] == 0;
    return (double)z / (double)(hi - lo);
}

// fraction of a[lo..hi) that differs from b
static double moved_fraction(const float *a, const float *b, size_t lo, size_t hi) {
    size_t d = 0;
    for (size_t i = lo; i < hi; i++) d += a[i] != b[i];
    return (double)d / (double)(hi - lo);
}

// train_recipe: the model `m` (activations allocated for data's batches), reset to the weights
// as loaded, trained on `data` in recipe r. One model serves all six recipes, so the checkpoint is
// read (and its "no classifier" note printed) once.
static RunResult train_recipe(BertModel *model, const float *loaded, Recipe r, const Batches *data, double lr,
                              double warmup_ratio, double max_grad_norm, int growth_interval, int seed) {
    BertModel m = *model;
    memcpy(m.ps.params, loaded, sizeof(float) * m.ps.numel);
    m.act_format = FMT_FP32;
    mixed_init(&r.mp, &m, (uint64_t)seed);
    if (r.mp.loss_scaling) r.mp.scaler.growth_interval = growth_interval;
    OptimizerConfig oc = optimizer_defaults(OPT_ADAMW);
    Optimizer opt;
    optimizer_init(&opt, oc, &m.ps);
    Schedule sched = schedule_make(SCHED_LINEAR, lr, (long)ceil(warmup_ratio * data->n), data->n);
    Rng dropout;
    rng_seed(&dropout, (uint64_t)seed, RNG_STREAM_DROPOUT);
    size_t lo, hi;
    encoder_range(&m, &lo, &hi);
    float *before = xmalloc(sizeof(float) * m.ps.numel);
    RunResult res = {xmalloc(sizeof(double) * (size_t)data->n), xmalloc(sizeof(float) * m.ps.numel), 0, 0};
    long sched_step = 0;  // the scheduler only steps when the optimizer did (as the HF Trainer)
    printf("\n-- %s --\n", r.name);
    for (int s = 0; s < data->n; s++) {
        const Batch *b = &data->b[s];
        params_zero_grad(&m.ps);
        bert_forward(&m, b->input_ids, b->token_type_ids, b->attention_mask, b->labels, b->B, b->T, true, &dropout);
        mixed_backward(&r.mp, &m, 1.0f / (float)b->B);
        double zeros = zero_fraction(m.ps.grads, lo, hi);
        memcpy(before, m.ps.params, sizeof(float) * m.ps.numel);
        double step_lr = schedule_lr(&sched, sched_step);
        MixedStep st = mixed_step(&r.mp, &m, &opt, step_lr, max_grad_norm);
        sched_step += !st.skipped;
        res.skipped += st.skipped;
        res.loss[s] = m.loss;
        printf("step %2d  loss %.4f  grad_norm %-9.4g  zero grads %5.2f%%  weights moved %6.2f%%", s + 1, m.loss,
               st.grad_norm, 100 * zeros, 100 * moved_fraction(m.ps.params, before, lo, hi));
        if (r.mp.loss_scaling)
            printf("  scale %g%s", st.scale, st.skipped ? " inf/NaN: step skipped, scale halved" : "");
        printf("\n");
    }
    memcpy(res.final_params, r.mp.master ? r.mp.master : m.ps.params, sizeof(float) * m.ps.numel);
    res.final_scale = mixed_loss_scale(&r.mp);
    free(before);
    optimizer_free(&opt);
    mixed_free(&r.mp);
    *model = m;
    return res;
}

// distance: ||a - b|| / ||ref - start|| over the encoder and head: how far a run ends from the
// fp32 run, in units of how far fp32 itself moved from the start.
static double distance(const float *a, const float *b, const float *start, size_t lo, size_t hi) {
    double d = 0, moved = 0;
    for (size_t i = lo; i < hi; i++)
        d += (double)(a[i] - b[i]) * (a[i] - b[i]), moved += (double)(b[i] - start[i]) * (b[i] - start[i]);
    return sqrt(d / moved);
}

int main(int argc, char **argv) {
    const char *model_dir = "data/cache/models/all-MiniLM-L6-v2", *train_file = "data/cache/sst2/train.tsv";
    const char *output_dir = "runs/14_mixed_precision";
    int max_train = 256, max_len = 16, batch = 4, steps = 5, seed = 42, growth_interval = 1, accum = 32;
    double lr = 1e-4, warmup_ratio = 0, max_grad_norm = 1.0;
    bool formats_only = false;
    ArgSpec specs[] = {
        {"formats_only", ARG_BOOL, &formats_only, "print sections 1 and 2 (no model, no data) and stop", "Sections"},
        {"model_name_or_path", ARG_STRING, &model_dir, "BERT checkpoint directory", "Model and data"},
        {"train_file", ARG_STRING, &train_file, "TSV with sentence and label columns", NULL},
        {"max_train_samples", ARG_INT, &max_train, "use the first N training rows", NULL},
        {"max_seq_length", ARG_INT, &max_len, "truncate to this many tokens; batches pad to their longest", NULL},
        {"per_device_train_batch_size", ARG_INT, &batch, "examples per step", "Training"},
        {"max_steps", ARG_INT, &steps, "optimizer steps of each recipe (0: stop after section 3)", NULL},
        {"gradient_accumulation_steps", ARG_INT, &accum,
         "section 3: the loss divided by this, as in one micro-batch of an accumulation group", NULL},
        {"learning_rate", ARG_FLOAT, &lr, "peak learning rate (linear schedule)", NULL},
        {"warmup_ratio", ARG_FLOAT, &warmup_ratio, "warmup steps = ceil(ratio x steps)", NULL},
        {"max_grad_norm", ARG_FLOAT, &max_grad_norm, "clip the global gradient norm (after unscaling)", NULL},
        {"growth_interval", ARG_INT, &growth_interval,
         "GradScaler: double the scale after this many clean steps (torch: 2000)", NULL},
        {"seed", ARG_INT, &seed, "seed of the classifier, data order and dropout (the same in every recipe)", NULL},
        {"output_dir", ARG_STRING, &output_dir, "where loss.png goes", "Output"},
    };
    ArgParser parser = {"14_mixed_precision",
                        "fp32, fp16 and bf16: their ranges; what happens to small gradients and large activations;\n"
                        "real MiniLM gradients against fp16's range; one short SST-2 fine-tune in six recipes (fp32,\n"
                        "fp16 with and without a GradScaler, bf16 with and without fp32 master weights, stochastic\n"
                        "rounding), emulated on the CPU by rounding to fp16/bf16 where a GPU stores them.",
                        NULL, specs, ARRAY_LEN(specs)};
    args_parse(&parser, argc, argv, NULL, 0);
    if (batch < 1 || steps < 0 || max_len < 3 || growth_interval < 1 || accum < 1)
        die("need positive --per_device_train_batch_size, --gradient_accumulation_steps, --growth_interval, "
            "--max_steps >= 0 and --max_seq_length >= 3");

    print_formats();
    print_numbers();
    if (formats_only) return 0;
    if (!dir_exists(model_dir) || !file_exists(train_file)) {
        printf("\n%s or %s not found: run `bash data/fetch.sh` (or `make`) for sections 3 and 4\n", model_dir,
               train_file);
        return 0;
    }
    Tokenizer *tok = tokenizer_from_pretrained(model_dir);
    TokenizedSet ex = load_examples(train_file, max_train, tok);
    if (ex.n < batch) die("%s: %d examples, fewer than one batch of %d", train_file, ex.n, batch);
    EncodeOptions eo = {.max_length = max_len};
    Batches data = make_batches(tok, &ex, batch, steps > 0 ? steps : 1, &eo, seed);

    BertModel m = bert_load(model_dir, 2, (uint64_t)seed, NULL);
    bert_alloc_acts(&m, batch, data.maxT);
    float *loaded = xmalloc(sizeof(float) * m.ps.numel);
    memcpy(loaded, m.ps.params, sizeof(float) * m.ps.numel);
    print_gradient_ranges(&m, &data.b[0], accum);
    float *start = xmalloc(sizeof(float) * m.ps.numel);
    memcpy(start, m.ps.params, sizeof(float) * m.ps.numel);
    size_t lo, hi;
    encoder_range(&m, &lo, &hi);
    if (steps == 0) {
        bert_free(&m);
        free(loaded), free(start);
        return 0;
    }

    printf(
        "\n== 4. one fine-tune, six recipes: %d steps of %d SST-2 sentences, AdamW lr %g, same data and dropout ==\n",
        steps, batch, lr);
    Recipe recipes[] = {
        {"fp32", {.format = FMT_FP32}},
        {"fp16, no loss scaling", {.format = FMT_FP16, .master_weights = true}},
        {"fp16 + GradScaler", {.format = FMT_FP16, .master_weights = true, .loss_scaling = true}},
        {"bf16 + fp32 master weights", {.format = FMT_BF16, .master_weights = true}},
        {"bf16 weights only (no masters)", {.format = FMT_BF16}},
        {"bf16 weights only, stochastic rounding", {.format = FMT_BF16, .stochastic_rounding = true}},
    };
    enum { R = ARRAY_LEN(recipes) };
    RunResult res[R];
    for (int r = 0; r < R; r++)
        res[r] = train_recipe(&m, loaded, recipes[r], &data, lr, warmup_ratio, max_grad_norm, growth_interval, seed);
    bert_free(&m);
    free(loaded);

    printf("\n== how far apart they end ==\n");
    printf("%-40s  %-10s  %-16s  %-16s  %s\n", "recipe", "last loss", "max |loss-fp32|", "weights vs fp32", "skipped");
    double *xs = xmalloc(sizeof(double) * (size_t)steps);
    for (int s = 0; s < steps; s++) xs[s] = s + 1;
    Plot p = plot_new("one fine-tune, six precisions (emulated)", "step", "loss");
    for (int r = 0; r < R; r++) {
        double worst = 0;
        for (int s = 0; s < steps; s++) worst = fmax(worst, fabs(res[r].loss[s] - res[0].loss[s]));
        printf("%-40s  %-10.4f  %-16.4f  %-16.3f  %d\n", recipes[r].name, res[r].loss[steps - 1], worst,
               distance(res[r].final_params, res[0].final_params, start, lo, hi), res[r].skipped);
        plot_add(&p, recipes[r].name, xs, res[r].loss, steps);
    }
    printf("(weights vs fp32: ||w - w_fp32|| / ||w_fp32 - w_start|| over the encoder and head)\n");
    mkdir_p(output_dir);
    char *png = path_join(output_dir, "loss.png");
    plot_save(&p, png);
    printf("wrote %s\n", png);

    plot_free(&p);
    free(png), free(xs), free(start);
    for (int r = 0; r < R; r++) free(res[r].loss), free(res[r].final_params);
    for (int i = 0; i < data.n; i++) batch_free(&data.b[i]);
    free(data.b);
    tokenized_set_free(&ex);
    tokenizer_free(tok);
    return 0;
}
