// test_errors.cu — a failing CUDA or cuBLAS call, or an allocation the GPU cannot hold, ends the
// program with one error line that names the call and the reason (kernels/core/cuda_common.cuh).
// Each case runs as a separate process (a GPU_HELPER), because it exits.
#include <string.h>

#include "kernels/matmul/matmul.cuh"
#include "tests/gpu/harness.cuh"

GPU_HELPER(alloc_too_much) { cuda_malloc((size_t)1 << 50, "a 1 PiB test buffer"); }

GPU_HELPER(bad_device) { CUDA_CHECK(cudaSetDevice(9999)); }

GPU_HELPER(bad_cublas_call) {
    cublasHandle_t h;
    CUBLAS_CHECK(cublasCreate(&h));
    float one = 1.0f;
    CUBLAS_CHECK(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, -1, 4, 4, &one, NULL, 4, NULL, 4, &one, NULL, 4));
}

// A kernel that fails after its launch returned: it writes through a null pointer.
__global__ void write_through_null(float *p) { p[threadIdx.x] = 1.0f; }

GPU_HELPER(faulting_kernel) {
    write_through_null<<<1, 32>>>(NULL);
    CUDA_CHECK_LAUNCH();
    CUDA_CHECK(cudaDeviceSynchronize());  // without the debug switch the error is reported here
}

GPU_HELPER(transposed_hand_kernel) {
    GemmShape s = gemm_shape(8, 8, 8, 1);
    s.trans_b = true;
    matmul_kernel_run(&matmul_kernels[0], &s, NULL, NULL, NULL);
}

// expect_error_line: the helper exits 1, and its output ends with its only "error: " line, which
// holds every fragment in `want`. (A library may print its own lines before it: cuBLAS reports
// an illegal parameter on stderr itself.)
static void expect_error_line(const char *helper, const char *const *want, int n) {
    int status;
    char *out = run_helper(helper, &status);
    CHECK(status == 1, "%s exited with %d, want 1; printed: %s", helper, status, out);
    const char *line = strstr(out, "error: ");
    CHECK(line && (line == out || line[-1] == '\n') && !strstr(line + 1, "error: ") &&
              strchr(line, '\n') == out + strlen(out) - 1,
          "%s should end with one 'error: ' line; printed: %s", helper, out);
    for (int i = 0; line && i < n; i++)
        CHECK(strstr(line, want[i]) != NULL, "%s: '%s' missing from: %s", helper, want[i], line);
    free(out);
}

GPU_TEST(errors_cuda_malloc_says_asked_and_free) {
    const char *want[] = {"cudaMalloc of 1125899906842624 bytes (a 1 PiB test buffer) failed",
                          "cudaErrorMemoryAllocation", "bytes free"};
    expect_error_line("alloc_too_much", want, 3);
}

GPU_TEST(errors_cuda_check_names_call_and_place) {
    const char *want[] = {"cudaSetDevice(9999) failed: ", "(cudaErrorInvalidDevice) at tests/gpu/test_errors.cu:"};
    expect_error_line("bad_device", want, 2);
}

GPU_TEST(errors_cublas_check_names_status) {
    const char *want[] = {"cublasSgemm(", "CUBLAS_STATUS_INVALID_VALUE"};
    expect_error_line("bad_cublas_call", want, 2);
}

GPU_TEST(errors_transposed_operands_refused) {
    const char *want[] = {"matmul kernel 1 naive: transposed operands are not supported"};
    expect_error_line("transposed_hand_kernel", want, 1);
}

// The debug switch (cuda_common.cuh): with BERTSTEP_CUDA_SYNC=1 the error of a kernel is reported
// by the CUDA_CHECK_LAUNCH after its launch, not by the next call that waits for the GPU.
GPU_TEST(errors_debug_sync_reports_the_failing_launch) {
    setenv("BERTSTEP_CUDA_SYNC", "1", 1);  // the helper process inherits it
    const char *want[] = {"kernel launched here (BERTSTEP_CUDA_SYNC) failed: ",
                          "(cudaErrorIllegalAddress) at tests/gpu/test_errors.cu:"};
    expect_error_line("faulting_kernel", want, 2);
    unsetenv("BERTSTEP_CUDA_SYNC");
}
