// cuda_common.cu — see cuda_common.cuh.
#include "kernels/core/cuda_common.cuh"

#include <nvtx3/nvToolsExt.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cuda_check(cudaError_t err, const char *call, const char *file, int line) {
    if (err != cudaSuccess)
        die("%s failed: %s (%s) at %s:%d", call, cudaGetErrorString(err), cudaGetErrorName(err), file, line);
}

const char *cublas_status_name(cublasStatus_t st) {
    switch (st) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    case CUBLAS_STATUS_LICENSE_ERROR: return "CUBLAS_STATUS_LICENSE_ERROR";
    }
    return "unknown cuBLAS status";
}

void cublas_check(cublasStatus_t st, const char *call, const char *file, int line) {
    if (st != CUBLAS_STATUS_SUCCESS)
        die("%s failed: %s (status %d) at %s:%d", call, cublas_status_name(st), (int)st, file, line);
    if (cuda_debug_sync()) cuda_check(cudaDeviceSynchronize(), call, file, line);
}

bool cuda_debug_sync(void) {
#ifdef BERTSTEP_CUDA_DEBUG
    return true;
#else
    static int on = -1;  // not read yet
    if (on < 0) {
        const char *v = getenv("BERTSTEP_CUDA_SYNC");
        on = v && *v && strcmp(v, "0") != 0;
    }
    return on;
#endif
}

void cuda_check_launch(const char *file, int line) {
    cuda_check(cudaGetLastError(), "kernel launch", file, line);
    if (cuda_debug_sync()) cuda_check(cudaDeviceSynchronize(), "kernel launched here (BERTSTEP_CUDA_SYNC)", file, line);
}

void *cuda_malloc(size_t bytes, const char *what) {
    void *p = NULL;
    cudaError_t err = cudaMalloc(&p, bytes);
    if (err == cudaSuccess) return p;
    cudaGetLastError();  // clear the (non-sticky) error before asking for the free memory
    size_t free_b = 0, total_b = 0;
    if (cudaMemGetInfo(&free_b, &total_b) == cudaSuccess)
        die("cudaMalloc of %zu bytes (%s) failed: %s (%s); the GPU had %zu of %zu bytes free", bytes, what,
            cudaGetErrorString(err), cudaGetErrorName(err), free_b, total_b);
    die("cudaMalloc of %zu bytes (%s) failed: %s (%s)", bytes, what, cudaGetErrorString(err), cudaGetErrorName(err));
}

bool gpu_available(char *why, size_t n) {
    int count = 0;
    cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess) {
        snprintf(why, n, "cudaGetDeviceCount: %s (%s)", cudaGetErrorString(err), cudaGetErrorName(err));
        cudaGetLastError();
        return false;
    }
    if (count == 0) {
        snprintf(why, n, "cudaGetDeviceCount found 0 devices");
        return false;
    }
    return true;
}

void gpu_describe(char *out, size_t n) {
    cudaDeviceProp p;
    CUDA_CHECK(cudaGetDeviceProperties(&p, 0));
    int driver = 0, runtime = 0;
    CUDA_CHECK(cudaDriverGetVersion(&driver));
    CUDA_CHECK(cudaRuntimeGetVersion(&runtime));
    snprintf(out, n, "%s, compute capability %d.%d, %d SMs, %.1f GiB, driver %d.%d, runtime %d.%d", p.name, p.major,
             p.minor, p.multiProcessorCount, p.totalGlobalMem / 1073741824.0, driver / 1000, driver % 1000 / 10,
             runtime / 1000, runtime % 1000 / 10);
}

size_t gpu_free_bytes(void) {
    size_t free_b = 0, total_b = 0;
    CUDA_CHECK(cudaDeviceSynchronize());
    CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
    return free_b;
}

NvtxRange::NvtxRange(const char *name) { nvtxRangePushA(name); }
NvtxRange::~NvtxRange() { nvtxRangePop(); }
