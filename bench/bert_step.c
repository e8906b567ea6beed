// bert_step.c — times one training step of the CPU BERT (common/model/bert.c): forward with dropout,
// backward, clipping, AdamW, on a fixed random batch. bench/bert_step_cpu.sh runs it next to
// the same step in PyTorch (bench/bert_step_torch.py) and prints the ratio; with --bf16 the Linear
// layers run under bf16 autocast (common/model/matmul_bf16.h), as bench/bert_step_bf16_cpu.sh times.
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "common/core/args.h"
#include "common/model/bert.h"
#include "common/model/bert_io.h"
#include "common/train/optim.h"
#include "common/core/util.h"

// cpu_seconds: CPU time used by this process so far, all threads.
static double cpu_seconds(void) {
    struct timespec t;
    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t)) die("clock_gettime(CLOCK_PROCESS_CPUTIME_ID) failed");
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv) {
    const char *model_dir = "data/cache/models/all-MiniLM-L6-v2";
    int B = 32, T = 64, steps = 5, warmup = 1;
    bool bf16 = false;
    ArgSpec specs[] = {
        {"model_name_or_path", ARG_STRING, &model_dir, "BERT checkpoint directory", "Benchmark"},
        {"per_device_train_batch_size", ARG_INT, &B, "sequences per step", NULL},
        {"max_seq_length", ARG_INT, &T, "tokens per sequence (no padding)", NULL},
        {"steps", ARG_INT, &steps, "timed steps", NULL},
        {"warmup", ARG_INT, &warmup, "untimed steps first", NULL},
        {"bf16", ARG_BOOL, &bf16, "the Linear layers in bf16 with fp32 sums (torch's CPU autocast)", NULL},
    };
    ArgParser parser = {"bert_step", "Seconds per training step of the CPU BERT.", NULL, specs, ARRAY_LEN(specs)};
    args_parse(&parser, argc, argv, NULL, 0);
    if (B < 1 || T < 2 || steps < 1 || warmup < 0) die("need batch >= 1, length >= 2, steps >= 1, warmup >= 0");

    BertModel m = bert_load(model_dir, 2, 0, NULL);
    m.autocast_bf16 = bf16;
    bert_alloc_acts(&m, B, T);
    Rng rng;
    rng_seed(&rng, 1, RNG_STREAM_EXAMPLES);
    int *ids = xmalloc(sizeof(int) * (size_t)B * T), *labels = xmalloc(sizeof(int) * (size_t)B);
    for (int i = 0; i < B * T; i++) ids[i] = 1000 + (int)rng_below(&rng, (uint32_t)(m.config.vocab_size - 1000));
    for (int b = 0; b < B; b++) ids[b * T] = 101, labels[b] = (int)rng_below(&rng, 2);
    OptimizerConfig oc = optimizer_defaults(OPT_ADAMW);
    Optimizer opt;
    optimizer_init(&opt, oc, &m.ps);
    Rng dropout;
    rng_seed(&dropout, 1, RNG_STREAM_DROPOUT);
    double total = 0, cpu_total = 0;
    for (int s = 0; s < warmup + steps; s++) {
        double t0 = now_seconds(), c0 = cpu_seconds();
        params_zero_grad(&m.ps);
        bert_forward(&m, ids, NULL, NULL, labels, B, T, true, &dropout);
        bert_backward(&m, 1.0f / B);
        clip_grad_norm(&m.ps, 1.0);
        optimizer_step(&opt, &m.ps, 1e-5);
        if (s >= warmup) total += now_seconds() - t0, cpu_total += cpu_seconds() - c0;
    }
    // seconds per step: wall clock, then CPU time of all threads (on a shared machine the CPU time
    // is the steadier number: it does not count the time other programs held the cores)
    printf("%.4f %.4f\n", total / steps, cpu_total / steps);
    optimizer_free(&opt);
    bert_free(&m);
    free(ids), free(labels);
    return 0;
}
