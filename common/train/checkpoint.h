// checkpoint.h — checkpoints a run can resume from, written so a crash never destroys one.
// Introduced by lesson 06; the trainer (lesson 16) uses the same layout:
//
//   output_dir/checkpoint-<step>/model.safetensors      the parameters, by their names
//   output_dir/checkpoint-<step>/optimizer.safetensors  AdamW's m and v ("m.<name>", "v.<name>")
//   output_dir/checkpoint-<step>/trainer_state.json     global_step, epoch, best_metric,
//                                                        best_model_checkpoint, log_history, rng
//
// The trainer writes the model in Hugging Face layout instead (config.json, model.safetensors,
// vocab.txt: a checkpoint is then a model transformers can load) through checkpoint_save_with.
//
// A checkpoint is built in output_dir/tmp-checkpoint-<step>/, flushed to disk, then renamed:
// a reader sees either the whole checkpoint or none of it. save_total_limit keeps the newest
// checkpoints but never deletes the best one (as the Hugging Face Trainer does); a checkpoint is
// renamed back to tmp-checkpoint-<step> before it is deleted. Only checkpoint-<N> names count as
// checkpoints; the next save removes the tmp-checkpoint-* a killed run left (issue 8: SIGKILL or a
// full disk at any moment leaves every checkpoint-<N> whole; tests/test_crash.c).
#pragma once
#include <cjson/cJSON.h>
#include <stdbool.h>

#include "common/train/optim.h"
#include "common/core/rng.h"

typedef struct {
    long global_step;
    double epoch;  // fractional: global_step / updates per epoch
    bool has_best;
    double best_metric;
    char best_model_checkpoint[512];  // path of the best checkpoint so far ("" = none)
    long best_global_step;            // step of the best evaluation (0 = none)
    int early_stopping_counter;       // evaluations in a row without improvement
    long optimizer_step;              // Optimizer.step (Adam's bias-correction counter)
    Rng rng;                          // the run's generator (dropout, ...) at this step
    cJSON *log_history;               // array of objects, one per log/eval line
    cJSON *info;                      // more top-level keys (the run's batch size, seed, ...), or NULL
} TrainerState;

void trainer_state_init(TrainerState *s);
void trainer_state_free(TrainerState *s);
// trainer_state_read: a checkpoint's trainer_state.json into s (s initialised first).
void trainer_state_read(const char *path, TrainerState *s);
// log_history_add: append an entry (takes ownership of `entry`).
void log_history_add(TrainerState *s, cJSON *entry);

// checkpoint_save: write checkpoint-<state->global_step> under output_dir, then apply
// save_total_limit (<= 0: keep all). Returns the checkpoint's path (caller frees).
char *checkpoint_save(const char *output_dir, const ParamSet *ps, const Optimizer *opt, const TrainerState *state,
                      int save_total_limit);
// ModelWriter: writes the model's files into `dir` (which does not exist yet; the writer creates it).
typedef void (*ModelWriter)(const char *dir, void *ctx);
// checkpoint_save_with: checkpoint_save with the model written by write_model(dir, ctx) instead
// of model.safetensors from ps (the optimizer state still follows ps's tensor table).
char *checkpoint_save_with(const char *output_dir, const ParamSet *ps, const Optimizer *opt, const TrainerState *state,
                           int save_total_limit, ModelWriter write_model, void *ctx);
// checkpoint_load: read a checkpoint directory into ps (and opt, state when not NULL). Every
// parameter of ps must be present with the right size, else one error line names it.
void checkpoint_load(const char *dir, ParamSet *ps, Optimizer *opt, TrainerState *state);
// checkpoint_latest: the checkpoint-<N> directory with the largest N in output_dir, or NULL.
char *checkpoint_latest(const char *output_dir);
// checkpoint_sweep_tmp: remove the tmp-checkpoint-* directories a killed run left in output_dir
// (a checkpoint being written or deleted; never a complete one). Every save does it first; a
// run calls it when it starts, so a run that resumes and saves nothing leaves none behind.
void checkpoint_sweep_tmp(const char *output_dir);
// checkpoints_list: the checkpoint-<N> steps in output_dir, sorted ascending; returns the count.
int checkpoints_list(const char *output_dir, long *steps, int max);
