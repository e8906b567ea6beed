// fuzz_trainer_state.c — a checkpoint's trainer_state.json (cJSON) on arbitrary bytes.
#include "common/train/checkpoint.h"
#include "tests/fuzz/fuzz.h"

static void parse(const char *path) {
    TrainerState s;
    trainer_state_init(&s);
    trainer_state_read(path, &s);
    trainer_state_free(&s);
}

FUZZ_FILE_TARGET("trainer_state.json", parse)
