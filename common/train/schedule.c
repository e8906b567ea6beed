// schedule.c — see schedule.h. Each factor is written as transformers/optimization.py writes
// it, in double precision, so the results agree to the last bits.
#include "common/train/schedule.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "common/core/util.h"

static const char *NAMES[] = {"linear",
                              "cosine",
                              "cosine_with_restarts",
                              "polynomial",
                              "constant",
                              "constant_with_warmup",
                              "inverse_sqrt",
                              "cosine_with_min_lr",
                              "warmup_stable_decay"};

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
                  .timescale = warmup_steps ? (double)warmup_steps : 10000.0,
                  .min_lr_rate = -1,
                  .num_decay_steps = -1,
                  .num_stable_steps = -1,
                  .warmup_type = SHAPE_LINEAR,
                  .decay_type = SHAPE_COSINE};
    if (kind == SCHED_POLYNOMIAL && !(learning_rate > s.lr_end))
        die("polynomial schedule: learning_rate (%g) must be larger than lr_end (%g)", learning_rate, s.lr_end);
    return s;
}

static double max1(long x) { return x > 1 ? (double)x : 1.0; }
static double fmax1(double x) { return x > 1 ? x : 1.0; }

// ---- lr_scheduler_kwargs ------------------------------------------------------------------

static double kwarg_number(const cJSON *v, const char *flag) {
    if (!cJSON_IsNumber(v)) die("%s: \"%s\" must be a number", flag, v->string);
    return v->valuedouble;
}

static RampShape kwarg_shape(const cJSON *v, const char *flag) {
    static const char *shapes[] = {"linear", "cosine", "1-sqrt"};
    for (size_t i = 0; cJSON_IsString(v) && i < ARRAY_LEN(shapes); i++)
        if (!strcmp(v->valuestring, shapes[i])) return (RampShape)i;
    die("%s: \"%s\" must be \"linear\", \"cosine\" or \"1-sqrt\"", flag, v->string);
}

// set_kwarg: one key of lr_scheduler_kwargs, where get_scheduler's function for s->kind takes it.
static void set_kwarg(Schedule *s, const cJSON *v, const char *flag) {
    const char *k = v->string;
    const ScheduleKind kind = s->kind;
    const bool cosine_like = kind == SCHED_COSINE || kind == SCHED_COSINE_WITH_RESTARTS ||
        kind == SCHED_COSINE_WITH_MIN_LR || kind == SCHED_WARMUP_STABLE_DECAY;
    const bool wsd = kind == SCHED_WARMUP_STABLE_DECAY;
    if (cosine_like && !strcmp(k, "num_cycles")) s->num_cycles = kwarg_number(v, flag);
    else if (kind == SCHED_POLYNOMIAL && !strcmp(k, "lr_end")) s->lr_end = kwarg_number(v, flag);
    else if (kind == SCHED_POLYNOMIAL && !strcmp(k, "power")) s->power = kwarg_number(v, flag);
    else if (kind == SCHED_INVERSE_SQRT && !strcmp(k, "timescale")) s->timescale = kwarg_number(v, flag);
    else if (kind == SCHED_COSINE_WITH_MIN_LR && !strcmp(k, "min_lr_rate")) s->min_lr_rate = kwarg_number(v, flag);
    else if (kind == SCHED_COSINE_WITH_MIN_LR && !strcmp(k, "min_lr"))
        s->min_lr_rate = kwarg_number(v, flag) / s->learning_rate;  // min_lr / optimizer.defaults["lr"]
    else if (wsd && !strcmp(k, "num_decay_steps")) s->num_decay_steps = kwarg_number(v, flag);
    else if (wsd && !strcmp(k, "num_stable_steps")) s->num_stable_steps = kwarg_number(v, flag);
    else if (wsd && !strcmp(k, "min_lr_ratio")) s->min_lr_ratio = kwarg_number(v, flag);
    else if (wsd && !strcmp(k, "warmup_type")) s->warmup_type = kwarg_shape(v, flag);
    else if (wsd && !strcmp(k, "decay_type")) s->decay_type = kwarg_shape(v, flag);
    else die("%s: the %s schedule takes no \"%s\"", flag, schedule_name(kind), k);
}

void schedule_set_kwargs(Schedule *s, const char *json, const char *flag) {
    cJSON *root = json ? cJSON_Parse(json) : NULL;
    if (json && !cJSON_IsObject(root))
        die("%s: '%s' is not a JSON object such as '{\"min_lr_rate\": 0.1}'", flag, json);
    bool min_lr = false, min_lr_rate = false;
    for (const cJSON *v = root ? root->child : NULL; v; v = v->next) {
        set_kwarg(s, v, flag);
        min_lr |= !strcmp(v->string, "min_lr");
        min_lr_rate |= !strcmp(v->string, "min_lr_rate");
    }
    cJSON_Delete(root);
    if (min_lr && min_lr_rate) die("%s: only one of min_lr or min_lr_rate should be set", flag);
    if (s->kind == SCHED_COSINE_WITH_MIN_LR && s->min_lr_rate < 0)
        die("%s: cosine_with_min_lr needs min_lr or min_lr_rate, e.g. '{\"min_lr_rate\": 0.1}'", flag);
    if (s->kind == SCHED_WARMUP_STABLE_DECAY && !(s->num_decay_steps >= 0))
        die("%s: warmup_stable_decay needs num_decay_steps, e.g. '{\"num_decay_steps\": 100}'", flag);
    if (s->kind == SCHED_WARMUP_STABLE_DECAY && s->num_stable_steps < 0)
        s->num_stable_steps = (double)(s->total_steps - s->warmup_steps) - s->num_decay_steps;
}

// ramp: WSD's warmup (rising) or decay (falling) shape at progress q in [0, 1].
static double ramp(RampShape shape, double q, bool rising, double num_cycles) {
    switch (shape) {
    case SHAPE_LINEAR: return rising ? q : 1.0 - q;
    case SHAPE_COSINE: return rising ? 0.5 * (1.0 - cos(M_PI * q)) : 0.5 * (1.0 + cos(M_PI * num_cycles * 2.0 * q));
    case SHAPE_1_SQRT: return rising ? 1.0 - sqrt(1.0 - q) : 1.0 - sqrt(q);
    }
    return 1.0;
}

// wsd_factor: transformers' _get_wsd_scheduler_lambda.
static double wsd_factor(const Schedule *s, long step) {
    const double W = (double)s->warmup_steps, S = s->num_stable_steps, D = s->num_decay_steps, r = s->min_lr_ratio;
    const double x = (double)step;
    if (x < W) return fmax(0.0, ramp(s->warmup_type, x / fmax1(W), true, s->num_cycles) * (1.0 - r) + r);
    if (x < W + S) return 1.0;
    if (x < W + S + D)
        return fmax(0.0, ramp(s->decay_type, (x - W - S) / fmax1(D), false, s->num_cycles) * (1.0 - r) + r);
    return r;
}

// factor: the multiplier of the peak learning rate at `step`.
static double factor(const Schedule *s, long step) {
    const long W = s->warmup_steps, T = s->total_steps;
    if (s->kind == SCHED_CONSTANT) return 1.0;
    if ((s->kind == SCHED_COSINE_WITH_MIN_LR && s->min_lr_rate < 0) ||
        (s->kind == SCHED_WARMUP_STABLE_DECAY && s->num_decay_steps < 0))
        die("the %s schedule needs --lr_scheduler_kwargs (schedule_set_kwargs)", schedule_name(s->kind));
    if (s->kind == SCHED_WARMUP_STABLE_DECAY) return wsd_factor(s, step);
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
    case SCHED_COSINE_WITH_MIN_LR: {
        const double c = 0.5 * (1.0 + cos(M_PI * s->num_cycles * 2.0 * progress));
        return fmax(0.0, c * (1.0 - s->min_lr_rate) + s->min_lr_rate);
    }
    case SCHED_WARMUP_STABLE_DECAY: return wsd_factor(s, step);
    }
    return 1.0;
}

double schedule_lr(const Schedule *s, long step) { return s->learning_rate * factor(s, step); }

long warmup_steps_from_ratio(double warmup_ratio, long total_steps) {
    if (warmup_ratio < 0 || warmup_ratio > 1) die("warmup_ratio must be in [0, 1] (got %g)", warmup_ratio);
    return (long)ceil(warmup_ratio * (double)total_steps);
}

bool warmup_is_ratio(double warmup_steps) { return warmup_steps < 1; }

long warmup_steps_resolve(double warmup_steps, double warmup_ratio, long total_steps) {
    if (!(warmup_steps >= 0) || warmup_steps > 1e15)
        die("--warmup_steps must be a count >= 1 or a ratio in [0, 1) (got %g)", warmup_steps);
    if (warmup_steps >= 1) return (long)warmup_steps;
    return warmup_steps_from_ratio(warmup_steps > 0 ? warmup_steps : warmup_ratio, total_steps);
}
