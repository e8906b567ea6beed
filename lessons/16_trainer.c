// Lesson 16 — the trainer: fine-tune a pretrained BERT on your own data, the Hugging Face way.
//
//   build/16_trainer train    --train_file T.tsv --validation_file D.tsv [flags]
//   build/16_trainer evaluate --model_name_or_path OUT --validation_file D.tsv
//   build/16_trainer predict  --model_name_or_path OUT --test_file X.tsv
//   mpirun -np N build/16_trainer train ...   data parallel on N processes (common/train/dist.h)
//
// Nothing here is new: the trainer (common/train/trainer.c, its run, and trainer.h, the list of
// what lessons 01-15 built that it is assembled from) runs on the flags, defaults and checks of
// common/train/training_args.h (TrainingArguments names, lesson 02's rules). This program picks
// the device and the command.
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "common/core/args.h"
#include "common/core/util.h"
#include "common/train/backend.h"
#include "common/train/dist.h"
#include "common/train/trainer.h"
#include "common/train/training_args.h"

int main(int argc, char **argv) {
    dist_init();  // one process, or rank r of N under mpirun
    // The device: cuda by default where this binary can train on a GPU (what it was linked with
    // decides: common/train/backend.c); asking for cuda where it cannot is one line, before any work.
    const char *no_gpu = backend_gpu_unavailable();
    TrainingArguments a;
    ArgParser parser;
    TrainerMode mode = training_args_parse(&a, argc, argv, &parser, no_gpu ? "cpu" : "cuda");
    if (!strcmp(a.device, "cuda") && no_gpu) die("--device cuda: %s", no_gpu);
    if (a.threads > 0) omp_set_num_threads(a.threads);
    int status = 0;
    if (mode == MODE_TRAIN) status = trainer_train(&a);
    else trainer_evaluate_or_predict(&a, mode);
    free(parser.specs);  // the flag table training_args_parse built
    dist_finalize();
    return status;
}
