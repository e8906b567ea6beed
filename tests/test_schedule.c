// test_schedule.c — common/train/schedule.c against transformers' get_scheduler, and common/train/steps.c
// against the Trainer's own step arithmetic (tests/gen_schedules.py).
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/train/schedule.h"
#include "common/train/steps.h"
#include "tests/expect_error.h"
#include "tests/fixture.h"

#define FIXTURE "tests/fixtures/schedules/schedules.txt"

Test(schedule, every_step_of_every_schedule_matches_transformers) {
    Fixture f = fixture_load(FIXTURE);
    int n_cases;
    char **cases = fixture_words(&f, "schedule_cases", &n_cases);
    cr_assert(n_cases >= 21);
    for (int c = 0; c < n_cases; c++) {
        char name[64];
        long w, t;
        // key: lr_<name>_w<warmup>_t<total>
        const char *wpos = strrchr(cases[c], 'w'), *tpos = strrchr(cases[c], 't');
        cr_assert(sscanf(wpos, "w%ld_t%ld", &w, &t) == 2 && tpos);
        snprintf(name, sizeof name, "%.*s", (int)(wpos - cases[c] - 4), cases[c] + 3);
        Schedule s = schedule_make(schedule_kind(name), 2e-5, w, t);
        int n;
        double *want = fixture_doubles(&f, cases[c], &n);
        cr_assert_eq(n, t);
        for (long step = 0; step < t; step++) {
            double got = schedule_lr(&s, step);
            cr_assert(fabs(got - want[step]) <= 1e-12 * fabs(want[step]) + 1e-300,
                      "%s step %ld: %.17g, transformers %.17g", cases[c], step, got, want[step]);
        }
        free(want);
    }
    free(cases);
    fixture_free(&f);
}

// The schedules that take lr_scheduler_kwargs (cosine_with_min_lr, warmup_stable_decay, and the
// extra parameters of cosine and polynomial), the kwargs passed as the JSON string of the flag.
Test(schedule, lr_scheduler_kwargs_match_transformers) {
    Fixture f = fixture_load(FIXTURE);
    int one;
    double *n_cases = fixture_doubles(&f, "kw_cases", &one);
    cr_assert(n_cases[0] >= 9);
    for (int c = 0; c < (int)n_cases[0]; c++) {
        char key[32];
        int n_spec, n;
        snprintf(key, sizeof key, "kw_%d_spec", c);
        char **spec = fixture_words(&f, key, &n_spec);
        cr_assert_eq(n_spec, 4);
        const long w = atol(spec[1]), t = atol(spec[2]);
        Schedule s = schedule_make(schedule_kind(spec[0]), 2e-5, w, t);
        schedule_set_kwargs(&s, spec[3], "--lr_scheduler_kwargs");
        snprintf(key, sizeof key, "kw_%d", c);
        double *want = fixture_doubles(&f, key, &n);
        cr_assert_eq(n, t);
        for (long step = 0; step < t; step++)
            cr_assert(fabs(schedule_lr(&s, step) - want[step]) <= 1e-12 * fabs(want[step]) + 1e-300,
                      "%s %s step %ld: %.17g, transformers %.17g", spec[0], spec[3], step, schedule_lr(&s, step),
                      want[step]);
        free(want);
        free(spec);
    }
    free(n_cases);
    fixture_free(&f);
}

Test(schedule, bad_lr_scheduler_kwargs_are_one_error_line) {
    Schedule s = schedule_make(SCHED_COSINE_WITH_MIN_LR, 1e-3, 0, 10);
    EXPECT_ERROR("cosine_with_min_lr needs min_lr or min_lr_rate",
                 schedule_set_kwargs(&s, NULL, "--lr_scheduler_kwargs"));
    EXPECT_ERROR("only one of min_lr or min_lr_rate",
                 schedule_set_kwargs(&s, "{\"min_lr\": 1e-5, \"min_lr_rate\": 0.1}", "--lr_scheduler_kwargs"));
    EXPECT_ERROR("is not a JSON object", schedule_set_kwargs(&s, "min_lr_rate=0.1", "--lr_scheduler_kwargs"));
    Schedule lin = schedule_make(SCHED_LINEAR, 1e-3, 0, 10);
    EXPECT_ERROR("the linear schedule takes no \"num_cycles\"",
                 schedule_set_kwargs(&lin, "{\"num_cycles\": 2}", "--lr_scheduler_kwargs"));
    Schedule wsd = schedule_make(SCHED_WARMUP_STABLE_DECAY, 1e-3, 0, 10);
    EXPECT_ERROR("warmup_stable_decay needs num_decay_steps", schedule_set_kwargs(&wsd, "{}", "--lr_scheduler_kwargs"));
    EXPECT_ERROR(
        "\"decay_type\" must be \"linear\", \"cosine\" or \"1-sqrt\"",
        schedule_set_kwargs(&wsd, "{\"num_decay_steps\": 2, \"decay_type\": \"exp\"}", "--lr_scheduler_kwargs"));
}

// transformers 5's TrainingArguments.get_warmup_steps: int(w) for w >= 1, ceil(T * w) below.
Test(steps, warmup_steps_below_one_is_a_ratio) {
    cr_expect_eq(warmup_steps_resolve(0.1, 0, 2815), 282);
    cr_expect_eq(warmup_steps_resolve(0, 0.1, 2815), 282);
    cr_expect_eq(warmup_steps_resolve(100, 0.1, 2815), 100);
    cr_expect_eq(warmup_steps_resolve(2.9, 0, 2815), 2);
    cr_expect_eq(warmup_steps_resolve(0, 0, 2815), 0);
    EXPECT_ERROR("--warmup_steps must be a count >= 1 or a ratio in [0, 1)", warmup_steps_resolve(-0.5, 0, 10));
}

Test(steps, arithmetic_matches_the_trainer) {
    Fixture f = fixture_load(FIXTURE);
    int one;
    double *rows = fixture_doubles(&f, "grid_rows", &one);
    cr_assert(rows[0] > 100);
    for (int i = 0; i < (int)rows[0]; i++) {
        char key[32];
        int n;
        snprintf(key, sizeof key, "grid_%d", i);
        double *r = fixture_doubles(&f, key, &n);
        StepPlan p = {.num_examples = (long)r[0],
                      .per_device_train_batch_size = (int)r[1],
                      .per_device_eval_batch_size = 8,
                      .gradient_accumulation_steps = (int)r[2],
                      .num_train_epochs = r[3],
                      .dataloader_drop_last = r[4] != 0,
                      .max_steps = (long)r[5],
                      .warmup_steps = r[6]};
        steps_plan(&p);
        if (r[6] < 1) {  // transformers 4's --warmup_ratio gives the same warmup as a ratio
            StepPlan old = p;
            old.warmup_steps = 0;
            old.warmup_ratio = r[6];
            steps_plan(&old);
            cr_expect_eq(old.warmup, p.warmup, "%s: warmup_ratio %g gives %ld warmup steps", key, r[6], old.warmup);
        }
        cr_expect_eq(p.batches_per_epoch, (long)r[7], "%s batches/epoch %ld vs %g", key, p.batches_per_epoch, r[7]);
        cr_expect_eq(p.updates_per_epoch, (long)r[8], "%s updates/epoch %ld vs %g", key, p.updates_per_epoch, r[8]);
        cr_expect_eq(p.total_steps, (long)r[9], "%s total %ld vs %g", key, p.total_steps, r[9]);
        cr_expect_eq(p.epochs, (int)r[10], "%s epochs %d vs %g", key, p.epochs, r[10]);
        cr_expect_eq(p.warmup, (long)r[11], "%s warmup %ld vs %g", key, p.warmup, r[11]);
        cr_expect_eq(p.effective_batch, (long)r[12], "%s effective batch", key);
        Interval every200 = {STRATEGY_STEPS, 200}, log50 = {STRATEGY_STEPS, 50};
        cr_expect_eq(count_events(&p, every200, true), (long)r[13], "%s evaluations %ld vs %g", key,
                     count_events(&p, every200, true), r[13]);
        cr_expect_eq(count_events(&p, every200, true), (long)r[14], "%s saves", key);
        cr_expect_eq(count_events(&p, log50, false), (long)r[15], "%s logs %ld vs %g", key,
                     count_events(&p, log50, false), r[15]);
        free(r);
    }
    free(rows);
    fixture_free(&f);
}

// The cursor visits every micro-batch once, groups them as the Trainer does, and makes
// exactly total_steps optimizer steps; resuming from a step continues the same sequence.
Test(steps, cursor_counts_updates_and_resumes) {
    StepPlan p = {.num_examples = 200,
                  .per_device_train_batch_size = 6,
                  .per_device_eval_batch_size = 6,
                  .gradient_accumulation_steps = 4,
                  .num_train_epochs = 2.5};
    steps_plan(&p);  // 34 batches/epoch -> 9 updates/epoch (last group 2 batches) -> 23 steps
    cr_assert_eq(p.updates_per_epoch, 9);
    cr_assert_eq(p.last_group_batches, 2);
    cr_assert_eq(p.total_steps, 23);
    StepCursor c = steps_begin(&p, 0);
    MicroBatch mb, seen[200];
    long updates = 0, n = 0;
    while (steps_next(&c, &mb)) {
        seen[n++] = mb;
        updates += mb.ends_group;
    }
    cr_assert_eq(updates, 23);
    cr_assert_eq(seen[33].group_batches, 2, "the last group of an epoch is short");
    cr_assert(seen[33].ends_epoch && seen[33].ends_group);
    cr_assert_eq(seen[34].epoch, 1);
    // Resume after step 11 (inside epoch 1): the same micro-batches follow.
    StepCursor r = steps_begin(&p, 11);
    long k = 0;
    while (k < n && seen[k].global_step < 11) k++;
    while (steps_next(&r, &mb)) {
        cr_assert(k < n);
        cr_assert(mb.epoch == seen[k].epoch && mb.batch_in_epoch == seen[k].batch_in_epoch &&
                      mb.global_step == seen[k].global_step,
                  "resumed micro-batch %ld differs", k);
        k++;
    }
    cr_assert_eq(k, n);
}
