// test_lesson13_emulated.cpp — lesson 13's GPU half (lessons/13_bert_cuda.cu), which only a GPU
// machine runs, executed on the CPU by tests/emulate/cuda_on_cpu.h, in each --precision: the
// comparison with the CPU step, the timed steps, the cuBLAS rate in the model's format. The
// float32 run must pass the lesson's own 1e-4 check; every run must print its comparison and
// timing lines (timings mean nothing here: the CPU emulates), fp16 without a skipped step.
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <unistd.h>

#define main lesson13_main
#include "lessons/13_bert_cuda.cu"
#undef main

static const char *const PRECISIONS[] = {"fp32", "tf32", "bf16", "fp16"};

// (the parameter is an index: a pointer would not survive into Criterion's test process)
ParameterizedTestParameters(emulated_lesson13, gpu_half_runs) {
    static int which[] = {0, 1, 2, 3};
    return cr_make_param_array(int, which, 4);
}

// run_lesson: lesson 13 on the tiny BERT, batch 2 x 8, one timed step, with `precision` and
// `compare_cpu`; returns what it printed (the exit status must be 0).
static char *run_lesson(const char *precision, const char *compare_cpu) {
    char prec[8], cmp[8], path[64];
    snprintf(prec, sizeof prec, "%s", precision), snprintf(cmp, sizeof cmp, "%s", compare_cpu);
    snprintf(path, sizeof path, "/tmp/bertstep-lesson13-%d.txt", (int)getpid());
    const char *argv[] = {"13_bert_cuda",
                          "--model_name_or_path",
                          TINY,
                          "--per_device_train_batch_size",
                          "2",
                          "--max_seq_length",
                          "8",
                          "--steps",
                          "1",
                          "--warmup",
                          "0",
                          "--precision",
                          prec,
                          "--compare_cpu",
                          cmp};
    fflush(stdout);
    cr_assert(freopen(path, "w", stdout));
    const int status = lesson13_main((int)ARRAY_LEN(argv), (char **)argv);
    fflush(stdout);
    char *out = read_file(path, NULL);
    unlink(path);
    cr_assert_eq(status, 0, "%s", out);
    return out;
}

ParameterizedTest(int *which, emulated_lesson13, gpu_half_runs, .timeout = 300) {
    const char *prec = PRECISIONS[*which];
    char *out = run_lesson(prec, "true");
    char check[64];
    snprintf(check, sizeof check, "check, GPU (%s) against CPU", prec);
    const char *want[] = {check,
                          "  logits      max rel. error ",
                          "  gradients   worst of 41 tensors: ",
                          "GPU step: ",
                          "% of that cuBLAS rate (MFU against cuBLAS)",
                          !strcmp(prec, "fp32") ? "ok: every float32 result within 1e-4 of the CPU's"
                              : !strcmp(prec, "fp16")
                              ? "fp16: 0 of the timed steps skipped on overflow, loss scale now 65536"
                              : "errors near "};
    for (size_t i = 0; i < ARRAY_LEN(want); i++)
        cr_expect(strstr(out, want[i]), "--precision %s: no \"%s\" in:\n%s", prec, want[i], out);
    free(out);
}

// What bench/gpu.sh runs: the timed GPU step alone (no CPU step, no CPU activations).
Test(emulated_lesson13, timing_only, .timeout = 300) {
    char *out = run_lesson("bf16", "false");
    cr_expect(strstr(out, "GPU step: ") && !strstr(out, "CPU step") && !strstr(out, "check, GPU"), "%s", out);
    free(out);
}
