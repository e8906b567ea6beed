// harness.cuh — a minimal test harness for the GPU tests (tests/gpu/test_*.cu).
// Criterion's runner forks workers, which does not mix with a CUDA context, so the GPU tests
// run sequentially in one process under this harness instead:
//
//     GPU_TEST(kernels_match_cpu) {
//         CHECK(bad == 0, "kernel %s: %ld wrong elements", name, bad);
//     }
//
// `build/tests/gpu_tests [substring...]` runs every test (or those whose name contains one of the
// substrings) and prints PASS/FAIL per test, the failed checks with file:line, and a summary; the
// exit status is 1 when a check failed. Without a GPU it prints one SKIP line and exits 0.
// GPU_HELPER(name) declares a program a test starts as a separate process
// (`gpu_tests --helper name`), for checking what a failing call prints before it exits.
#pragma once
#include "kernels/core/cuda_common.cuh"

typedef void (*GpuTestFn)(void);
struct GpuTestReg {
    GpuTestReg(const char *name, GpuTestFn fn, bool helper);
};

#define GPU_TEST(name)                                \
    static void name(void);                           \
    static GpuTestReg name##_reg(#name, name, false); \
    static void name(void)
#define GPU_HELPER(name)                             \
    static void name(void);                          \
    static GpuTestReg name##_reg(#name, name, true); \
    static void name(void)

// CHECK(cond, fmt, ...): when cond is false, record a failure of the running test (with the
// condition, file:line and the printf-style message) and carry on.
#define CHECK(cond, ...) gpu_check_failed((cond), #cond, __FILE__, __LINE__, __VA_ARGS__)
void gpu_check_failed(bool ok, const char *cond, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

// run_helper: stdout and stderr of `gpu_tests --helper name`, and its exit status in *status.
char *run_helper(const char *name, int *status);
