// harness.cu — see harness.cuh.
#include "tests/gpu/harness.cuh"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#define MAX_TESTS 256

static struct {
    const char *name;
    GpuTestFn fn;
    bool helper;
} tests[MAX_TESTS];
static int n_tests, failures_in_test;
static const char *self_path;

GpuTestReg::GpuTestReg(const char *name, GpuTestFn fn, bool helper) {
    if (n_tests == MAX_TESTS) die("tests/gpu: more than %d tests", MAX_TESTS);
    tests[n_tests].name = name, tests[n_tests].fn = fn, tests[n_tests].helper = helper;
    n_tests++;
}

void gpu_check_failed(bool ok, const char *cond, const char *file, int line, const char *fmt, ...) {
    if (ok) return;
    va_list ap;
    va_start(ap, fmt);
    printf("  %s:%d: CHECK(%s) failed: ", file, line, cond);
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    fflush(stdout);
    failures_in_test++;
}

// selected: whether test `name` is among those asked for: every test when no filter was given,
// else those whose name contains one of the filters.
static bool selected_by(const char *name, char **filters, int n_filters) {
    if (n_filters == 0) return true;
    for (int i = 0; i < n_filters; i++)
        if (strstr(name, filters[i])) return true;
    return false;
}

char *run_helper(const char *name, int *status) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' --helper %s 2>&1", self_path, name);
    FILE *p = popen(cmd, "r");
    if (!p) die("popen of %s failed", cmd);
    size_t cap = 1 << 14, n = 0, got;
    char *out = (char *)xmalloc(cap);
    while ((got = fread(out + n, 1, cap - n - 1, p)) > 0)
        if ((n += got) + 1 >= cap) out = (char *)xrealloc(out, cap *= 2);
    out[n] = '\0';
    int st = pclose(p);
    *status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return out;
}

int main(int argc, char **argv) {
    self_path = argv[0];
    if (argc == 3 && !strcmp(argv[1], "--helper")) {
        for (int t = 0; t < n_tests; t++)
            if (tests[t].helper && !strcmp(tests[t].name, argv[2])) {
                tests[t].fn();
                return 0;
            }
        die("no GPU helper named %s", argv[2]);
    }
    char **filters = argv + 1;
    const int n_filters = argc - 1;
    int selected = 0;
    for (int t = 0; t < n_tests; t++) selected += !tests[t].helper && selected_by(tests[t].name, filters, n_filters);
    char why[256];
    if (!gpu_available(why, sizeof why)) {
        printf("SKIP: no CUDA device found (%s): %d GPU test(s) not run\n", why, selected);
        return 0;
    }
    char gpu[256];
    gpu_describe(gpu, sizeof gpu);
    printf("GPU: %s\n", gpu);
    int failed = 0;
    for (int t = 0; t < n_tests; t++) {
        if (tests[t].helper || !selected_by(tests[t].name, filters, n_filters)) continue;
        failures_in_test = 0;
        const double t0 = now_seconds();
        tests[t].fn();
        CUDA_CHECK(cudaDeviceSynchronize());
        printf("%s %s (%.2f s)\n", failures_in_test ? "FAIL" : "PASS", tests[t].name, now_seconds() - t0);
        fflush(stdout);
        failed += failures_in_test > 0;
    }
    printf("%d of %d GPU test(s) passed\n", selected - failed, selected);
    return failed ? 1 : 0;
}
