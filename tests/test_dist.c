// test_dist.c — data parallel (common/train/dist.h, the trainer under mpirun).
//
// What is checked: the trainer deals each epoch's batches to ranks exactly as accelerate's
// BatchSamplerShard does (tests/gen_shard.py runs accelerate itself), with the step arithmetic
// that follows; `mpirun -np 2` at per-device batch B/2 logs the same losses and grad norms and
// ends with the same weights as one process at batch B (no dropout: the masks are drawn per rank);
// a checkpoint written by 2 ranks resumes on 1 and on 4; a rank killed with SIGKILL ends the run
// promptly; Ctrl-C saves one checkpoint and every rank exits by itself; ranks started with
// different flags, data or model stop at start-up with one line; 2 ranks on two hosts (network
// namespaces, tests/two_hosts.sh) over TCP give the one-host run's bits.
// The mpirun tests skip where Open MPI is not installed (scripts/deps.sh installs it; CI runs them).
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/core/util.h"
#include "common/model/safetensors.h"
#include "common/train/checkpoint.h"
#include "common/train/steps.h"
#include "tests/fixture.h"

// ---- the shard of each rank, against accelerate ---------------------------------------------

Test(dist, shard_matches_accelerate) {
    Fixture f = fixture_load("tests/fixtures/dist/shard.txt");
    int n_cases;
    char **cases = fixture_words(&f, "cases", &n_cases);
    for (int c = 0; c < n_cases; c++) {
        char key[160];
        int n;
        snprintf(key, sizeof key, "%s.case", cases[c]);
        int *v = fixture_ints(&f, key, &n);
        StepPlan p = {.num_examples = v[0],
                      .per_device_train_batch_size = v[1],
                      .per_device_eval_batch_size = 1,
                      .gradient_accumulation_steps = 1,
                      .n_devices = v[2],
                      .num_train_epochs = 1,
                      .dataloader_drop_last = v[3]};
        steps_plan(&p);
        int *order = xmalloc(sizeof(int) * (size_t)p.num_examples), *rows = xmalloc(sizeof(int) * (size_t)v[1]);
        for (int i = 0; i < v[0]; i++) order[i] = i;  // accelerate's sampler was sequential
        for (int rank = 0; rank < v[2]; rank++) {
            snprintf(key, sizeof key, "%s.rank%d.len", cases[c], rank);
            int *len = fixture_ints(&f, key, &n);
            cr_expect_eq(p.batches_per_epoch, len[0], "%s: %ld batches per epoch, accelerate %d", cases[c],
                         p.batches_per_epoch, len[0]);
            snprintf(key, sizeof key, "%s.rank%d.rows", cases[c], rank);
            int n_rows, *want = fixture_ints(&f, key, &n_rows), at = 0;
            for (long k = 0; k < p.batches_per_epoch; k++) {
                int got = steps_shard_batch(&p, order, rank, k, rows);
                for (int i = 0; i < got && at < n_rows; i++, at++)
                    cr_expect_eq(rows[i], want[at], "%s rank %d batch %ld row %d: %d, accelerate %d", cases[c], rank, k,
                                 i, rows[i], want[at]);
            }
            cr_expect_eq(at, n_rows, "%s rank %d: %d rows, accelerate %d", cases[c], rank, at, n_rows);
            free(len), free(want);
        }
        free(v), free(order), free(rows);
    }
    fixture_free(&f);
}

// One process keeps its short last batch (accelerate shards only for two or more processes).
Test(dist, one_process_keeps_the_short_batch) {
    StepPlan p = {.num_examples = 7,
                  .per_device_train_batch_size = 2,
                  .per_device_eval_batch_size = 1,
                  .gradient_accumulation_steps = 3,
                  .n_devices = 1,
                  .num_train_epochs = 1};
    steps_plan(&p);
    int order[7] = {6, 5, 4, 3, 2, 1, 0}, rows[2];
    cr_expect_eq(steps_shard_batch(&p, order, 0, 3, rows), 1);
    cr_expect_eq(rows[0], 0);
    MicroBatch last = {.batch_in_epoch = 3, .group_batches = 1};
    cr_expect_eq(steps_group_examples(&p, &last), 1);
}

// ---- the trainer under mpirun ---------------------------------------------------------------

#define FIX "tests/fixtures/trainer"
// tiny-bert-cls: no dropout, so 2 ranks can equal 1 process (masks are drawn per rank).
#define RUN                                                                                                  \
    "train --model_name_or_path " FIX "/tiny-bert-cls --train_file " FIX "/train.tsv --validation_file " FIX \
    "/dev.tsv --max_seq_length 64 --threads 1 --plots false --device cpu --learning_rate 3e-3 "              \
    "--num_train_epochs 2 --gradient_accumulation_steps 2 --logging_steps 1 --eval_strategy epoch "          \
    "--save_strategy epoch "
// Open MPI refuses root unless told; oversubscribed: more ranks than this machine's cores.
#define MPIRUN "env OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpirun --oversubscribe "

static void need_mpirun(void) {
    if (system("command -v mpirun >/dev/null 2>&1"))
        cr_skip_test("mpirun not found: install Open MPI (bash scripts/deps.sh) to run the multi-process tests");
    // Under make test-sanitize: Open MPI's plugins leave allocations behind and are unloaded at
    // MPI_Finalize, so LeakSanitizer reports them from "<unknown module>", past suppressing by
    // name. The ranks (they inherit this) check everything else; test_trainer.c checks the
    // single process's leaks.
    const char *asan = getenv("ASAN_OPTIONS");
    if (getenv("BERTSTEP_SANITIZE") && asan) {
        char *options = xmalloc(strlen(asan) + 32);
        sprintf(options, "%s:detect_leaks=0", asan);
        setenv("ASAN_OPTIONS", options, 1);
        free(options);
    }
}

// train: `prefix` (mpirun ... or nothing) build/16_trainer RUN --output_dir dir `flags`; must
// succeed. Returns what it printed.
static char *train(const char *prefix, const char *dir, const char *flags) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%sbuild/16_trainer " RUN "--output_dir %s %s", prefix, dir, flags);
    int status;
    char *out = run(cmd, &status);
    cr_assert_eq(status, 0, "`%s` exited with %d:\n%s", cmd, status, out);
    return out;
}

static int count(const char *text, const char *what) {
    int n = 0;
    for (const char *p = strstr(text, what); p; p = strstr(p + 1, what)) n++;
    return n;
}

// history: the values of `key` in dir/log_history.jsonl, in order; *n gets how many.
static double *history(const char *dir, const char *key, int *n) {
    char *path = path_join(dir, "log_history.jsonl"), *text = read_file(path, NULL);
    double *out = xmalloc(sizeof(double) * 256);
    *n = 0;
    for (char *line = strtok(text, "\n"); line && *n < 256; line = strtok(NULL, "\n")) {
        cJSON *e = cJSON_Parse(line);
        const cJSON *v = cJSON_GetObjectItem(e, key);
        if (cJSON_IsNumber(v)) out[(*n)++] = v->valuedouble;
        cJSON_Delete(e);
    }
    free(text), free(path);
    return out;
}

// expect_same_history: key's logged values agree within `rel` relative; returns the largest seen.
static double expect_same_history(const char *a, const char *b, const char *key, double rel) {
    int na, nb;
    double *x = history(a, key, &na), *y = history(b, key, &nb), worst = 0;
    cr_expect_eq(na, nb, "%s: %d values in %s, %d in %s", key, na, a, nb, b);
    cr_expect_gt(na, 0, "no %s in %s", key, a);
    for (int i = 0; i < na && i < nb; i++) {
        double d = fabs(x[i] - y[i]) / fmax(fabs(x[i]), 1e-12);
        if (d > worst) worst = d;
        cr_expect_leq(d, rel, "%s #%d: %.9g vs %.9g (relative %.2g)", key, i, x[i], y[i], d);
    }
    free(x), free(y);
    return worst;
}

// expect_same_weights: every tensor of the two model.safetensors within `tol` absolute.
static void expect_same_weights(const char *a, const char *b, double tol) {
    char *pa = path_join(a, "model.safetensors"), *pb = path_join(b, "model.safetensors");
    SafeTensors x = st_open(pa), y = st_open(pb);
    cr_assert_eq(x.n, y.n);
    double worst = 0;
    for (int t = 0; t < x.n; t++) {
        const StTensor *tx = &x.tensors[t], *ty = st_find(&y, tx->name);
        cr_assert(ty, "%s missing from %s", tx->name, pb);
        float *u = xmalloc(sizeof(float) * (size_t)tx->numel), *v = xmalloc(sizeof(float) * (size_t)tx->numel);
        st_read_f32(&x, tx, u, tx->numel);
        st_read_f32(&y, ty, v, ty->numel);
        for (int64_t i = 0; i < tx->numel; i++) worst = fmax(worst, fabs((double)u[i] - v[i]));
        free(u), free(v);
    }
    cr_expect_leq(worst, tol, "weights differ by up to %.3g", worst);
    st_close(&x), st_close(&y);
    free(pa), free(pb);
}

// Measured on this machine (2-core x86, gcc 12): losses within 5.5e-8 relative, grad norms
// 9.1e-8, eval losses 1.2e-9, weights 2.6e-6 absolute after 24 AdamW steps: the same float32
// gradient summed in another order (each rank's half, then the mean of the halves), which Adam's
// division by sqrt(v) magnifies where a gradient is near 0. The tolerances leave 20x room; a
// rank reading the other's batches, a sum instead of a mean, or a loss not averaged over ranks
// moves these numbers by percent.
#define LOSS_REL   1e-6
#define NORM_REL   2e-6
#define WEIGHT_ABS 5e-5

static void expect_same_run(const char *a, const char *b) {
    expect_same_history(a, b, "loss", LOSS_REL);
    expect_same_history(a, b, "grad_norm", NORM_REL);
    expect_same_history(a, b, "learning_rate", 0);
    expect_same_history(a, b, "eval_loss", LOSS_REL);
    expect_same_weights(a, b, WEIGHT_ABS);
}

Test(dist, two_ranks_equal_one_process, .timeout = 120) {
    need_mpirun();
    char *one = tmpdir("one"), *two = tmpdir("two");
    free(train("", one, "--per_device_train_batch_size 8"));
    char *out = train(MPIRUN "-np 2 ", two, "--per_device_train_batch_size 4");
    expect_same_run(one, two);
    // Rank 0 alone prints and writes; the plan is the per-device arithmetic with 2 devices.
    cr_expect_eq(count(out, "== Summary =="), 1, "%s", out);
    cr_expect(strstr(out, "4 per device x 2 accumulation x 2 devices = 16 examples per update"), "%s", out);
    cr_expect(strstr(out, "ceil(96 / (4 x 2)) = 12 per device"), "%s", out);
    free(out);
    rm_rf(one), rm_rf(two);
    free(one), free(two);
}

// A checkpoint of 2 ranks x 4 resumes on 1 process x 8 and on 4 ranks x 2 (the same examples per
// step, so the same order and steps) and ends where the uninterrupted single process ends.
Test(dist, two_rank_checkpoint_resumes_on_one_and_four, .timeout = 180) {
    need_mpirun();
    char *one = tmpdir("ref"), *two = tmpdir("ckpt"), *r1 = tmpdir("r1"), *r4 = tmpdir("r4"), cmd[1024];
    free(train("", one, "--per_device_train_batch_size 8"));
    free(train(MPIRUN "-np 2 ", two, "--per_device_train_batch_size 4"));
    const struct {
        const char *dir, *prefix, *flags;
    } resumes[] = {{r1, "", "--per_device_train_batch_size 8"},
                   {r4, MPIRUN "-np 4 ", "--per_device_train_batch_size 2"}};
    for (size_t i = 0; i < ARRAY_LEN(resumes); i++) {
        snprintf(cmd, sizeof cmd, "mkdir -p %s && cp -r %s/checkpoint-6 %s/", resumes[i].dir, two, resumes[i].dir);
        cr_assert_eq(system(cmd), 0);
        snprintf(cmd, sizeof cmd, "%s --resume_from_checkpoint true", resumes[i].flags);
        char *out = train(resumes[i].prefix, resumes[i].dir, cmd);
        cr_expect(strstr(out, "resumed from") && strstr(out, "at step 6 (epoch 1.00)"), "%s", out);
        free(out);
        expect_same_run(one, resumes[i].dir);
    }
    // Another batch per step is another run: one line.
    snprintf(cmd, sizeof cmd,
             "build/16_trainer " RUN "--output_dir %s --per_device_train_batch_size 4 "
             "--resume_from_checkpoint %s/checkpoint-6",
             r1, two);
    int status;
    char *out = run(cmd, &status);
    cr_expect_eq(status, 1);
    cr_expect(strstr(out, "the checkpoint's run had train_batch_size 8, this one has 4"), "%s", out);
    free(out);
    rm_rf(one), rm_rf(two), rm_rf(r1), rm_rf(r4);
    free(one), free(two), free(r1), free(r4);
}

// ---- two machines: network namespaces joined by a veth pair --------------------------------
// tests/two_hosts.sh makes two hosts on this machine (network namespaces 10.77.0.1 and
// 10.77.0.2, each with its own loopback and hostname) and runs one rank on each, talking TCP only
// (no shared memory), so every all-reduce crosses a network stack. Skipped, with the script's
// one line, where namespaces cannot be made (no CAP_NET_ADMIN in a container).

// sent_bytes: the two byte counts of two_hosts.sh's last line ("two_hosts: A bytes sent from
// 10.77.0.1 to 10.77.0.2, B from 10.77.0.2 to 10.77.0.1"); false when it is missing.
static bool sent_bytes(const char *out, long long *a_to_b, long long *b_to_a) {
    const char *line = strstr(out, "two_hosts: ");
    return line && sscanf(line, "two_hosts: %lld bytes sent from %*s to %*s %lld", a_to_b, b_to_a) == 2;
}

static long long model_numel(const char *dir) {
    char *path = path_join(dir, "model.safetensors");
    SafeTensors st = st_open(path);
    long long n = 0;
    for (int t = 0; t < st.n; t++) n += st.tensors[t].numel;
    st_close(&st);
    free(path);
    return n;
}

Test(dist, two_hosts_over_tcp_equal_one_process, .timeout = 120) {
    need_mpirun();
    char *hosts = tmpdir("hosts"), *one = tmpdir("one"), *local = tmpdir("local"), cmd[2048];
    snprintf(cmd, sizeof cmd,
             "TWO_HOSTS_TIMEOUT=60 bash tests/two_hosts.sh build/16_trainer " RUN
             "--output_dir %s --per_device_train_batch_size 4",
             hosts);
    int status;
    char *out = run(cmd, &status);
    if (status == 77) {  // the script's one line: why this machine cannot make the two hosts
        char why[512];
        snprintf(why, sizeof why, "%s", strstr(out, "skip: ") ? strstr(out, "skip: ") : out);
        why[strcspn(why, "\n")] = '\0';
        free(out), free(hosts), free(one), free(local);
        cr_skip_test("%s", why);
    }
    cr_assert_eq(status, 0, "`%s` exited with %d:\n%s", cmd, status, out);
    cr_expect_eq(count(out, "== Summary =="), 1, "%s", out);
    // The gradients crossed the cable: each step rank 1's gradient goes to rank 0 and the mean
    // comes back, numel x 4 bytes each way (plus TCP/IP headers and Open MPI's own messages).
    long long a_to_b = 0, b_to_a = 0;
    cr_assert(sent_bytes(out, &a_to_b, &b_to_a), "no byte counts in:\n%s", out);
    free(out);
    int steps;
    free(history(hosts, "grad_norm", &steps));
    const long long least = (long long)steps * model_numel(hosts) * (long long)sizeof(float);
    cr_expect_geq(a_to_b, least, "%lld bytes from host A to B, %d steps of gradients need %lld", a_to_b, steps, least);
    cr_expect_geq(b_to_a, least, "%lld bytes from host B to A, %d steps of gradients need %lld", b_to_a, steps, least);
    // The same run as one process at twice the batch (the tolerances above), and the same bits
    // as 2 ranks on one host: the reduction order does not depend on where the ranks run.
    free(train("", one, "--per_device_train_batch_size 8"));
    expect_same_run(one, hosts);
    free(train(MPIRUN "-np 2 ", local, "--per_device_train_batch_size 4"));
    char *a = path_join(hosts, "model.safetensors"), *b = path_join(local, "model.safetensors");
    cr_expect(files_equal(a, b), "%s and %s differ: two hosts and one host should give the same bits", a, b);
    free(a), free(b);
    rm_rf(hosts), rm_rf(one), rm_rf(local);
    free(hosts), free(one), free(local);
}

// Ranks started with different flags or data stop before training, with one line.
Test(dist, mismatched_ranks_refused, .timeout = 60) {
    need_mpirun();
    char *dir = tmpdir("mismatch"), *vocab = tmpdir("vocab"), cmd[2048];
    // The same model with two vocabulary lines swapped: the same weights, other token ids.
    snprintf(cmd, sizeof cmd,
             "cp -r " FIX "/tiny-bert-cls %s && sed -i '40{h;d};41G' %s/vocab.txt && ! cmp -s %s/vocab.txt " FIX
             "/tiny-bert-cls/vocab.txt",
             vocab, vocab, vocab);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
    char other_vocab[192];
    snprintf(other_vocab, sizeof other_vocab, "--model_name_or_path %s", vocab);
    const struct {
        const char *other, *what;
    } cases[] = {{"--learning_rate 1e-3", "rank 1 and rank 0 differ in their optimizer flags"},
                 {"--train_file " FIX "/dev.tsv", "rank 1 and rank 0 differ in their --train_file contents"},
                 {"--model_name_or_path " FIX "/tiny-bert", "rank 1 and rank 0 differ in their model"},
                 {other_vocab, "rank 1 and rank 0 differ in their tokenizer"}};
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        snprintf(cmd, sizeof cmd,
                 MPIRUN "-np 1 build/16_trainer " RUN "--output_dir %s : -np 1 build/16_trainer " RUN
                        "--output_dir %s %s",
                 dir, dir, cases[i].other);
        int status;
        char *out = run(cmd, &status);
        cr_expect_neq(status, 0, "%s", out);
        cr_expect_eq(count(out, "error:"), 1, "%s", out);
        cr_expect(strstr(out, cases[i].what), "expected \"%s\":\n%s", cases[i].what, out);
        free(out);
    }
    cr_expect(!dir_exists(dir), "a refused run wrote %s", dir);
    rm_rf(vocab);
    free(dir), free(vocab);
}

// rank_pid: the pid of rank `rank` among the children of mpirun `parent` (by OMPI_COMM_WORLD_RANK
// in their environment); 0 if none yet.
static pid_t rank_pid(pid_t parent, int rank) {
    char want[64], path[64];
    snprintf(want, sizeof want, "OMPI_COMM_WORLD_RANK=%d", rank);
    DIR *d = opendir("/proc");
    pid_t found = 0;
    for (struct dirent *e; !found && (e = readdir(d));) {
        pid_t pid = (pid_t)atoi(e->d_name);
        if (pid <= 0) continue;
        snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
        FILE *f = fopen(path, "r");
        int ppid = 0;
        if (!f) continue;
        if (fscanf(f, "%*d (%*[^)]) %*c %d", &ppid) != 1) ppid = 0;
        fclose(f);
        if (ppid != parent) continue;
        snprintf(path, sizeof path, "/proc/%d/environ", (int)pid);
        size_t len;
        char *env = file_exists(path) ? read_file(path, &len) : NULL;
        for (size_t at = 0; env && at < len && !found; at += strlen(env + at) + 1)
            if (!strcmp(env + at, want)) found = pid;
        free(env);
    }
    closedir(d);
    return found;
}

// spawn: sh -c cmd as a child process (mpirun, to be signalled); its pid.
static pid_t spawn(const char *cmd) {
    pid_t pid = fork();
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    cr_assert(pid > 0, "cannot fork");
    return pid;
}

// exited_within: whether child pid exits within `seconds` (*st: its wait status); if not, it is
// killed (SIGKILL) and reaped, and the answer is false.
static bool exited_within(pid_t pid, double seconds, int *st) {
    const double t0 = now_seconds();
    pid_t done = 0;
    while (!(done = waitpid(pid, st, WNOHANG)) && now_seconds() - t0 < seconds) usleep(50 * 1000);
    if (!done) {
        kill(pid, SIGKILL);
        waitpid(pid, st, 0);
    }
    return done != 0;
}

// expect_latest_checkpoint_loads: dir's newest checkpoint evaluates as a model.
static void expect_latest_checkpoint_loads(const char *dir) {
    char *latest = checkpoint_latest(dir), cmd[1024];
    cr_assert(latest, "no checkpoint left in %s", dir);
    snprintf(cmd, sizeof cmd,
             "build/16_trainer evaluate --model_name_or_path %s --validation_file " FIX
             "/dev.tsv --threads 1 --max_seq_length 64",
             latest);
    int status;
    char *out = run(cmd, &status);
    cr_expect_eq(status, 0, "the last checkpoint %s does not load:\n%s", latest, out);
    free(out), free(latest);
}

// A rank killed with SIGKILL mid-run: mpirun ends the others within seconds (no hang in the
// next all-reduce), names the dead rank, and the last checkpoint still resumes.
Test(dist, killed_rank_ends_the_run, .timeout = 120) {
    need_mpirun();
    char *dir = tmpdir("kill"), log[64], cmd[2048];
    snprintf(log, sizeof log, "/tmp/bertstep-dist-kill-%d.log", (int)getpid());
    snprintf(cmd, sizeof cmd,
             "exec " MPIRUN "-np 2 build/16_trainer " RUN "--output_dir %s --per_device_train_batch_size 4 "
             "--num_train_epochs 100000 --save_total_limit 1 > %s 2>&1",
             dir, log);
    pid_t mpirun = spawn(cmd);
    // Any checkpoint: with --save_total_limit 1 each lives one epoch (milliseconds), and a
    // checkpoint-<N> directory is complete (written as tmp-checkpoint-<N>, then renamed).
    long step;
    for (int i = 0; i < 600 && !checkpoints_list(dir, &step, 1); i++) usleep(100 * 1000);
    pid_t victim = checkpoints_list(dir, &step, 1) ? rank_pid(mpirun, 1) : 0;
    if (victim <= 0) {
        kill(mpirun, SIGTERM);  // mpirun ends its ranks
        waitpid(mpirun, NULL, 0);
        cr_assert_fail("no checkpoint after 60 s, or rank 1 not found among mpirun's children");
    }
    kill(victim, SIGKILL);
    int st;
    const bool done = exited_within(mpirun, 30, &st);
    cr_assert(done, "mpirun still running 30 s after rank 1 was killed");
    cr_expect(!(WIFEXITED(st) && WEXITSTATUS(st) == 0), "mpirun succeeded after a rank died");
    char *out = read_file(log, NULL);
    cr_expect(strstr(out, "process rank 1") && strstr(out, "signal 9"), "%s", out);
    free(out);
    expect_latest_checkpoint_loads(dir);
    rm_rf(dir);
    unlink(log);
    free(dir);
}

// Ctrl-C under mpirun: the terminal's SIGINT reaches mpirun alone (each rank has a process group
// of its own), which cannot forward it: it sends every rank SIGTERM, odls_base_sigkill_timeout
// seconds later SIGKILL. The ranks stop after the same step, rank 0 writes one checkpoint, and
// every rank exits by itself with 130 (tests/exit_status.sh records each one's status) before
// the SIGKILL: the test gives 8 s where Open MPI's default is 1 (docs/DESIGN.md says why).
Test(dist, ctrl_c_saves_one_checkpoint_and_every_rank_exits, .timeout = 120) {
    need_mpirun();
    char *dir = tmpdir("ctrlc"), log[160], cmd[2048];
    snprintf(log, sizeof log, "%s.log", dir);
    snprintf(cmd, sizeof cmd,
             "exec " MPIRUN "--mca odls_base_sigkill_timeout 8 -np 2 sh -c 'exec tests/exit_status.sh "
             "%s.rank$OMPI_COMM_WORLD_RANK \"$@\"' sh build/16_trainer " RUN
             "--output_dir %s --per_device_train_batch_size 4 --num_train_epochs 100000 --save_strategy no > %s 2>&1",
             dir, dir, log);
    pid_t mpirun = spawn(cmd);
    bool started = false;  // rank 0 has logged a step: training is under way on both ranks
    for (int i = 0; i < 600 && !started; i++) {
        usleep(100 * 1000);
        char *t = file_exists(log) ? read_file(log, NULL) : NULL;
        started = t && strstr(t, "step 2/");
        free(t);
    }
    kill(mpirun, SIGINT);
    int st;
    const bool done = exited_within(mpirun, 60, &st);
    char *out = read_file(log, NULL);
    cr_assert(started, "no step logged in 60 s:\n%s", out);
    cr_assert(done, "mpirun still running 60 s after Ctrl-C:\n%s", out);
    cr_expect(!strstr(out, "signal 9"), "a rank was killed:\n%s", out);
    for (int rank = 0; rank < 2; rank++) {
        char path[192];
        snprintf(path, sizeof path, "%s.rank%d", dir, rank);
        char *status = file_exists(path) ? read_file(path, NULL) : NULL;
        cr_expect(status && atoi(status) == 130, "rank %d: %s (expected exit status 130, 128 + SIGINT)", rank,
                  status ? status : "no exit status: killed before it exited");
        free(status);
        unlink(path);
    }
    long steps[4];
    cr_expect_eq(checkpoints_list(dir, steps, 4), 1, "one checkpoint (--save_strategy no), by rank 0:\n%s", out);
    free(out);
    expect_latest_checkpoint_loads(dir);
    rm_rf(dir);
    unlink(log);
    free(dir);
}
