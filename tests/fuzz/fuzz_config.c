// fuzz_config.c — `--config FILE.json` (args.h) on arbitrary bytes, with a flag of every type.
// The values --config sets are kept for the program's life by design (the flags point into
// them), so the harness releases them after each input.
#include "common/core/args.h"
#include "common/core/util.h"
#include "tests/fuzz/fuzz.h"

static void parse(const char *path) {
    int steps = 10;
    double lr = 2e-5;
    bool fp16 = false;
    const char *output_dir = "out", *schedule = "linear";
    ArgSpec specs[] = {
        {"max_steps", ARG_INT, &steps, "steps", "Training"},
        {"learning_rate", ARG_FLOAT, &lr, "lr", NULL},
        {"fp16", ARG_BOOL, &fp16, "half precision", NULL},
        {"output_dir", ARG_STRING, &output_dir, "where", NULL},
        {"lr_scheduler_type", ARG_CHOICE, &schedule, "schedule", NULL, "linear|cosine|constant"},
    };
    ArgParser p = {"fuzz_config", "fuzzing --config", NULL, specs, ARRAY_LEN(specs)};
    char *argv[] = {"fuzz_config", "--config", (char *)path, NULL};
    args_parse(&p, 3, argv, NULL, 0);
}

FUZZ_FILE_TARGET_RELEASE_ALL("config.json", parse)
