// Lesson 11 — fine-tuning BERT on the CPU: the full backward pass, AdamW with the no-decay
// group, the learning-rate schedule, gradient clipping, on real data.
//
// Everything here was built in earlier lessons; this one puts it together:
//   data       SST-2 sentences (common/text/dataset.c, lesson 06) -> ids (common/text/tokenizer.c, lesson 07),
//              batches padded to their longest sentence (dynamic padding)
//   model      BertForSequenceClassification loaded from a checkpoint (common/model/bert_io.c, lesson 10)
//   loss       cross-entropy on the classifier over the pooled [CLS] token (common/model/loss.c)
//   backward   bert_backward: every layer of lesson 09 in reverse, into one flat gradient buffer
//   update     clip the global norm (lesson 05), lr from the schedule (lesson 03),
//              AdamW with no decay on biases and LayerNorm weights (lesson 04)
// and the step arithmetic of lesson 02 (common/train/steps.c). The loop, per optimizer step:
//
//   zero grads; for each micro-batch of the group: forward (dropout on), backward with each
//   example's loss weighted 1/(examples in the group); clip; optimizer step at lr(step)
//
// The correctness of every piece is tested against PyTorch (tests/test_bert.c): gradients of a
// tiny BERT to 2e-6, and 10 steps of this very loop to 3e-6 in the loss.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/core/args.h"
#include "common/text/batch.h"
#include "common/model/bert.h"
#include "common/model/bert_io.h"
#include "common/text/dataset.h"
#include "common/model/loss.h"
#include "common/train/metrics.h"
#include "common/train/optim.h"
#include "common/core/plot.h"
#include "common/train/schedule.h"
#include "common/train/steps.h"
#include "common/text/tokenizer.h"
#include "common/core/util.h"

// load_split: the first `max` rows of a TSV (all when max <= 0), tokenized once, with their labels.
static TokenizedSet load_split(const char *path, int max, const Tokenizer *tok, const LabelSet *labels,
                               LabelSet *labels_out) {
    DatasetOptions o = dataset_default_options();
    o.labels = labels;
    o.max_samples = max;
    TextDataset d = dataset_load(path, &o);
    printf("  %s: %d of %d examples\n", path, d.n, d.n_rows);
    TokenizedSet s = tokenize_dataset(tok, &d);
    if (labels_out) labelset_copy(labels_out, &d.labels);
    dataset_free(&d);
    return s;
}

typedef struct {
    double loss, accuracy;
} Eval;

static const TokenizedSet *sort_set;  // for by_length
static int by_length(const void *a, const void *b) {
    int i = *(const int *)a, j = *(const int *)b;
    int li = sort_set->off_a[i + 1] - sort_set->off_a[i], lj = sort_set->off_a[j + 1] - sort_set->off_a[j];
    return li != lj ? li - lj : i - j;
}

// evaluate: mean loss and accuracy over the split, dropout off. The order of evaluation does
// not change the result, so the examples go by length: each batch pads to nearly its own size.
static Eval evaluate(BertModel *m, const Tokenizer *tok, const TokenizedSet *s, int batch, const EncodeOptions *eo) {
    int *order = xmalloc(sizeof(int) * (size_t)s->n), *pred = xmalloc(sizeof(int) * (size_t)batch);
    for (int i = 0; i < s->n; i++) order[i] = i;
    sort_set = s;
    qsort(order, (size_t)s->n, sizeof(int), by_length);
    Batch b = {0};
    double loss = 0;
    long correct = 0;
    for (int first = 0; first < s->n; first += batch) {
        int n = s->n - first < batch ? s->n - first : batch;
        const int *rows = order + first;
        collate(tok, s, rows, n, eo, &b);
        float *logits = bert_forward(m, b.input_ids, b.token_type_ids, b.attention_mask, b.labels, n, b.T, false, NULL);
        loss += m->loss * n;
        argmax_rows(logits, n, m->config.num_labels, pred);
        for (int i = 0; i < n; i++) correct += pred[i] == b.labels[i];
    }
    batch_free(&b);
    free(order), free(pred);
    return (Eval){loss / s->n, (double)correct / s->n};
}

// count_decay: tensors and parameters with and without weight decay (the Trainer's rule).
static void print_decay_groups(const ParamSet *ps) {
    int nt[2] = {0};
    size_t np[2] = {0};
    for (int i = 0; i < ps->n_tensors; i++)
        nt[ps->tensors[i].decay]++, np[ps->tensors[i].decay] += ps->tensors[i].numel;
    printf("  weight decay on %d tensors (%zu parameters: the matrices); none on %d tensors (%zu: biases, LayerNorm)\n",
           nt[1], np[1], nt[0], np[0]);
}

// ---- the run's steps ------------------------------------------------------------------------

typedef struct {
    const char *model_dir, *train_file, *dev_file, *output_dir, *sched_name;
    int max_train, max_eval, max_len, batch, eval_batch, accum, seed, logging_steps, max_steps;
    double lr, wd, warmup_ratio, max_grad_norm, epochs, adam_epsilon;
    bool save_model;
} Config;

// parse_flags: the run's flags (the Hugging Face Trainer's and run_glue.py's names), checked.
static Config parse_flags(int argc, char **argv) {
    Config c = {.model_dir = "data/cache/models/all-MiniLM-L6-v2",
                .train_file = "data/cache/sst2/train.tsv",
                .dev_file = "data/cache/sst2/dev.tsv",
                .output_dir = "runs/11_bert_training_cpu",
                .sched_name = "linear",
                .max_train = 160,
                .max_eval = 64,
                .max_len = 64,
                .batch = 8,
                .eval_batch = 32,
                .accum = 1,
                .seed = 42,
                .logging_steps = 4,
                .max_steps = 0,
                .lr = 5e-4,
                .wd = 0.01,
                .warmup_ratio = 0.1,
                .max_grad_norm = 1.0,
                .epochs = 1,
                .adam_epsilon = 1e-8};
    ArgSpec specs[] = {
        {"model_name_or_path", ARG_STRING, &c.model_dir,
         "BERT checkpoint directory (config.json, model.safetensors, vocab.txt)", "Model and data"},
        {"train_file", ARG_STRING, &c.train_file, "TSV with sentence and label columns", NULL},
        {"validation_file", ARG_STRING, &c.dev_file, "TSV for evaluation", NULL},
        {"max_train_samples", ARG_INT, &c.max_train, "use the first N training rows (0: all)", NULL},
        {"max_eval_samples", ARG_INT, &c.max_eval, "use the first N validation rows (0: all)", NULL},
        {"max_seq_length", ARG_INT, &c.max_len, "truncate to this many tokens; batches pad to their longest", NULL},
        {"per_device_train_batch_size", ARG_INT, &c.batch, "examples per micro-batch", "Training"},
        {"per_device_eval_batch_size", ARG_INT, &c.eval_batch, "examples per evaluation batch", NULL},
        {"gradient_accumulation_steps", ARG_INT, &c.accum, "micro-batches per optimizer step", NULL},
        {"num_train_epochs", ARG_FLOAT, &c.epochs, "epochs over the training rows", NULL},
        {"max_steps", ARG_INT, &c.max_steps, "optimizer steps (> 0 overrides num_train_epochs)", NULL},
        {"learning_rate", ARG_FLOAT, &c.lr, "peak learning rate", NULL},
        {"lr_scheduler_type", ARG_CHOICE, &c.sched_name, "learning-rate schedule", NULL, SCHEDULE_CHOICES},
        {"warmup_ratio", ARG_FLOAT, &c.warmup_ratio, "warmup steps = ceil(ratio x total steps)", NULL},
        {"weight_decay", ARG_FLOAT, &c.wd, "AdamW decoupled weight decay (not on biases and LayerNorm)", NULL},
        {"adam_epsilon", ARG_FLOAT, &c.adam_epsilon, "AdamW epsilon", NULL},
        {"max_grad_norm", ARG_FLOAT, &c.max_grad_norm, "clip the global gradient norm to this (0: no clipping)", NULL},
        {"logging_steps", ARG_INT, &c.logging_steps, "print the mean training loss every N steps", NULL},
        {"seed", ARG_INT, &c.seed, "seed of the classifier, the data order and dropout", NULL},
        {"output_dir", ARG_STRING, &c.output_dir, "where loss.png (and with --save_model the model) go", "Output"},
        {"save_model", ARG_BOOL, &c.save_model, "write the fine-tuned model to output_dir/model in Hugging Face layout",
         NULL},
    };
    ArgParser parser = {
        "11_bert_training_cpu",
        "Fine-tunes a BERT checkpoint (all-MiniLM-L6-v2) on an SST-2 subset on the CPU: full backward,\n"
        "AdamW with the no-decay group, LR schedule, clipping; the loss falls, dev accuracy rises.",
        NULL, specs, ARRAY_LEN(specs)};
    args_parse(&parser, argc, argv, NULL, 0);
    if (c.max_len < 3 || c.eval_batch < 1 || c.logging_steps < 1)
        die("need --max_seq_length >= 3, --per_device_eval_batch_size >= 1, --logging_steps >= 1");
    if (!dir_exists(c.model_dir))
        die("%s not found: run `bash data/fetch.sh` (or `make`) first, or pass --model_name_or_path", c.model_dir);
    if (!file_exists(c.train_file)) die("%s not found: run `bash data/fetch.sh sst2` (or `make`) first", c.train_file);
    return c;
}

// The data: the checkpoint's tokenizer, the training set's labels, both splits as ids.
typedef struct {
    Tokenizer *tok;
    LabelSet labels;
    TokenizedSet train, dev;
    EncodeOptions eo;  // truncate to max_seq_length; each batch pads to its longest row
} Data;

static Data load_data(const Config *c) {
    Data d = {.tok = tokenizer_from_pretrained(c->model_dir), .eo = {.max_length = c->max_len}};
    printf("data:\n");
    d.train = load_split(c->train_file, c->max_train, d.tok, NULL, &d.labels);
    d.dev = load_split(c->dev_file, c->max_eval, d.tok, &d.labels, NULL);
    return d;
}

static void data_free(Data *d) {
    tokenized_set_free(&d->train), tokenized_set_free(&d->dev);
    labelset_free(&d->labels);
    tokenizer_free(d->tok);
}

// load_model: BertForSequenceClassification from the checkpoint (a classifier for the data's
// labels created from --seed when it has none), with activations for the larger batch.
static BertModel load_model(const Config *c, const Data *d) {
    int created = 0;
    BertModel m = bert_load(c->model_dir, d->labels.n, (uint64_t)c->seed, &created);
    printf("model: %s, %zu parameters (%.1f MB), %d labels%s\n", c->model_dir, m.ps.numel, m.ps.numel * 4.0 / 1e6,
           d->labels.n, created & 2 ? ", classifier created from --seed" : "");
    bert_alloc_acts(&m, c->batch > c->eval_batch ? c->batch : c->eval_batch, c->max_len);
    return m;
}

// plan_steps: lesson 02's arithmetic for this run.
static StepPlan plan_steps(const Config *c, const Data *d) {
    StepPlan plan = {.num_examples = d->train.n,
                     .per_device_train_batch_size = c->batch,
                     .per_device_eval_batch_size = c->eval_batch,
                     .gradient_accumulation_steps = c->accum,
                     .n_devices = 1,
                     .num_train_epochs = c->epochs,
                     .max_steps = c->max_steps,
                     .warmup_ratio = c->warmup_ratio,
                     .num_eval_examples = d->dev.n};
    steps_plan(&plan);
    printf("plan: %d x %d = %ld examples per step, %ld steps per epoch, %ld steps, warmup %ld\n", c->batch, c->accum,
           plan.effective_batch, plan.updates_per_epoch, plan.total_steps, plan.warmup);
    return plan;
}

// The update rule: AdamW with the no-decay group (lesson 04) at the schedule's rate (lesson 03).
typedef struct {
    Optimizer opt;
    Schedule sched;
} Update;

static Update make_update(const Config *c, BertModel *m, const StepPlan *plan) {
    Update u;
    OptimizerConfig oc = optimizer_defaults(OPT_ADAMW);
    oc.weight_decay = c->wd;
    oc.eps = c->adam_epsilon;
    optimizer_init(&u.opt, oc, &m->ps);
    u.sched = schedule_make(schedule_kind(c->sched_name), c->lr, plan->warmup, plan->total_steps);
    printf("AdamW: lr %g (%s schedule), betas %g/%g, eps %g, weight_decay %g, max_grad_norm %g\n", c->lr, c->sched_name,
           oc.beta1, oc.beta2, oc.eps, c->wd, c->max_grad_norm);
    print_decay_groups(&m->ps);
    return u;
}

// optimizer_update: optimizer step `step` (0-based) on the accumulated gradient: clip its global
// norm (lesson 05), then AdamW at lr(step). Returns the norm before clipping; *lr the rate used.
static double optimizer_update(BertModel *m, Update *u, long step, double max_grad_norm, double *lr) {
    double norm = max_grad_norm > 0 ? clip_grad_norm(&m->ps, max_grad_norm) : grad_global_norm(&m->ps);
    *lr = schedule_lr(&u->sched, step);
    optimizer_step(&u->opt, &m->ps, *lr);
    return norm;
}

// The logging of the training loop: the mean loss of the steps since the last line, and speed.
typedef struct {
    double loss, start;
    long samples;
} Log;

static void log_step(Log *log, const Config *c, const StepPlan *plan, long step, double loss, double norm, double lr) {
    log->loss += loss;
    if (step % c->logging_steps && step != plan->total_steps) return;
    int k = step % c->logging_steps ? (int)(step % c->logging_steps) : c->logging_steps;
    double dt = now_seconds() - log->start;
    printf("step %4ld/%ld  loss %.3f  grad_norm %.3f  lr %.3e  %.1f samples/s\n", step, plan->total_steps,
           log->loss / k, norm, lr, log->samples / dt);
    log->loss = 0, log->samples = 0, log->start = now_seconds();
}

// train: the plan's optimizer steps, each over its group of micro-batches (the loop at the top
// of this file). Returns every step's loss (total_steps): the mean over the examples of its group.
static double *train(const Config *c, const Data *d, const StepPlan *plan, BertModel *m, Update *u) {
    const int B = c->batch, N = d->train.n;
    Rng dropout_rng;
    rng_seed(&dropout_rng, (uint64_t)c->seed, RNG_STREAM_DROPOUT);
    int *order = xmalloc(sizeof(int) * (size_t)N), order_epoch = -1;
    double *losses = xmalloc(sizeof(double) * (size_t)plan->total_steps), group_loss = 0, train_seconds = 0;
    Batch b = {0};
    Log log = {.start = now_seconds()};
    long total_samples = 0;
    StepCursor cur = steps_begin(plan, 0);
    MicroBatch mb;
    while (steps_next(&cur, &mb)) {
        if (mb.epoch != order_epoch) epoch_order((uint64_t)c->seed, mb.epoch, order, N), order_epoch = mb.epoch;
        // the group's examples: weight each example's loss by 1 / (examples in this group)
        long group_first = (mb.batch_in_epoch - mb.index_in_group) * B;
        long group_end = group_first + (long)mb.group_batches * B;
        if (group_end > N) group_end = N;
        long first = mb.batch_in_epoch * B;
        int n = (int)(first + B <= N ? B : N - first);
        if (mb.index_in_group == 0) params_zero_grad(&m->ps), group_loss = 0;

        double t0 = now_seconds();
        collate(d->tok, &d->train, order + first, n, &d->eo, &b);
        bert_forward(m, b.input_ids, b.token_type_ids, b.attention_mask, b.labels, n, b.T, true, &dropout_rng);
        bert_backward(m, 1.0f / (float)(group_end - group_first));
        group_loss += m->loss * n / (double)(group_end - group_first);
        log.samples += n, total_samples += n;
        if (mb.ends_group) {
            double lr, norm = optimizer_update(m, u, mb.global_step, c->max_grad_norm, &lr);
            losses[mb.global_step] = group_loss;
            log_step(&log, c, plan, mb.global_step + 1, group_loss, norm, lr);
        }
        train_seconds += now_seconds() - t0;
    }
    printf("trained on %ld examples in %.1f s: %.1f samples/s\n", total_samples, train_seconds,
           total_samples / train_seconds);
    batch_free(&b);
    free(order);
    return losses;
}

// plot_losses: output_dir/loss.png, each step's loss and the mean of the last logging_steps of
// them: the trend under the batch-to-batch noise.
static void plot_losses(const Config *c, const double *losses, long steps) {
    double *xs = xmalloc(sizeof(double) * (size_t)steps), *avg = xmalloc(sizeof(double) * (size_t)steps), window = 0;
    for (long s = 0; s < steps; s++) {
        xs[s] = (double)(s + 1);
        window += losses[s] - (s >= c->logging_steps ? losses[s - c->logging_steps] : 0);
        avg[s] = window / (s + 1 < c->logging_steps ? s + 1 : c->logging_steps);
    }
    Plot p = plot_new("BERT fine-tuning on the CPU: training loss per step", "step", "loss");
    plot_add(&p, "train loss", xs, losses, (int)steps);
    char name[64];
    snprintf(name, sizeof name, "mean of the last %d", c->logging_steps);
    plot_add(&p, name, xs, avg, (int)steps);
    mkdir_p(c->output_dir);
    char *png = path_join(c->output_dir, "loss.png");
    plot_save(&p, png);
    plot_free(&p);
    printf("wrote %s\n", png);
    free(png), free(xs), free(avg);
}

// save_model: output_dir/model in Hugging Face layout.
static void save_model(const Config *c, const BertModel *m) {
    char *dir = path_join(c->output_dir, "model");
    bert_save_hf(m, dir);
    printf("wrote %s (BertForSequenceClassification.from_pretrained loads it)\n", dir);
    free(dir);
}

int main(int argc, char **argv) {
    const Config c = parse_flags(argc, argv);
    Data d = load_data(&c);
    BertModel m = load_model(&c, &d);
    const StepPlan plan = plan_steps(&c, &d);
    Update u = make_update(&c, &m, &plan);

    Eval before = evaluate(&m, d.tok, &d.dev, c.eval_batch, &d.eo);
    printf("\nbefore training: dev loss %.3f  accuracy %.2f\n", before.loss, before.accuracy);
    double *losses = train(&c, &d, &plan, &m, &u);
    Eval after = evaluate(&m, d.tok, &d.dev, c.eval_batch, &d.eo);
    printf("after training:  dev loss %.3f  accuracy %.2f\n", after.loss, after.accuracy);

    plot_losses(&c, losses, plan.total_steps);
    if (c.save_model) save_model(&c, &m);
    free(losses);
    optimizer_free(&u.opt);
    bert_free(&m);
    data_free(&d);
    return 0;
}
