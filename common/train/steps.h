// steps.h — the step arithmetic of a training run, with the Hugging Face Trainer's rules.
// Introduced by lesson 02; the trainer (lesson 16) plans its run with it, and lessons 06 and
// 11 use it to know when to log, evaluate and save.
//
//   batches per epoch   = ceil(N / B)              (floor(N / B) with dataloader_drop_last)
//   updates per epoch   = max(1, ceil(batches / accumulation))   the last group may be short
//   total steps         = max_steps if > 0, else ceil(num_train_epochs * updates per epoch)
//   epochs run          = ceil(total / updates per epoch) when max_steps is set, else ceil(epochs)
//   warmup steps        = int(warmup_steps) if >= 1, ceil(warmup_steps * total) if in (0, 1)
//                         (transformers 5), else ceil(warmup_ratio * total) (transformers 4's flag)
//   effective batch     = B * accumulation * devices
// With W devices (processes) each epoch's order is cut into batches of B, dealt round-robin as
// accelerate's BatchSamplerShard deals them (split_batches=False, even_batches=True): batch i
// goes to device i mod W; when the last round is short, the missing examples are taken from the
// epoch's start so every device runs ceil(ceil(N / B) / W) = ceil(N / (B W)) full batches
// (dataloader_drop_last: floor(N / (B W)), the short round dropped). Evaluation runs on device 0
// over the whole eval set: the same metrics as a sharded evaluation (accelerate's
// gather_for_metrics drops the wrapped duplicates) with no gather, while the others wait.
// A "step" is one optimizer update (global_step); a micro-batch is one forward/backward.
#pragma once
#include <stdbool.h>

typedef enum { STRATEGY_NO, STRATEGY_STEPS, STRATEGY_EPOCH } Strategy;
#define STRATEGY_CHOICES "no|steps|epoch"
Strategy strategy_parse(const char *name, const char *flag);

typedef struct {
    // inputs, as TrainingArguments names them
    long num_examples;
    int per_device_train_batch_size;
    int per_device_eval_batch_size;
    int gradient_accumulation_steps;
    int n_devices;
    double num_train_epochs;
    long max_steps;  // > 0 overrides num_train_epochs
    bool dataloader_drop_last;
    double warmup_ratio;
    double warmup_steps;     // >= 1: a count; in (0, 1): a ratio; > 0 overrides warmup_ratio
    long num_eval_examples;  // for eval batches (0: none)
    // derived by steps_plan
    long batches_per_epoch;  // micro-batches per epoch
    long updates_per_epoch;  // optimizer steps per epoch
    int last_group_batches;  // micro-batches in the last (possibly short) group of an epoch
    long total_steps;        // max_steps of the run
    int epochs;              // epochs the loop runs (the last may stop early)
    long warmup;             // warmup steps actually used
    long effective_batch;    // examples per optimizer step
    long eval_batches;       // ceil(num_eval_examples / eval batch)
} StepPlan;

// steps_plan: validate the inputs (one error line per bad flag) and fill the derived fields.
void steps_plan(StepPlan *p);

typedef struct {
    Strategy strategy;
    long every;  // steps between events (strategy steps)
} Interval;

// fires_after_step: does an event with interval `iv` fire after optimizer step `global_step`?
// (Trainer's DefaultFlowCallback.on_step_end.) final_too: step strategies also evaluate/save
// at the last step when it is not a multiple of `every` (evaluation and saving, not logging).
bool fires_after_step(Interval iv, long global_step, long total_steps, bool final_too);
// fires_after_epoch: epoch strategies fire at every epoch end.
bool fires_after_epoch(Interval iv);
// count_events: how many times an event fires over the whole run.
long count_events(const StepPlan *p, Interval iv, bool final_too);
// steps_print_plan: the run's arithmetic, formula beside each number, on stdout (lesson 02
// prints it for any flags; the trainer prints it at the start of every run).
void steps_print_plan(const StepPlan *p, Interval log, Interval eval, Interval save);

// One micro-batch of the training loop, as steps_next yields them.
typedef struct {
    int epoch;            // 0-based
    long batch_in_epoch;  // 0-based micro-batch index within the epoch
    long global_step;     // optimizer steps completed BEFORE this micro-batch
    int group_batches;    // micro-batches in this accumulation group (short for the last group)
    int index_in_group;   // 0-based position in the group
    bool ends_group;      // an optimizer step follows this micro-batch
    bool ends_epoch;      // the last micro-batch of the epoch
} MicroBatch;

// The loop cursor: start with steps_begin(plan, global_step) (0, or a checkpoint's step to
// resume), then steps_next until it returns false. Epochs and groups follow the Trainer: each
// epoch's micro-batches are cut into groups of `accumulation`; the last group takes the rest.
typedef struct {
    const StepPlan *plan;
    MicroBatch cur;
    bool started;
} StepCursor;

// steps_shard_batch: the rows (examples, from `order`: the epoch's permutation of N) of
// micro-batch k of an epoch on device `rank`, into rows (per_device_train_batch_size). Returns
// how many: a full batch, or the short last one of a single device.
int steps_shard_batch(const StepPlan *p, const int *order, int rank, long k, int *rows);
// steps_group_examples: the examples this device runs in mb's accumulation group (the group's
// loss is their mean).
long steps_group_examples(const StepPlan *p, const MicroBatch *mb);

StepCursor steps_begin(const StepPlan *plan, long global_step);
bool steps_next(StepCursor *c, MicroBatch *mb);
