// steps.c — see steps.h.
#include "common/train/steps.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/core/util.h"
#include "common/train/schedule.h"

Strategy strategy_parse(const char *name, const char *flag) {
    if (!strcmp(name, "no")) return STRATEGY_NO;
    if (!strcmp(name, "steps")) return STRATEGY_STEPS;
    if (!strcmp(name, "epoch")) return STRATEGY_EPOCH;
    die("%s: '%s' is not one of %s", flag, name, STRATEGY_CHOICES);
}

static long ceil_div(long a, long b) { return (a + b - 1) / b; }

void steps_plan(StepPlan *p) {
    if (p->num_examples < 1) die("the training set is empty (num_examples = %ld)", p->num_examples);
    if (p->per_device_train_batch_size < 1)
        die("--per_device_train_batch_size must be at least 1 (got %d)", p->per_device_train_batch_size);
    if (p->per_device_eval_batch_size < 1)
        die("--per_device_eval_batch_size must be at least 1 (got %d)", p->per_device_eval_batch_size);
    if (p->gradient_accumulation_steps < 1)
        die("--gradient_accumulation_steps must be at least 1 (got %d)", p->gradient_accumulation_steps);
    if (p->n_devices < 1) p->n_devices = 1;
    if (p->max_steps <= 0 && !(p->num_train_epochs > 0))
        die("--num_train_epochs must be positive when --max_steps is not set (got %g)", p->num_train_epochs);
    const long B = (long)p->per_device_train_batch_size * p->n_devices;
    p->batches_per_epoch = p->dataloader_drop_last ? p->num_examples / B : ceil_div(p->num_examples, B);
    if (p->batches_per_epoch < 1)
        die("%ld examples make no full batch of %ld with --dataloader_drop_last", p->num_examples, B);
    const long A = p->gradient_accumulation_steps;
    p->updates_per_epoch = ceil_div(p->batches_per_epoch, A);
    if (p->updates_per_epoch < 1) p->updates_per_epoch = 1;
    p->last_group_batches = (int)(p->batches_per_epoch % A ? p->batches_per_epoch % A : A);
    if (p->max_steps > 0) {
        p->total_steps = p->max_steps;
        p->epochs = (int)ceil_div(p->max_steps, p->updates_per_epoch);
    } else {
        p->total_steps = (long)ceil(p->num_train_epochs * (double)p->updates_per_epoch);
        p->epochs = (int)ceil(p->num_train_epochs);
    }
    if (p->warmup_ratio < 0 || p->warmup_ratio > 1) die("--warmup_ratio must be in [0, 1] (got %g)", p->warmup_ratio);
    p->warmup = warmup_steps_resolve(p->warmup_steps, p->warmup_ratio, p->total_steps);
    p->effective_batch = B * A;
    // Evaluation runs on rank 0 alone, over the whole eval set (see steps.h).
    p->eval_batches = p->num_eval_examples > 0 ? ceil_div(p->num_eval_examples, p->per_device_eval_batch_size) : 0;
}

int steps_shard_batch(const StepPlan *p, const int *order, int rank, long k, int *rows) {
    const long N = p->num_examples, B = p->per_device_train_batch_size, W = p->n_devices;
    if (W == 1) {  // one process: the epoch's batches in turn, the last one short
        const long first = k * B;
        const int n = (int)(first + B <= N ? B : N - first);
        memcpy(rows, order + first, sizeof(int) * (size_t)n);
        return n;
    }
    const long g = k * W + rank;  // the batch sampler's batch dealt to this rank
    for (long i = 0; i < B; i++) {
        const long pos = g * B + i;  // past the end: the wrap-around from the epoch's start
        rows[i] = order[pos < N ? pos : (pos - N) % N];
    }
    return (int)B;
}

long steps_group_examples(const StepPlan *p, const MicroBatch *mb) {
    const long B = p->per_device_train_batch_size, full = (long)mb->group_batches * B;
    if (p->n_devices > 1) return full;  // every rank's batches are full (even_batches)
    const long first = mb->batch_in_epoch * B, rest = p->num_examples - first;
    return full < rest ? full : rest;
}

bool fires_after_step(Interval iv, long global_step, long total_steps, bool final_too) {
    if (iv.strategy != STRATEGY_STEPS || iv.every <= 0) return false;
    if (global_step % iv.every == 0) return true;
    return final_too && global_step >= total_steps;
}

bool fires_after_epoch(Interval iv) { return iv.strategy == STRATEGY_EPOCH; }

long count_events(const StepPlan *p, Interval iv, bool final_too) {
    if (iv.strategy == STRATEGY_EPOCH) return p->epochs;
    if (iv.strategy != STRATEGY_STEPS || iv.every <= 0) return 0;
    long n = p->total_steps / iv.every;
    if (final_too && p->total_steps % iv.every) n++;
    return n;
}

StepCursor steps_begin(const StepPlan *plan, long global_step) {
    StepCursor c = {.plan = plan};
    const long upe = plan->updates_per_epoch, A = plan->gradient_accumulation_steps;
    c.cur.epoch = (int)(global_step / upe);
    c.cur.global_step = global_step;
    // Resuming inside an epoch: skip the micro-batches of the groups already done.
    c.cur.batch_in_epoch = (global_step % upe) * A;
    return c;
}

bool steps_next(StepCursor *c, MicroBatch *mb) {
    const StepPlan *p = c->plan;
    MicroBatch *m = &c->cur;
    if (c->started) {
        if (m->ends_group) m->global_step++;
        m->batch_in_epoch++;
        if (m->ends_epoch) {
            m->epoch++;
            m->batch_in_epoch = 0;
        }
    }
    c->started = true;
    if (m->global_step >= p->total_steps || m->epoch >= p->epochs) return false;
    const long A = p->gradient_accumulation_steps;
    const long group = m->batch_in_epoch / A;
    const bool last_group = group == p->updates_per_epoch - 1;
    m->group_batches = last_group ? p->last_group_batches : (int)A;
    m->index_in_group = (int)(m->batch_in_epoch - group * A);
    m->ends_group = m->index_in_group == m->group_batches - 1;
    m->ends_epoch = m->batch_in_epoch == p->batches_per_epoch - 1;
    *mb = *m;
    return true;
}

// plural: "s" unless n is exactly 1 (the banner says "1 evaluation", "3 epochs").
static const char *plural(double n) { return n == 1 ? "" : "s"; }

// print_sharded_batches: batches per epoch on each of W devices (accelerate's sharding).
static void print_sharded_batches(const StepPlan *p) {
    const long B = p->per_device_train_batch_size, N = p->num_examples, W = p->n_devices;
    const long dealt = p->batches_per_epoch * W * B;
    if (p->dataloader_drop_last)
        printf("batches per epoch        floor(N / (batch x devices)) = floor(%ld / (%ld x %ld)) = %ld per device   "
               "(dataloader_drop_last: the last %ld examples are skipped)\n",
               N, B, W, p->batches_per_epoch, N - dealt);
    else {
        printf("batches per epoch        ceil(N / (batch x devices)) = ceil(%ld / (%ld x %ld)) = %ld per device   "
               "(batch i goes to device i mod %ld",
               N, B, W, p->batches_per_epoch, W);
        if (dealt > N) printf("; the last round is completed with the epoch's first %ld examples", dealt - N);
        printf(")\n");
    }
}

void steps_print_plan(const StepPlan *p, Interval log, Interval eval, Interval save) {
    long B = p->per_device_train_batch_size, N = p->num_examples;
    printf("examples                 N = %ld\n", N);
    if (p->n_devices > 1) print_sharded_batches(p);
    else if (p->dataloader_drop_last)
        printf("batches per epoch        floor(N / batch) = floor(%ld / %ld) = %ld   (dataloader_drop_last: the last "
               "%ld examples are skipped)\n",
               N, B, p->batches_per_epoch, N % B);
    else
        printf("batches per epoch        ceil(N / batch) = ceil(%ld / %ld) = %ld   (the last batch holds %ld)\n", N, B,
               p->batches_per_epoch, N % B ? N % B : B);
    printf("updates per epoch        ceil(%ld batches / %d accumulation) = %ld   (the last group has %d batch%s)\n",
           p->batches_per_epoch, p->gradient_accumulation_steps, p->updates_per_epoch, p->last_group_batches,
           p->last_group_batches == 1 ? "" : "es");
    if (p->max_steps > 0)
        printf("total steps              max_steps = %ld   (wins over num_train_epochs; the run spans %d epoch%s)\n",
               p->total_steps, p->epochs, p->epochs == 1 ? "" : "s");
    else
        printf("total steps              ceil(%g epoch%s x %ld) = %ld\n", p->num_train_epochs,
               plural(p->num_train_epochs), p->updates_per_epoch, p->total_steps);
    if (!warmup_is_ratio(p->warmup_steps)) printf("warmup steps             warmup_steps = %ld\n", p->warmup);
    else if (p->warmup_steps > 0)
        printf("warmup steps             ceil(%g x %ld) = %ld   (warmup_steps < 1 is a ratio of the total steps)\n",
               p->warmup_steps, p->total_steps, p->warmup);
    else printf("warmup steps             ceil(%g x %ld) = %ld\n", p->warmup_ratio, p->total_steps, p->warmup);
    printf("effective batch          %d per device x %d accumulation x %d device%s = %ld examples per update\n",
           p->per_device_train_batch_size, p->gradient_accumulation_steps, p->n_devices, p->n_devices == 1 ? "" : "s",
           p->effective_batch);
    if (p->eval_batches)
        printf("eval batches             ceil(%ld / %d) = %ld per evaluation%s\n", p->num_eval_examples,
               p->per_device_eval_batch_size, p->eval_batches, p->n_devices > 1 ? " (on device 0)" : "");
    if (log.strategy == STRATEGY_STEPS)
        printf("logging                  every %ld steps: %ld log lines\n", log.every, count_events(p, log, false));
    if (eval.strategy == STRATEGY_STEPS) {
        long periodic = p->total_steps / eval.every;
        printf("evaluation               every %ld steps: %ld periodic evaluations (steps %ld to %ld)", eval.every,
               periodic, eval.every, periodic * eval.every);
        if (count_events(p, eval, true) > periodic)
            printf(", + 1 at the final step %ld = %ld", p->total_steps, count_events(p, eval, true));
        printf("\n                         (%.2f evaluations per epoch)\n",
               (double)eval.every > 0 ? (double)p->updates_per_epoch / eval.every : 0);
    } else if (eval.strategy == STRATEGY_EPOCH) {
        long n = count_events(p, eval, true);
        printf("evaluation               at the end of each epoch: %ld evaluation%s\n", n, plural(n));
    }
    if (save.strategy == STRATEGY_STEPS)
        printf("saving                   every %ld steps (and at the final step): %ld checkpoints\n", save.every,
               count_events(p, save, true));
    else if (save.strategy == STRATEGY_EPOCH) {
        long n = count_events(p, save, true);
        printf("saving                   at the end of each epoch: %ld checkpoint%s\n", n, plural(n));
    }
}
