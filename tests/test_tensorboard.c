// test_tensorboard.c — the TensorBoard event files of --report_to tensorboard, read back here
// record by record: the TFRecord framing and its masked CRC32Cs, the Event and Summary fields,
// and the tags the trainer writes (transformers' rewrite_logs: train/loss, eval/accuracy, ...).
// tests/read_tfevents.py decodes the same files in Python (and with tensorboard, when installed).
#include <criterion/criterion.h>
#include <glob.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/core/util.h"
#include "common/train/tensorboard.h"

// Check values of CRC-32C: RFC 3720's "123456789" and 32 zero bytes.
Test(tensorboard, crc32c_check_values) {
    cr_expect_eq(crc32c("123456789", 9), 0xe3069283u);
    unsigned char zeros[32] = {0};
    cr_expect_eq(crc32c(zeros, 32), 0x8a9136aau);
}

typedef struct {
    double wall_time;
    long step;
    char file_version[32];
    char tag[64];
    float value;
    bool has_value;
} Ev;

static uint64_t le(const unsigned char *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static uint64_t varint(const unsigned char **p) {
    uint64_t v = 0;
    for (int shift = 0;; shift += 7) {
        const unsigned char b = *(*p)++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) return v;
    }
}

// decode_value: Value { tag = 1; simple_value = 2 } (the only Value of the Summary).
static void decode_value(const unsigned char *p, const unsigned char *end, Ev *e) {
    while (p < end) {
        const uint64_t key = varint(&p);
        if (key == (1 << 3 | 2)) {
            const uint64_t n = varint(&p);
            cr_assert_lt(n, sizeof e->tag);
            memcpy(e->tag, p, n), e->tag[n] = '\0', p += n;
        } else {
            cr_assert_eq(key, 2 << 3 | 5, "unexpected Value field key %lu", (unsigned long)key);
            uint32_t bits = (uint32_t)le(p, 4);
            memcpy(&e->value, &bits, 4), p += 4, e->has_value = true;
        }
    }
}

// decode_event: Event { wall_time = 1 (double); step = 2; file_version = 3; summary = 5 }.
static Ev decode_event(const unsigned char *p, const unsigned char *end) {
    Ev e = {0};
    while (p < end) {
        const uint64_t key = varint(&p);
        if (key == (1 << 3 | 1)) {
            uint64_t bits = le(p, 8);
            memcpy(&e.wall_time, &bits, 8), p += 8;
        } else if (key == (2 << 3 | 0)) {
            e.step = (long)varint(&p);
        } else if (key == (3 << 3 | 2)) {
            const uint64_t n = varint(&p);
            cr_assert_lt(n, sizeof e.file_version);
            memcpy(e.file_version, p, n), e.file_version[n] = '\0', p += n;
        } else {
            cr_assert_eq(key, 5 << 3 | 2, "unexpected Event field key %lu", (unsigned long)key);
            const uint64_t n = varint(&p);
            const unsigned char *s = p, *s_end = p + n;
            cr_assert_eq(varint(&s), 1 << 3 | 2, "Summary: not a value field");
            const uint64_t vn = varint(&s);
            cr_assert_eq(s + vn, s_end, "Summary: one Value expected");
            decode_value(s, s_end, &e);
            p = s_end;
        }
    }
    cr_assert_eq(p, end, "Event overruns its record");
    return e;
}

// read_events: every record of the event file, each CRC checked; returns how many (<= cap).
static int read_events(const char *path, Ev *out, int cap) {
    size_t size;
    unsigned char *buf = (unsigned char *)read_file(path, &size);
    int n = 0;
    for (size_t at = 0; at < size; n++) {
        cr_assert_leq(at + 12, size, "a truncated record header at byte %zu", at);
        const uint64_t len = le(buf + at, 8);
        cr_assert_eq((uint32_t)le(buf + at + 8, 4), tb_masked_crc(buf + at, 8), "record %d: bad length CRC", n);
        cr_assert_leq(at + 12 + len + 4, size, "record %d is truncated", n);
        cr_assert_eq((uint32_t)le(buf + at + 12 + len, 4), tb_masked_crc(buf + at + 12, len), "record %d: bad data CRC",
                     n);
        cr_assert_lt(n, cap);
        out[n] = decode_event(buf + at + 12, buf + at + 12 + len);
        at += 12 + len + 4;
    }
    free(buf);
    return n;
}

Test(tensorboard, scalars_read_back) {
    char dir[96];
    snprintf(dir, sizeof dir, "/tmp/bertstep-tb-%d/runs/x", (int)getpid());
    TbWriter *w = tb_open(dir);
    char *path = xstrdup(w->path);
    cJSON *entry = cJSON_Parse("{\"loss\": 0.25, \"eval_accuracy\": 0.75, \"test_f1\": 0.5, \"step\": 300, "
                               "\"eval_f1_per_class\": {\"a\": 1}, \"note\": \"x\"}");
    tb_scalar(w, "train/learning_rate", 3e-5f, 7);
    tb_log(w, entry, 300);
    tb_close(w);
    cJSON_Delete(entry);

    cr_expect(strstr(path, "/events.out.tfevents."), "%s", path);
    Ev ev[8];
    const int n = read_events(path, ev, 8);
    cr_assert_eq(n, 5, "%d records: want file_version, 1 scalar and 3 from the log entry", n);
    cr_expect_str_eq(ev[0].file_version, "brain.Event:2");
    cr_expect(!ev[0].has_value && ev[0].step == 0 && ev[0].wall_time > 1.7e9, "wall_time %f", ev[0].wall_time);
    cr_expect_str_eq(ev[1].tag, "train/learning_rate");
    cr_expect_eq(ev[1].value, 3e-5f);
    cr_expect_eq(ev[1].step, 7);
    const char *tags[3] = {"train/loss", "eval/accuracy", "test/f1"};
    const float values[3] = {0.25f, 0.75f, 0.5f};
    for (int i = 0; i < 3; i++) {
        cr_expect_str_eq(ev[2 + i].tag, tags[i]);
        cr_expect_eq(ev[2 + i].value, values[i], "%s = %g", tags[i], ev[2 + i].value);
        cr_expect_eq(ev[2 + i].step, 300);
        cr_expect_geq(ev[2 + i].wall_time, ev[0].wall_time);
    }
    free(path);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf /tmp/bertstep-tb-%d", (int)getpid());
    cr_assert_eq(system(cmd), 0);
}

// The trainer with --report_to tensorboard: one event file in output_dir/runs/<date>_<host>/
// holding what log_history.jsonl holds, under HF's tags, at the logged steps.
Test(tensorboard, trainer_writes_the_log_history, .timeout = 120) {
    char dir[96], cmd[1024];
    snprintf(dir, sizeof dir, "/tmp/bertstep-tb-run-%d", (int)getpid());
    snprintf(cmd, sizeof cmd,
             "rm -rf %s && build/16_trainer train --config tests/fixtures/trainer/tiny_run.json --num_train_epochs 2 "
             "--logging_steps 12 --save_strategy no --load_best_model_at_end false --eval_on_start --plots false "
             "--report_to tensorboard --output_dir %s > %s.out 2>&1",
             dir, dir, dir);
    cr_assert_eq(system(cmd), 0, "`%s` failed", cmd);
    char pattern[160];
    snprintf(pattern, sizeof pattern, "%s/runs/*_*/events.out.tfevents.*", dir);
    glob_t g;
    cr_assert_eq(glob(pattern, 0, NULL, &g), 0, "no event file %s", pattern);
    cr_assert_eq(g.gl_pathc, 1);
    Ev ev[64];
    const int n = read_events(g.gl_pathv[0], ev, 64);
    globfree(&g);
    // eval_on_start (step 0), steps 12 and 24 (a log line and an evaluation each), the final metrics
    int loss_12 = -1, acc_0 = -1, acc_24 = -1, train_loss = -1;
    for (int i = 1; i < n; i++) {
        if (!strcmp(ev[i].tag, "train/loss") && ev[i].step == 12) loss_12 = i;
        if (!strcmp(ev[i].tag, "eval/accuracy") && ev[i].step == 0) acc_0 = i;
        if (!strcmp(ev[i].tag, "eval/accuracy") && ev[i].step == 24) acc_24 = i;
        if (!strcmp(ev[i].tag, "train/train_loss") && ev[i].step == 24) train_loss = i;
    }
    cr_assert(loss_12 > 0 && acc_0 > 0 && acc_24 > 0 && train_loss > 0, "tags missing (%d events)", n);
    // the values are log_history.jsonl's, as float32
    snprintf(cmd, sizeof cmd, "%s/log_history.jsonl", dir);
    char *text = read_file(cmd, NULL);
    int seen = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *o = cJSON_Parse(line);
        const double step = cJSON_GetObjectItem(o, "step")->valuedouble;
        const cJSON *loss = cJSON_GetObjectItem(o, "loss"), *acc = cJSON_GetObjectItem(o, "eval_accuracy"),
                    *tl = cJSON_GetObjectItem(o, "train_loss");
        if (loss && step == 12) {
            cr_expect_eq(ev[loss_12].value, (float)loss->valuedouble);
            seen++;
        }
        if (acc && step == 24) {
            cr_expect_eq(ev[acc_24].value, (float)acc->valuedouble);
            seen++;
        }
        if (tl) {
            cr_expect_eq(ev[train_loss].value, (float)tl->valuedouble);
            seen++;
        }
        cJSON_Delete(o);
    }
    free(text);
    cr_expect_eq(seen, 3);
    snprintf(cmd, sizeof cmd, "rm -rf %s %s.out", dir, dir);
    cr_assert_eq(system(cmd), 0);
}
