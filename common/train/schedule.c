// schedule.c — see schedule.h. Each factor is written as transformers/optimization.py writes
// it, in double precision, so the results agree to the last bits.
#include "common/train/schedule.h"

#include <math.h>
#include <string.h>

#include "common/core/util.h"

static const char *NAMES[] = {
    "linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup", "inverse_sqrt"};

ScheduleKind schedule_kind(const char *name) {
    for (size_t i = 0; i < ARRAY_LEN(NAMES); i++)
        if (!strcmp(name, NAMES[i])) return (ScheduleKind)i;
    die("unknown lr_scheduler_type '%s' (choose from %s)", name, SCHEDULE_CHOICES);
}

const char *schedule_name(ScheduleKind kind) { return NAMES[kind]; }

Schedule schedule_make(ScheduleKind kind, double learning_rate, long warmup_steps, long total_steps) {
    if (warmup_steps < 0) die("warmup_steps must not be negative (got %ld)", warmup_steps);
    Schedule s = {.kind = kind,
                  .learning_rate = learning_rate,
                  .warmup_steps = warmup_steps,
                  .total_steps = total_steps,
                  .num_cycles = kind == SCHED_COSINE_WITH_RESTARTS ? 1.0 : 0.5,
                  .lr_end = 1e-7,
                  .power = 1.0,
                  .timescale = warmup_steps ? (double)warmup_steps : 10000.0};
    if (kind == SCHED_POLYNOMIAL && !(learning_rate > s.lr_end))
        die("polynomial schedule: learning_rate (%g) must be larger than lr_end (%g)", learning_rate, s.lr_end);
    return s;
}

static double max1(long x) { return x > 1 ? (double)x : 1.0; }

// factor: the multiplier of the peak learning rate at `step`.
static double factor(const Schedule *s, long step) {
    const long W = s->warmup_steps, T = s->total_steps;
    if (s->kind == SCHED_CONSTANT) return 1.0;
    if (step < W) return (double)step / max1(W);
    const double progress = (double)(step - W) / max1(T - W);
    switch (s->kind) {
    case SCHED_CONSTANT:
    case SCHED_CONSTANT_WITH_WARMUP: return 1.0;
    case SCHED_LINEAR: return fmax(0.0, (double)(T - step) / max1(T - W));
    case SCHED_COSINE: return fmax(0.0, 0.5 * (1.0 + cos(M_PI * s->num_cycles * 2.0 * progress)));
    case SCHED_COSINE_WITH_RESTARTS:
        if (progress >= 1.0) return 0.0;
        return fmax(0.0, 0.5 * (1.0 + cos(M_PI * fmod(s->num_cycles * progress, 1.0))));
    case SCHED_POLYNOMIAL: {
        const double lr = s->learning_rate;
        if (step > T) return s->lr_end / lr;
        const double pct_remaining = 1.0 - (double)(step - W) / (double)(T - W);
        return ((lr - s->lr_end) * pow(pct_remaining, s->power) + s->lr_end) / lr;
    }
    case SCHED_INVERSE_SQRT: return 1.0 / sqrt(((double)step + (s->timescale - (double)W)) / s->timescale);
    }
    return 1.0;
}

double schedule_lr(const Schedule *s, long step) { return s->learning_rate * factor(s, step); }

long warmup_steps_from_ratio(double warmup_ratio, long total_steps) {
    if (warmup_ratio < 0 || warmup_ratio > 1) die("warmup_ratio must be in [0, 1] (got %g)", warmup_ratio);
    return (long)ceil(warmup_ratio * (double)total_steps);
}
