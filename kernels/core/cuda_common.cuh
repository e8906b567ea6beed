// cuda_common.cuh — what every CUDA program of bertstep starts with: the C headers of common/,
// checked CUDA and cuBLAS calls, checked device allocation, and the "is there a GPU?" question.
// Introduced by lesson 12 (cuda_matmul); lesson 13 on and the GPU tests use it.
//
// Every error is one line, as everywhere in bertstep (common/core/util.h die()):
//   error: cudaMemcpy(dst, src, n, cudaMemcpyDeviceToHost) failed: an illegal memory access
//          was encountered (cudaErrorIllegalAddress) at lessons/12_cuda_matmul.cu:123
//   error: cudaMalloc of 17179869184 bytes (C, 4096x4096 floats) failed: out of memory
//          (cudaErrorMemoryAllocation); the GPU had 1073741824 of 85899345920 bytes free
//
// Layers: kernels/core (this file, cublas_gemm.cuh) is the bottom of kernels/: it includes CUDA's
// headers and, of bertstep, only common/core and common/model. kernels/matmul and kernels/bert
// include it, kernels/backend through kernels/bert; it includes none of them.
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <stdbool.h>
#include <stddef.h>

// common/ is C; _Noreturn is C11's spelling of C++'s [[noreturn]] (util.h declares die() so).
#define _Noreturn [[noreturn]]
extern "C" {
#include "common/core/args.h"
#include "common/core/rng.h"
#include "common/core/util.h"
}
#undef _Noreturn

// LAUNCH(kernel, grid, block)(args...): kernel<<<grid, block>>>(args...), the launch every kernel of
// bertstep is started with. A macro, so that a C++ compiler without CUDA can build the same sources
// and run the kernels on the CPU: the emulated test build defines it first (in its stand-in for
// cuda_runtime.h, tests/emulate/).
#ifndef LAUNCH
#define LAUNCH(kernel, grid, block) kernel<<<grid, block>>>
#endif

// CUDA_CHECK(call): run a CUDA runtime call; on failure die naming the call, the reason and
// where.
#define CUDA_CHECK(call)    cuda_check((call), #call, __FILE__, __LINE__)
// CUBLAS_CHECK(call): the same for cuBLAS, whose status has no message, only a name.
#define CUBLAS_CHECK(call)  cublas_check((call), #call, __FILE__, __LINE__)
// CUDA_CHECK_LAUNCH(): right after every kernel launch. It checks the launch itself
// (cudaGetLastError: a bad grid, too much shared memory). A kernel runs later, asynchronously, so
// an error inside it (an illegal address, say) is normally reported by whichever CUDA call next
// waits for the GPU, far from the kernel. The debug switch makes errors land where they happen:
// with it, CUDA_CHECK_LAUNCH and CUBLAS_CHECK also wait for the GPU (cudaDeviceSynchronize), so
// the error line names the launch (or the cuBLAS call) whose kernel failed:
//   error: kernel launched here (BERTSTEP_CUDA_SYNC) failed: an illegal memory access was
//          encountered (cudaErrorIllegalAddress) at kernels/bert/bert_kernels.cu:239
// It is on when the environment has BERTSTEP_CUDA_SYNC=1 (any build), and always in a debug build
// (`make CUDA_DEBUG=1`, which defines BERTSTEP_CUDA_DEBUG). Every step then waits for every
// kernel: slow, for finding errors only.
#define CUDA_CHECK_LAUNCH() cuda_check_launch(__FILE__, __LINE__)

void cuda_check(cudaError_t err, const char *call, const char *file, int line);
void cublas_check(cublasStatus_t st, const char *call, const char *file, int line);
void cuda_check_launch(const char *file, int line);
// cuda_debug_sync: whether the debug switch above is on (the environment is read once).
bool cuda_debug_sync(void);
// cublas_status_name: "CUBLAS_STATUS_NOT_SUPPORTED" and so on.
const char *cublas_status_name(cublasStatus_t st);

// cuda_malloc: device memory of `bytes`; `what` names it in the error, which also says how
// much memory the GPU had free (cudaMemGetInfo), so an out-of-memory line explains itself.
void *cuda_malloc(size_t bytes, const char *what);
// gpu_free_bytes: the device's free memory now (cudaMemGetInfo after a synchronize). Lesson 13
// and tests/gpu/test_memory.cu measure what an allocation really takes as the drop in it.
size_t gpu_free_bytes(void);

// NvtxRange range("bert_forward"): the rest of the scope as a named NVTX range, which profilers
// show and filter by (bench/gpu_quick.sh has ncu time only the kernels of one training step:
// kernels/bert/bert_cuda.cu's bert_forward, bert_backward and bert_optimizer ranges).
struct NvtxRange {
    explicit NvtxRange(const char *name);
    ~NvtxRange();
    NvtxRange(const NvtxRange &) = delete;
    NvtxRange &operator=(const NvtxRange &) = delete;
};

// gpu_available: true when a CUDA device can be used. When not, `why` (n bytes) gets the
// runtime's reason (no device, no driver, driver too old for this runtime).
bool gpu_available(char *why, size_t n);
// gpu_describe: "NVIDIA H100 80GB HBM3, compute capability 9.0, 132 SMs, 79.1 GiB, driver 13.0,
// runtime 13.0" for device 0.
void gpu_describe(char *out, size_t n);
