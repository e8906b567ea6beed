// Lesson 17 — hyperparameters: the claims about training, happening on a real model.
//
//   build/17_hyperparameters EXPERIMENT [trainer flags]
//
//   lr            learning rates 1e-6 ... 1e-3: too small barely moves, 1e-3 forgets the pretraining
//   lr_find       a learning-rate range test (fast.ai's lr_find): loss against an exponentially growing lr
//   warmup        warmup on vs off at a high learning rate: the loss spike of the first steps
//   batch         batch 8 vs 32 vs 128 over the same examples: noise, steps per epoch, lr scaling
//   epochs        1 vs 3 vs 10 epochs of a small training set: the train/dev gap, the best checkpoint
//   weight_decay  0 vs 0.01 vs 0.1: what AdamW's decay does to the weights' norm
//
// Every run is lesson 16's trainer (common/train/trainer.h) on the default checkpoint
// (all-MiniLM-L6-v2) and SST-2, with TrainingArguments filled from the experiment's defaults,
// then the command line (so --max_train_samples, --max_seq_length, --device cuda, ... scale it),
// then the one value the experiment varies. Each run's full trainer output goes to its
// train.log; this program reads back its log_history.jsonl (and, for weight decay, its saved
// weights), prints one table and overlays the runs in one PNG under
// runs/17_hyperparameters/EXPERIMENT/ (--output_dir moves that root).
// lr_find is the exception: its learning rate changes every step, which no Hugging Face
// schedule does, so it runs its own short loop over the same pieces (backend, AdamW, batches).
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "common/core/args.h"
#include "common/core/plot.h"
#include "common/core/util.h"
#include "common/text/batch.h"
#include "common/text/dataset.h"
#include "common/text/tokenizer.h"
#include "common/train/backend.h"
#include "common/train/evaluation.h"
#include "common/train/optim.h"
#include "common/train/trainer.h"
#include "common/train/training_args.h"

#define MAX_RUNS 5

// ---- the experiments' settings ---------------------------------------------------------------

// What every experiment shares (before its own defaults and the command line): SST-2, short
// sequences, 200 dev sentences, no checkpoints, no per-run plots, a log line per step.
static const char *const COMMON =
    "--train_file data/cache/sst2/train.tsv --validation_file data/cache/sst2/dev.tsv --max_seq_length 32 "
    "--max_eval_samples 200 --per_device_eval_batch_size 50 --save_strategy no --plots false --logging_steps 1 "
    "--eval_strategy epoch";
// One epoch of the first 480 sentences in batches of 16: 30 optimizer steps.
#define EPOCH_OF_480 "--max_train_samples 480 --per_device_train_batch_size 16 --num_train_epochs 1 "

typedef struct Lab Lab;
typedef struct {
    const char *name, *claim;
    const char *defaults;  // flags after COMMON
    void (*run)(Lab *lab);
} Experiment;

struct Lab {
    const Experiment *exp;
    int argc;  // the user's trainer flags
    char **argv;
    char *flags_text;    // COMMON and the experiment's defaults, split in place into flags[0..n_flags)
    const char **flags;  // (what TrainingArguments' strings point into, so it lives as long as the lab)
    int n_flags;
    char *root;  // runs/17_hyperparameters/<experiment>
    const char *default_device;
};

// lab_split_flags: COMMON and the experiment's defaults as one argument list.
static void lab_split_flags(Lab *lab) {
    lab->flags_text = xmalloc(strlen(COMMON) + strlen(lab->exp->defaults) + 2);
    sprintf(lab->flags_text, "%s %s", COMMON, lab->exp->defaults);
    lab->flags = xmalloc(sizeof(char *) * (strlen(lab->flags_text) / 2 + 1));
    lab->n_flags = 0;
    for (char *f = strtok(lab->flags_text, " "); f; f = strtok(NULL, " ")) lab->flags[lab->n_flags++] = f;
}

// lab_args: TrainingArguments from COMMON, the experiment's defaults and the user's flags (the
// last given wins), checked as lesson 16 checks them, with output_dir = root/<run>.
static TrainingArguments lab_args(const Lab *lab, const char *run) {
    const int n = 2 + lab->n_flags + lab->argc;
    const char **argv = xmalloc(sizeof(char *) * (size_t)n);
    argv[0] = "17_hyperparameters";
    argv[1] = "train";
    memcpy(argv + 2, lab->flags, sizeof(char *) * (size_t)lab->n_flags);
    memcpy(argv + 2 + lab->n_flags, lab->argv, sizeof(char *) * (size_t)lab->argc);
    TrainingArguments a;
    ArgParser p;
    training_args_parse(&a, n, (char **)argv, &p, lab->default_device);
    free(p.specs);
    free(argv);
    a.output_dir = path_join(lab->root, run);  // freed by run_free
    return a;
}

// ---- one run and what it logged --------------------------------------------------------------

typedef struct {
    char name[32];
    TrainingArguments a;
    // from log_history.jsonl: the training log lines (loss, learning_rate at `step`), the
    // evaluations (at `eval_step`), and the run's mean training loss
    int n, n_eval;
    double *step, *loss, *lr;
    double *eval_step, *eval_epoch, *eval_loss, *eval_acc, *train_acc;
    double train_loss;
    long best_step;  // load_best_model_at_end's choice (0: none)
} Run;

static double number(const cJSON *e, const char *key) {
    const cJSON *v = cJSON_GetObjectItem(e, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

// read_history: the run's log_history.jsonl, one JSON object a line (common/train/trainer.c).
static void read_history(Run *r) {
    char *path = path_join(r->a.output_dir, "log_history.jsonl");
    char *text = read_file(path, NULL);
    int lines = 1;
    for (const char *c = text; *c; c++) lines += *c == '\n';
    double **cols[] = {&r->step,       &r->loss,      &r->lr,       &r->eval_step,
                       &r->eval_epoch, &r->eval_loss, &r->eval_acc, &r->train_acc};
    for (size_t i = 0; i < ARRAY_LEN(cols); i++) *cols[i] = xcalloc((size_t)lines, sizeof(double));
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *e = cJSON_Parse(line);
        if (!e) die("%s: a line that is not JSON", path);
        if (cJSON_GetObjectItem(e, "loss")) {
            r->step[r->n] = number(e, "step");
            r->loss[r->n] = number(e, "loss");
            r->lr[r->n++] = number(e, "learning_rate");
        } else if (cJSON_GetObjectItem(e, "eval_loss")) {
            r->eval_step[r->n_eval] = number(e, "step");
            r->eval_epoch[r->n_eval] = number(e, "epoch");
            r->eval_loss[r->n_eval] = number(e, "eval_loss");
            r->eval_acc[r->n_eval] = number(e, "eval_accuracy");
            r->train_acc[r->n_eval++] = number(e, "train_accuracy");
        } else if (cJSON_GetObjectItem(e, "train_loss")) {
            r->train_loss = number(e, "train_loss");
        }
        cJSON_Delete(e);
    }
    free(text);
    free(path);
}

// remove_checkpoints: the checkpoint-<step> folders (weights and optimizer state, about 260 MiB
// each for MiniLM); the experiments only need the log and the final model.
static void remove_checkpoints(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    for (struct dirent *e; (e = readdir(d));) {
        if (strncmp(e->d_name, "checkpoint-", 11)) continue;
        char *path = path_join(dir, e->d_name);
        rm_rf(path);
        free(path);
    }
    closedir(d);
}

// train_quietly: trainer_train with its stdout (banner, log lines, summary) in output_dir/train.log.
static void train_quietly(const TrainingArguments *a) {
    rm_rf(a->output_dir);
    mkdir_p(a->output_dir);
    char *log = path_join(a->output_dir, "train.log");
    fflush(stdout);
    int saved = dup(STDOUT_FILENO), fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (saved < 0 || fd < 0) die("%s: cannot open for writing", log);
    dup2(fd, STDOUT_FILENO);
    close(fd);
    int status = trainer_train(a);
    fflush(stdout);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    if (status) die("the run in %s stopped (status %d); its output is in %s", a->output_dir, status, log);
    free(log);
}

// run: one fine-tune; returns what it logged. The caller has set what the run varies in r->a.
static void run(Run *r) {
    fprintf(stderr, "run %s -> %s\n", r->name, r->a.output_dir);
    train_quietly(&r->a);
    read_history(r);
    // load_best_model_at_end's choice, by the trainer's rule (evaluation.h): the first evaluation
    // with the lowest eval_loss
    bool has_best = false;
    double best = 0;
    for (int i = 0; r->a.load_best_model_at_end && i < r->n_eval; i++)
        if (metric_improves(has_best, best, r->eval_loss[i], false, 0.0)) {
            has_best = true;
            best = r->eval_loss[i];
            r->best_step = (long)r->eval_step[i];
        }
}

static void run_free(Run *r) {
    double *cols[] = {r->step, r->loss, r->lr, r->eval_step, r->eval_epoch, r->eval_loss, r->eval_acc, r->train_acc};
    for (size_t i = 0; i < ARRAY_LEN(cols); i++) free(cols[i]);
    free((char *)r->a.output_dir);
}

static Run new_run(const Lab *lab, const char *name) {
    Run r = {0};
    snprintf(r.name, sizeof r.name, "%s", name);
    r.a = lab_args(lab, name);
    return r;
}

// final_dev: the last evaluation (the run's end), as loss and accuracy.
static double final_dev_loss(const Run *r) { return r->n_eval ? r->eval_loss[r->n_eval - 1] : NAN; }
static double final_dev_acc(const Run *r) { return r->n_eval ? r->eval_acc[r->n_eval - 1] : NAN; }

// mean_loss: the mean logged training loss over log lines [from, to).
static double mean_loss(const Run *r, int from, int to) {
    double s = 0;
    int n = 0;
    for (int i = from < 0 ? 0 : from; i < to && i < r->n; i++, n++) s += r->loss[i];
    return n ? s / n : NAN;
}

// max_at: the log line [from, to) with the highest training loss.
static int max_at(const Run *r, int from, int to) {
    int m = from < 0 ? 0 : from;
    for (int i = m; i < to && i < r->n; i++)
        if (r->loss[i] > r->loss[m]) m = i;
    return m;
}

static void save_plot(const Lab *lab, Plot *p) {
    char *path = path_join(lab->root, "plot.png");
    plot_save(p, path);
    printf("plot: %s\n", path);
    free(path);
    plot_free(p);
}

// plot_losses: every run's training loss against x = step * x_scale (x_scale: examples per step,
// or 1 for steps).
static void plot_losses(const Lab *lab, Run *runs, int n, const char *title, bool per_example) {
    Plot p = plot_new(title, per_example ? "training examples seen" : "optimizer step", "training loss");
    for (int i = 0; i < n; i++) {
        double *x = xmalloc(sizeof(double) * (size_t)(runs[i].n + 1));
        double scale = per_example ? runs[i].a.per_device_train_batch_size : 1;
        for (int k = 0; k < runs[i].n; k++) x[k] = runs[i].step[k] * scale;
        plot_add(&p, runs[i].name, x, runs[i].loss, runs[i].n);
        free(x);
    }
    save_plot(lab, &p);
}

// run_examples: the training examples the run went through (its epochs of max_train_samples,
// or max_steps batches).
static long run_examples(const Run *r) {
    const TrainingArguments *a = &r->a;
    if (a->max_steps > 0) return (long)a->max_steps * a->per_device_train_batch_size;
    return (long)ceil(a->max_train_samples * a->num_train_epochs);
}

static void print_budget(const Run *runs, int n) {
    long train = 0, eval = 0;
    for (int i = 0; i < n; i++) {
        train += run_examples(&runs[i]);
        eval += (long)runs[i].n_eval * runs[i].a.max_eval_samples;
    }
    printf("budget: %d runs, %ld training examples and %ld dev examples in all (max_seq_length %d, %s)\n", n, train,
           eval, runs[0].a.max_seq_length, runs[0].a.device);
}

// ---- lr: the learning-rate sweep -------------------------------------------------------------

static const char *const LR_DEFAULTS = EPOCH_OF_480 "--warmup_ratio 0.1";

static void experiment_lr(Lab *lab) {
    static const double lrs[] = {1e-6, 1e-5, 2e-5, 1e-4, 1e-3};
    Run runs[ARRAY_LEN(lrs)];
    for (size_t i = 0; i < ARRAY_LEN(lrs); i++) {
        char name[32];
        snprintf(name, sizeof name, "lr %g", lrs[i]);
        runs[i] = new_run(lab, name);
        runs[i].a.learning_rate = lrs[i];
        run(&runs[i]);
    }
    print_budget(runs, ARRAY_LEN(lrs));
    printf("\n%-10s %18s %18s %10s %12s\n", "lr", "train loss first 3", "train loss last 3", "dev loss",
           "dev accuracy");
    for (size_t i = 0; i < ARRAY_LEN(lrs); i++) {
        const Run *r = &runs[i];
        printf("%-10g %18.4f %18.4f %10.4f %12.4f\n", lrs[i], mean_loss(r, 0, 3), mean_loss(r, r->n - 3, r->n),
               final_dev_loss(r), final_dev_acc(r));
    }
    plot_losses(lab, runs, ARRAY_LEN(lrs), "training loss by learning rate", false);
    for (size_t i = 0; i < ARRAY_LEN(lrs); i++) run_free(&runs[i]);
}

// ---- warmup: on vs off at a high learning rate -----------------------------------------------

static const char *const WARMUP_DEFAULTS = EPOCH_OF_480 "--learning_rate 1e-3";

static void experiment_warmup(Lab *lab) {
    Run runs[2] = {new_run(lab, "no warmup"), new_run(lab, "warmup 20%")};
    runs[0].a.warmup_ratio = 0, runs[0].a.warmup_steps = 0;
    runs[1].a.warmup_ratio = 0.2, runs[1].a.warmup_steps = 0;
    for (int i = 0; i < 2; i++) run(&runs[i]);
    print_budget(runs, 2);
    const int early = runs[0].n / 3;
    printf("learning rate %g, linear schedule; the first %d of %d steps are 'early'\n\n", runs[0].a.learning_rate,
           early, runs[0].n);
    printf("%-12s %15s %14s %8s %16s %15s %9s %13s\n", "run", "max loss early", "max loss all", "at step",
           "mean loss early", "mean loss late", "dev loss", "dev accuracy");
    for (int i = 0; i < 2; i++) {
        const Run *r = &runs[i];
        const int peak = max_at(r, 0, r->n);
        printf("%-12s %15.4f %14.4f %8.0f %16.4f %15.4f %9.4f %13.4f\n", r->name, r->loss[max_at(r, 0, early)],
               r->loss[peak], r->step[peak], mean_loss(r, 0, early), mean_loss(r, r->n - early, r->n),
               final_dev_loss(r), final_dev_acc(r));
    }
    const long warmup = (long)ceil(0.2 * runs[1].step[runs[1].n - 1]);  // the trainer's rule, ceil(ratio x steps)
    printf("(warmup 20%%: the lr rises over the first %ld steps; step %ld is the first at %g)\n", warmup, warmup + 1,
           runs[1].a.learning_rate);
    plot_losses(lab, runs, 2, "training loss, warmup on and off", false);
    for (int i = 0; i < 2; i++) run_free(&runs[i]);
}

// ---- batch: 8 vs 32 vs 128 over the same examples --------------------------------------------

static const char *const BATCH_DEFAULTS = "--max_train_samples 640 --num_train_epochs 1 --learning_rate 5e-5";

// jitter: the mean |loss_t - loss_(t-1)| of consecutive logged steps: how noisy the curve is.
static double jitter(const Run *r) {
    double s = 0;
    for (int i = 1; i < r->n; i++) s += fabs(r->loss[i] - r->loss[i - 1]);
    return r->n > 1 ? s / (r->n - 1) : NAN;
}

static void experiment_batch(Lab *lab) {
    static const int sizes[] = {8, 32, 128};
    Run runs[4];
    const int n = 4;
    for (int i = 0; i < 3; i++) {
        char name[32];
        snprintf(name, sizeof name, "batch %d", sizes[i]);
        runs[i] = new_run(lab, name);
        runs[i].a.per_device_train_batch_size = sizes[i];
    }
    // The scaling rules: lr grows with the batch, linearly (SGD, Goyal et al. 2017) or as the
    // square root (Adam-style optimizers); the fourth run takes the square root from batch 8.
    const double lr = runs[0].a.learning_rate, sqrt_scaled = lr * sqrt(128.0 / 8.0);
    char name[32];
    snprintf(name, sizeof name, "batch 128, lr %g", sqrt_scaled);
    runs[3] = new_run(lab, name);
    runs[3].a.per_device_train_batch_size = 128;
    runs[3].a.learning_rate = sqrt_scaled;
    for (int i = 0; i < n; i++) run(&runs[i]);
    print_budget(runs, n);
    printf("the same %d examples, one epoch; from batch 8 at lr %g, batch 128 would take lr %g by the linear rule, "
           "%g by the square-root rule\n\n",
           runs[0].a.max_train_samples, lr, lr * 16, sqrt_scaled);
    printf("%-22s %5s %10s %16s %12s %10s %12s\n", "run", "batch", "lr", "steps per epoch", "loss jitter", "dev loss",
           "dev accuracy");
    for (int i = 0; i < n; i++) {
        const Run *r = &runs[i];
        printf("%-22s %5d %10g %16.0f %12.4f %10.4f %12.4f\n", r->name, r->a.per_device_train_batch_size,
               r->a.learning_rate, r->step[r->n - 1], jitter(r), final_dev_loss(r), final_dev_acc(r));
    }
    printf("(loss jitter: the mean change of the training loss from one step to the next)\n");
    plot_losses(lab, runs, n, "training loss by batch size (same examples)", true);
    for (int i = 0; i < n; i++) run_free(&runs[i]);
}

// ---- epochs: 1 vs 3 vs 10 over a small training set ------------------------------------------

static const char *const EPOCHS_DEFAULTS =
    "--max_train_samples 160 --per_device_train_batch_size 16 --learning_rate 1e-4 --logging_strategy epoch "
    "--save_strategy epoch --load_best_model_at_end true --save_total_limit 1";

static void experiment_epochs(Lab *lab) {
    static const int epochs[] = {1, 3, 10};
    Run runs[3];
    for (int i = 0; i < 3; i++) {
        char name[32];
        snprintf(name, sizeof name, "%d epoch%s", epochs[i], epochs[i] == 1 ? "" : "s");
        runs[i] = new_run(lab, name);
        runs[i].a.num_train_epochs = epochs[i];
        run(&runs[i]);
        remove_checkpoints(runs[i].a.output_dir);
    }
    print_budget(runs, 3);
    printf("%d training sentences, evaluated after every epoch; load_best_model_at_end keeps the lowest dev loss\n\n",
           runs[0].a.max_train_samples);
    printf("%-10s %6s %11s %15s %10s %13s %11s %14s %12s\n", "run", "steps", "train loss", "train accuracy", "dev loss",
           "dev accuracy", "best epoch", "best dev loss", "best dev acc");
    for (int i = 0; i < 3; i++) {
        const Run *r = &runs[i];
        int b = 0;
        while (b < r->n_eval - 1 && (long)r->eval_step[b] != r->best_step) b++;
        printf("%-10s %6.0f %11.4f %15.4f %10.4f %13.4f %11.0f %14.4f %12.4f\n", r->name, r->step[r->n - 1],
               r->loss[r->n - 1], r->train_acc[r->n_eval - 1], final_dev_loss(r), final_dev_acc(r), r->eval_epoch[b],
               r->eval_loss[b], r->eval_acc[b]);
    }
    printf("(train loss and accuracy: the last epoch's, measured while training, dropout on)\n");
    Plot p = plot_new("loss per epoch: training (10 epochs) and dev", "epoch", "loss");
    for (int i = 0; i < 3; i++) {
        char name[64];
        snprintf(name, sizeof name, "dev, %.40s", runs[i].name);
        plot_add(&p, name, runs[i].eval_epoch, runs[i].eval_loss, runs[i].n_eval);
    }
    plot_add(&p, "training, 10 epochs", runs[2].eval_epoch, runs[2].loss, runs[2].n);
    save_plot(lab, &p);
    for (int i = 0; i < 3; i++) run_free(&runs[i]);
}

// ---- weight_decay: 0 vs 0.01 vs 0.1 ----------------------------------------------------------

static const char *const WD_DEFAULTS = EPOCH_OF_480 "--learning_rate 1e-4 --save_strategy steps --save_steps 10";

// decayed_norm: sqrt(sum of w^2) over the tensors AdamW decays (not biases, not LayerNorm) of
// the model in `dir` (a checkpoint or the final model).
static double decayed_norm(const TrainingArguments *a, const char *dir, int K, const char *const *names) {
    Backend *be = backend_open("cpu", dir, K, names, (unsigned long)a->seed, 1, a->max_seq_length, false);
    double s = 0;
    for (int t = 0; t < be->ps->n_tensors; t++) {
        const ParamTensor *p = &be->ps->tensors[t];
        if (!p->decay) continue;
        for (size_t i = 0; i < p->numel; i++)
            s += (double)be->ps->params[p->offset + i] * be->ps->params[p->offset + i];
    }
    be->close(be);
    return sqrt(s);
}

// decay_factor: what AdamW's decay alone does over the run: prod_t (1 - lr_t * wd), with the
// learning rate of every logged step (the run logs each step).
static double decay_factor(const Run *r) {
    double f = 1;
    for (int i = 0; i < r->n; i++) f *= 1 - r->lr[i] * r->a.weight_decay;
    return f;
}

static void experiment_weight_decay(Lab *lab) {
    static const double wds[] = {0, 0.01, 0.1};
    static const char *const names[] = {"0", "1"};  // SST-2's labels: the classifier the runs start from
    Run runs[3];
    double *norm[3], *at[3];
    int n_norm[3];
    double start = NAN;
    for (int i = 0; i < 3; i++) {
        char name[32];
        snprintf(name, sizeof name, "weight_decay %g", wds[i]);
        runs[i] = new_run(lab, name);
        runs[i].a.weight_decay = wds[i];
        run(&runs[i]);
        const TrainingArguments *a = &runs[i].a;
        if (i == 0) start = decayed_norm(a, a->model_name_or_path, 2, names);
        // the norm at step 0, at every checkpoint, and of the final model
        norm[i] = xmalloc(sizeof(double) * (size_t)(runs[i].n + 2));
        at[i] = xmalloc(sizeof(double) * (size_t)(runs[i].n + 2));
        norm[i][0] = start, at[i][0] = 0, n_norm[i] = 1;
        const long last = (long)runs[i].step[runs[i].n - 1];
        for (long s = a->save_steps; s < last; s += a->save_steps) {
            char sub[48];
            snprintf(sub, sizeof sub, "checkpoint-%ld", s);
            char *dir = path_join(a->output_dir, sub);
            at[i][n_norm[i]] = (double)s;
            norm[i][n_norm[i]++] = decayed_norm(a, dir, 0, NULL);
            free(dir);
        }
        at[i][n_norm[i]] = (double)last;
        norm[i][n_norm[i]++] = decayed_norm(a, a->output_dir, 0, NULL);
        remove_checkpoints(a->output_dir);
    }
    print_budget(runs, 3);
    printf("||w||: the norm of the weights AdamW decays (not biases or LayerNorm), %.4f before training\n\n", start);
    printf("%-18s %12s %14s %22s %10s %12s\n", "run", "final ||w||", "change", "decay alone predicts", "dev loss",
           "dev accuracy");
    for (int i = 0; i < 3; i++) {
        const Run *r = &runs[i];
        const double end = norm[i][n_norm[i] - 1];
        printf("%-18s %12.4f %14.4f %22.4f %10.4f %12.4f\n", r->name, end, end - start, start * (decay_factor(r) - 1),
               final_dev_loss(r), final_dev_acc(r));
    }
    printf("(decay alone: ||w|| x (prod over steps of (1 - lr_t x weight_decay) - 1), the gradient steps left out)\n");
    Plot p = plot_new("norm of the decayed weights", "optimizer step", "||w||");
    for (int i = 0; i < 3; i++) plot_add(&p, runs[i].name, at[i], norm[i], n_norm[i]);
    save_plot(lab, &p);
    for (int i = 0; i < 3; i++) {
        free(norm[i]);
        free(at[i]);
        run_free(&runs[i]);
    }
}

// ---- lr_find: the learning-rate range test ---------------------------------------------------

static const char *const LR_FIND_DEFAULTS = "--max_train_samples 960 --per_device_train_batch_size 16";

// The range test (Smith 2015; fast.ai's lr_find): one short run whose learning rate grows
// exponentially from LR_START to LR_END over the steps, lr_t = start * (end/start)^(t/(steps-1)),
// recording the loss of each step. The loss is smoothed as fast.ai does, an exponential moving
// average with bias correction, s_t = (b s_(t-1) + (1-b) loss_t) / (1 - b^(t+1)) (here the EMA
// before correction), and the run stops once s_t > 4 min(s): it diverged.
#define LR_START    1e-7
#define LR_END      1.0
#define SMOOTH_BETA 0.98

typedef struct {
    int n;
    double *lr, *loss, *smooth;
} RangeTest;

static RangeTest range_test(const TrainingArguments *a) {
    Tokenizer *tok = tokenizer_from_pretrained(a->model_name_or_path);
    DatasetOptions o = dataset_default_options();
    o.max_samples = a->max_train_samples;
    TextDataset d = dataset_load(a->train_file, &o);
    TokenizedSet set = tokenize_dataset(tok, &d);
    const int B = a->per_device_train_batch_size, steps = d.n / B;
    if (steps < 2) die("lr_find needs at least 2 batches: --max_train_samples %d gives %d of %d", d.n, steps, B);
    Backend *be = backend_open(a->device, a->model_name_or_path, d.labels.n, (const char *const *)d.labels.names,
                               (unsigned long)a->seed, B, a->max_seq_length, false);
    Optimizer opt;
    optimizer_init(&opt,
                   (OptimizerConfig){.kind = OPT_ADAMW,
                                     .beta1 = a->adam_beta1,
                                     .beta2 = a->adam_beta2,
                                     .eps = a->adam_epsilon,
                                     .weight_decay = a->weight_decay},
                   be->ps);
    Rng rng;
    rng_seed(&rng, (uint64_t)a->seed, RNG_STREAM_DROPOUT);
    int *order = xmalloc(sizeof(int) * (size_t)d.n);
    epoch_order((uint64_t)training_args_data_seed(a), 0, order, d.n);
    RangeTest rt = {0, xmalloc(sizeof(double) * steps), xmalloc(sizeof(double) * steps),
                    xmalloc(sizeof(double) * steps)};
    const EncodeOptions eo = {.max_length = a->max_seq_length};
    Batch x = {0};
    double avg = 0, best = INFINITY;
    for (int t = 0; t < steps; t++) {
        const double lr = LR_START * pow(LR_END / LR_START, (double)t / (steps - 1));
        collate(tok, &set, order + (size_t)t * B, B, &eo, &x);
        be->zero_grad(be);
        double loss;
        be->forward(be, &x, true, &rng, &loss);
        if (!isfinite(loss)) break;
        be->backward(be, 1.0f / (float)B);
        be->step(be, &opt, lr, a->max_grad_norm);
        avg = SMOOTH_BETA * avg + (1 - SMOOTH_BETA) * loss;
        const double smooth = avg / (1 - pow(SMOOTH_BETA, t + 1));
        rt.lr[rt.n] = lr, rt.loss[rt.n] = loss, rt.smooth[rt.n++] = smooth;
        best = fmin(best, smooth);
        if (smooth > 4 * best) break;
    }
    batch_free(&x);
    free(order);
    optimizer_free(&opt);
    be->close(be);
    tokenized_set_free(&set);
    dataset_free(&d);
    tokenizer_free(tok);
    return rt;
}

static void experiment_lr_find(Lab *lab) {
    TrainingArguments a = lab_args(lab, "lr_find");
    printf("budget: 1 run of up to %d steps of batch %d (max_seq_length %d, %s), lr %g to %g\n",
           a.max_train_samples / a.per_device_train_batch_size, a.per_device_train_batch_size, a.max_seq_length,
           a.device, LR_START, LR_END);
    RangeTest rt = range_test(&a);
    // the two rules fast.ai printed: the minimum of the smoothed loss divided by 10, and the
    // steepest descent of the smoothed loss against log(lr) (before the minimum)
    int at_min = 0, steepest = 1;
    for (int t = 1; t < rt.n; t++)
        if (rt.smooth[t] < rt.smooth[at_min]) at_min = t;
    for (int t = 1; t <= at_min; t++)
        if (rt.smooth[t] - rt.smooth[t - 1] < rt.smooth[steepest] - rt.smooth[steepest - 1]) steepest = t;
    printf("\n%6s %12s %10s %14s\n", "step", "lr", "loss", "smoothed loss");
    const int every = rt.n > 12 ? rt.n / 12 : 1;
    for (int t = 0; t < rt.n; t++)
        if (t % every == 0 || t == rt.n - 1 || t == at_min)
            printf("%6d %12.3e %10.4f %14.4f%s\n", t + 1, rt.lr[t], rt.loss[t], rt.smooth[t],
                   t == at_min ? "  <- minimum" : "");
    printf("%s after %d steps\n",
           rt.n < a.max_train_samples / a.per_device_train_batch_size
               ? "stopped: the smoothed loss passed 4 x its minimum"
               : "reached the last lr",
           rt.n);
    printf("minimum of the smoothed loss %.4f at lr %.3e: suggested lr (minimum / 10) %.3e\n", rt.smooth[at_min],
           rt.lr[at_min], rt.lr[at_min] / 10);
    printf("steepest descent of the smoothed loss at lr %.3e\n", rt.lr[steepest]);
    double *log_lr = xmalloc(sizeof(double) * (size_t)rt.n);
    for (int t = 0; t < rt.n; t++) log_lr[t] = log10(rt.lr[t]);
    Plot p = plot_new("learning-rate range test", "log10(learning rate)", "training loss");
    plot_add(&p, "loss", log_lr, rt.loss, rt.n);
    plot_add(&p, "smoothed loss", log_lr, rt.smooth, rt.n);
    mkdir_p(lab->root);
    save_plot(lab, &p);
    free(log_lr);
    free(rt.lr), free(rt.loss), free(rt.smooth);
    free((char *)a.output_dir);
}

// ---- main ------------------------------------------------------------------------------------

static const Experiment EXPERIMENTS[] = {
    {"lr", "learning rates 1e-6 ... 1e-3: too small barely moves, 1e-3 forgets what pretraining learned", LR_DEFAULTS,
     experiment_lr},
    {"lr_find", "a learning-rate range test: loss against an exponentially growing lr, with a suggestion",
     LR_FIND_DEFAULTS, experiment_lr_find},
    {"warmup", "warmup on vs off at a high learning rate: the loss spike of the first steps", WARMUP_DEFAULTS,
     experiment_warmup},
    {"batch", "batch 8 vs 32 vs 128 over the same examples: noise, steps per epoch, lr scaling", BATCH_DEFAULTS,
     experiment_batch},
    {"epochs", "1 vs 3 vs 10 epochs of 160 sentences: the train/dev gap, the best checkpoint", EPOCHS_DEFAULTS,
     experiment_epochs},
    {"weight_decay", "weight decay 0 vs 0.01 vs 0.1: the norm of the weights", WD_DEFAULTS, experiment_weight_decay},
};

static void print_menu(void) {
    printf("Lesson 17: hyperparameters on a real fine-tune (all-MiniLM-L6-v2 on SST-2, lesson 16's trainer).\n\n"
           "usage: build/17_hyperparameters EXPERIMENT [trainer flags, as build/16_trainer --help lists them]\n\n");
    for (size_t i = 0; i < ARRAY_LEN(EXPERIMENTS); i++) {
        printf("  %-13s %s\n  %-13s defaults: %s\n", EXPERIMENTS[i].name, EXPERIMENTS[i].claim, "",
               EXPERIMENTS[i].defaults);
    }
    printf("\nEvery experiment also uses: %s\n", COMMON);
    printf("Flags given after EXPERIMENT win over these (except the value the experiment varies);\n"
           "the results go to runs/17_hyperparameters/EXPERIMENT/ (--output_dir moves the root).\n");
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        print_menu();
        return 0;
    }
    const Experiment *exp = NULL;
    for (size_t i = 0; i < ARRAY_LEN(EXPERIMENTS); i++)
        if (!strcmp(argv[1], EXPERIMENTS[i].name)) exp = &EXPERIMENTS[i];
    if (!exp) die("unknown experiment '%s': use lr, lr_find, warmup, batch, epochs or weight_decay", argv[1]);
    const char *no_gpu = backend_gpu_unavailable();
    Lab lab = {.exp = exp, .argc = argc - 2, .argv = argv + 2, .default_device = no_gpu ? "cpu" : "cuda"};
    // the root: --output_dir when given, else runs/17_hyperparameters; one folder per experiment
    const char *root = "runs/17_hyperparameters";
    for (int i = 0; i + 1 < lab.argc; i++)
        if (!strcmp(lab.argv[i], "--output_dir")) root = lab.argv[i + 1];
    lab.root = path_join(root, exp->name);
    lab_split_flags(&lab);
    TrainingArguments probe = lab_args(&lab, "probe");  // the flags checked before any run
    if (!strcmp(probe.device, "cuda") && no_gpu) die("--device cuda: %s", no_gpu);
    if (probe.threads > 0) omp_set_num_threads(probe.threads);
    free((char *)probe.output_dir);
    mkdir_p(lab.root);
    printf("== %s: %s ==\n", exp->name, exp->claim);
    const double t0 = now_seconds();
    exp->run(&lab);
    printf("(%s took %.0f s)\n", exp->name, now_seconds() - t0);
    free(lab.root);
    free(lab.flags);
    free(lab.flags_text);
    return 0;
}
