// tensorboard.h — TensorBoard event files: what --report_to tensorboard writes.
// Introduced by lesson 16 (the trainer), as the Hugging Face Trainer's TensorBoardCallback:
//
//     TbWriter *tb = tb_open("runs/x/runs/Dec05_17-30-00_host");  // events.out.tfevents.<time>.<host>.<pid>.0
//     tb_log(tb, entry, step);   // each number of a log entry: "loss" -> train/loss, "eval_f1" -> eval/f1
//     tb_close(tb);
//
// An event file is a sequence of TFRecords, each
//     u64 length (little-endian) | u32 masked CRC32C of those 8 bytes | length bytes | u32 masked CRC32C of them
// (masked(c) = ((c >> 15) | (c << 17)) + 0xa282ead8), and each record's bytes are a protobuf `Event`:
//     wall_time (field 1, double)  step (field 2, int64)  file_version (field 3, "brain.Event:2",
//     the first record only)  summary (field 5: Summary { repeated Value value = 1 },
//     Value { tag = 1 (string), simple_value = 2 (float) })
// which is all a scalar needs, so the few protobuf fields are encoded here by hand (no protobuf
// library). Fields with their default value (step 0) are left out, as protobuf does.
#pragma once
#include <stdint.h>
#include <stdio.h>
#include <stddef.h>

#include <cjson/cJSON.h>

typedef struct {
    FILE *f;
    char *path;  // the event file
} TbWriter;

// crc32c: CRC-32C (Castagnoli, reflected polynomial 0x82f63b78) of n bytes; tb_masked_crc: the
// masked form a TFRecord stores.
uint32_t crc32c(const void *data, size_t n);
uint32_t tb_masked_crc(const void *data, size_t n);
// tb_open: mkdir -p dir, create the event file in it and write the file_version record.
TbWriter *tb_open(const char *dir);
// tb_scalar: one Event with one scalar Value at `step`, stamped with the current time.
void tb_scalar(TbWriter *w, const char *tag, float value, long step);
// tb_log: TensorBoardCallback.on_log: every number of a log_history entry as a scalar at `step`,
// its tag rewritten as transformers' rewrite_logs does (eval_x -> eval/x, test_x -> test/x, any
// other x -> train/x); the entry's "step" is the step, not a scalar; strings and objects are skipped.
void tb_log(TbWriter *w, const cJSON *entry, long step);
void tb_close(TbWriter *w);  // flushes and closes; NULL is fine
// tb_default_logdir: transformers' default_logdir under output_dir:
// output_dir/runs/<%b%d_%H-%M-%S>_<hostname> (allocated).
char *tb_default_logdir(const char *output_dir);
