// Lesson 03 — learning-rate schedules and warmup.
//
// The learning rate of a fine-tuning run is not one number: a schedule multiplies the peak
// (--learning_rate) by a factor that changes with the optimizer step. This program prints the
// LR each Hugging Face schedule gives at chosen steps, compares the two ways of counting warmup
// steps, turns a warmup ratio into steps, and draws every curve into one PNG.
//
// `--dump` prints, for one schedule, the LR used by every update `step lr` (0-based step, lr in
// %.9e): the interface tests/test_schedule.c and reviewers compare with transformers.
//
// The formulas. Warmup and the two decays most runs use are written out below
// (linear_with_warmup, cosine_with_warmup); the program checks them against
// common/train/schedule.c, which has all seven schedules (their formulas head schedule.h) and
// which the later lessons and the trainer use.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/core/args.h"
#include "common/core/plot.h"
#include "common/train/schedule.h"
#include "common/core/util.h"

#define N_KINDS 7  // the schedules that need no --lr_scheduler_kwargs (the table and the plot)

// linear_with_warmup: the Trainer's default schedule (W warmup steps, T steps in all).
//   step < W:  lr * step / W                  from 0 up to the peak
//   after:     lr * (T - step) / (T - W)      a straight line down to 0 at step T
static double linear_with_warmup(double lr, long step, long W, long T) {
    double factor = step < W ? (double)step / (double)W : (double)(T - step) / (double)(T - W);
    return lr * factor;
}

// cosine_with_warmup: the same warmup, then half a cosine from the peak down to 0.
//   after:     lr * (1 + cos(pi * p)) / 2,    p = (step - W) / (T - W), the fraction of decay done
static double cosine_with_warmup(double lr, long step, long W, long T) {
    double p = (double)(step - W) / (double)(T - W);
    double factor = step < W ? (double)step / (double)W : 0.5 * (1.0 + cos(M_PI * p));
    return lr * factor;
}

// check_formulas: the two functions above give common/train/schedule.c's LR, bit for bit, at
// every step of the run (the program stops with an error if one step differs).
static void check_formulas(double lr, long warmup, long total) {
    const struct {
        ScheduleKind kind;
        double (*by_hand)(double, long, long, long);
        const char *formula;
    } written_out[] = {
        {SCHED_LINEAR, linear_with_warmup, "lr * step / W, then lr * (T - step) / (T - W)"},
        {SCHED_COSINE, cosine_with_warmup, "lr * step / W, then lr * (1 + cos(pi * p)) / 2"},
    };
    for (size_t i = 0; i < ARRAY_LEN(written_out); i++) {
        Schedule s = schedule_make(written_out[i].kind, lr, warmup, total);
        for (long step = 0; step < total; step++)
            if (written_out[i].by_hand(lr, step, warmup, total) != schedule_lr(&s, step))
                die("step %ld: this file's %s formula gives %.17g, common/train/schedule.c %.17g", step,
                    schedule_name(s.kind), written_out[i].by_hand(lr, step, warmup, total), schedule_lr(&s, step));
        printf("%-8s %-48s same as schedule.c at all %ld steps\n", schedule_name(s.kind), written_out[i].formula,
               total);
    }
}

// table_steps: the steps worth a column for W warmup steps of T: the start, the warmup's
// middle, its last step and the peak, the middle of the decay and the last step; each once,
// in order, below T. Returns how many were written to steps[0..9).
static int table_steps(long W, long T, long *steps) {
    const long wanted[] = {0, 1, W / 2, W - 1, W, W + 1, W + (T - W) / 2, T - 1};
    int n = 0;
    for (size_t i = 0; i < ARRAY_LEN(wanted); i++)
        if (wanted[i] >= 0 && wanted[i] < T && (n == 0 || wanted[i] > steps[n - 1])) steps[n++] = wanted[i];
    return n;
}

static void print_table(double lr, long warmup, long total) {
    long steps[9];
    const int n = table_steps(warmup, total, steps);
    printf("%-22s", "step");
    for (int i = 0; i < n; i++) printf(" %9ld", steps[i]);
    printf("\n");
    for (int k = 0; k < N_KINDS; k++) {
        Schedule s = schedule_make((ScheduleKind)k, lr, warmup, total);
        printf("%-22s", schedule_name((ScheduleKind)k));
        for (int i = 0; i < n; i++) printf(" %9.3e", schedule_lr(&s, steps[i]));
        printf("\n");
    }
}

// print_warmup_conventions: HF's factor step/W (update 1 gets lr 0) next to (step+1)/W, the
// convention of a hand-written loop that counts updates from 1.
static void print_warmup_conventions(double lr, long warmup, long total) {
    Schedule s = schedule_make(SCHED_LINEAR, lr, warmup, total);
    const long updates[] = {1, 2, 10, 11, 50, warmup, warmup + 1, warmup + 2};
    printf("%8s %6s %18s %18s\n", "update", "step", "HF: lr*step/W", "lr*(step+1)/W");
    for (size_t i = 0; i < ARRAY_LEN(updates); i++) {
        long step = updates[i] - 1;
        if (step >= total) continue;
        double plus_one = step < warmup ? lr * (double)(step + 1) / (double)warmup : schedule_lr(&s, step);
        printf("%8ld %6ld %18.3e %18.3e\n", updates[i], step, schedule_lr(&s, step), plus_one);
    }
}

// print_transformers5_schedules: the two schedules that take --lr_scheduler_kwargs, with the
// kwargs shown: a cosine that stops at 10% of the peak, and warmup-stable-decay whose last 20%
// of the steps decay.
static void print_transformers5_schedules(double lr, long warmup, long total) {
    char wsd_kwargs[64];
    snprintf(wsd_kwargs, sizeof wsd_kwargs, "{\"num_decay_steps\": %ld}", total / 5);
    const struct {
        ScheduleKind kind;
        const char *kwargs;
    } shown[] = {{SCHED_COSINE, NULL},
                 {SCHED_COSINE_WITH_MIN_LR, "{\"min_lr_rate\": 0.1}"},
                 {SCHED_WARMUP_STABLE_DECAY, wsd_kwargs}};
    long steps[9];
    const int n = table_steps(warmup, total, steps);
    printf("\n== transformers 5 schedules with --lr_scheduler_kwargs (W = %ld, T = %ld) ==\n", warmup, total);
    printf("%-48s", "step");
    for (int i = 0; i < n; i++) printf(" %9ld", steps[i]);
    printf("\n");
    for (size_t k = 0; k < ARRAY_LEN(shown); k++) {
        Schedule s = schedule_make(shown[k].kind, lr, warmup, total);
        schedule_set_kwargs(&s, shown[k].kwargs, "--lr_scheduler_kwargs");
        char label[64];
        snprintf(label, sizeof label, "%s %s", schedule_name(s.kind), shown[k].kwargs ? shown[k].kwargs : "");
        printf("%-48s", label);
        for (int i = 0; i < n; i++) printf(" %9.3e", schedule_lr(&s, steps[i]));
        printf("\n");
    }
}

static void plot_all(double lr, long warmup, long total, const char *path) {
    Plot p = plot_new("learning-rate schedules (Hugging Face get_scheduler)", "optimizer step", "lr");
    double *x = xmalloc(sizeof(double) * (size_t)total), *y = xmalloc(sizeof(double) * (size_t)total);
    for (int k = 0; k < N_KINDS; k++) {
        Schedule s = schedule_make((ScheduleKind)k, lr, warmup, total);
        for (long i = 0; i < total; i++) {
            x[i] = (double)i;
            y[i] = schedule_lr(&s, i);
        }
        plot_add(&p, schedule_name((ScheduleKind)k), x, y, (int)total);
    }
    plot_save(&p, path);
    plot_free(&p);
    free(x);
    free(y);
}

int main(int argc, char **argv) {
    double lr = 2e-5, warmup_ratio = 0.0, warmup_steps = 100;
    int max_steps = 1000, ratio_total = 10000;
    bool dump = false;
    const char *kind = "linear", *plot_path = "runs/03_lr_schedules.png", *kwargs = NULL;
    ArgSpec specs[] = {
        {"learning_rate", ARG_FLOAT, &lr, "peak learning rate", "Schedule"},
        {"lr_scheduler_type", ARG_CHOICE, &kind, "schedule for --dump", NULL, SCHEDULE_CHOICES},
        {"lr_scheduler_kwargs", ARG_STRING, &kwargs,
         "its extra parameters as JSON, e.g. '{\"min_lr_rate\": 0.1}' or '{\"num_decay_steps\": 100}'", NULL},
        {"warmup_steps", ARG_FLOAT, &warmup_steps,
         "linear warmup steps (>= 1), or in (0, 1) a fraction of max_steps: ceil(ratio * max_steps)", NULL},
        {"warmup_ratio", ARG_FLOAT, &warmup_ratio,
         "transformers 4's name for the fraction (wins over the default --warmup_steps 100)", NULL},
        {"max_steps", ARG_INT, &max_steps, "optimizer steps in the run", NULL},
        {"ratio_example_steps", ARG_INT, &ratio_total, "run length for the warmup-ratio example", "Output"},
        {"dump", ARG_BOOL, &dump, "print `step lr` for every step of --lr_scheduler_type and exit", NULL},
        {"plot", ARG_STRING, &plot_path, "PNG of every schedule", NULL},
    };
    ArgParser parser = {"03_lr_schedules",
                        "The LR of every Hugging Face schedule (linear, cosine, cosine_with_restarts, polynomial,\n"
                        "constant, constant_with_warmup, inverse_sqrt) with warmup by steps or by ratio; the linear\n"
                        "and cosine formulas written out and checked against common/train/schedule.c.",
                        NULL, specs, ARRAY_LEN(specs)};
    args_parse(&parser, argc, argv, NULL, 0);
    if (max_steps < 1) die("--max_steps must be at least 1 (got %d)", max_steps);
    if (!(lr > 0)) die("--learning_rate must be positive (got %g)", lr);
    // A flag given wins over a default: --warmup_ratio alone replaces the default 100 steps.
    if (args_was_set(&parser, "warmup_ratio") && !args_was_set(&parser, "warmup_steps")) warmup_steps = 0;
    long warmup = warmup_steps_resolve(warmup_steps, warmup_ratio, max_steps);

    if (dump) {
        Schedule s = schedule_make(schedule_kind(kind), lr, warmup, max_steps);
        schedule_set_kwargs(&s, kwargs, "--lr_scheduler_kwargs");
        for (long step = 0; step < max_steps; step++) printf("%ld %.9e\n", step, schedule_lr(&s, step));
        return 0;
    }

    printf("== LR used by each update (0-based step), lr %g, %ld warmup steps, %d steps ==\n", lr, warmup, max_steps);
    print_table(lr, warmup, max_steps);

    printf("\n== The same LR from the formulas written out in this file (W = %ld, T = %d) ==\n", warmup, max_steps);
    check_formulas(lr, warmup, max_steps);

    print_transformers5_schedules(lr, warmup, max_steps);

    printf("\n== Counting warmup: the first update of a Hugging Face run uses lr 0 ==\n");
    print_warmup_conventions(lr, warmup, max_steps);

    printf("\n== Warmup from a ratio: warmup_steps = ceil(warmup_ratio * total steps) ==\n");
    const double ratios[] = {0.1, 0.06, 0.0333};
    for (size_t i = 0; i < ARRAY_LEN(ratios); i++)
        printf("warmup_ratio %-6g of %d steps -> %ld warmup steps\n", ratios[i], ratio_total,
               warmup_steps_from_ratio(ratios[i], ratio_total));

    mkdir_p("runs");
    plot_all(lr, warmup, max_steps, plot_path);
    printf("\nplot of every schedule: %s\n", plot_path);
    return 0;
}
