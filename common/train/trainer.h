// trainer.h — the trainer: a training run, evaluation and prediction on the arguments of
// common/train/training_args.h, the way the Hugging Face Trainer (and run_glue.py) run them.
// Introduced by lesson 16, whose main is this file's caller; lesson 17's experiments run it too.
//
// What it is built from (lessons 01-15):
//   the run's arithmetic         common/train/steps.h          (lesson 02; the banner is lesson 02's printout)
//   data, labels                 common/text/dataset.h         (lesson 06)
//   tokens                       common/text/tokenizer.h       (lesson 07)
//   batches, dynamic padding     common/text/batch.h           (lesson 07; each batch carries its labels)
//   the model                    common/train/backend.h        (BERT of lessons 10-11 on the CPU, lesson 13's on cuda)
//   AdamW, no-decay group, clip  common/train/optim.h          (lessons 04-05)
//   the schedule                 common/train/schedule.h       (lesson 03)
//   accumulation                 common/train/steps.h cursor   (lesson 05: 1/N weight of the true group size)
//   eval, best model, stopping   common/train/evaluation.h     (lesson 06)
//   checkpoints, resume          common/train/checkpoint.h     (lesson 06, model in Hugging Face layout)
//   progress bar, plots          common/core/progress.h, common/core/plot.h
#pragma once
#include "common/train/training_args.h"

// trainer_train: the training run of `a` (banner, loop, evaluations, checkpoints, final model,
// log and plots in a->output_dir, then predictions when a->test_file is set). Returns the
// program's exit status: 0, or 130 when SIGINT stopped it after saving a checkpoint.
int trainer_train(const TrainingArguments *a);

// trainer_evaluate_or_predict: a trained model (its config.json names the labels) on a file:
// MODE_EVALUATE prints the metrics and the confusion matrix of a->validation_file, MODE_PREDICT
// writes the predictions of a->test_file.
void trainer_evaluate_or_predict(const TrainingArguments *a, TrainerMode mode);
