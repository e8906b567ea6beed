// training_args.h — the trainer's flags: Hugging Face TrainingArguments names and defaults,
// plus the run_glue.py data flags, and the checks that refuse impossible combinations.
// Introduced by lesson 16 (the trainer). Every default below is the one in transformers'
// training_args.py (checked against transformers 5.x), except where a comment says otherwise.
//
// Validation follows TrainingArguments.__post_init__: one error line, at start, before any
// data or model is read:
//   load_best_model_at_end  needs eval_strategy == save_strategy (and not "no"), and with
//                           "steps" save_steps a multiple of eval_steps
//   fp16 and bf16           at most one of them
//   fp16                    needs --device cuda (the CPU backend trains in fp32 or bf16)
//   eval_steps unset        takes logging_steps (eval_strategy steps)
//   metric_for_best_model   defaults to "loss" when load_best_model_at_end or early stopping
//                           is on; greater_is_better to false for a "...loss" metric
#pragma once
#include <stdbool.h>

#include "common/core/args.h"
#include "common/train/steps.h"

typedef enum { MODE_TRAIN, MODE_EVALUATE, MODE_PREDICT } TrainerMode;

typedef struct {
    // model and data (run_glue.py's names)
    const char *model_name_or_path;
    const char *train_file, *validation_file, *test_file;
    const char *text_column;  // "sentence", or "a,b" for sentence pairs
    const char *label_column;
    const char *problem_type;  // NULL: inferred from the labels (common/text/dataset.h)
    int max_seq_length;        // 128 as run_glue.py
    int max_train_samples;     // > 0: the first N training examples only (run_glue.py)
    int max_eval_samples;      // > 0: the first N validation examples only
    // optimizer and schedule
    double learning_rate, weight_decay, adam_beta1, adam_beta2, adam_epsilon, max_grad_norm;
    const char *lr_scheduler_type;
    const char *lr_scheduler_kwargs;  // JSON object, e.g. {"min_lr_rate": 0.1} (schedule_set_kwargs)
    const char *optim, *optim_args;   // optimizer_config_hf: adamw_torch (default) or sgd
    double warmup_ratio;              // transformers 4.x name; 5.x reads warmup_steps < 1 as a ratio
    double warmup_steps;              // >= 1: steps; in (0, 1): a ratio of the total steps (transformers 5)
    // length and batching
    int per_device_train_batch_size, per_device_eval_batch_size, gradient_accumulation_steps;
    double num_train_epochs;
    int max_steps;
    bool dataloader_drop_last;
    int seed, data_seed;  // data_seed < 0: the same as seed
    // logging, evaluation, saving
    const char *logging_strategy, *eval_strategy, *save_strategy;
    int logging_steps, eval_steps, save_steps, save_total_limit;
    bool load_best_model_at_end, greater_is_better;
    bool eval_on_start;         // evaluate once before the first step
    const char *report_to;      // "none" (log_history.jsonl and plots) or "tensorboard" (also event files)
    bool auto_find_batch_size;  // halve the batch and start again on out-of-memory
    const char *metric_for_best_model;
    int early_stopping_patience;  // EarlyStoppingCallback; 0 = off
    double early_stopping_threshold;
    double label_smoothing_factor;  // the Trainer's LabelSmoother epsilon (0: off)
    double overfit_gap;             // warn when train accuracy exceeds eval accuracy by this much
    // precision, memory, device
    bool fp16, bf16, gradient_checkpointing;
    const char *device;
    int threads;  // CPU threads (OpenMP); 0 = all cores
    // output
    const char *output_dir, *resume_from_checkpoint, *predictions_file;
    bool plots;
} TrainingArguments;

// training_args_parse: defaults, --config FILE.json, the command line, then the checks above.
// Returns the mode (the first positional word). `p` receives the parser, for args_was_set.
// default_device: --device when the flag is not given, which the program decides (lesson 16:
// cuda where its build has a usable GPU); whether a device can run is the program's check too.
TrainerMode training_args_parse(TrainingArguments *a, int argc, char **argv, ArgParser *p, const char *default_device);
// training_args_validate: the checks alone (mode decides which files are required).
void training_args_validate(TrainingArguments *a, TrainerMode mode, const ArgParser *p);
// training_args_intervals: logging, evaluation and saving as common/train/steps.h Intervals.
void training_args_intervals(const TrainingArguments *a, Interval *log, Interval *eval, Interval *save);
// training_args_data_seed: data_seed, or seed when data_seed was not given.
int training_args_data_seed(const TrainingArguments *a);
