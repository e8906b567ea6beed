// test_checkpoint.c — checkpoints: save/load round trip, save_total_limit rotation that keeps the
// best, and resume: lesson 06 continued from a checkpoint ends with the same bits as the
// uninterrupted run.
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/train/checkpoint.h"
#include "common/core/util.h"
#include "tests/expect_error.h"
#include "tests/fixture.h"

static void tiny_params(ParamSet *ps) {
    memset(ps, 0, sizeof *ps);
    params_add(ps, "layer.weight", 2, (int[]){3, 2});
    params_add(ps, "layer.bias", 1, (int[]){3});
    params_alloc(ps);
    for (size_t i = 0; i < ps->numel; i++) ps->params[i] = 0.5f * (float)i - 1.0f;
}

Test(checkpoint, round_trip_and_rotation_keeps_best) {
    char dir[64];
    snprintf(dir, sizeof dir, "/tmp/bertstep-ckpt-%d", (int)getpid());
    rm_rf(dir);
    ParamSet ps;
    tiny_params(&ps);
    Optimizer opt;
    optimizer_init(&opt, optimizer_defaults(OPT_ADAMW), &ps);
    for (size_t i = 0; i < ps.numel; i++) {
        opt.m[i] = (float)i;
        opt.v[i] = (float)(i * i);
    }
    TrainerState st;
    trainer_state_init(&st);
    rng_seed(&st.rng, 7, 3);
    for (long step = 1; step <= 5; step++) {
        st.global_step = step;
        opt.step = st.optimizer_step = step;
        if (step == 2) {
            st.has_best = true;
            st.best_metric = 0.9;
            snprintf(st.best_model_checkpoint, sizeof st.best_model_checkpoint, "%s/checkpoint-2", dir);
        }
        free(checkpoint_save(dir, &ps, &opt, &st, 2));
    }
    long steps[8];
    int n = checkpoints_list(dir, steps, 8);
    // As the HF Trainer: the best counts within the limit, so limit 2 keeps the best and the newest.
    cr_assert_eq(n, 2, "got %d checkpoints", n);
    cr_assert(steps[0] == 2 && steps[1] == 5, "kept %ld and %ld", steps[0], steps[1]);
    char *latest = checkpoint_latest(dir);
    cr_assert(strstr(latest, "checkpoint-5"));

    ParamSet back;
    tiny_params(&back);
    memset(back.params, 0, back.numel * sizeof(float));
    Optimizer opt2;
    optimizer_init(&opt2, optimizer_defaults(OPT_ADAMW), &back);
    TrainerState st2;
    trainer_state_init(&st2);
    checkpoint_load(latest, &back, &opt2, &st2);
    cr_assert(!memcmp(back.params, ps.params, ps.numel * sizeof(float)));
    cr_assert(!memcmp(opt2.v, opt.v, ps.numel * sizeof(float)));
    cr_assert_eq(st2.global_step, 5);
    cr_assert_eq(opt2.step, 5);
    cr_assert(st2.rng.state == st.rng.state && st2.rng.inc == st.rng.inc, "rng state survives as hex");
    cr_assert(st2.has_best && st2.best_metric == 0.9);
    free(latest);
    trainer_state_free(&st);
    trainer_state_free(&st2);
    optimizer_free(&opt);
    optimizer_free(&opt2);
    params_free(&ps);
    params_free(&back);
    rm_rf(dir);
}

// A run killed while writing or deleting a checkpoint leaves tmp-checkpoint-<step>; the next run
// sweeps it when it starts (checkpoint_sweep_tmp), even if it saves nothing, and keeps the rest.
Test(checkpoint, sweep_removes_only_tmp_directories) {
    char dir[64];
    snprintf(dir, sizeof dir, "/tmp/bertstep-sweep-%d", (int)getpid());
    rm_rf(dir);
    const char *made[] = {"checkpoint-10", "tmp-checkpoint-20", "tmp-checkpoint-30/inner"};
    for (int i = 0; i < 3; i++) {
        char *p = path_join(dir, made[i]);
        mkdir_p(p);
        free(p);
    }
    checkpoint_sweep_tmp(dir);
    char *kept = path_join(dir, "checkpoint-10"), *gone = path_join(dir, "tmp-checkpoint-20"),
         *gone2 = path_join(dir, "tmp-checkpoint-30");
    cr_expect(dir_exists(kept), "a complete checkpoint was removed");
    cr_expect(!dir_exists(gone) && !dir_exists(gone2), "a tmp-checkpoint directory is still there");
    checkpoint_sweep_tmp("/tmp/bertstep-no-such-dir");  // nothing to sweep: no error
    free(kept), free(gone), free(gone2);
    rm_rf(dir);
}

Test(checkpoint, missing_tensor_is_one_error_line) {
    char dir[64];
    snprintf(dir, sizeof dir, "/tmp/bertstep-ckpt-miss-%d", (int)getpid());
    ParamSet ps;
    tiny_params(&ps);
    TrainerState st;
    trainer_state_init(&st);
    char *path = checkpoint_save(dir, &ps, NULL, &st, 0);
    ParamSet other = {0};
    params_add(&other, "another.weight", 1, (int[]){4});
    params_alloc(&other);
    EXPECT_ERROR("checkpoint-0/model.safetensors: tensor another.weight is missing",
                 checkpoint_load(path, &other, NULL, NULL));
    rm_rf(dir);
    free(path);
    trainer_state_free(&st);
    params_free(&ps);
    params_free(&other);
}

Test(checkpoint, lesson06_resume_is_bit_exact, .timeout = 120) {
    if (!file_exists("data/cache/sst2/train.tsv")) cr_skip_test("SST-2 not fetched");
    char a[64], b[64], cmd[512], p1[160], p2[160];
    snprintf(a, sizeof a, "/tmp/bertstep-resume-a-%d", (int)getpid());
    snprintf(b, sizeof b, "/tmp/bertstep-resume-b-%d", (int)getpid());
    const char *flags = "--max_steps 1000 --eval_steps 250 --save_steps 250 --save_total_limit 0";
    snprintf(cmd, sizeof cmd, "build/06_evaluation_and_checkpoints %s --output_dir %s >/dev/null 2>&1", flags, a);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
    snprintf(cmd, sizeof cmd,
             "build/06_evaluation_and_checkpoints %s --output_dir %s --resume_from_checkpoint %s/checkpoint-500 "
             ">/dev/null 2>&1",
             flags, b, a);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
    const char *files[] = {"model.safetensors", "optimizer.safetensors"};
    for (int i = 0; i < 2; i++) {
        snprintf(p1, sizeof p1, "%s/checkpoint-1000/%s", a, files[i]);
        snprintf(p2, sizeof p2, "%s/checkpoint-1000/%s", b, files[i]);
        cr_assert(files_equal(p1, p2), "%s differs between the uninterrupted and the resumed run", files[i]);
    }
    rm_rf(a);
    rm_rf(b);
}
