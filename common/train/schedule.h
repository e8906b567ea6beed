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
//   cosine_with_min_lr    max(0, c * (1 - r) + r),  c = cosine's factor, r = min_lr_rate (or min_lr / lr)
//   warmup_stable_decay   warmup W (linear from min_lr_ratio), stable S = T - W - D steps at 1, then D decay
//                         steps (cosine | linear | 1-sqrt of q = (step - W - S) / D) down to min_lr_ratio,
//                         scaled f * (1 - min_lr_ratio) + min_lr_ratio; min_lr_ratio after W + S + D
// The two last ones (transformers 5) need --lr_scheduler_kwargs (schedule_set_kwargs): min_lr or
// min_lr_rate, and num_decay_steps.
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
    SCHED_COSINE_WITH_MIN_LR,
    SCHED_WARMUP_STABLE_DECAY,
} ScheduleKind;

// The names, as --lr_scheduler_type spells them, in ScheduleKind order.
#define SCHEDULE_CHOICES                                                                                           \
    "linear|cosine|cosine_with_restarts|polynomial|constant|constant_with_warmup|inverse_sqrt|cosine_with_min_lr|" \
    "warmup_stable_decay"
// WSD's warmup and decay shapes (warmup_type, decay_type)
typedef enum { SHAPE_LINEAR, SHAPE_COSINE, SHAPE_1_SQRT } RampShape;

typedef struct {
    ScheduleKind kind;
    double learning_rate;                      // the peak lr
    long warmup_steps;                         // W
    long total_steps;                          // T
    double num_cycles;                         // cosine: 0.5 (half a cosine), cosine_with_restarts: 1
    double lr_end;                             // polynomial: 1e-7
    double power;                              // polynomial: 1.0
    double timescale;                          // inverse_sqrt: W, or 10,000 without warmup
    double min_lr_rate;                        // cosine_with_min_lr: the floor as a fraction of the peak (-1 until set)
    double num_decay_steps, num_stable_steps;  // warmup_stable_decay: D (-1 until set), S (T - W - D)
    RampShape warmup_type, decay_type;         // warmup_stable_decay: linear, cosine
    double min_lr_ratio;                       // warmup_stable_decay: 0
} Schedule;

// schedule_kind: parse a --lr_scheduler_type name; dies naming the choices otherwise.
ScheduleKind schedule_kind(const char *name);
const char *schedule_name(ScheduleKind kind);
// schedule_make: a schedule with Hugging Face's default extra parameters for `kind`.
Schedule schedule_make(ScheduleKind kind, double learning_rate, long warmup_steps, long total_steps);
// schedule_set_kwargs: the schedule's extra parameters from Hugging Face's lr_scheduler_kwargs,
// a JSON object such as {"min_lr_rate": 0.1} (NULL: none). A key the schedule does not take, or a
// required one missing, is one error line naming `flag`.
void schedule_set_kwargs(Schedule *s, const char *json, const char *flag);
// schedule_lr: the learning rate used by optimizer update `step` (0-based).
double schedule_lr(const Schedule *s, long step);
// warmup_steps_from_ratio: the Trainer's rule, ceil(ratio * total_steps).
long warmup_steps_from_ratio(double warmup_ratio, long total_steps);
// warmup_steps_resolve: the warmup steps of a run of T steps, as transformers 5's
// TrainingArguments.get_warmup_steps reads --warmup_steps: a count when >= 1 (int(): 2.5 -> 2),
// a ratio ceil(T * warmup_steps) when in (0, 1); 0 falls back to transformers 4's warmup_ratio.
long warmup_steps_resolve(double warmup_steps, double warmup_ratio, long total_steps);
// warmup_is_ratio: does warmup_steps_resolve read a ratio (from either flag)?
bool warmup_is_ratio(double warmup_steps);
