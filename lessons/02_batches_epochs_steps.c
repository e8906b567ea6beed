// Lesson 02 — batches, epochs and steps: the arithmetic of a training run.
//
// Given a data set size and the Trainer's flags, how many optimizer steps will the run make,
// how long is the warmup, and after which steps do logging, evaluation and saving happen?
// common/train/steps.c answers with the Hugging Face Trainer's rules (tests/test_schedule.c checks
// them against the Trainer's own code on 288 configurations). Then the lesson trains a small
// model for real with that plan and counts what actually happened.
#include <stdio.h>
#include <stdlib.h>

#include "common/core/args.h"
#include "common/model/logreg.h"
#include "common/train/optim.h"
#include "common/core/rng.h"
#include "common/train/schedule.h"
#include "common/train/steps.h"
#include "common/core/util.h"

#define D 8  // features of the synthetic data
#define K 2  // classes

typedef struct {
    long updates, micro_batches, examples, evaluations, saves, logs;
    double first_loss, last_loss;
} Counts;

// train_for_real: softmax regression on synthetic data, driven by the plan's cursor, AdamW
// and a linear schedule; counts updates and events instead of trusting the arithmetic.
static Counts train_for_real(const StepPlan *p, Interval log, Interval eval, Interval save, double lr, int seed) {
    Rng rng, init;  // the examples and their shuffles; the model's initial weights
    rng_seed(&rng, (uint64_t)seed, RNG_STREAM_EXAMPLES);
    rng_seed(&init, (uint64_t)seed, RNG_STREAM_INIT);
    const long N = p->num_examples;
    float *x = xmalloc(sizeof(float) * (size_t)N * D);
    int *y = xmalloc(sizeof(int) * (size_t)N), *order = xmalloc(sizeof(int) * (size_t)N);
    int *rows = xmalloc(sizeof(int) * (size_t)p->per_device_train_batch_size);
    for (long i = 0; i < N; i++) {
        float s = 0;
        for (int j = 0; j < D; j++) s += (x[i * D + j] = rng_normal(&rng)) * (j % 2 ? 1.0f : -0.5f);
        y[i] = s > 0;
    }
    LogReg m;
    logreg_init(&m, D, K, &init, 0.0f);
    Optimizer opt;
    optimizer_init(&opt, optimizer_defaults(OPT_ADAMW), &m.ps);
    Schedule sched = schedule_make(SCHED_LINEAR, lr, p->warmup, p->total_steps);
    Counts c = {0};
    StepCursor cur = steps_begin(p, 0);
    MicroBatch mb;
    long group_examples = 0;
    int epoch_shuffled = -1;
    while (steps_next(&cur, &mb)) {
        if (mb.epoch != epoch_shuffled) {
            rng_permutation(&rng, order, (int)N);
            epoch_shuffled = mb.epoch;
        }
        if (mb.index_in_group == 0) {  // the examples in this accumulation group, for the 1/size weight
            group_examples = steps_group_examples(p, &mb);
            params_zero_grad(&m.ps);
        }
        // Every device's batch in turn, each gradient weighted 1/devices: their mean, what the
        // all-reduce of a real multi-device run computes (lesson 18).
        for (int device = 0; device < p->n_devices; device++) {
            const int n = steps_shard_batch(p, order, device, mb.batch_in_epoch, rows);
            const double loss = logreg_add_grad_rows(&m, x, y, rows, n, 1.0f / (float)(group_examples * p->n_devices));
            c.micro_batches++;
            c.examples += n;
            if (c.micro_batches == 1) c.first_loss = loss;
            c.last_loss = loss;
        }
        if (!mb.ends_group) continue;
        optimizer_step(&opt, &m.ps, schedule_lr(&sched, mb.global_step));
        long step = mb.global_step + 1;
        c.updates++;
        c.logs += fires_after_step(log, step, p->total_steps, false);
        c.evaluations +=
            fires_after_step(eval, step, p->total_steps, true) || (mb.ends_epoch && fires_after_epoch(eval));
        c.saves += fires_after_step(save, step, p->total_steps, true) || (mb.ends_epoch && fires_after_epoch(save));
    }
    free(x);
    free(y);
    free(order);
    free(rows);
    optimizer_free(&opt);
    logreg_free(&m);
    return c;
}

int main(int argc, char **argv) {
    int num_examples = 9000, num_eval_examples = 9000, batch = 16, eval_batch = 32, accum = 1, max_steps = -1;
    int eval_steps = 200, save_steps = 200, logging_steps = 50, seed = 42, world_size = 1;
    double epochs = 5, warmup_ratio = 0.1, warmup_steps = 0, lr = 1e-2;
    bool drop_last = false, train = true;
    const char *eval_strategy = "steps", *save_strategy = "steps";
    ArgSpec specs[] = {
        {"num_examples", ARG_INT, &num_examples, "training examples", "Data"},
        {"num_eval_examples", ARG_INT, &num_eval_examples, "evaluation examples", NULL},
        {"per_device_train_batch_size", ARG_INT, &batch, "examples per forward/backward", "Batching"},
        {"per_device_eval_batch_size", ARG_INT, &eval_batch, "examples per evaluation batch", NULL},
        {"gradient_accumulation_steps", ARG_INT, &accum, "batches summed into one optimizer step", NULL},
        {"dataloader_drop_last", ARG_BOOL, &drop_last, "drop the last incomplete batch of each epoch", NULL},
        {"world_size", ARG_INT, &world_size, "devices (processes) training together, each on its own batches", NULL},
        {"num_train_epochs", ARG_FLOAT, &epochs, "passes over the data (may be fractional)", "Length"},
        {"max_steps", ARG_INT, &max_steps, "total optimizer steps; > 0 overrides num_train_epochs", NULL},
        {"warmup_steps", ARG_FLOAT, &warmup_steps,
         "warmup steps (>= 1), or in (0, 1) a fraction of the total steps, rounded up (transformers 5)", NULL},
        {"warmup_ratio", ARG_FLOAT, &warmup_ratio, "transformers 4's name for a fraction (--warmup_steps > 0 wins)",
         NULL},
        {"logging_steps", ARG_INT, &logging_steps, "log every N steps", "Events"},
        {"eval_strategy", ARG_CHOICE, &eval_strategy, "when to evaluate", NULL, STRATEGY_CHOICES},
        {"eval_steps", ARG_INT, &eval_steps, "evaluate every N steps (eval_strategy steps)", NULL},
        {"save_strategy", ARG_CHOICE, &save_strategy, "when to save a checkpoint", NULL, STRATEGY_CHOICES},
        {"save_steps", ARG_INT, &save_steps, "save every N steps (save_strategy steps)", NULL},
        {"learning_rate", ARG_FLOAT, &lr, "peak learning rate of the demo model", "Demo training"},
        {"train", ARG_BOOL, &train, "also train a small model with this plan and count what happens", NULL},
        {"seed", ARG_INT, &seed, "seed of the synthetic data and the shuffling", NULL},
    };
    ArgParser parser = {
        "02_batches_epochs_steps",
        "The arithmetic of a training run as the Hugging Face Trainer does it: batches and updates per\n"
        "epoch, total and warmup steps, effective batch, when logging/evaluation/saving happen.\n"
        "Defaults reproduce the worked example: 9,000 examples, batch 16, 5 epochs, eval every 200.",
        NULL, specs, ARRAY_LEN(specs)};
    args_parse(&parser, argc, argv, NULL, 0);

    StepPlan plan = {.num_examples = num_examples,
                     .per_device_train_batch_size = batch,
                     .per_device_eval_batch_size = eval_batch,
                     .gradient_accumulation_steps = accum,
                     .n_devices = world_size,
                     .num_train_epochs = epochs,
                     .max_steps = max_steps,
                     .dataloader_drop_last = drop_last,
                     .warmup_ratio = warmup_ratio,
                     .warmup_steps = warmup_steps,
                     .num_eval_examples = num_eval_examples};
    if (world_size < 1) die("--world_size must be at least 1 (got %d)", world_size);
    steps_plan(&plan);
    Interval log = {STRATEGY_STEPS, logging_steps};
    Interval eval = {strategy_parse(eval_strategy, "--eval_strategy"), eval_steps};
    Interval save = {strategy_parse(save_strategy, "--save_strategy"), save_steps};
    if (eval.strategy == STRATEGY_STEPS && eval_steps < 1) die("--eval_steps must be at least 1 (got %d)", eval_steps);
    if (save.strategy == STRATEGY_STEPS && save_steps < 1) die("--save_steps must be at least 1 (got %d)", save_steps);
    if (logging_steps < 1) die("--logging_steps must be at least 1 (got %d)", logging_steps);

    printf("== The plan ==\n");
    steps_print_plan(&plan, log, eval, save);
    if (!train) return 0;

    printf("\n== Training a small model with this plan (softmax regression on synthetic data, AdamW, linear schedule) "
           "==\n");
    Counts c = train_for_real(&plan, log, eval, save, lr, seed);
    printf("forward/backward passes  %ld micro-batches, %ld examples\n", c.micro_batches, c.examples);
    printf("optimizer updates        %ld (planned %ld)\n", c.updates, plan.total_steps);
    printf("log lines                %ld (planned %ld)\n", c.logs, count_events(&plan, log, false));
    printf("evaluations              %ld (planned %ld)\n", c.evaluations, count_events(&plan, eval, true));
    printf("checkpoints              %ld (planned %ld)\n", c.saves, count_events(&plan, save, true));
    printf("loss                     %.4f on the first batch -> %.4f on the last\n", c.first_loss, c.last_loss);
    return 0;
}
