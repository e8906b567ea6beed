// trainer.c — see trainer.h: the trainer's run, assembled from what lessons 01-15 built.
// Introduced by lesson 16 (the trainer); lesson 17 runs it once per experiment.
#include "common/train/trainer.h"

#include <fcntl.h>
#include <math.h>
#include <omp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/core/plot.h"
#include "common/core/progress.h"
#include "common/core/rng.h"
#include "common/core/util.h"
#include "common/model/bert_io.h"
#include "common/model/loss.h"
#include "common/model/memory.h"
#include "common/text/batch.h"
#include "common/text/dataset.h"
#include "common/text/tokenizer.h"
#include "common/train/backend.h"
#include "common/train/checkpoint.h"
#include "common/train/dist.h"
#include "common/train/evaluation.h"
#include "common/train/metrics.h"
#include "common/train/optim.h"
#include "common/train/schedule.h"
#include "common/train/steps.h"
#include "common/train/tensorboard.h"
#include "common/train/training_args.h"

// ---- SIGINT: finish the current step, save a checkpoint, exit ------------------------------
// The handler only sets a flag; the loop looks at it after each optimizer step (after_step),
// saves a checkpoint there and unwinds: everything is freed and main returns 130.
// Under mpirun, Ctrl-C reaches mpirun alone, which sends every rank SIGTERM (and SIGKILL
// odls_base_sigkill_timeout seconds later, 1 by default): there SIGTERM is the interrupt. mpirun
// also stops reading the ranks' output then, so stdout and stderr turn non-blocking: a line the
// full pipe cannot take is lost, rather than the rank blocked until it is killed unsaved.

static volatile sig_atomic_t interrupted = 0;  // the signal caught, 0 for none
static void on_sigint(int sig) {
    interrupted = sig;
    if (sig == SIGTERM)  // fcntl is async-signal-safe
        for (int fd = STDOUT_FILENO; fd <= STDERR_FILENO; fd++) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static void catch_sigint(void) {
    struct sigaction sa = {0};
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    if (dist_world() > 1) sigaction(SIGTERM, &sa, NULL);
}

// interrupted_on_any_rank: whether any rank caught the interrupt (every rank asks after every
// step: the signal reaches ranks in different steps, and all must stop after the same one).
static bool interrupted_on_any_rank(void) {
    double any = interrupted != 0;
    dist_sum_doubles(&any, 1);
    return any > 0;
}

static const char *interrupt_name(void) {
    if (interrupted == SIGTERM) return "SIGTERM";
    if (interrupted == SIGINT) return "SIGINT";
    return "on another rank";
}

// ---- data ----------------------------------------------------------------------------------

typedef struct {
    TextDataset text;
    TokenizedSet tok;
} Split;

// load_split: a TSV/CSV with the run's columns (its first max_samples rows when > 0, as run_glue.py's
// max_train_samples / max_eval_samples), tokenized once. labels: the label set to map names with
// (NULL: build it from this file); with_labels false reads no label column (predict).
static Split load_split(const TrainingArguments *a, const char *path, const LabelSet *labels, bool with_labels,
                        int max_samples, const Tokenizer *tok, ProblemType problem) {
    DatasetOptions o = dataset_default_options();
    char *columns = xstrdup(a->text_column), *comma = strchr(columns, ',');
    if (comma) {
        *comma = '\0';
        o.text_column_b = comma + 1;
    }
    o.text_column = columns;
    o.label_column = with_labels ? a->label_column : NULL;
    o.labels = labels;
    o.max_samples = max_samples;
    o.problem = problem;
    Split s = {.text = dataset_load(path, &o)};
    free(columns);
    s.tok = tokenize_dataset(tok, &s.text);
    return s;
}

static void split_free(Split *s) {
    dataset_free(&s->text);
    tokenized_set_free(&s->tok);
}

// ---- evaluation and prediction -------------------------------------------------------------

// forward_all: logits (n,K) of every example, in file order, batch by batch (dropout off).
static float *forward_all(Backend *be, const Tokenizer *tok, const Split *s, const EncodeOptions *eo, int batch) {
    const int n = s->text.n, K = be->num_labels;
    float *all = xmalloc(sizeof(float) * (size_t)n * K);
    int *rows = xmalloc(sizeof(int) * (size_t)batch);
    Batch x = {0};
    for (int start = 0; start < n; start += batch) {
        int B = start + batch <= n ? batch : n - start;
        for (int r = 0; r < B; r++) rows[r] = start + r;
        collate(tok, &s->tok, rows, B, eo, &x);
        const float *logits = be->forward(be, &x, false, NULL, NULL);
        memcpy(all + (size_t)start * K, logits, sizeof(float) * (size_t)B * K);
    }
    batch_free(&x);
    free(rows);
    return all;
}

// evaluate: the metrics of s's problem type (common/train/evaluation.h); label_smoothing: the
// Trainer's eval loss is label-smoothed too (compute_loss runs in prediction_step).
static EvalResult evaluate(Backend *be, const Tokenizer *tok, const Split *s, const EncodeOptions *eo, int batch,
                           double label_smoothing) {
    const double t0 = now_seconds();
    float *logits = forward_all(be, tok, s, eo, batch);
    EvalResult r;
    if (s->text.problem == PROBLEM_MULTI_LABEL) {
        eval_begin_multi(&r, be->num_labels);
        eval_add_multi(&r, logits, s->text.target, s->tok.n);
    } else if (s->text.problem == PROBLEM_REGRESSION) {
        eval_begin(&r, be->num_labels);
        eval_add_values(&r, logits, s->text.target, s->tok.n);
    } else {
        eval_begin(&r, be->num_labels);
        r.label_smoothing = label_smoothing;
        eval_add_batch(&r, logits, s->tok.label, s->tok.n);
    }
    eval_finish(&r);
    r.runtime = now_seconds() - t0;
    free(logits);
    return r;
}

// print_eval: "eval_loss 0.3120  eval_accuracy 0.8750  eval_f1 0.8748 (f1 per class: neg 0.87 pos 0.88)"
static void print_eval(const EvalResult *r, char *const *names) {
    if (r->regression) {
        printf("eval_loss %.4f  eval_mse %.4f  eval_pearson %.4f  eval_spearmanr %.4f", r->loss, r->mse, r->pearson,
               r->spearmanr);
        return;
    }
    if (r->multi_label) {
        printf("eval_loss %.4f  eval_micro_f1 %.4f  eval_macro_f1 %.4f  eval_subset_accuracy %.4f", r->loss,
               r->micro_f1, r->macro_f1, r->subset_accuracy);
        return;
    }
    printf("eval_loss %.4f  eval_accuracy %.4f  eval_f1 %.4f  (f1 per class:", r->loss, r->m.accuracy, r->m.macro_f1);
    for (int k = 0; k < r->m.K; k++) printf(" %s %.4f", names[k], r->m.f1[k]);
    printf(")");
}

// print_confusion: a newline, then the confusion matrix of a single-label evaluation.
static void print_confusion(const EvalResult *r, char *const *names) {
    printf("\n");
    if (r->regression || r->multi_label) return;
    printf("confusion matrix (rows: true label, columns: predicted):\n");
    confusion_print(stdout, &r->conf, (const char *const *)names);
}

// write_predictions: one TSV row per example: index, predicted label, probabilities, logits.
static void write_predictions(const char *path, const float *logits, int n, int K, char *const *names) {
    FileReplacement w = replace_begin(path);
    FILE *f = w.f;
    fprintf(f, "index\tlabel");
    for (int k = 0; k < K; k++) fprintf(f, "\tprob_%s", names[k]);
    for (int k = 0; k < K; k++) fprintf(f, "\tlogit_%s", names[k]);
    fprintf(f, "\n");
    float *probs = xmalloc(sizeof(float) * (size_t)K);
    int *zero = xcalloc(1, sizeof(int)), pred;
    for (int i = 0; i < n; i++) {
        const float *z = logits + (size_t)i * K;
        cross_entropy_forward(z, zero, 1, K, probs);  // softmax (the loss against class 0 is unused)
        argmax_rows(z, 1, K, &pred);
        fprintf(f, "%d\t%s", i, names[pred]);
        for (int k = 0; k < K; k++) fprintf(f, "\t%.9g", probs[k]);
        for (int k = 0; k < K; k++) fprintf(f, "\t%.9g", z[k]);
        fprintf(f, "\n");
    }
    replace_commit(&w);
    free(probs);
    free(zero);
}

// model_problem: the problem type a model was trained for: its config's problem_type, else as
// BertForSequenceClassification infers it (one output: regression).
static ProblemType model_problem(const Backend *be) {
    const ProblemType p = problem_type_parse(be->config->problem_type);
    return p ? p : be->num_labels == 1 ? PROBLEM_REGRESSION : PROBLEM_SINGLE_LABEL;
}

// write_other_predictions: regression: "index  score"; multi-label: "index  labels" (the names
// whose logit > 0, joined by MULTI_LABEL_SEP), then each class's sigmoid and logit.
static void write_other_predictions(const char *path, ProblemType problem, const float *logits, int n, int K,
                                    char *const *names) {
    FileReplacement w = replace_begin(path);
    FILE *f = w.f;
    fprintf(f, "index\t%s", problem == PROBLEM_REGRESSION ? "score" : "labels");
    for (int k = 0; problem == PROBLEM_MULTI_LABEL && k < K; k++) fprintf(f, "\tprob_%s", names[k]);
    for (int k = 0; problem == PROBLEM_MULTI_LABEL && k < K; k++) fprintf(f, "\tlogit_%s", names[k]);
    fprintf(f, "\n");
    for (int i = 0; i < n; i++) {
        const float *z = logits + (size_t)i * K;
        fprintf(f, "%d\t", i);
        if (problem == PROBLEM_REGRESSION) {
            fprintf(f, "%.9g\n", z[0]);
            continue;
        }
        for (int k = 0, first = 1; k < K; k++)
            if (z[k] > 0) fprintf(f, "%s%s", first ? "" : (char[]){MULTI_LABEL_SEP, 0}, names[k]), first = 0;
        for (int k = 0; k < K; k++) fprintf(f, "\t%.9g", 1.0 / (1.0 + exp(-(double)z[k])));
        for (int k = 0; k < K; k++) fprintf(f, "\t%.9g", z[k]);
        fprintf(f, "\n");
    }
    replace_commit(&w);
}

static char *predictions_path(const TrainingArguments *a) {
    if (a->predictions_file) return xstrdup(a->predictions_file);
    mkdir_p(a->output_dir);
    return path_join(a->output_dir, "predictions.tsv");
}

static void predict(const TrainingArguments *a, Backend *be, const Tokenizer *tok, const EncodeOptions *eo) {
    Split test = load_split(a, a->test_file, NULL, false, 0, tok, PROBLEM_AUTO);
    float *logits = forward_all(be, tok, &test, eo, a->per_device_eval_batch_size);
    char *path = predictions_path(a);
    const ProblemType problem = model_problem(be);
    if (problem == PROBLEM_SINGLE_LABEL) write_predictions(path, logits, test.text.n, be->num_labels, be->id2label);
    else write_other_predictions(path, problem, logits, test.text.n, be->num_labels, be->id2label);
    printf("predictions: %s (%d rows: %s)\n", path, test.text.n,
           problem == PROBLEM_REGRESSION        ? "score"
               : problem == PROBLEM_MULTI_LABEL ? "labels whose logit > 0, sigmoid probabilities, logits"
                                                : "label, probabilities, logits");
    free(path);
    free(logits);
    split_free(&test);
}

// ---- the training run ----------------------------------------------------------------------

typedef struct {
    const TrainingArguments *a;
    Backend *be;
    Tokenizer *tok;
    EncodeOptions eo;
    Split train, dev;
    bool has_dev;
    StepPlan plan;
    Interval log, eval, save;
    Optimizer opt;
    Schedule sched;
    TrainerState state;
    Progress prog;
    // since the last log line / the last evaluation
    double log_loss_sum;
    long log_examples;
    double log_start;
    long acc_correct, acc_seen;
    long run_examples;
    bool warned_overfit, stop;
    bool interrupted;  // stopped by SIGINT: a checkpoint was saved, the run is not finished
    EvalResult last_eval;
    long last_eval_step;       // the latest evaluation (0: none yet)
    long skipped_steps;        // fp16: optimizer steps skipped on overflow
    float *dlogits, *targets;  // (B,K) scratch of a loss computed here (train_loss_backward)
    double run_step_loss_sum;  // this run's optimizer-step losses (group means), summed
    double train_tokens;       // padded tokens of this run's training batches (total_flos)
    TbWriter *tb;              // --report_to tensorboard (NULL: none)
    int tb_reported;           // log_history entries already in the event file
} Run;

static void write_model(const char *dir, void *ctx) {
    Backend *be = ctx;
    be->save_pretrained(be, dir);
}

// run_info: the arguments a resumed run must share with the run that saved the checkpoint
// (they decide the data order and the step arithmetic), stored in trainer_state.json.
static cJSON *run_info(const Run *r) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "train_batch_size", r->a->per_device_train_batch_size);
    cJSON_AddNumberToObject(o, "world_size", r->plan.n_devices);
    cJSON_AddNumberToObject(o, "gradient_accumulation_steps", r->a->gradient_accumulation_steps);
    cJSON_AddNumberToObject(o, "num_train_examples", r->plan.num_examples);
    cJSON_AddNumberToObject(o, "max_steps", (double)r->plan.total_steps);
    cJSON_AddNumberToObject(o, "num_train_epochs", r->plan.epochs);
    cJSON_AddNumberToObject(o, "data_seed", training_args_data_seed(r->a));
    cJSON_AddNumberToObject(o, "logging_steps", r->a->logging_steps);
    cJSON_AddNumberToObject(o, "eval_steps", r->a->eval_steps);
    cJSON_AddNumberToObject(o, "save_steps", r->a->save_steps);
    return o;
}

// per_device_to_global: a checkpoint resumes on another number of ranks when the batch of all
// ranks together is the same (the same data order and steps): train_batch_size is compared as
// per-device batch x world_size (a checkpoint without world_size: 1 rank).
static void per_device_to_global(const cJSON *saved, const cJSON *now) {
    const cJSON *w_saved = cJSON_GetObjectItem(saved, "world_size"), *w_now = cJSON_GetObjectItem(now, "world_size");
    cJSON *b_saved = cJSON_GetObjectItem(saved, "train_batch_size"),
          *b_now = cJSON_GetObjectItem(now, "train_batch_size");
    if (!cJSON_IsNumber(b_saved)) return;  // reported as missing by the caller
    cJSON_SetNumberValue(b_saved, b_saved->valuedouble * (cJSON_IsNumber(w_saved) ? w_saved->valuedouble : 1));
    cJSON_SetNumberValue(b_now, b_now->valuedouble * w_now->valuedouble);
}

// tokenizer_files_hash: the files tokenizer_from_pretrained may read from the model directory
// (another vocabulary gives other ids: other data).
static uint64_t tokenizer_files_hash(const TrainingArguments *a) {
    const char *names[] = {"vocab.txt", "tokenizer.json", "tokenizer_config.json"};
    uint64_t h = FNV1A_INIT;
    for (size_t i = 0; i < ARRAY_LEN(names); i++) {
        char *path = path_join(a->model_name_or_path, names[i]);
        const uint64_t file = hash_file(path);
        h = fnv1a(h, &file, sizeof file);
        free(path);
    }
    return h;
}

// check_ranks_agree: under mpirun, every rank must run the same flags on the same files (a rank
// on another machine may see other data): compared by hash before any work, one line if not.
static void check_ranks_agree(Run *r) {
    if (dist_world() == 1) return;
    const TrainingArguments *a = r->a;
    dist_check_same("--train_file contents", hash_file(a->train_file));
    char *config = path_join(a->model_name_or_path, "config.json"),
         *weights = path_join(a->model_name_or_path, "model.safetensors");
    dist_check_same("model (config.json and model.safetensors)", hash_file(config) ^ hash_file(weights) * 31);
    free(config);
    free(weights);
    dist_check_same("tokenizer (vocab.txt, tokenizer.json, tokenizer_config.json)", tokenizer_files_hash(a));
    cJSON *info = run_info(r);
    char *text = cJSON_PrintUnformatted(info);
    dist_check_same("batch and step flags", fnv1a(FNV1A_INIT, text, strlen(text)));
    free(text);
    cJSON_Delete(info);
    uint64_t h = fnv1a(FNV1A_INIT, &a->learning_rate, sizeof a->learning_rate);
    h = fnv1a(h, &a->seed, sizeof a->seed);
    h = fnv1a(h, &a->max_grad_norm, sizeof a->max_grad_norm);
    h = fnv1a(h, &a->weight_decay, sizeof a->weight_decay);
    h = fnv1a(h, &a->max_seq_length, sizeof a->max_seq_length);
    dist_check_same("optimizer flags (learning_rate, seed, max_grad_norm, weight_decay, max_seq_length)", h);
    if (!dist_is_main()) r->has_dev = false;  // rank 0 evaluates (common/train/steps.h says why)
}

// check_resume_matches: read before the model is loaded, so a mismatch is the run's only line.
static void check_resume_matches(const Run *r, const char *dir) {
    TrainerState saved_state;
    trainer_state_init(&saved_state);
    char *path = path_join(dir, "trainer_state.json");
    trainer_state_read(path, &saved_state);
    free(path);
    const cJSON *saved = saved_state.info;
    static const char *keys[] = {"train_batch_size", "gradient_accumulation_steps", "num_train_examples", "max_steps",
                                 "data_seed"};
    if (saved_state.global_step < 0 || saved_state.global_step > r->plan.total_steps)
        die("%s/trainer_state.json: global_step %ld is outside this run's steps 0..%ld", dir, saved_state.global_step,
            r->plan.total_steps);
    cJSON *now = run_info(r);
    per_device_to_global(saved, now);
    for (size_t i = 0; i < ARRAY_LEN(keys); i++) {
        const cJSON *x = cJSON_GetObjectItem(saved, keys[i]), *y = cJSON_GetObjectItem(now, keys[i]);
        if (!cJSON_IsNumber(x)) die("%s/trainer_state.json: no %s (not a checkpoint of this trainer?)", dir, keys[i]);
        if (x->valuedouble != y->valuedouble)
            die("--resume_from_checkpoint %s: the checkpoint's run had %s %g, this one has %g; resume with the same "
                "data "
                "and batch flags",
                dir, keys[i], x->valuedouble, y->valuedouble);
    }
    cJSON_Delete(now);
    trainer_state_free(&saved_state);
}

static void write_log_history(const Run *r) {
    char *path = path_join(r->a->output_dir, "log_history.jsonl");
    FileReplacement w = replace_begin(path);
    for (const cJSON *e = r->state.log_history->child; e; e = e->next) {
        char *line = cJSON_PrintUnformatted(e);
        fprintf(w.f, "%s\n", line);
        free(line);
    }
    replace_commit(&w);
    free(path);
}

// The fp16 loss scaler's state (torch's scaler.pt) travels in trainer_state.json as "grad_scaler".
static void save_scaler_state(Run *r) {
    cJSON_DeleteItemFromObject(r->state.info, "grad_scaler");
    if (r->be->scaler) cJSON_AddItemToObject(r->state.info, "grad_scaler", grad_scaler_state(r->be->scaler));
}

static void load_scaler_state(Run *r, const char *dir) {
    const cJSON *saved = cJSON_GetObjectItem(r->state.info, "grad_scaler");
    if (!r->be->scaler || !saved) return;  // none saved (an fp32/bf16 run): torch's initial scale
    char *path = path_join(dir, "trainer_state.json");
    *r->be->scaler = grad_scaler_load_state(saved, path);
    free(path);
}

static char *save_checkpoint(Run *r) {
    if (!dist_is_main()) return NULL;  // rank 0 writes; every rank holds the same weights
    if (r->be->sync_to_host) r->be->sync_to_host(r->be, &r->opt);
    save_scaler_state(r);
    mkdir_p(r->a->output_dir);
    char *dir = checkpoint_save_with(r->a->output_dir, r->be->ps, &r->opt, &r->state, r->a->save_total_limit,
                                     write_model, r->be);
    write_log_history(r);
    return dir;
}

// die_on_bad_loss: a NaN/inf loss means the run diverged (the loss scaler only guards the
// backward: an fp16 forward that overflows is as final); nothing after it is usable.
static void die_on_bad_loss(const Run *r, double loss, long step) {
    if (isfinite(loss)) return;
    char *last = checkpoint_latest(r->a->output_dir);
    die("step %ld: the training loss is %s. The run diverged; the last good checkpoint is %s. Lower --learning_rate "
        "(now %g) or use a longer warmup%s, and resume from that checkpoint or start again",
        step + 1, isnan(loss) ? "NaN" : "inf", last ? last : "none (no checkpoint was saved yet)", r->a->learning_rate,
        r->a->fp16 ? " (with --fp16 an activation may have passed fp16's largest value, 65504: --bf16 has fp32's range)"
                   : "");
}

static void log_training(Run *r, long step, double grad_norm, double lr) {
    double loss = r->log_loss_sum / (double)r->log_examples, now = now_seconds();
    double rate = (double)r->log_examples / (now - r->log_start);
    progress_clear(&r->prog);
    printf("step %ld/%ld  epoch %.2f | loss %.4f  grad_norm %.4f  learning_rate %.3e | %.1f samples/s\n", step,
           r->plan.total_steps, r->state.epoch, loss, grad_norm, lr, rate);
    fflush(stdout);
    cJSON *e = cJSON_CreateObject();
    cJSON_AddNumberToObject(e, "loss", loss);
    cJSON_AddNumberToObject(e, "grad_norm", grad_norm);
    cJSON_AddNumberToObject(e, "learning_rate", lr);
    cJSON_AddNumberToObject(e, "epoch", r->state.epoch);
    cJSON_AddNumberToObject(e, "step", (double)step);
    log_history_add(&r->state, e);
    r->log_loss_sum = 0;
    r->log_examples = 0;
    r->log_start = now;
}

// count_for_early_stopping: EarlyStoppingCallback's patience counter after an evaluation whose
// metric is `value`: reset when it improves on the best by more than the threshold, else one more.
static void count_for_early_stopping(Run *r, double value) {
    const TrainingArguments *a = r->a;
    const bool improved = metric_improves(r->state.has_best, r->state.best_metric, value, a->greater_is_better,
                                          a->early_stopping_threshold);
    r->state.early_stopping_counter = improved ? 0 : r->state.early_stopping_counter + 1;
}

// evaluate_and_track: an evaluation line, the best model, early stopping, the over-fitting
// warning. Returns whether this evaluation is the best so far.
static bool evaluate_and_track(Run *r, long step) {
    const TrainingArguments *a = r->a;
    EvalResult ev = evaluate(r->be, r->tok, &r->dev, &r->eo, a->per_device_eval_batch_size, a->label_smoothing_factor);
    double train_acc = r->acc_seen ? (double)r->acc_correct / (double)r->acc_seen : -1;
    bool best = false;
    progress_clear(&r->prog);
    printf("step %ld/%ld  epoch %.2f | ", step, r->plan.total_steps, r->state.epoch);
    print_eval(&ev, r->be->id2label);
    if (train_acc >= 0) printf(" | train_accuracy %.4f", train_acc);
    if (a->metric_for_best_model) {
        double value = metric_value(&ev, a->metric_for_best_model);
        best = metric_improves(r->state.has_best, r->state.best_metric, value, a->greater_is_better, 0.0);
        count_for_early_stopping(r, value);  // EarlyStoppingCallback runs before the best is updated (HF's order)
        if (best) {
            r->state.has_best = true;
            r->state.best_metric = value;
            r->state.best_global_step = step;
            printf("  *best %s*", a->metric_for_best_model);
        }
    }
    printf("\n");
    log_history_add(&r->state, eval_entry(step, r->state.epoch, &ev, (const char *const *)r->be->id2label, train_acc));
    if (train_acc >= 0 && train_acc - ev.m.accuracy > a->overfit_gap && !r->warned_overfit) {
        printf("warning: train accuracy %.4f is %.4f above eval accuracy %.4f (--overfit_gap %g): the model is "
               "over-fitting; fewer epochs, more weight decay or more data will help\n",
               train_acc, train_acc - ev.m.accuracy, ev.m.accuracy, a->overfit_gap);
        r->warned_overfit = true;
    }
    if (a->early_stopping_patience > 0 && r->state.early_stopping_counter >= a->early_stopping_patience) {
        printf("early stopping: %s has not improved by more than %g for %d evaluations (best %.4f at step %ld)\n",
               a->metric_for_best_model, a->early_stopping_threshold, r->state.early_stopping_counter,
               r->state.best_metric, r->state.best_global_step);
        r->stop = true;
    }
    fflush(stdout);
    r->acc_correct = r->acc_seen = 0;
    if (r->last_eval_step) eval_result_free(&r->last_eval);
    r->last_eval = ev;
    r->last_eval_step = step;
    return best;
}

// evaluate_on_start: --eval_on_start, the Trainer's evaluation before the first step (or at the
// step a resumed run starts from): logged, and seen by early stopping, but never the best model
// (the Trainer picks the best when it saves a checkpoint).
static void evaluate_on_start(Run *r) {
    const TrainingArguments *a = r->a;
    const long step = r->state.global_step;
    EvalResult ev = evaluate(r->be, r->tok, &r->dev, &r->eo, a->per_device_eval_batch_size, a->label_smoothing_factor);
    printf("step %ld/%ld  epoch %.2f | ", step, r->plan.total_steps, r->state.epoch);
    print_eval(&ev, r->be->id2label);
    printf("  (eval_on_start)\n");
    if (a->metric_for_best_model && a->early_stopping_patience > 0)
        count_for_early_stopping(r, metric_value(&ev, a->metric_for_best_model));
    log_history_add(&r->state, eval_entry(step, r->state.epoch, &ev, (const char *const *)r->be->id2label, -1));
    fflush(stdout);
    eval_result_free(&ev);
}

// ---- --report_to tensorboard: TensorBoardCallback (common/train/tensorboard.h) --------------

// report_open: the event file in $TENSORBOARD_LOGGING_DIR, else in transformers' default_logdir
// under output_dir (output_dir/runs/<date>_<host>/); what a resumed run had logged before is not
// written again (the Trainer's callback sees only the new logs). Rank 0 only, as in HF.
static void report_open(Run *r) {
    if (strcmp(r->a->report_to, "tensorboard") || !dist_is_main()) return;
    const char *env = getenv("TENSORBOARD_LOGGING_DIR");
    char *dir = env && env[0] ? xstrdup(env) : tb_default_logdir(r->a->output_dir);
    r->tb = tb_open(dir);
    r->tb_reported = cJSON_GetArraySize(r->state.log_history);
    printf("tensorboard          %s (tensorboard --logdir %s/runs)\n", r->tb->path, r->a->output_dir);
    free(dir);
}

// report_new_logs: the log_history entries added since the last call, each at its "step".
static void report_new_logs(Run *r) {
    if (!r->tb) return;
    const int n = cJSON_GetArraySize(r->state.log_history);
    for (; r->tb_reported < n; r->tb_reported++) {
        const cJSON *e = cJSON_GetArrayItem(r->state.log_history, r->tb_reported),
                    *step = cJSON_GetObjectItem(e, "step");
        tb_log(r->tb, e, cJSON_IsNumber(step) ? (long)step->valuedouble : r->state.global_step);
    }
}

// after_step: what happens after optimizer step `step`: logging, evaluation, saving (HF's order).
static void after_step(Run *r, const MicroBatch *mb, long step, double grad_norm, double lr) {
    const bool epoch_end = mb->ends_epoch || step == r->plan.total_steps;
    bool best = false, saved = false;
    if (fires_after_step(r->log, step, r->plan.total_steps, false) || (epoch_end && fires_after_epoch(r->log)))
        log_training(r, step, grad_norm, lr);
    if (r->has_dev &&
        (fires_after_step(r->eval, step, r->plan.total_steps, true) || (epoch_end && fires_after_epoch(r->eval))))
        best = evaluate_and_track(r, step);
    if (fires_after_step(r->save, step, r->plan.total_steps, true) || (epoch_end && fires_after_epoch(r->save))) {
        if (best)
            snprintf(r->state.best_model_checkpoint, sizeof r->state.best_model_checkpoint, "%s/checkpoint-%ld",
                     r->a->output_dir, step);
        free(save_checkpoint(r));
        saved = true;
    }
    report_new_logs(r);
    if (interrupted_on_any_rank()) {
        if (!saved) free(save_checkpoint(r));
        progress_end(&r->prog);
        printf("interrupted (%s) at step %ld: checkpoint %s/checkpoint-%ld saved; continue with "
               "--resume_from_checkpoint %s/checkpoint-%ld\n",
               interrupt_name(), step, r->a->output_dir, step, r->a->output_dir, step);
        r->stop = r->interrupted = true;
    }
}

// gather_targets: out (B,K) = the float targets (regression values, multi-hot rows) of rows.
static void gather_targets(const TextDataset *d, const int *rows, int B, float *out) {
    const int K = d->labels.n;
    for (int b = 0; b < B; b++) memcpy(out + (size_t)b * K, d->target + (size_t)rows[b] * K, sizeof(float) * K);
}

// train_loss_backward: the training forward of batch x (examples rows) and the backward of
// its loss with weight 1/group_examples per example; *loss gets the batch's mean loss. The
// model's own cross-entropy, or, for the other losses, one computed here from the logits
// (common/model/loss.h), as BertForSequenceClassification picks it from config.problem_type and
// the Trainer's LabelSmoother replaces it when label_smoothing_factor > 0.
static const float *train_loss_backward(Run *r, const Batch *x, const int *rows, long group_examples, double *loss) {
    const ProblemType problem = r->train.text.problem;
    const double eps = r->a->label_smoothing_factor;
    const float weight = 1.0f / (float)group_examples;
    if (problem == PROBLEM_SINGLE_LABEL && eps == 0) {
        const float *logits = r->be->forward(r->be, x, true, &r->state.rng, loss);
        r->be->backward(r->be, weight);
        return logits;
    }
    const int B = x->B, K = r->be->num_labels;
    const float *logits = r->be->forward(r->be, x, true, &r->state.rng, NULL);
    r->dlogits = xrealloc(r->dlogits, sizeof(float) * (size_t)B * K);
    if (problem == PROBLEM_SINGLE_LABEL) {
        *loss = smoothed_cross_entropy_loss(logits, batch_labels(x), B, K, eps, weight, r->dlogits);
    } else {
        r->targets = xrealloc(r->targets, sizeof(float) * (size_t)B * K);
        gather_targets(&r->train.text, rows, B, r->targets);
        *loss = problem == PROBLEM_REGRESSION ? mse_loss(logits, r->targets, B, weight, r->dlogits)
                                              : bce_with_logits_loss(logits, r->targets, B, K, weight, r->dlogits);
    }
    r->be->backward_from_dlogits(r->be, r->dlogits);
    return logits;
}

// train_forward_backward: train_loss_backward, counting what the result files report.
static const float *train_forward_backward(Run *r, const Batch *x, const int *rows, long group_examples, double *loss) {
    const float *logits = train_loss_backward(r, x, rows, group_examples, loss);
    r->run_step_loss_sum += *loss * x->B / (double)group_examples;  // the group's mean, micro-batch by micro-batch
    r->train_tokens += (double)x->B * x->T;
    return logits;
}

// ---- data parallel: what the ranks share (common/train/dist.h; one process: no-ops) ----------

// The counts a log line, the train accuracy and the summary are made of, as doubles so that
// one sum over the ranks carries them all.
typedef struct {
    double log_loss_sum, log_examples, acc_correct, acc_seen, run_examples, run_step_loss_sum, train_tokens;
} StepStats;

static StepStats step_stats(const Run *r) {
    return (StepStats){r->log_loss_sum,         (double)r->log_examples, (double)r->acc_correct, (double)r->acc_seen,
                       (double)r->run_examples, r->run_step_loss_sum,    r->train_tokens};
}

// average_over_ranks: at the end of an accumulation group, before the optimizer step (so the
// clipped norm is the averaged gradient's): grads <- the mean of every rank's, and what this
// group added to the logged counts <- the sum of every rank's additions. The logged loss is then
// the mean over all ranks' examples (equal counts per rank: the mean of the ranks' means, as the
// Trainer's gathered tr_loss).
static void average_over_ranks(Run *r, const StepStats *start) {
    if (r->be->all_reduce_grads) r->be->all_reduce_grads(r->be);  // on the device (the GPU's NCCL)
    if (dist_world() == 1) return;
    if (!r->be->all_reduce_grads) dist_mean_floats(r->be->ps->grads, r->be->ps->numel);
    StepStats now = step_stats(r), added;  // added: this group's additions, then summed over the ranks
    const double *s = (const double *)start, *e = (const double *)&now;
    double *d = (double *)&added;
    const int n = (int)(sizeof added / sizeof(double));
    for (int i = 0; i < n; i++) d[i] = e[i] - s[i];
    dist_sum_doubles(d, n);
    r->log_loss_sum = start->log_loss_sum + added.log_loss_sum;
    r->log_examples = (long)(start->log_examples + added.log_examples);
    r->acc_correct = (long)(start->acc_correct + added.acc_correct);
    r->acc_seen = (long)(start->acc_seen + added.acc_seen);
    r->run_examples = (long)(start->run_examples + added.run_examples);
    // the ranks' group means, averaged (HF's gathered mean)
    r->run_step_loss_sum = start->run_step_loss_sum + added.run_step_loss_sum / dist_world();
    r->train_tokens = start->train_tokens + added.train_tokens;
}

// stop_with_rank0: rank 0 alone evaluates (early stopping); the others stop when it does.
static void stop_with_rank0(Run *r) {
    if (dist_world() == 1) return;
    char stop = r->stop;
    dist_bcast_from_main(&stop, 1);
    r->stop = stop;
}

// train_loop: the micro-batches of lesson 05's accumulation, with the Trainer's events.
static void train_loop(Run *r) {
    const TrainingArguments *a = r->a;
    const int B = a->per_device_train_batch_size, N = r->train.text.n;
    const int data_seed = training_args_data_seed(a);
    int *order = xmalloc(sizeof(int) * (size_t)N), order_epoch = -1, *pred = xmalloc(sizeof(int) * (size_t)B);
    int *rows = xmalloc(sizeof(int) * (size_t)B);
    StepStats group_start = {0};
    Batch x = {0};
    long group_examples = 0;
    r->prog = progress_begin(r->plan.total_steps, r->state.global_step, 0);
    r->log_start = now_seconds();
    StepCursor cur = steps_begin(&r->plan, r->state.global_step);
    MicroBatch mb;
    while (!r->stop && steps_next(&cur, &mb)) {
        if (mb.epoch != order_epoch) {
            epoch_order((uint64_t)data_seed, mb.epoch, order, N);
            order_epoch = mb.epoch;
        }
        const int n = steps_shard_batch(&r->plan, order, dist_rank(), mb.batch_in_epoch, rows);
        if (mb.index_in_group == 0) {
            // The group's loss is the mean over ALL its examples (a short last group included).
            group_examples = steps_group_examples(&r->plan, &mb);
            r->be->zero_grad(r->be);
            group_start = step_stats(r);
        }
        collate(r->tok, &r->train.tok, rows, n, &r->eo, &x);
        r->be->last_backward = mb.ends_group;
        double loss;
        const float *logits = train_forward_backward(r, &x, rows, group_examples, &loss);
        die_on_bad_loss(r, loss, mb.global_step);
        if (x.labels) {  // train accuracy: single-label classification
            argmax_rows(logits, n, r->be->num_labels, pred);
            for (int i = 0; i < n; i++) r->acc_correct += pred[i] == x.labels[i];
            r->acc_seen += n;
        }
        r->log_loss_sum += loss * n;
        r->log_examples += n;
        r->run_examples += n;
        if (!mb.ends_group) continue;
        average_over_ranks(r, &group_start);

        // The schedule advances with the optimizer steps taken: an fp16 step skipped on overflow
        // (opt.step unchanged) skips the scheduler step too, as the Hugging Face Trainer does.
        const long opt_step = r->opt.step;
        const double lr = schedule_lr(&r->sched, opt_step);
        const double grad_norm = r->be->step(r->be, &r->opt, lr, a->max_grad_norm);
        r->skipped_steps += r->opt.step == opt_step;
        const long step = mb.global_step + 1;
        r->state.global_step = step;
        r->state.epoch = (double)step / (double)r->plan.updates_per_epoch;
        r->state.optimizer_step = r->opt.step;
        // Logged as the Trainer of transformers 5 does: the learning rate this update used (read
        // before the scheduler steps; transformers 4 logged the next update's).
        progress_update(&r->prog, mb.epoch, r->plan.epochs, step,
                        r->log_loss_sum / (double)(r->log_examples ? r->log_examples : 1), lr, group_examples);
        after_step(r, &mb, step, grad_norm, lr);
        stop_with_rank0(r);
    }
    progress_end(&r->prog);
    if (r->be->scaler)
        printf("fp16 loss scaling: %ld optimizer step%s skipped on overflow, loss scale now %g\n", r->skipped_steps,
               r->skipped_steps == 1 ? "" : "s", r->be->scaler->scale);
    batch_free(&x);
    free(order);
    free(rows);
    free(pred);
}

// ---- plots and the end of the run ----------------------------------------------------------

// history_series: (step, key) pairs of every log_history entry that has `key`.
static int history_series(const cJSON *hist, const char *key, double *xs, double *ys) {
    int n = 0;
    for (const cJSON *e = hist->child; e; e = e->next) {
        const cJSON *v = cJSON_GetObjectItem(e, key), *s = cJSON_GetObjectItem(e, "step");
        if (cJSON_IsNumber(v) && cJSON_IsNumber(s)) {
            xs[n] = s->valuedouble;
            ys[n++] = v->valuedouble;
        }
    }
    return n;
}

// save_plot: p into output_dir/plots/file; returns the path, or NULL (nothing written) when p
// has no series.
static char *save_plot(const Run *r, Plot *p, const char *file) {
    if (!p->n_series) return NULL;
    char *dir = path_join(r->a->output_dir, "plots"), *path = path_join(dir, file);
    mkdir_p(dir);
    plot_save(p, path);
    plot_free(p);
    free(dir);
    return path;
}

static char *plot_series(const Run *r, const char *file, const char *title, const char *const *keys, int n_keys) {
    int cap = cJSON_GetArraySize(r->state.log_history) + 1;
    double *xs = xmalloc(sizeof(double) * (size_t)cap), *ys = xmalloc(sizeof(double) * (size_t)cap);
    Plot p = plot_new(title, "step", "");
    for (int i = 0; i < n_keys; i++) {
        int n = history_series(r->state.log_history, keys[i], xs, ys);
        if (n) plot_add(&p, keys[i], xs, ys, n);
    }
    free(xs);
    free(ys);
    return save_plot(r, &p, file);
}

// plot_schedule: the learning rate of every step trained, from the schedule itself (the rate
// update s used, schedule_lr(s - 1)), so a run shorter than --logging_steps still shows its
// warmup and decay. (An fp16 step skipped on overflow repeats a rate; the log has those.)
static char *plot_schedule(const Run *r) {
    const long n = r->state.global_step;
    double *xs = xmalloc(sizeof(double) * (size_t)(n ? n : 1)), *ys = xmalloc(sizeof(double) * (size_t)(n ? n : 1));
    for (long s = 1; s <= n; s++) {
        xs[s - 1] = (double)s;
        ys[s - 1] = schedule_lr(&r->sched, s - 1);
    }
    Plot p = plot_new("learning rate", "step", "");
    if (n) plot_add(&p, r->a->lr_scheduler_type, xs, ys, (int)n);
    free(xs);
    free(ys);
    return save_plot(r, &p, "learning_rate.png");
}

// write_plots: loss.png (the logged losses, and the run's mean train_loss as a point at its last
// step), learning_rate.png (the schedule) and eval.png; prints the paths written.
static void write_plots(const Run *r) {
    char *files[3] = {
        plot_series(r, "loss.png", "training and eval loss", (const char *[]){"loss", "eval_loss", "train_loss"}, 3),
        plot_schedule(r),
        r->has_dev
            ? plot_series(r, "eval.png", "eval metrics",
                          (const char *[]){"eval_accuracy", "eval_f1", "train_accuracy", "eval_pearson",
                                           "eval_spearmanr", "eval_micro_f1", "eval_macro_f1", "eval_subset_accuracy"},
                          8)
            : NULL};
    printf("plots               ");
    for (int i = 0; i < 3; i++)
        if (files[i]) printf(" %s", files[i]);
    printf("\n");
    for (int i = 0; i < 3; i++) free(files[i]);
}

// save_final_model: the model's Hugging Face files straight into output_dir (beside the
// checkpoints), each file renamed into place.
static void save_final_model(Run *r) {
    char *tmp = path_join(r->a->output_dir, "tmp-final-model");
    rm_rf(tmp);
    if (r->be->sync_to_host) r->be->sync_to_host(r->be, &r->opt);
    r->be->save_pretrained(r->be, tmp);
    static const char *files[] = {"config.json",           "model.safetensors",       "vocab.txt",
                                  "tokenizer_config.json", "special_tokens_map.json", "tokenizer.json"};
    for (size_t i = 0; i < ARRAY_LEN(files); i++) {
        char *from = path_join(tmp, files[i]), *to = path_join(r->a->output_dir, files[i]);
        if (file_exists(from)) atomic_rename(from, to);
        free(from);
        free(to);
    }
    rm_rf(tmp);
    free(tmp);
}

// ---- HF's result files: Trainer.save_state and run_glue.py's save_metrics ------------------

// train_loss: TrainOutput.training_loss: the mean of the run's optimizer-step losses (each the
// mean over its accumulation group), over the steps this run trained.
static double train_loss(const Run *r, long steps_run) {
    return steps_run > 0 ? r->run_step_loss_sum / (double)steps_run : 0.0;
}

// total_flos: transformers' floating_point_ops summed over the training batches:
// 6 x (parameters outside the embedding tables) x (padded tokens: input_ids.numel()).
static double total_flos(const Run *r) {
    size_t embeddings = 0;
    for (int i = 0; i < r->be->ps->n_tensors; i++)
        if (strstr(r->be->ps->tensors[i].name, "_embeddings.")) embeddings += r->be->ps->tensors[i].numel;
    return 6.0 * (double)(r->be->ps->numel - embeddings) * r->train_tokens;
}

// train_metrics: TrainOutput.metrics (speed_metrics' rounding included), as logged at the end.
static cJSON *train_metrics(const Run *r, double seconds, long steps_run) {
    const double samples = r->a->max_steps > 0
        ? (double)r->a->max_steps * r->plan.per_device_train_batch_size * r->plan.gradient_accumulation_steps
        : (double)r->plan.num_examples * r->a->num_train_epochs;  // HF's num_train_samples
    const double t = seconds > 0 ? seconds : 1e-9;
    cJSON *m = cJSON_CreateObject();
    cJSON_AddNumberToObject(m, "train_runtime", round(seconds * 1e4) / 1e4);
    cJSON_AddNumberToObject(m, "train_samples_per_second",
                            round(samples * (double)steps_run / (double)r->plan.total_steps / t * 1e3) / 1e3);
    cJSON_AddNumberToObject(m, "train_steps_per_second", round((double)steps_run / t * 1e3) / 1e3);
    cJSON_AddNumberToObject(m, "total_flos", total_flos(r));
    cJSON_AddNumberToObject(m, "train_loss", train_loss(r, steps_run));
    cJSON_AddNumberToObject(m, "epoch", r->state.epoch);
    return m;
}

// eval_metrics: Trainer.evaluate()'s metrics of the final model (eval_* as logged, runtime and
// speed), with run_glue.py's eval_samples.
static cJSON *eval_metrics(const Run *r, const EvalResult *ev) {
    cJSON *m = eval_entry(0, r->state.epoch, ev, (const char *const *)r->be->id2label, -1);
    cJSON_DeleteItemFromObject(m, "step");
    const double t = ev->runtime > 0 ? ev->runtime : 1e-9;
    const int batches = (r->dev.text.n + r->a->per_device_eval_batch_size - 1) / r->a->per_device_eval_batch_size;
    cJSON_AddNumberToObject(m, "eval_runtime", round(ev->runtime * 1e4) / 1e4);
    cJSON_AddNumberToObject(m, "eval_samples_per_second", round(r->dev.text.n / t * 1e3) / 1e3);
    cJSON_AddNumberToObject(m, "eval_steps_per_second", round(batches / t * 1e3) / 1e3);
    cJSON_AddNumberToObject(m, "eval_samples", r->dev.text.n);
    return m;
}

// hf_trainer_state: TrainerState as Trainer.save_state writes it to output_dir/trainer_state.json
// (the checkpoints' trainer_state.json keep this trainer's own fields for resuming).
static cJSON *hf_trainer_state(const Run *r) {
    const TrainingArguments *a = r->a;
    const TrainerState *st = &r->state;
    cJSON *s = cJSON_CreateObject();
    if (st->has_best) cJSON_AddNumberToObject(s, "best_global_step", (double)st->best_global_step);
    else cJSON_AddNullToObject(s, "best_global_step");
    if (st->has_best) cJSON_AddNumberToObject(s, "best_metric", st->best_metric);
    else cJSON_AddNullToObject(s, "best_metric");
    if (st->best_model_checkpoint[0]) cJSON_AddStringToObject(s, "best_model_checkpoint", st->best_model_checkpoint);
    else cJSON_AddNullToObject(s, "best_model_checkpoint");
    cJSON_AddNumberToObject(s, "epoch", st->epoch);
    cJSON_AddNumberToObject(s, "eval_steps", a->eval_steps > 0 ? a->eval_steps : 500);  // HF's default when unset
    cJSON_AddNumberToObject(s, "global_step", (double)st->global_step);
    cJSON_AddBoolToObject(s, "is_hyper_param_search", false);
    cJSON_AddBoolToObject(s, "is_local_process_zero", true);
    cJSON_AddBoolToObject(s, "is_world_process_zero", true);
    cJSON_AddItemToObject(s, "log_history", cJSON_Duplicate(st->log_history, true));
    cJSON_AddNumberToObject(s, "logging_steps", a->logging_steps);
    cJSON_AddNumberToObject(s, "max_steps", (double)r->plan.total_steps);
    cJSON_AddNumberToObject(s, "num_input_tokens_seen", 0);
    cJSON_AddNumberToObject(s, "num_train_epochs", r->plan.epochs);
    cJSON_AddNumberToObject(s, "save_steps", a->save_steps);
    cJSON *control = cJSON_AddObjectToObject(cJSON_AddObjectToObject(s, "stateful_callbacks"), "TrainerControl");
    cJSON *flags = cJSON_AddObjectToObject(control, "args");
    static const char *names[] = {"should_epoch_stop", "should_evaluate", "should_log", "should_save",
                                  "should_training_stop"};
    for (size_t i = 0; i < ARRAY_LEN(names); i++) cJSON_AddBoolToObject(flags, names[i], false);
    cJSON_AddObjectToObject(control, "attributes");
    cJSON_AddNumberToObject(s, "total_flos", total_flos(r));
    cJSON_AddNumberToObject(s, "train_batch_size", a->per_device_train_batch_size);
    cJSON_AddNullToObject(s, "trial_name");
    cJSON_AddNullToObject(s, "trial_params");
    return s;
}

// write_json: output_dir/name, renamed into place.
static void write_json(const char *dir, const char *name, const cJSON *j) {
    char *path = path_join(dir, name), *text = cJSON_Print(j);
    FileReplacement w = replace_begin(path);
    fprintf(w.f, "%s\n", text);
    replace_commit(&w);
    free(text), free(path);
}

// write_results: what run_glue.py leaves in output_dir after training: train_results.json (with
// train_samples), eval_results.json (when there is eval data), all_results.json (both) and
// trainer_state.json. Takes train and eval (may be NULL) over.
static void write_results(const Run *r, cJSON *train, cJSON *eval) {
    cJSON_AddNumberToObject(train, "train_samples", r->plan.num_examples);
    cJSON *all = cJSON_Duplicate(train, true), *state = hf_trainer_state(r);
    write_json(r->a->output_dir, "train_results.json", train);
    for (const cJSON *it = eval ? eval->child : NULL; it; it = it->next)
        if (!cJSON_GetObjectItem(all, it->string)) cJSON_AddItemToObject(all, it->string, cJSON_Duplicate(it, true));
    if (eval) write_json(r->a->output_dir, "eval_results.json", eval);
    write_json(r->a->output_dir, "all_results.json", all);
    write_json(r->a->output_dir, "trainer_state.json", state);
    cJSON_Delete(train), cJSON_Delete(eval), cJSON_Delete(all), cJSON_Delete(state);
}

static void finish_run(Run *r, double seconds, long start_step) {
    const TrainingArguments *a = r->a;
    long model_step = r->state.global_step;  // the step whose weights the final model has
    if (a->load_best_model_at_end && r->state.best_model_checkpoint[0]) {
        checkpoint_load(r->state.best_model_checkpoint, r->be->ps, NULL, NULL);
        if (r->be->params_changed) r->be->params_changed(r->be);
        model_step = r->state.best_global_step;
        printf("loaded the best model: %s (%s %.4f at step %ld)\n", r->state.best_model_checkpoint,
               a->metric_for_best_model, r->state.best_metric, r->state.best_global_step);
    }
    long steps_run = r->state.global_step - start_step;
    double rate = seconds > 0 ? (double)r->run_examples / seconds : 0;
    cJSON *train = train_metrics(r, seconds, steps_run), *e = cJSON_Duplicate(train, true), *eval = NULL;
    cJSON_AddNumberToObject(e, "step", (double)r->state.global_step);
    log_history_add(&r->state, e);
    report_new_logs(r);
    mkdir_p(a->output_dir);
    save_final_model(r);
    write_log_history(r);

    printf("\n== Summary ==\n");
    char dur[32];
    format_duration(seconds, dur, sizeof dur);
    printf("trained              %ld steps (%ld this run) in %s, %.1f samples/s, train loss %.4f\n",
           r->state.global_step, steps_run, dur, rate, train_loss(r, steps_run));
    if (r->has_dev) {
        // The final model's evaluation: the one made at its step when there is one, else a new one.
        EvalResult ev = r->last_eval_step == model_step
            ? r->last_eval
            : evaluate(r->be, r->tok, &r->dev, &r->eo, a->per_device_eval_batch_size, a->label_smoothing_factor);
        if (r->last_eval_step && r->last_eval_step != model_step) eval_result_free(&r->last_eval);
        r->last_eval_step = 0;
        printf("final model on eval  ");
        print_eval(&ev, r->be->id2label);
        print_confusion(&ev, r->be->id2label);
        eval = eval_metrics(r, &ev);
        eval_result_free(&ev);
    }
    write_results(r, train, eval);
    if (r->state.has_best)
        printf("best                 step %ld, %s %.4f (%s)\n", r->state.best_global_step, a->metric_for_best_model,
               r->state.best_metric, r->state.best_model_checkpoint[0] ? r->state.best_model_checkpoint : "not saved");
    printf("final model          %s/ (config.json, model.safetensors, vocab.txt; "
           "BertForSequenceClassification.from_pretrained loads it)\n",
           a->output_dir);
    printf("log                  %s/log_history.jsonl; trainer_state.json, train_results.json%s, all_results.json\n",
           a->output_dir, eval ? ", eval_results.json" : "");
    if (a->plots) write_plots(r);
}

// max_batch: the largest batch the model runs (training or evaluation), what its activations are
// allocated for.
static int max_batch(const TrainingArguments *a) {
    return a->per_device_train_batch_size > a->per_device_eval_batch_size ? a->per_device_train_batch_size
                                                                          : a->per_device_eval_batch_size;
}

// print_checkpointing: with --gradient_checkpointing, what it saves: lesson 15's activation
// formula (common/model/memory.h) for the batch the activations are allocated for, with and without.
static void print_checkpointing(const TrainingArguments *a, int K) {
    BertConfig c = bert_config_load(a->model_name_or_path, K);
    const int B = max_batch(a), T = a->max_seq_length;
    const ActivationMemory with = activation_memory(&c, B, T, 4, true), without = activation_memory(&c, B, T, 4, false);
    printf("memory               gradient checkpointing: activations %.2f MiB instead of %.2f MiB for batches of up to "
           "%d x %d (lesson 15's formula); each layer is recomputed in the backward\n",
           (double)with.total / (1 << 20), (double)without.total / (1 << 20), B, T);
    bert_config_free(&c);
}

// print_optimizer: the banner's optimizer line: AdamW's or SGD's numbers, the schedule and its kwargs.
static void print_optimizer(const TrainingArguments *a, const OptimizerConfig *c) {
    if (c->kind == OPT_SGD)
        printf("optimizer            SGD lr %g, momentum %g, dampening %g%s, weight_decay %g (L2, not on "
               "biases/LayerNorm), ",
               a->learning_rate, c->momentum, c->dampening, c->nesterov ? ", nesterov" : "", a->weight_decay);
    else
        printf("optimizer            AdamW lr %g, betas (%g, %g), eps %g, weight_decay %g (not on biases/LayerNorm), ",
               a->learning_rate, a->adam_beta1, a->adam_beta2, a->adam_epsilon, a->weight_decay);
    printf("max_grad_norm %g, %s schedule", a->max_grad_norm, a->lr_scheduler_type);
    if (a->lr_scheduler_kwargs) printf(" %s", a->lr_scheduler_kwargs);
    printf("\n");
}

// print_data_line: the training file, its size and what its labels are.
static void print_data_line(const Run *r, const LabelSet *labels) {
    const ProblemType p = r->train.text.problem;
    printf("data                 %s: %d examples, ", r->a->train_file, r->train.text.n);
    if (p == PROBLEM_REGRESSION) {
        printf("regression (one output, MSE loss)\n");
        return;
    }
    printf("%d classes%s (", labels->n, p == PROBLEM_MULTI_LABEL ? ", multi-label (BCE-with-logits loss)" : "");
    for (int k = 0; k < labels->n; k++) printf("%s%d=%s", k ? ", " : "", k, labels->names[k]);
    printf(")%s\n", r->a->label_smoothing_factor > 0 ? ", label smoothing" : "");
}

// print_banner: the run's arithmetic (lesson 02's printout) and what it runs on.
static void print_banner(const Run *r, const LabelSet *labels) {
    const TrainingArguments *a = r->a;
    printf("model                %s (%zu parameters)\n", a->model_name_or_path, r->be->ps->numel);
    print_data_line(r, labels);
    if (r->has_dev) printf("eval data            %s: %d examples\n", a->validation_file, r->dev.text.n);
    const int threads = omp_get_max_threads();
    const char *precision = a->bf16 ? "bf16 mixed precision (fp32 master weights)"
        : a->fp16                   ? "fp16 mixed precision (fp32 master weights, dynamic loss scaling)"
                                    : "fp32";
    printf("device               %s, %d thread%s, %s; max_seq_length %d with dynamic padding\n", r->be->device, threads,
           threads == 1 ? "" : "s", precision, a->max_seq_length);
    if (a->gradient_checkpointing) print_checkpointing(a, labels->n);
    print_optimizer(a, &r->opt.cfg);
    printf("\n== The plan ==\n");
    steps_print_plan(&r->plan, r->log, r->eval, r->save);
    printf("\n");
}

// run_problem: --problem_type, else the checkpoint's config.problem_type when it names what the
// labels cannot tell (regression, multi-label; the model's setting wins in transformers too),
// else PROBLEM_AUTO: inferred from the labels (common/text/dataset.h).
static ProblemType run_problem(const TrainingArguments *a) {
    if (a->problem_type) return problem_type_parse(a->problem_type);
    BertConfig c = bert_config_load(a->model_name_or_path, 0);
    ProblemType p = problem_type_parse(c.problem_type);
    bert_config_free(&c);
    return p == PROBLEM_SINGLE_LABEL ? PROBLEM_AUTO : p;
}

// set_problem_type: the model's config.problem_type (saved in config.json, as the first forward
// with labels sets it in transformers); label smoothing needs a classification.
static void set_problem_type(Run *r) {
    const ProblemType p = r->train.text.problem;
    const double eps = r->a->label_smoothing_factor;
    if (eps > 0 && p == PROBLEM_REGRESSION)  // the LabelSmoother would fail on float labels
        die("--label_smoothing_factor %g: label smoothing is for classification, and the labels of %s make this run "
            "a regression",
            eps, r->a->train_file);
    if (eps > 0 && p == PROBLEM_MULTI_LABEL)
        printf("warning: label smoothing is not compatible with multi-label classification; disabled for this run (as "
               "the Trainer does)\n");
    if (eps > 0 && p == PROBLEM_SINGLE_LABEL) return;  // the model never sees the labels: config unchanged, as HF
    free(r->be->config->problem_type);
    r->be->config->problem_type = xstrdup(problem_type_name(p));
}

// remember_columns: the data columns go into the saved config.json, so that evaluate and predict
// read files of the same layout without --text_column / --label_column (training_args.c).
static void remember_columns(Run *r) {
    BertConfig *c = r->be->config;
    free(c->text_column), free(c->label_column);
    c->text_column = xstrdup(r->a->text_column);
    c->label_column = xstrdup(r->a->label_column);
}

static char *resolve_resume(const TrainingArguments *a) {
    const char *v = a->resume_from_checkpoint;
    if (!v || !strcmp(v, "false")) return NULL;
    if (strcmp(v, "true")) {
        if (!dir_exists(v)) die("--resume_from_checkpoint %s: no such checkpoint directory", v);
        return xstrdup(v);
    }
    char *latest = checkpoint_latest(a->output_dir);
    if (!latest) die("--resume_from_checkpoint true: no checkpoint-<step> directory in %s", a->output_dir);
    return latest;
}

// open_backend: the model with activations for the run's batches. With --auto_find_batch_size,
// an out-of-memory halves the training batch until it fits, as accelerate's
// find_executable_batch_size does for the Trainer (the eval batch is not changed; the step
// arithmetic is planned again for the batch found).
static Backend *open_backend(Run *r, TrainingArguments *args, const LabelSet *labels) {
    const int requested = max_batch(args);
    Backend *be = backend_open(args->device, args->model_name_or_path, labels->n, (const char *const *)labels->names,
                               (unsigned long)args->seed, args->auto_find_batch_size ? 1 : requested,
                               args->max_seq_length, args->gradient_checkpointing);
    if (!args->auto_find_batch_size) return be;
    if (!be->try_alloc_batch) die("--auto_find_batch_size: the %s backend cannot retry its allocation", be->device);
    while (!be->try_alloc_batch(be, max_batch(args))) {
        if (args->per_device_train_batch_size <= args->per_device_eval_batch_size)
            die("out of memory for batches of %d: --auto_find_batch_size lowers only the training batch (now %d); "
                "lower --per_device_eval_batch_size",
                max_batch(args), args->per_device_train_batch_size);
        args->per_device_train_batch_size /= 2;
        printf("auto_find_batch_size: out of memory; trying per_device_train_batch_size %d (effective batch %d)\n",
               args->per_device_train_batch_size,
               args->per_device_train_batch_size * args->gradient_accumulation_steps);
    }
    if (max_batch(args) != requested) {
        r->plan.per_device_train_batch_size = args->per_device_train_batch_size;
        steps_plan(&r->plan);
    }
    return be;
}

int trainer_train(const TrainingArguments *given) {
    TrainingArguments args = *given;  // --auto_find_batch_size may lower the training batch
    const TrainingArguments *a = &args;
    Run r = {.a = a};
    r.tok = tokenizer_from_pretrained(a->model_name_or_path);
    r.eo = (EncodeOptions){.max_length = a->max_seq_length};
    r.train = load_split(a, a->train_file, NULL, true, a->max_train_samples, r.tok, run_problem(a));
    const LabelSet *labels = &r.train.text.labels;
    r.has_dev = a->validation_file != NULL;
    if (r.has_dev)
        r.dev = load_split(a, a->validation_file, labels, true, a->max_eval_samples, r.tok, r.train.text.problem);
    training_args_intervals(a, &r.log, &r.eval, &r.save);
    r.plan = (StepPlan){.num_examples = r.train.text.n,
                        .per_device_train_batch_size = a->per_device_train_batch_size,
                        .per_device_eval_batch_size = a->per_device_eval_batch_size,
                        .gradient_accumulation_steps = a->gradient_accumulation_steps,
                        .n_devices = dist_world(),
                        .num_train_epochs = a->num_train_epochs,
                        .max_steps = a->max_steps,
                        .dataloader_drop_last = a->dataloader_drop_last,
                        .warmup_ratio = a->warmup_ratio,
                        .warmup_steps = a->warmup_steps,
                        .num_eval_examples = r.has_dev ? r.dev.text.n : 0};
    steps_plan(&r.plan);
    check_ranks_agree(&r);
    char *resume = resolve_resume(a);
    if (resume) check_resume_matches(&r, resume);
    checkpoint_sweep_tmp(a->output_dir);  // what a run killed while saving left behind
    if (a->metric_for_best_model) metric_check_reported(a->metric_for_best_model, r.train.text.problem);

    r.be = open_backend(&r, &args, labels);
    if (a->bf16 || a->fp16) r.be->set_format(r.be, a->bf16 ? FMT_BF16 : FMT_FP16);  // fp16: cuda only (training_args.c)
    set_problem_type(&r);
    remember_columns(&r);
    OptimizerConfig oc =
        optimizer_config_hf(a->optim, a->optim_args, a->adam_beta1, a->adam_beta2, a->adam_epsilon, a->weight_decay);
    optimizer_init(&r.opt, oc, r.be->ps);
    r.sched = schedule_make(schedule_kind(a->lr_scheduler_type), a->learning_rate, r.plan.warmup, r.plan.total_steps);
    schedule_set_kwargs(&r.sched, a->lr_scheduler_kwargs, "--lr_scheduler_kwargs");
    trainer_state_init(&r.state);
    rng_seed(&r.state.rng, (uint64_t)a->seed, RNG_STREAM_DROPOUT);
    catch_sigint();
    print_banner(&r, labels);
    if (resume) {
        checkpoint_load(resume, r.be->ps, &r.opt, &r.state);
        if (r.be->params_changed) r.be->params_changed(r.be);
        printf("resumed from %s at step %ld (epoch %.2f); the data order and dropout continue from there\n", resume,
               r.state.global_step, r.state.epoch);
        load_scaler_state(&r, resume);
    }
    cJSON_Delete(r.state.info);
    r.state.info = run_info(&r);
    fflush(stdout);

    const long start_step = r.state.global_step;
    const double t0 = now_seconds();
    report_open(&r);
    if (a->eval_on_start && r.has_dev) evaluate_on_start(&r);
    train_loop(&r);
    if (!r.interrupted && dist_is_main()) {
        finish_run(&r, now_seconds() - t0, start_step);
        if (a->test_file) predict(a, r.be, r.tok, &r.eo);
    } else if (r.last_eval_step) {
        eval_result_free(&r.last_eval);
    }

    report_new_logs(&r);  // what an interrupted run logged since its last step
    tb_close(r.tb);
    free(resume);
    trainer_state_free(&r.state);
    optimizer_free(&r.opt);
    free(r.dlogits);
    free(r.targets);
    r.be->close(r.be);
    if (r.has_dev) split_free(&r.dev);
    split_free(&r.train);
    tokenizer_free(r.tok);
    return r.interrupted ? 130 : 0;  // 128 + SIGINT, what a shell reports for a run stopped by Ctrl-C
}

void trainer_evaluate_or_predict(const TrainingArguments *a, TrainerMode mode) {
    Tokenizer *tok = tokenizer_from_pretrained(a->model_name_or_path);
    EncodeOptions eo = {.max_length = a->max_seq_length};
    Backend *be = backend_open(a->device, a->model_name_or_path, 0, NULL, (unsigned long)a->seed,
                               a->per_device_eval_batch_size, a->max_seq_length, false);
    if (a->bf16 || a->fp16) be->set_format(be, a->bf16 ? FMT_BF16 : FMT_FP16);  // as the Trainer's autocast evaluation
    printf("model                %s (%d classes, %zu parameters) on %s\n", a->model_name_or_path, be->num_labels,
           be->ps->numel, be->device);
    if (mode == MODE_EVALUATE) {
        LabelSet labels = {be->num_labels, (char **)be->id2label};
        Split dev = load_split(a, a->validation_file, &labels, true, a->max_eval_samples, tok, model_problem(be));
        EvalResult ev = evaluate(be, tok, &dev, &eo, a->per_device_eval_batch_size, a->label_smoothing_factor);
        printf("%s: %d examples\n", a->validation_file, dev.text.n);
        print_eval(&ev, be->id2label);
        print_confusion(&ev, be->id2label);
        eval_result_free(&ev);
        split_free(&dev);
    } else {
        predict(a, be, tok, &eo);
    }
    be->close(be);
    tokenizer_free(tok);
}
