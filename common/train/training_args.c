// training_args.c — see training_args.h.
#include "common/train/training_args.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/model/bert_io.h"
#include "common/text/dataset.h"
#include "common/train/evaluation.h"
#include "common/train/optim.h"
#include "common/train/schedule.h"
#include "common/core/util.h"

static const char *SUMMARY =
    "Fine-tune a pretrained BERT checkpoint (Hugging Face layout) on a TSV/CSV text-classification\n"
    "data set, the way transformers' Trainer does: the same flags, defaults and step arithmetic.\n"
    "  train     fine-tune on --train_file, evaluate on --validation_file, save to --output_dir\n"
    "  evaluate  loss, accuracy and F1 of --model_name_or_path on --validation_file\n"
    "  predict   label, probabilities and logits for every row of --test_file (a TSV)";

static TrainingArguments defaults(const char *device) {
    return (TrainingArguments){.model_name_or_path = "data/cache/models/all-MiniLM-L6-v2",
                               .text_column = "sentence",
                               .label_column = "label",
                               .max_seq_length = 128,
                               .learning_rate = 5e-5,
                               .weight_decay = 0.0,
                               .adam_beta1 = 0.9,
                               .adam_beta2 = 0.999,
                               .adam_epsilon = 1e-8,
                               .max_grad_norm = 1.0,
                               .lr_scheduler_type = "linear",
                               .optim = "adamw_torch",
                               .report_to = "none",
                               .per_device_train_batch_size = 8,
                               .per_device_eval_batch_size = 8,
                               .gradient_accumulation_steps = 1,
                               .num_train_epochs = 3.0,
                               .max_steps = -1,
                               .seed = 42,
                               .data_seed = -1,
                               .logging_strategy = "steps",
                               .eval_strategy = "no",
                               .save_strategy = "steps",
                               .logging_steps = 500,
                               .eval_steps = 0,
                               .save_steps = 500,
                               .early_stopping_threshold = 0.0,
                               .overfit_gap = 0.1,
                               .device = device,
                               .output_dir = "trainer_output",
                               .plots = true};
}

// spec_table: the flags, grouped as --help shows them. Each points into `a`.
static ArgSpec *spec_table(TrainingArguments *a, int *n) {
    ArgSpec specs[] = {
        {"model_name_or_path", ARG_STRING, &a->model_name_or_path,
         "BERT checkpoint directory (config.json, model.safetensors, vocab.txt or tokenizer.json)", "Model and data"},
        {"train_file", ARG_STRING, &a->train_file, "training TSV/CSV (header row naming the columns)", NULL},
        {"validation_file", ARG_STRING, &a->validation_file, "evaluation TSV/CSV", NULL},
        {"test_file", ARG_STRING, &a->test_file, "TSV/CSV to predict (a label column is optional)", NULL},
        {"text_column", ARG_STRING, &a->text_column, "text column, name or 0-based index; \"a,b\" for sentence pairs",
         NULL},
        {"label_column", ARG_STRING, &a->label_column, "label column, name or index (integers or names)", NULL},
        {"problem_type", ARG_CHOICE, &a->problem_type,
         "what a label is (default: regression when the labels are non-integer numbers; multi-label: names joined by "
         "',')",
         NULL, PROBLEM_TYPE_CHOICES},
        {"max_seq_length", ARG_INT, &a->max_seq_length,
         "tokens per example, [CLS]/[SEP] included; longer are truncated", NULL},
        {"max_train_samples", ARG_INT, &a->max_train_samples, "> 0: train on the first N examples only", NULL},
        {"max_eval_samples", ARG_INT, &a->max_eval_samples, "> 0: evaluate on the first N examples only", NULL},
        {"learning_rate", ARG_FLOAT, &a->learning_rate, "peak learning rate", "Optimizer and schedule"},
        {"optim", ARG_STRING, &a->optim, "optimizer: " OPTIM_CHOICES, NULL},
        {"optim_args", ARG_STRING, &a->optim_args, "sgd's \"momentum=0.9,dampening=0,nesterov=True\"", NULL},
        {"weight_decay", ARG_FLOAT, &a->weight_decay, "AdamW decoupled weight decay (never on biases and LayerNorm)",
         NULL},
        {"adam_beta1", ARG_FLOAT, &a->adam_beta1, "AdamW beta1", NULL},
        {"adam_beta2", ARG_FLOAT, &a->adam_beta2, "AdamW beta2", NULL},
        {"adam_epsilon", ARG_FLOAT, &a->adam_epsilon, "AdamW epsilon", NULL},
        {"max_grad_norm", ARG_FLOAT, &a->max_grad_norm, "clip the global gradient norm to this (0: no clipping)", NULL},
        {"lr_scheduler_type", ARG_CHOICE, &a->lr_scheduler_type, "learning-rate schedule", NULL, SCHEDULE_CHOICES},
        {"lr_scheduler_kwargs", ARG_STRING, &a->lr_scheduler_kwargs,
         "the schedule's extra parameters as JSON: '{\"min_lr_rate\": 0.1}', '{\"num_decay_steps\": 100}'", NULL},
        {"warmup_steps", ARG_FLOAT, &a->warmup_steps,
         "warmup steps (>= 1), or in (0, 1) a fraction of the total steps, rounded up (transformers 5)", NULL},
        {"warmup_ratio", ARG_FLOAT, &a->warmup_ratio, "transformers 4's name for a fraction (--warmup_steps > 0 wins)",
         NULL},
        {"per_device_train_batch_size", ARG_INT, &a->per_device_train_batch_size, "examples per forward/backward",
         "Length and batching"},
        {"per_device_eval_batch_size", ARG_INT, &a->per_device_eval_batch_size, "examples per evaluation batch", NULL},
        {"auto_find_batch_size", ARG_BOOL, &a->auto_find_batch_size,
         "on out-of-memory, halve the training batch and start again", NULL},
        {"gradient_accumulation_steps", ARG_INT, &a->gradient_accumulation_steps,
         "micro-batches summed into one optimizer step", NULL},
        {"num_train_epochs", ARG_FLOAT, &a->num_train_epochs, "passes over the training set (may be fractional)", NULL},
        {"max_steps", ARG_INT, &a->max_steps, "> 0: total optimizer steps (overrides num_train_epochs)", NULL},
        {"dataloader_drop_last", ARG_BOOL, &a->dataloader_drop_last, "drop the last incomplete batch of each epoch",
         NULL},
        {"seed", ARG_INT, &a->seed, "seed of the classifier's initialisation and of dropout", NULL},
        {"data_seed", ARG_INT, &a->data_seed, "seed of the data order (< 0: the same as --seed)", NULL},
        {"logging_strategy", ARG_CHOICE, &a->logging_strategy, "when to log the training loss",
         "Logging, evaluation, checkpoints", STRATEGY_CHOICES},
        {"logging_steps", ARG_INT, &a->logging_steps, "log every N steps", NULL},
        {"eval_strategy", ARG_CHOICE, &a->eval_strategy, "when to evaluate on --validation_file", NULL,
         STRATEGY_CHOICES},
        {"eval_steps", ARG_INT, &a->eval_steps, "evaluate every N steps (0: logging_steps)", NULL},
        {"eval_on_start", ARG_BOOL, &a->eval_on_start, "evaluate once before the first step (a baseline)", NULL},
        {"save_strategy", ARG_CHOICE, &a->save_strategy, "when to write output_dir/checkpoint-<step>", NULL,
         STRATEGY_CHOICES},
        {"save_steps", ARG_INT, &a->save_steps, "save every N steps", NULL},
        {"save_total_limit", ARG_INT, &a->save_total_limit, "keep the newest N checkpoints and the best (0: all)",
         NULL},
        {"load_best_model_at_end", ARG_BOOL, &a->load_best_model_at_end, "end with the best checkpoint's weights",
         NULL},
        {"metric_for_best_model", ARG_CHOICE, &a->metric_for_best_model, "eval number that picks the best checkpoint",
         NULL, METRIC_CHOICES},
        {"greater_is_better", ARG_BOOL, &a->greater_is_better, "a larger metric is better (default: false for loss)",
         NULL},
        {"early_stopping_patience", ARG_INT, &a->early_stopping_patience,
         "stop after N evaluations without improvement (0: off)", NULL},
        {"early_stopping_threshold", ARG_FLOAT, &a->early_stopping_threshold,
         "how much better counts as an improvement", NULL},
        {"label_smoothing_factor", ARG_FLOAT, &a->label_smoothing_factor,
         "the Trainer's label smoothing of the training and eval loss (single-label; 0: off)", NULL},
        {"overfit_gap", ARG_FLOAT, &a->overfit_gap, "warn when train accuracy exceeds eval accuracy by more", NULL},
        {"device", ARG_CHOICE, &a->device, "where to train", "Device and precision", "cpu|cuda"},
        {"threads", ARG_INT, &a->threads, "CPU threads (0: all cores)", NULL},
        {"fp16", ARG_BOOL, &a->fp16, "fp16 mixed precision with dynamic loss scaling (GPU)", NULL},
        {"bf16", ARG_BOOL, &a->bf16,
         "bf16 mixed precision with fp32 master weights (on the CPU: the Linear layers in bf16)", NULL},
        {"gradient_checkpointing", ARG_BOOL, &a->gradient_checkpointing,
         "keep only each layer's input, recompute the layer in backward (less memory, same result)", NULL},
        {"output_dir", ARG_STRING, &a->output_dir, "checkpoints, the final model, logs and plots", "Output"},
        {"resume_from_checkpoint", ARG_STRING, &a->resume_from_checkpoint,
         "checkpoint directory, or true for the latest in output_dir", NULL},
        {"predictions_file", ARG_STRING, &a->predictions_file,
         "predict's TSV (none: predictions.tsv in --output_dir, or in the model's directory without it)", NULL},
        {"plots", ARG_BOOL, &a->plots, "write PNG plots of loss, learning rate and eval metrics", NULL},
        {"report_to", ARG_STRING, &a->report_to,
         "none (log_history.jsonl and the plots are the report) or tensorboard (also event files in output_dir/runs/)",
         NULL},
    };
    *n = (int)ARRAY_LEN(specs);
    ArgSpec *copy = xmalloc(sizeof specs);
    memcpy(copy, specs, sizeof specs);
    return copy;
}

TrainerMode training_args_parse(TrainingArguments *a, int argc, char **argv, ArgParser *p, const char *default_device) {
    *a = defaults(default_device);
    int n;
    ArgSpec *specs = spec_table(a, &n);
    *p = (ArgParser){"16_trainer", SUMMARY, "train|evaluate|predict", specs, n};
    char *pos[1];
    if (args_parse(p, argc, argv, pos, 1) != 1) {  // no command: say what the program does
        args_print_help(p);
        printf("\nThe main job, SST-2 with all-MiniLM-L6-v2: `make run` (scripts/run_main.sh shows its flags).\n");
        exit(0);
    }
    TrainerMode mode;
    if (!strcmp(pos[0], "train")) mode = MODE_TRAIN;
    else if (!strcmp(pos[0], "evaluate")) mode = MODE_EVALUATE;
    else if (!strcmp(pos[0], "predict")) mode = MODE_PREDICT;
    else die("unknown command '%s': use train, evaluate or predict", pos[0]);
    training_args_validate(a, mode, p);
    return mode;
}

static void require_file(const char *path, const char *flag, const char *mode) {
    if (!path) die("%s needs %s", mode, flag);
    if (!file_exists(path)) die("%s %s: no such file", flag, path);
}

// refuse_fp16_on_cpu: --fp16 trains on the GPU (GpuBert in fp16 with fp32 masters and loss
// scaling); --bf16 runs on both (on the CPU as torch's CPU autocast, common/model/matmul_bf16.h).
static void refuse_fp16_on_cpu(bool wanted, const char *device) {
    if (wanted && strcmp(device, "cuda"))
        die("--fp16 needs --device cuda: the CPU backend trains in fp32 or --bf16 (lesson 14 shows the fp16 arithmetic "
            "emulated on the CPU); run without --fp16");
}

// check_optimizer_and_schedule: --optim, --optim_args, --lr_scheduler_kwargs and --report_to
// refused at start, before any data is read.
static void check_optimizer_and_schedule(const TrainingArguments *a) {
    OptimizerConfig c =
        optimizer_config_hf(a->optim, a->optim_args, a->adam_beta1, a->adam_beta2, a->adam_epsilon, a->weight_decay);
    if (c.kind != OPT_ADAMW && !strcmp(a->device, "cuda"))
        die("--optim %s needs --device cpu: the GPU backend implements AdamW only", a->optim);
    Schedule s = schedule_make(schedule_kind(a->lr_scheduler_type), a->learning_rate, 0, 1);
    schedule_set_kwargs(&s, a->lr_scheduler_kwargs, "--lr_scheduler_kwargs");
    if (a->auto_find_batch_size && !strcmp(a->device, "cuda"))
        die("--auto_find_batch_size needs --device cpu: the GPU backend cannot retry a failed allocation yet");
    if (strcmp(a->report_to, "none") && strcmp(a->report_to, "tensorboard"))
        die("--report_to %s: this trainer reports to log_history.jsonl and its plots, and to TensorBoard event files "
            "with --report_to tensorboard; use none or tensorboard",
            a->report_to);
}

// use_model_defaults: evaluate and predict read the columns the model was trained on (its
// config.json's text_column and label_column) unless the flags say otherwise; predict writes
// into the model's directory unless --output_dir is given.
static void use_model_defaults(TrainingArguments *a, TrainerMode mode, const ArgParser *p) {
    BertConfig c = bert_config_load(a->model_name_or_path, 0);
    static char text[256], label[256];  // the arguments' strings live as long as the program
    if (c.text_column && !args_was_set(p, "text_column"))
        a->text_column = strncpy(text, c.text_column, sizeof text - 1);
    if (c.label_column && !args_was_set(p, "label_column"))
        a->label_column = strncpy(label, c.label_column, sizeof label - 1);
    if (mode == MODE_PREDICT && !args_was_set(p, "output_dir")) a->output_dir = a->model_name_or_path;
    bert_config_free(&c);
}

void training_args_validate(TrainingArguments *a, TrainerMode mode, const ArgParser *p) {
    Strategy ev = strategy_parse(a->eval_strategy, "--eval_strategy"),
             sv = strategy_parse(a->save_strategy, "--save_strategy");
    if (a->fp16 && a->bf16) die("--fp16 and --bf16 together: choose at most one");
    refuse_fp16_on_cpu(a->fp16, a->device);
    if (a->logging_steps < 1) die("--logging_steps must be at least 1 (got %d)", a->logging_steps);
    if (ev == STRATEGY_STEPS && a->eval_steps <= 0) a->eval_steps = a->logging_steps;  // as TrainingArguments
    if (sv == STRATEGY_STEPS && a->save_steps < 1) die("--save_steps must be at least 1 (got %d)", a->save_steps);
    if (a->load_best_model_at_end) {
        if (ev != sv)
            die("--load_best_model_at_end requires the save and eval strategy to match, but found --eval_strategy %s "
                "and --save_strategy %s",
                a->eval_strategy, a->save_strategy);
        if (ev == STRATEGY_NO)
            die("--load_best_model_at_end needs evaluations: set --eval_strategy (and --save_strategy) to steps or "
                "epoch");
        if (ev == STRATEGY_STEPS && a->save_steps % a->eval_steps)
            die("--load_best_model_at_end requires --save_steps (%d) to be a round multiple of --eval_steps (%d)",
                a->save_steps, a->eval_steps);
    }
    if (a->label_smoothing_factor < 0 || a->label_smoothing_factor >= 1)
        die("--label_smoothing_factor must be in [0, 1) (got %g)", a->label_smoothing_factor);
    if (a->early_stopping_patience < 0)
        die("--early_stopping_patience must be 0 (off) or more (got %d)", a->early_stopping_patience);
    if (a->early_stopping_patience > 0 && ev == STRATEGY_NO)
        die("--early_stopping_patience needs evaluations: set --eval_strategy to steps or epoch");
    if (!a->metric_for_best_model && (a->load_best_model_at_end || a->early_stopping_patience > 0))
        a->metric_for_best_model = "loss";
    if (a->metric_for_best_model) {
        a->metric_for_best_model = metric_full_name(a->metric_for_best_model);
        if (!args_was_set(p, "greater_is_better"))
            a->greater_is_better = metric_default_greater(a->metric_for_best_model);
    }
    if (a->max_seq_length < 3)
        die("--max_seq_length must be at least 3 ([CLS] a token [SEP]); got %d", a->max_seq_length);
    if (a->threads < 0) die("--threads must be 0 (all cores) or more (got %d)", a->threads);
    if (a->max_grad_norm < 0) die("--max_grad_norm must be 0 (off) or positive (got %g)", a->max_grad_norm);
    check_optimizer_and_schedule(a);
    if (!(a->warmup_steps >= 0)) die("--warmup_steps must be 0 or more (got %g)", a->warmup_steps);
    if (a->warmup_ratio < 0 || a->warmup_ratio > 1) die("--warmup_ratio must be in [0, 1] (got %g)", a->warmup_ratio);
    if (mode == MODE_TRAIN) {
        require_file(a->train_file, "--train_file", "train");
        if (ev != STRATEGY_NO || a->load_best_model_at_end)
            require_file(a->validation_file, "--validation_file", "evaluation");
    }
    if (mode != MODE_TRAIN) use_model_defaults(a, mode, p);
    if (mode == MODE_EVALUATE) require_file(a->validation_file, "--validation_file", "evaluate");
    if (mode == MODE_PREDICT) require_file(a->test_file, "--test_file", "predict");
    if (a->validation_file && mode != MODE_PREDICT) require_file(a->validation_file, "--validation_file", "evaluation");
    if (a->test_file) require_file(a->test_file, "--test_file", "predict");
    // after the data files, so that a missing data set is named as such
    if (!dir_exists(a->model_name_or_path))
        die("--model_name_or_path %s: no such directory (the default checkpoint comes with `bash data/fetch.sh model`)",
            a->model_name_or_path);
}

void training_args_intervals(const TrainingArguments *a, Interval *log, Interval *eval, Interval *save) {
    *log = (Interval){strategy_parse(a->logging_strategy, "--logging_strategy"), a->logging_steps};
    *eval = (Interval){strategy_parse(a->eval_strategy, "--eval_strategy"), a->eval_steps};
    *save = (Interval){strategy_parse(a->save_strategy, "--save_strategy"), a->save_steps};
}

int training_args_data_seed(const TrainingArguments *a) { return a->data_seed >= 0 ? a->data_seed : a->seed; }
