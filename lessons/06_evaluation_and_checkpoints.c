// Lesson 06 — evaluation, checkpoints, the best model, early stopping, and resuming.
//
// A real data set (SST-2: 67,349 training sentences, 872 dev sentences, positive/negative) and a
// model small enough to train in seconds: a bag of words (how often each word occurs) fed to the
// softmax regression of lesson 05. Around it, everything a fine-tuning run does besides
// computing gradients, with the Hugging Face Trainer's flags:
//   eval_steps             evaluate on the dev set: loss, accuracy, macro-F1, confusion matrix
//   save_steps             write output_dir/checkpoint-<step>/ (atomically)
//   save_total_limit       keep only the newest N checkpoints, but never the best one
//   metric_for_best_model  which eval number picks the best checkpoint (eval_f1 here)
//   load_best_model_at_end reload that checkpoint when training ends
//   early_stopping_patience stop after N evaluations without improvement
//   resume_from_checkpoint continue a run from a checkpoint, bit for bit
// and a warning when training accuracy runs away from dev accuracy (over-fitting).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stb_ds.h>

#include "common/core/args.h"
#include "common/train/checkpoint.h"
#include "common/text/dataset.h"
#include "common/train/evaluation.h"
#include "common/model/logreg.h"
#include "common/model/loss.h"
#include "common/train/metrics.h"
#include "common/train/optim.h"
#include "common/core/plot.h"
#include "common/core/progress.h"
#include "common/train/schedule.h"
#include "common/train/steps.h"
#include "common/core/util.h"

// ---- bag of words ------------------------------------------------------------------------

typedef struct {
    char *key;
    int value;
} WordId;  // stb_ds string hash map entry

// Words are lower-case runs split on spaces (SST-2 is already tokenised and lower-cased).
// The vocabulary keeps words seen at least min_count times in the training set.
static WordId *build_vocab(const TextDataset *train, int min_count, int *n_words) {
    WordId *counts = NULL, *vocab = NULL;
    sh_new_strdup(counts);
    sh_new_strdup(vocab);
    for (int i = 0; i < train->n; i++) {
        char *copy = xstrdup(train->text[i]), *save = NULL;
        for (char *w = strtok_r(copy, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
            int c = shget(counts, w);  // 0 when absent (default value)
            shput(counts, w, c + 1);
        }
        free(copy);
    }
    *n_words = 0;
    for (long i = 0; i < shlen(counts); i++)
        if (counts[i].value >= min_count) shput(vocab, counts[i].key, (*n_words)++);
    shfree(counts);
    return vocab;
}

typedef struct {
    int n;
    int *row_ptr;  // (n+1)
    int *col;      // word ids
    float *val;    // counts
    int *label;
} BowSet;

static void bow_free(BowSet *b) {
    free(b->row_ptr);
    free(b->col);
    free(b->val);
}  // labels belong to the dataset

static BowSet featurize(const TextDataset *d, WordId *vocab) {
    BowSet b = {.n = d->n, .row_ptr = xmalloc(sizeof(int) * (size_t)(d->n + 1)), .label = d->label};
    int cap = 16 * d->n + 16, nnz = 0;
    b.col = xmalloc(sizeof(int) * (size_t)cap);
    b.val = xmalloc(sizeof(float) * (size_t)cap);
    for (int i = 0; i < d->n; i++) {
        b.row_ptr[i] = nnz;
        char *copy = xstrdup(d->text[i]), *save = NULL;
        for (char *w = strtok_r(copy, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
            long at = shgeti(vocab, w);
            if (at < 0) continue;  // a word the training set did not know
            int id = vocab[at].value, j;
            for (j = b.row_ptr[i]; j < nnz && b.col[j] != id; j++) {}
            if (j < nnz) {
                b.val[j] += 1;
                continue;
            }  // repeated word: count it
            if (nnz == cap) {
                cap *= 2;
                b.col = xrealloc(b.col, sizeof(int) * (size_t)cap);
                b.val = xrealloc(b.val, sizeof(float) * (size_t)cap);
            }
            b.col[nnz] = id;
            b.val[nnz++] = 1;
        }
        free(copy);
    }
    b.row_ptr[d->n] = nnz;
    return b;
}

// rows_of: the CSR view of examples idx[0..n) gathered into scratch arrays.
typedef struct {
    int *row_ptr, *col;
    float *val;
    int *label;
} Gather;

// gather_alloc: scratch for batches of up to `batch` examples of at most 4096 distinct words.
static Gather gather_alloc(int batch) {
    return (Gather){xmalloc(sizeof(int) * (size_t)(batch + 1)), xmalloc(sizeof(int) * 4096 * (size_t)batch),
                    xmalloc(sizeof(float) * 4096 * (size_t)batch), xmalloc(sizeof(int) * (size_t)batch)};
}

static void gather_free(Gather *g) {
    free(g->row_ptr);
    free(g->col);
    free(g->val);
    free(g->label);
}
static CsrRows rows_of(const BowSet *b, const int *idx, int n, Gather *g) {
    int nnz = 0;
    for (int r = 0; r < n; r++) {
        int i = idx[r];
        g->row_ptr[r] = nnz;
        for (int j = b->row_ptr[i]; j < b->row_ptr[i + 1]; j++) {
            g->col[nnz] = b->col[j];
            g->val[nnz++] = b->val[j];
        }
        g->label[r] = b->label[i];
    }
    g->row_ptr[n] = nnz;
    return (CsrRows){n, g->row_ptr, g->col, g->val};
}

// ---- evaluation ---------------------------------------------------------------------------

// evaluate: loss, accuracy and F1 of the model on the first n examples (common/train/evaluation.h).
static EvalResult evaluate(const LogReg *model, const BowSet *set, int n, int batch) {
    EvalResult r;
    eval_begin(&r, model->K);
    Gather g = gather_alloc(batch);
    int *idx = xmalloc(sizeof(int) * (size_t)batch);
    float *logits = xmalloc(sizeof(float) * (size_t)batch * model->K);
    for (int start = 0; start < n; start += batch) {
        int count = start + batch <= n ? batch : n - start;
        for (int k = 0; k < count; k++) idx[k] = start + k;
        CsrRows rows = rows_of(set, idx, count, &g);
        logreg_forward_sparse(model, &rows, logits);
        eval_add_batch(&r, logits, g.label, count);
    }
    eval_finish(&r);
    gather_free(&g);
    free(idx);
    free(logits);
    return r;
}

// ---- the run ------------------------------------------------------------------------------

typedef struct {
    int batch, eval_batch, eval_steps, save_steps, save_total_limit, patience, seed, min_count, logging_steps;
    double epochs, lr, weight_decay, warmup_ratio, overfit_gap;
    long max_steps;
    bool load_best, greater_is_better;
    const char *metric, *output_dir, *resume, *plot_path, *train_file, *dev_file;
} Config;

// parse_flags: the run's flags (the Hugging Face Trainer's names), checked.
static Config parse_flags(int argc, char **argv) {
    Config c = {.batch = 32,
                .eval_batch = 64,
                .eval_steps = 500,
                .save_steps = 500,
                .save_total_limit = 2,
                .patience = 0,
                .seed = 42,
                .min_count = 2,
                .logging_steps = 1000,
                .epochs = 3,
                .lr = 5e-3,
                .weight_decay = 0.0,
                .warmup_ratio = 0.1,
                .overfit_gap = 0.05,
                .max_steps = -1,
                .load_best = true,
                .greater_is_better = true,
                .metric = "eval_f1",
                .output_dir = "runs/06_evaluation_and_checkpoints",
                .resume = NULL,
                .plot_path = NULL,
                .train_file = "data/cache/sst2/train.tsv",
                .dev_file = "data/cache/sst2/dev.tsv"};
    int max_steps = -1;
    ArgSpec specs[] = {
        {"train_file", ARG_STRING, &c.train_file, "training TSV/CSV (sentence, label)", "Data"},
        {"validation_file", ARG_STRING, &c.dev_file, "dev TSV/CSV", NULL},
        {"min_count", ARG_INT, &c.min_count, "keep words seen at least this often in training", NULL},
        {"per_device_train_batch_size", ARG_INT, &c.batch, "training batch", "Training"},
        {"per_device_eval_batch_size", ARG_INT, &c.eval_batch, "evaluation batch", NULL},
        {"num_train_epochs", ARG_FLOAT, &c.epochs, "passes over the training set", NULL},
        {"max_steps", ARG_INT, &max_steps, "> 0: total optimizer steps (overrides epochs)", NULL},
        {"learning_rate", ARG_FLOAT, &c.lr, "AdamW peak learning rate (linear schedule)", NULL},
        {"weight_decay", ARG_FLOAT, &c.weight_decay, "AdamW decoupled weight decay", NULL},
        {"warmup_ratio", ARG_FLOAT, &c.warmup_ratio, "warmup fraction of the total steps", NULL},
        {"seed", ARG_INT, &c.seed, "data order and initialisation", NULL},
        {"logging_steps", ARG_INT, &c.logging_steps, "progress line every N steps (stderr)",
         "Evaluation and checkpoints"},
        {"eval_steps", ARG_INT, &c.eval_steps, "evaluate every N steps", NULL},
        {"save_steps", ARG_INT, &c.save_steps, "checkpoint every N steps (a multiple of eval_steps)", NULL},
        {"save_total_limit", ARG_INT, &c.save_total_limit,
         "keep the newest N checkpoints (and the best); <= 0 keeps all", NULL},
        {"metric_for_best_model", ARG_CHOICE, &c.metric, "eval number that picks the best checkpoint", NULL,
         "eval_f1|eval_accuracy|eval_loss"},
        {"greater_is_better", ARG_BOOL, &c.greater_is_better, "larger metric is better (set false for eval_loss)",
         NULL},
        {"load_best_model_at_end", ARG_BOOL, &c.load_best, "reload the best checkpoint when training ends", NULL},
        {"early_stopping_patience", ARG_INT, &c.patience, "stop after N evaluations without improvement (0 = off)",
         NULL},
        {"overfit_gap", ARG_FLOAT, &c.overfit_gap, "warn when train accuracy exceeds dev accuracy by this much", NULL},
        {"output_dir", ARG_STRING, &c.output_dir, "where checkpoints go", "Output"},
        {"resume_from_checkpoint", ARG_STRING, &c.resume, "continue from this checkpoint directory", NULL},
        {"plot", ARG_STRING, &c.plot_path, "PNG of train/dev accuracy and dev loss (default: output_dir/curves.png)",
         NULL},
    };
    ArgParser parser = {
        "06_evaluation_and_checkpoints",
        "A bag-of-words classifier on SST-2 with the Trainer's evaluation and checkpoint machinery:\n"
        "eval_steps, macro-F1, confusion matrix, save_steps, save_total_limit, load_best_model_at_end,\n"
        "early stopping, an over-fitting warning and bit-exact resume.",
        NULL, specs, ARRAY_LEN(specs)};
    args_parse(&parser, argc, argv, NULL, 0);
    c.max_steps = max_steps;
    if (c.eval_steps < 1 || c.save_steps < 1) die("--eval_steps and --save_steps must be at least 1");
    if (c.load_best && c.save_steps % c.eval_steps)
        die("--load_best_model_at_end needs --save_steps (%d) to be a multiple of --eval_steps (%d)", c.save_steps,
            c.eval_steps);
    if (!file_exists(c.train_file)) die("%s not found: run `bash data/fetch.sh sst2` (or `make`) first", c.train_file);
    return c;
}

// The data: SST-2's text, the training set's vocabulary, and both sets as bags of words.
typedef struct {
    TextDataset train_text, dev_text;
    WordId *vocab;
    int n_words, K;
    BowSet train, dev;
} Data;

// load_data: the dev set is read with the training set's labels, and featurized with its vocabulary.
static Data load_data(const Config *c) {
    Data d;
    DatasetOptions opt = dataset_default_options();
    d.train_text = dataset_load(c->train_file, &opt);
    opt.labels = &d.train_text.labels;
    d.dev_text = dataset_load(c->dev_file, &opt);
    d.vocab = build_vocab(&d.train_text, c->min_count, &d.n_words);
    d.train = featurize(&d.train_text, d.vocab), d.dev = featurize(&d.dev_text, d.vocab);
    d.K = d.train_text.labels.n;
    printf("SST-2: %d training sentences, %d dev sentences, %d classes; vocabulary %d words (seen >= %d times)\n",
           d.train.n, d.dev.n, d.K, d.n_words, c->min_count);
    return d;
}

static void data_free(Data *d) {
    bow_free(&d->train);
    bow_free(&d->dev);
    shfree(d->vocab);
    dataset_free(&d->train_text);
    dataset_free(&d->dev_text);
}

// plan_steps: lesson 02's arithmetic for this run, printed with its evaluation and save events.
static StepPlan plan_steps(const Config *c, const Data *d) {
    StepPlan plan = {.num_examples = d->train.n,
                     .per_device_train_batch_size = c->batch,
                     .per_device_eval_batch_size = c->eval_batch,
                     .gradient_accumulation_steps = 1,
                     .num_train_epochs = c->epochs,
                     .max_steps = c->max_steps,
                     .warmup_ratio = c->warmup_ratio,
                     .num_eval_examples = d->dev.n};
    steps_plan(&plan);
    printf("plan: %ld steps (%ld per epoch), warmup %ld, evaluate every %d steps (%ld times), save every %d, keep %d\n",
           plan.total_steps, plan.updates_per_epoch, plan.warmup, c->eval_steps,
           count_events(&plan, (Interval){STRATEGY_STEPS, c->eval_steps}, true), c->save_steps, c->save_total_limit);
    return plan;
}

// What a checkpoint holds: the model, AdamW's state and the trainer's state (step, best
// metric, early-stopping counter, log history, generator).
typedef struct {
    LogReg model;
    Optimizer adamw;
    Schedule sched;
    TrainerState state;
} Run;

// start_run: the model at zero, AdamW, the linear schedule; or all of them from a checkpoint.
static Run start_run(const Config *c, const Data *d, const StepPlan *plan) {
    Run r;
    Rng rng;
    rng_seed(&rng, (uint64_t)c->seed, RNG_STREAM_INIT);
    logreg_init(&r.model, d->n_words, d->K, &rng, 0.0f);
    OptimizerConfig oc = optimizer_defaults(OPT_ADAMW);
    oc.weight_decay = c->weight_decay;
    optimizer_init(&r.adamw, oc, &r.model.ps);
    r.sched = schedule_make(SCHED_LINEAR, c->lr, plan->warmup, plan->total_steps);
    trainer_state_init(&r.state);
    r.state.rng = rng;
    if (c->resume) {
        checkpoint_load(c->resume, &r.model.ps, &r.adamw, &r.state);
        printf("resumed from %s at step %ld\n", c->resume, r.state.global_step);
    }
    return r;
}

static void run_free(Run *r) {
    trainer_state_free(&r->state);
    optimizer_free(&r->adamw);
    logreg_free(&r->model);
}

// Scratch of the training loop: a batch's rows, logits (B,K), probabilities (B,K), dlogits (B,K).
typedef struct {
    Gather g;
    float *logits, *probs, *dlogits;
} Scratch;

// train_step: optimizer step `step` (0-based) on examples idx[0..n): the mean cross-entropy's
// gradient through the bag-of-words model, one AdamW update at the schedule's rate. The loss.
static double train_step(Run *r, const BowSet *train, const int *idx, int n, long step, Scratch *s) {
    const int K = r->model.K;
    CsrRows rows = rows_of(train, idx, n, &s->g);
    params_zero_grad(&r->model.ps);
    logreg_forward_sparse(&r->model, &rows, s->logits);
    double loss = cross_entropy_forward(s->logits, s->g.label, n, K, s->probs);
    cross_entropy_backward(s->probs, s->g.label, n, K, 1.0f / n, s->dlogits);
    logreg_backward_sparse(&r->model, &rows, s->dlogits);
    optimizer_step(&r->adamw, &r->model.ps, schedule_lr(&r->sched, step));
    return loss;
}

// evaluate_and_save: after step `step`: dev and train-sample evaluation, the best model, the
// over-fitting warning (once: *warned), early stopping and the checkpoint (HF's order). Returns
// whether to stop.
static bool evaluate_and_save(const Config *c, const Data *d, const StepPlan *plan, Run *r, long step, bool *warned) {
    const int sample = d->dev.n < d->train.n ? d->dev.n : d->train.n;  // a fixed training sample, as large as dev
    EvalResult ev = evaluate(&r->model, &d->dev, d->dev.n, c->eval_batch),
               tr = evaluate(&r->model, &d->train, sample, c->eval_batch);
    TrainerState *st = &r->state;
    double value = metric_value(&ev, c->metric), gap = tr.m.accuracy - ev.m.accuracy;
    bool better = metric_improves(st->has_best, st->best_metric, value, c->greater_is_better, 0.0), stop = false;
    printf("step %5ld  epoch %.2f | eval_loss %.4f  eval_accuracy %.4f  eval_f1 %.4f | train_accuracy %.4f%s\n", step,
           st->epoch, ev.loss, ev.m.accuracy, ev.m.macro_f1, tr.m.accuracy, better ? "  *best*" : "");
    log_history_add(st, eval_entry(step, st->epoch, &ev, NULL, tr.m.accuracy));
    if (gap > c->overfit_gap && !*warned) {
        printf("warning: over-fitting: train accuracy %.4f is %.4f above dev accuracy %.4f (more than %.2f)\n",
               tr.m.accuracy, gap, ev.m.accuracy, c->overfit_gap);
        *warned = true;
    }
    bool saving = fires_after_step((Interval){STRATEGY_STEPS, c->save_steps}, step, plan->total_steps, true);
    if (better) {
        st->has_best = true;
        st->best_metric = value;
        st->early_stopping_counter = 0;
        if (saving)
            snprintf(st->best_model_checkpoint, sizeof st->best_model_checkpoint, "%s/checkpoint-%ld", c->output_dir,
                     step);
    } else if (c->patience > 0 && ++st->early_stopping_counter >= c->patience) {
        printf("early stopping: %s has not improved for %d evaluations (best %.4f)\n", c->metric,
               st->early_stopping_counter, st->best_metric);
        stop = true;
    }
    if (saving) free(checkpoint_save(c->output_dir, &r->model.ps, &r->adamw, st, c->save_total_limit));
    eval_result_free(&ev);
    eval_result_free(&tr);
    return stop;
}

// train: the plan's steps from the run's global_step on, each epoch in its own shuffled order,
// evaluating (and saving) every eval_steps until the end or early stopping.
static void train(const Config *c, const Data *d, const StepPlan *plan, Run *r) {
    const int B = c->batch, N = d->train.n, K = d->K;
    Scratch s = {gather_alloc(B), xmalloc(sizeof(float) * (size_t)B * K * 3)};
    s.probs = s.logits + B * K, s.dlogits = s.probs + B * K;
    int *order = xmalloc(sizeof(int) * (size_t)N), order_epoch = -1;
    Progress prog = progress_begin(plan->total_steps, r->state.global_step, c->logging_steps);
    bool warned = false, stopped = false;
    StepCursor cur = steps_begin(plan, r->state.global_step);
    MicroBatch mb;
    while (!stopped && steps_next(&cur, &mb)) {
        if (mb.epoch != order_epoch) {
            epoch_order((uint64_t)c->seed, mb.epoch, order, N);
            order_epoch = mb.epoch;
        }
        const long first = mb.batch_in_epoch * B;
        const int n = (int)(first + B <= N ? B : N - first);
        double loss = train_step(r, &d->train, order + first, n, mb.global_step, &s);
        const long step = mb.global_step + 1;
        r->state.global_step = step;
        r->state.epoch = (double)step / plan->updates_per_epoch;
        r->state.optimizer_step = r->adamw.step;
        progress_update(&prog, mb.epoch, plan->epochs, step, loss, schedule_lr(&r->sched, mb.global_step), n);
        if (fires_after_step((Interval){STRATEGY_STEPS, c->eval_steps}, step, plan->total_steps, true))
            stopped = evaluate_and_save(c, d, plan, r, step, &warned);
    }
    progress_end(&prog);
    gather_free(&s.g);
    free(s.logits);
    free(order);
}

// finish: which checkpoints are left, the best model reloaded (load_best_model_at_end), and the
// final model's dev evaluation with its confusion matrix.
static void finish(const Config *c, const Data *d, Run *r) {
    long kept[64];
    int n_kept = checkpoints_list(c->output_dir, kept, 64);
    printf("checkpoints kept in %s:", c->output_dir);
    for (int i = 0; i < n_kept; i++) printf(" checkpoint-%ld", kept[i]);
    printf("  (save_total_limit %d; the best is never deleted)\n", c->save_total_limit);
    if (c->load_best && r->state.best_model_checkpoint[0]) {
        checkpoint_load(r->state.best_model_checkpoint, &r->model.ps, NULL, NULL);
        printf("loaded the best model: %s (%s %.4f)\n", r->state.best_model_checkpoint, c->metric,
               r->state.best_metric);
    }
    EvalResult final = evaluate(&r->model, &d->dev, d->dev.n, c->eval_batch);
    char *const *names = d->train_text.labels.names;
    printf("final dev: loss %.4f  accuracy %.4f  macro-F1 %.4f  (per class F1:", final.loss, final.m.accuracy,
           final.m.macro_f1);
    for (int k = 0; k < d->K; k++) printf(" %s %.4f", names[k], final.m.f1[k]);
    printf(")\nconfusion matrix (rows: true label, columns: predicted):\n");
    confusion_print(stdout, &final.conf, (const char *const *)names);
    eval_result_free(&final);
}

// plot_curves: train and dev accuracy and dev loss of every evaluation in the log history (this
// run's and those of the run it resumed).
static void plot_curves(const Config *c, const TrainerState *state) {
    int n = cJSON_GetArraySize(state->log_history);
    double *xs = xmalloc(sizeof(double) * (size_t)(n + 1)), *ya = xmalloc(sizeof(double) * (size_t)(n + 1));
    double *yt = xmalloc(sizeof(double) * (size_t)(n + 1)), *yl = xmalloc(sizeof(double) * (size_t)(n + 1));
    for (int i = 0; i < n; i++) {
        const cJSON *e = cJSON_GetArrayItem(state->log_history, i);
        xs[i] = cJSON_GetObjectItem(e, "step")->valuedouble;
        ya[i] = cJSON_GetObjectItem(e, "eval_accuracy")->valuedouble;
        yt[i] = cJSON_GetObjectItem(e, "train_accuracy")->valuedouble;
        yl[i] = cJSON_GetObjectItem(e, "eval_loss")->valuedouble;
    }
    Plot p = plot_new("SST-2 bag of words: accuracy and dev loss", "step", "");
    plot_add(&p, "train accuracy", xs, yt, n);
    plot_add(&p, "dev accuracy", xs, ya, n);
    plot_add(&p, "dev loss", xs, yl, n);
    mkdir_p(c->output_dir);
    char *path = c->plot_path ? xstrdup(c->plot_path) : path_join(c->output_dir, "curves.png");
    plot_save(&p, path);
    printf("curves: %s\n", path);
    plot_free(&p);
    free(path);
    free(xs);
    free(ya);
    free(yt);
    free(yl);
}

int main(int argc, char **argv) {
    const Config c = parse_flags(argc, argv);
    Data d = load_data(&c);
    const StepPlan plan = plan_steps(&c, &d);
    Run r = start_run(&c, &d, &plan);
    train(&c, &d, &plan, &r);
    finish(&c, &d, &r);
    plot_curves(&c, &r.state);
    run_free(&r);
    data_free(&d);
    return 0;
}
