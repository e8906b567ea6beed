// test_trainer_emulated.cpp — lesson 16's trainer with --device cuda --fp16 / --bf16, its GPU
// backend running on the CPU (build/tests/emulated_trainer: the emulated build of kernels/, Makefile),
// on the tiny fixture run: what only the mixed-precision GPU path does in the trainer.
//   - fp16: the loss scaler's state is saved in each checkpoint's trainer_state.json
//     ("grad_scaler", torch's scaler.pt keys) and restored on --resume_from_checkpoint;
//   - a resumed run whose scale is far too large (2^100, written into the checkpoint) overflows:
//     each step is skipped, the scale halves each time, and the learning-rate schedule does not
//     advance (as the Hugging Face Trainer skips the scheduler step with the optimizer step);
//   - bf16 trains without a scaler, and the banner says which precision runs;
//   - regression, multi-label and label smoothing (losses the trainer computes on the host from
//     the GPU's logits, their dlogits sent back: backward_from_dlogits) log the CPU run's numbers.
//   - BERTSTEP_NCCL=1: the data-parallel GPU path (NCCL's bucketed all-reduce, one rank: the
//     stand-in of tests/emulate/cuda/nccl.h) logs the losses and grad norms of the run without it;
//     and `mpirun -np 2` on --device cuda (NCCL's buckets, the stand-in's all-reduce over MPI) at
//     per-device batch 2 logs those of one process at batch 4.
// tests/gpu/test_trainer.cu checks the numbers against the CPU on a GPU.
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <unistd.h>

#include <string>
#include <vector>

#define _Noreturn [[noreturn]]
extern "C" {
#include <cjson/cJSON.h>

#include "common/core/util.h"
}
#undef _Noreturn

#define RUN                                                                                                       \
    "build/tests/emulated_trainer train --config tests/fixtures/trainer/tiny_run.json --device cuda "             \
    "--max_train_samples 8 --per_device_train_batch_size 2 --max_eval_samples 4 --max_steps 4 --logging_steps 1 " \
    "--eval_strategy no --save_strategy steps "                                                                   \
    "--save_steps 2 --load_best_model_at_end false --plots false "

static std::string tmp_dir(const char *what) {
    return "/tmp/bertstep-emu-trainer-" + std::to_string(getpid()) + "-" + what;
}

// run: the trainer with `flags` into `dir` (removed first); returns its stdout and stderr.
static std::string run(const std::string &flags, const std::string &dir) {
    const std::string cmd = "rm -rf " + dir + " && " RUN + flags + " --output_dir " + dir + " > " + dir + ".out 2>&1";
    const int st = system(cmd.c_str());
    char *text = read_file((dir + ".out").c_str(), NULL);
    std::string out(text);
    free(text);
    cr_assert_eq(st, 0, "`%s` failed:\n%s", cmd.c_str(), out.c_str());
    return out;
}

static cJSON *read_json(const std::string &path) {
    char *text = read_file(path.c_str(), NULL);
    cJSON *o = cJSON_Parse(text);
    free(text);
    cr_assert(o, "%s is not JSON", path.c_str());
    return o;
}

static void write_json(const std::string &path, const cJSON *o) {
    char *text = cJSON_Print(o);
    FILE *f = fopen(path.c_str(), "w");
    cr_assert(f);
    fputs(text, f);
    fclose(f);
    free(text);
}

static double number(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    cr_assert(cJSON_IsNumber(v), "no number \"%s\"", key);
    return v->valuedouble;
}

// logged: `key` ("learning_rate", "loss", "grad_norm") of each training log line of
// DIR/log_history.jsonl, in step order.
static std::vector<double> logged(const std::string &dir, const char *key) {
    std::vector<double> values;
    char *text = read_file((dir + "/log_history.jsonl").c_str(), NULL);
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *o = cJSON_Parse(line);
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
        if (cJSON_IsNumber(v)) values.push_back(v->valuedouble);
        cJSON_Delete(o);
    }
    free(text);
    return values;
}
static std::vector<double> logged_lr(const std::string &dir) { return logged(dir, "learning_rate"); }

Test(emulated_trainer, fp16_scaler_is_checkpointed_and_overflow_skips_the_schedule, .timeout = 300) {
    const std::string a = tmp_dir("fp16");
    const std::string out = run("--fp16", a);
    cr_expect(strstr(out.c_str(), "fp16 mixed precision (fp32 master weights, dynamic loss scaling)"), "%s",
              out.c_str());
    cr_expect(strstr(out.c_str(), "fp16 loss scaling: 0 optimizer steps skipped on overflow, loss scale now 65536"),
              "%s", out.c_str());
    cJSON *state = read_json(a + "/checkpoint-2/trainer_state.json");
    cJSON *scaler = cJSON_GetObjectItemCaseSensitive(state, "grad_scaler");
    cr_assert(cJSON_IsObject(scaler), "checkpoint-2/trainer_state.json has no grad_scaler");
    cr_expect_eq(number(scaler, "scale"), 65536);
    cr_expect_eq(number(scaler, "_growth_tracker"), 2);

    // resume from checkpoint-2 with its scale set to 2^100: both remaining steps overflow
    cJSON_ReplaceItemInObjectCaseSensitive(scaler, "scale", cJSON_CreateNumber(ldexp(1.0, 100)));
    write_json(a + "/checkpoint-2/trainer_state.json", state);
    cJSON_Delete(state);
    const std::string b = tmp_dir("fp16-resumed");
    const std::string resumed = run("--fp16 --resume_from_checkpoint " + a + "/checkpoint-2", b);
    cr_expect(
        strstr(resumed.c_str(), "fp16 loss scaling: 2 optimizer steps skipped on overflow, loss scale now 3.16913e+29"),
        "%s", resumed.c_str());
    state = read_json(b + "/checkpoint-4/trainer_state.json");
    scaler = cJSON_GetObjectItemCaseSensitive(state, "grad_scaler");
    cr_expect_eq(number(scaler, "scale"), ldexp(1.0, 98), "scale 2^%g, want 2^98", log2(number(scaler, "scale")));
    cr_expect_eq(number(scaler, "_growth_tracker"), 0);
    cr_expect_eq(number(state, "global_step"), 4);
    cr_expect_eq(number(state, "optimizer_step"), 2, "the skipped steps must not count as optimizer steps");
    cJSON_Delete(state);
    // the learning rate each step used (logged as transformers 5 does): the uninterrupted run
    // moves along the schedule at every step; in the resumed run both skipped steps, 3 and 4, use
    // step 3's rate, because the schedule advances only with the optimizer steps taken
    // (the resumed log_history starts with the checkpoint's two entries)
    const std::vector<double> first = logged_lr(a), second = logged_lr(b);
    cr_assert(first.size() == 4 && second.size() == 4, "logged learning rates: %zu and %zu", first.size(),
              second.size());
    cr_expect(first[1] != first[0] && first[3] != first[2] && second[2] == first[2] && second[3] == first[2],
              "learning rates %g %g %g %g, after the skipped steps %g %g (want %g twice)", first[0], first[1], first[2],
              first[3], second[2], second[3], first[2]);
}

Test(emulated_trainer, bf16_trains_without_a_scaler, .timeout = 300) {
    const std::string dir = tmp_dir("bf16");
    const std::string out = run("--bf16 --max_steps 2", dir);
    cr_expect(strstr(out.c_str(), "bf16 mixed precision (fp32 master weights)"), "%s", out.c_str());
    cr_expect(!strstr(out.c_str(), "loss scaling"), "%s", out.c_str());
    cJSON *state = read_json(dir + "/checkpoint-2/trainer_state.json");
    cr_expect(!cJSON_GetObjectItemCaseSensitive(state, "grad_scaler"), "a bf16 checkpoint has no grad_scaler");
    cr_expect_eq(number(state, "optimizer_step"), 2);
    cJSON_Delete(state);
}

// cuda_matches_cpu: the same run (a checkpoint without dropout, so nothing random) on the emulated
// GPU and on the CPU: each logged loss, grad norm and eval metric `metric` agree to float32
// sums taken in another order.
static void cuda_matches_cpu(const char *what, const std::string &flags, const char *metric) {
    const std::string gpu = tmp_dir((std::string(what) + "-cuda").c_str()),
                      cpu = tmp_dir((std::string(what) + "-cpu").c_str());
    run(flags + " --eval_strategy steps --eval_steps 2 --save_strategy no", gpu);
    const std::string cmd = "rm -rf " + cpu +
        " && build/16_trainer train --config tests/fixtures/trainer/tiny_run.json " +
        "--device cpu --max_train_samples 8 --per_device_train_batch_size 2 --max_eval_samples 4 --max_steps 4 " +
        "--logging_steps 1 --load_best_model_at_end false --plots false --eval_strategy steps --eval_steps 2 " +
        "--save_strategy no " + flags + " --output_dir " + cpu + " > " + cpu + ".out 2>&1";
    cr_assert_eq(system(cmd.c_str()), 0, "`%s` failed", cmd.c_str());
    for (const char *key : {"loss", "grad_norm", "eval_loss", metric}) {
        const std::vector<double> a = logged(gpu, key), b = logged(cpu, key);
        cr_assert(a.size() == b.size() && !a.empty(), "%s: %zu values of %s on cuda, %zu on cpu", what, a.size(), key,
                  b.size());
        for (size_t i = 0; i < a.size(); i++)
            cr_expect(fabs(a[i] - b[i]) <= 1e-4 * fabs(b[i]) + 1e-6, "%s: %s[%zu] %.8g on cuda, %.8g on cpu", what, key,
                      i, a[i], b[i]);
    }
}

Test(emulated_trainer, regression_multi_label_and_label_smoothing_match_the_cpu, .timeout = 600) {
    const std::string fix = "tests/fixtures/trainer/";
    cuda_matches_cpu("regression",
                     "--model_name_or_path " + fix + "tiny-bert-reg --train_file " + fix + "reg_train.tsv " +
                         "--validation_file " + fix + "reg_dev.tsv --metric_for_best_model pearson",
                     "eval_pearson");
    cuda_matches_cpu("multi-label",
                     "--model_name_or_path " + fix + "tiny-bert-multi --train_file " + fix + "multi_train.tsv " +
                         "--validation_file " + fix + "multi_dev.tsv --metric_for_best_model micro_f1",
                     "eval_micro_f1");
    cuda_matches_cpu("smoothing", "--model_name_or_path " + fix + "tiny-bert-cls --label_smoothing_factor 0.1",
                     "eval_accuracy");
}
//   - BERTSTEP_NCCL=1: the data-parallel GPU path (NCCL's bucketed all-reduce, one rank: the
//     stand-in of tests/emulate/cuda/nccl.h) logs the losses and grad norms of the run without it;
//     and `mpirun -np 2` on --device cuda (NCCL's buckets, the stand-in's all-reduce over MPI) at
//     per-device batch 2 logs those of one process at batch 4.
