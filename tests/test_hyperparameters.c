// test_hyperparameters.c — lesson 17's experiments, each on a reduced budget (a few dozen
// sentences of SST-2, 16 tokens, all-MiniLM-L6-v2 as the lesson uses it), and the direction of
// the effects that hold even there:
//   lr            1e-3 moves the training loss more than 1e-6 does
//   lr_find       the learning rate grows by one factor per step; the suggestion is the minimum / 10
//   warmup        without warmup the early loss peaks higher than with it, at a high learning rate
//   batch         steps per epoch = ceil(N / batch); the scaling rules' numbers
//   epochs        10 epochs fit the training sentences better than 1; the best checkpoint's dev loss
//                 is the lowest of its evaluations
//   weight_decay  a larger decay leaves a smaller norm, close to what the decay alone predicts
// Each runs in a directory of its own that sees build/ and data/ through links, on one thread.
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/core/util.h"

#define SMALL "--max_seq_length 16 --max_eval_samples 16 --threads 1 "

// run_experiment: stdout of build/17_hyperparameters EXPERIMENT FLAGS run in a fresh directory.
// Under `make test-sanitize` (BERTSTEP_SANITIZE) the suite skips these: the sanitized default run
// of the lesson is one reduced experiment (tests/sanitize_flags.txt).
static char *run_experiment(const char *experiment, const char *flags) {
    if (getenv("BERTSTEP_SANITIZE")) cr_skip_test("lesson 17 under ASan: its default run (sanitize_flags.txt) only");
    if (!file_exists("data/cache/sst2/train.tsv") || !file_exists("data/cache/models/all-MiniLM-L6-v2/config.json"))
        cr_skip_test("SST-2 or all-MiniLM-L6-v2 not fetched (make data)");
    char root[2048], dir[] = "/tmp/bertstep-hyper-XXXXXX", cmd[8192];
    cr_assert(getcwd(root, sizeof root), "getcwd failed");
    cr_assert(mkdtemp(dir), "mkdtemp failed");
    snprintf(cmd, sizeof cmd,
             "cd %s && ln -s '%s/build' build && ln -s '%s/data' data && build/17_hyperparameters %s %s 2>/dev/null",
             dir, root, root, experiment, flags);
    FILE *p = popen(cmd, "r");
    cr_assert(p, "popen failed");
    size_t cap = 1 << 16, n = 0, got;
    char *out = xmalloc(cap);
    while ((got = fread(out + n, 1, cap - n - 1, p)) > 0)
        if ((n += got) + 1 >= cap) out = xrealloc(out, cap *= 2);
    out[n] = '\0';
    int st = pclose(p);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "17_hyperparameters %s %s failed:\n%s", experiment, flags, out);
    rm_rf(dir);
    return out;
}

// row: the numbers after `label` on the table line that starts with it; returns how many.
static int row(const char *out, const char *label, double *v, int max) {
    const char *line = out;
    size_t k = strlen(label);
    while (line && strncmp(line, label, k)) line = (line = strchr(line, '\n')) ? line + 1 : NULL;
    cr_assert(line, "no table row '%s' in:\n%s", label, out);
    const char *s = line + k;
    int n = 0;
    char *end;
    while (n < max && *s && *s != '\n') {
        double x = strtod(s, &end);
        if (end == s) break;
        v[n++] = x;
        s = end;
    }
    return n;
}

Test(hyperparameters, lr_moves_the_loss_by_its_size, .timeout = 600) {
    char *out = run_experiment("lr", SMALL "--max_train_samples 32 --per_device_train_batch_size 8");
    double small[4], big[4];  // train loss first 3, last 3, dev loss, dev accuracy
    cr_assert_eq(row(out, "1e-06 ", small, 4), 4);
    cr_assert_eq(row(out, "0.001 ", big, 4), 4);
    cr_expect_gt(fabs(big[1] - big[0]), fabs(small[1] - small[0]), "1e-3 should move the loss more than 1e-6:\n%s",
                 out);
    free(out);
}

Test(hyperparameters, lr_find_grows_geometrically, .timeout = 600) {
    char *out = run_experiment("lr_find", SMALL "--max_train_samples 32 --per_device_train_batch_size 4");
    double first[3], second[3];
    cr_assert_eq(row(out, "     1 ", first, 3), 3);
    cr_assert_eq(row(out, "     2 ", second, 3), 3);
    cr_expect_float_eq(first[0], 1e-7, 1e-12);
    cr_expect_float_eq(second[0] / first[0], pow(1e7, 1.0 / 7), 1e-3);  // 8 steps from 1e-7 to 1
    const char *s = strstr(out, "minimum of the smoothed loss");
    cr_assert(s, "no suggestion:\n%s", out);
    double min_loss, at, suggested;
    cr_assert_eq(sscanf(s, "minimum of the smoothed loss %lf at lr %lf: suggested lr (minimum / 10) %lf", &min_loss,
                        &at, &suggested),
                 3);
    cr_expect_float_eq(suggested, at / 10, at * 1e-3);
    free(out);
}

Test(hyperparameters, warmup_lowers_the_early_peak, .timeout = 600) {
    char *out =
        run_experiment("warmup", SMALL "--max_train_samples 48 --per_device_train_batch_size 4 --learning_rate 1e-3");
    double off[7], on[7];  // max loss early, max loss all, at step, mean early, mean late, dev loss, dev accuracy
    cr_assert_eq(row(out, "no warmup ", off, 7), 7);
    cr_assert_eq(row(out, "warmup 20% ", on, 7), 7);
    cr_expect_gt(off[0], on[0], "the early loss should peak higher without warmup:\n%s", out);
    free(out);
}

Test(hyperparameters, batch_steps_and_scaling, .timeout = 600) {
    char *out = run_experiment("batch", SMALL "--max_train_samples 40");
    double v[6];  // batch, lr, steps per epoch, jitter, dev loss, dev accuracy
    cr_assert_eq(row(out, "batch 8 ", v, 3), 3);
    cr_expect_eq(v[2], 5);  // ceil(40 / 8)
    cr_assert_eq(row(out, "batch 32 ", v, 3), 3);
    cr_expect_eq(v[2], 2);  // ceil(40 / 32)
    cr_assert_eq(row(out, "batch 128 ", v, 3), 3);
    cr_expect_eq(v[2], 1);
    cr_expect(strstr(out, "lr 0.0008 by the linear rule, 0.0002 by the square-root rule"), "%s", out);
    free(out);
}

Test(hyperparameters, epochs_fit_the_training_set, .timeout = 600) {
    char *out =
        run_experiment("epochs", SMALL "--max_train_samples 8 --per_device_train_batch_size 4 --learning_rate 1e-3");
    double one[8], ten[8];  // steps, train loss, train acc, dev loss, dev acc, best epoch, best dev loss, best acc
    cr_assert_eq(row(out, "1 epoch ", one, 8), 8);
    cr_assert_eq(row(out, "10 epochs ", ten, 8), 8);
    cr_expect_eq(one[0], 2);
    cr_expect_eq(ten[0], 20);
    cr_expect_lt(ten[1], one[1], "10 epochs should fit the training sentences better than 1:\n%s", out);
    cr_expect_leq(ten[6], ten[3], "the best checkpoint's dev loss is the lowest evaluated");
    cr_expect(ten[5] >= 1 && ten[5] <= 10, "best epoch %g", ten[5]);
    free(out);
}

Test(hyperparameters, weight_decay_shrinks_the_norm, .timeout = 600) {
    char *out =
        run_experiment("weight_decay", SMALL "--max_train_samples 32 --per_device_train_batch_size 4 --save_steps 4");
    double none[5], some[5], more[5];  // final norm, change, decay alone predicts, dev loss, dev accuracy
    cr_assert_eq(row(out, "weight_decay 0 ", none, 5), 5);
    cr_assert_eq(row(out, "weight_decay 0.01 ", some, 5), 5);
    cr_assert_eq(row(out, "weight_decay 0.1 ", more, 5), 5);
    cr_expect_lt(more[0], some[0], "%s", out);
    cr_expect_lt(some[0], none[0], "%s", out);
    cr_expect_eq(none[2], 0);
    // the decay's share of the change: the difference to the run without decay
    cr_expect_float_eq(more[1] - none[1], more[2], 0.3 * fabs(more[2]), "%s", out);
    free(out);
}
