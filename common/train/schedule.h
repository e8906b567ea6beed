// schedule.h — learning-rate schedules, exactly as Hugging Face's get_scheduler gives them.
// Introduced by lesson 03; used by lessons 11, 13, 14 and the trainer.
//
// A schedule multiplies the peak learning rate by a factor that depends on the optimizer step
// (0-based: the factor for `step` is the LR used by update number step+1). During warmup every
// schedule rises linearly from 0:  factor = step / warmup_steps  — so the FIRST update of a
// run with warmup uses lr = 0 (the Hugging Face / torch LambdaLR convention).
// After warmup, with progress p = (step - W) / (T - W):
//   constant              1                        (no warmup at all)
//   constant_with_warmup  1
//   linear                max(0, (T - step) / (T - W))
//   cosine                max(0, (1 + cos(pi * 2 * num_cycles * p)) / 2)     num_cycles = 0.5
//   cosine_with_restarts  p >= 1 ? 0 : (1 + cos(pi * ((num_cycles * p) mod 1))) / 2,  num_cycles = 1
//   polynomial            ((lr - lr_end) * (1 - p)^power + lr_end) / lr,  lr_end = 1e-7, power = 1
//   inverse_sqrt          1 / sqrt((step + timescale - W) / timescale),  timescale = W or 10,000
#pragma once
#include <stdbool.h>

typedef enum {
    SCHED_LINEAR,
    SCHED_COSINE,
    SCHED_COSINE_WITH_RESTARTS,
    SCHED_POLYNOMIAL,
    SCHED_CONSTANT,
    SCHED_CONSTANT_WITH_WARMUP,
    SCHED_INVERSE_SQRT,
} ScheduleKind;

// The names, as --lr_scheduler_type spells them, in ScheduleKind order.
#define SCHEDULE_CHOICES "linear|cosine|cosine_with_restarts|polynomial|constant|constant_with_warmup|inverse_sqrt"

typedef struct {
    ScheduleKind kind;
    double learning_rate;  // the peak lr
    long warmup_steps;     // W
    long total_steps;      // T
    double num_cycles;     // cosine: 0.5 (half a cosine), cosine_with_restarts: 1
    double lr_end;         // polynomial: 1e-7
    double power;          // polynomial: 1.0
    double timescale;      // inverse_sqrt: W, or 10,000 without warmup
} Schedule;

// schedule_kind: parse a --lr_scheduler_type name; dies naming the choices otherwise.
ScheduleKind schedule_kind(const char *name);
const char *schedule_name(ScheduleKind kind);
// schedule_make: a schedule with Hugging Face's default extra parameters for `kind`.
Schedule schedule_make(ScheduleKind kind, double learning_rate, long warmup_steps, long total_steps);
// schedule_lr: the learning rate used by optimizer update `step` (0-based).
double schedule_lr(const Schedule *s, long step);
// warmup_steps_from_ratio: the Trainer's rule, ceil(ratio * total_steps).
long warmup_steps_from_ratio(double warmup_ratio, long total_steps);
