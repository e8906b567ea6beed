// cuda_on_cpu.h — just enough of CUDA's runtime, of cuBLAS and of the 16-bit float types to run
// lesson 12's kernels (kernels/matmul/), lesson 13's (kernels/bert/bert_kernels.cu), its GPU BERT
// (kernels/bert/bert_cuda.cu) and the trainer's GPU backend (kernels/backend/) on the CPU, so that
// the CPU test suite, which has no GPU, still checks their index arithmetic, their bounds at the
// edges of the matrices, the placement of their barriers, lesson 13's whole model, and
// kernels/core's own code (checked calls, cuda_malloc, the row-major cuBLAS mapping).
//
// It wraps the product code from the outside: no product file names it. The emulated build
// (the Makefile's build/tests/emulated_*) compiles the product's .cu files as they are with the
// C++ compiler and -Itests/emulate/cuda, where the stand-ins cuda_runtime.h, cublas_v2.h,
// cuda_bf16.h and cuda_fp16.h each include this header in place of CUDA's. Emulation model:
//   - the threads of a block are fibers (ucontext) on the launching CPU thread: each runs until it
//     reaches __syncthreads() or returns, then the next one does; when every thread of the block
//     waits at the barrier, all go on. The order alternates from block to block (0..n-1, then
//     n-1..0), so a missing barrier between a write and another thread's read shows up whichever
//     thread comes first. A kernel whose first launch never called __syncthreads (element-wise:
//     most launches) is then run as a plain loop over its threads;
//   - blocks run one after another, so a kernel's __shared__ arrays can be function statics
//     (one copy, shared by the running block's threads);
//   - LAUNCH(kernel, grid, block)(args...) (kernels/core/cuda_common.cuh spells kernel<<<grid,
//     block>>>(args...) so) is defined here first; a launch CUDA would refuse (more than 1024
//     threads a block, a grid's y or z over 65535) runs nothing and leaves
//     cudaErrorInvalidConfiguration for cudaGetLastError, as on a GPU;
//   - atomicAdd is a plain add (one CPU thread runs every block);
//   - device memory is host memory, counted against a pretend 80 GB device (cudaMemGetInfo);
//   - __nv_bfloat16 and __half are 16-bit structs; the conversion intrinsics the kernels call
//     (__float2bfloat16_rn, __half2float, ...) are common/model/precision.h's round-to-nearest-even
//     conversions, bit for bit what the GPU's conversion instructions do;
//   - cuBLAS's cublasGemmEx and cublasGemmStridedBatchedEx are column-major, as the real ones,
//     and checked as the real ones check their leading dimensions; a product is the CPU sgemm, once
//     per matrix of a batch: bf16/fp16 inputs are widened to float (exactly), the products and
//     sums are float32 as in the tensor cores (TF32's input rounding is not emulated), and a
//     bf16/fp16 output is rounded once, to nearest even, as cuBLAS stores it.
// It cannot show speed, warp behaviour, or what the GPU's memory model would do with threads
// that really run at the same time; bench/gpu_quick.sh runs compute-sanitizer for those.
#pragma once
#include <ucontext.h>

#include <atomic>
#include <functional>
#include <malloc.h>
#include <map>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vector>

#define _Noreturn [[noreturn]]
extern "C" {
#include "common/model/matmul.h"
#include "common/model/precision.h"
#include "common/core/rng.h"
#include "common/core/util.h"
}
#undef _Noreturn

struct dim3 {
    unsigned x, y, z;
    dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
struct alignas(16) float4 {
    float x, y, z, w;
};
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }

// The two 16-bit formats (cuda_bf16.h, cuda_fp16.h): the bits, and the conversions the kernels use.
struct __nv_bfloat16 {
    uint16_t bits;
};
struct __half {
    uint16_t bits;
};
inline float __bfloat162float(__nv_bfloat16 x) { return bf16_to_fp32(x.bits); }
inline __nv_bfloat16 __float2bfloat16_rn(float x) { return {fp32_to_bf16(x)}; }
inline float __half2float(__half x) { return fp16_to_fp32(x.bits); }
inline __half __float2half_rn(float x) { return {fp32_to_fp16(x)}; }

inline dim3 threadIdx, blockIdx, blockDim, gridDim;

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__   static
#define __align__(n) __attribute__((aligned(n)))
// The fibers of the running block (EmulatedLaunch): the scheduler's context, each thread's, and
// whether it waits at the barrier or has returned.
enum FiberState { FIBER_RUNS, FIBER_WAITS, FIBER_DONE };
struct BlockFibers {
    ucontext_t scheduler;
    std::vector<ucontext_t> ctx;
    std::vector<FiberState> state;
    std::vector<char> stacks;  // FIBER_STACK bytes per thread
    unsigned current;          // the thread running now
    bool plain;                // a plain loop over the threads: no fibers, no barrier possible
    bool synced;               // __syncthreads was called during this launch
    std::function<void()> body;
};
inline BlockFibers fibers;
constexpr size_t FIBER_STACK = 64 * 1024;

// __syncthreads: this thread waits; the scheduler runs the others up to the barrier too.
inline void __syncthreads() {
    if (fibers.plain) die("internal: the emulator ran a kernel as a plain loop, and it called __syncthreads");
    fibers.synced = true;
    fibers.state[fibers.current] = FIBER_WAITS;
    swapcontext(&fibers.ctx[fibers.current], &fibers.scheduler);
}
inline float atomicAdd(float *address, float value) {  // one CPU thread runs them all: a plain add
    const float old = *address;
    *address = old + value;
    return old;
}

// ---- the runtime: errors, device memory, the device ----
enum cudaError_t {
    cudaSuccess = 0,
    cudaErrorInvalidValue = 1,
    cudaErrorMemoryAllocation = 2,
    cudaErrorInvalidConfiguration = 9,
};
inline const char *cudaGetErrorName(cudaError_t e) {
    switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    }
    return "cudaErrorUnknown";
}
inline const char *cudaGetErrorString(cudaError_t e) {
    switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    }
    return "unknown error";
}
// The last launch's error (cudaGetLastError returns it and resets it, as CUDA does).
inline cudaError_t emulated_last_error = cudaSuccess;
inline cudaError_t cudaGetLastError() {
    const cudaError_t e = emulated_last_error;
    emulated_last_error = cudaSuccess;
    return e;
}
inline cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }

// The device's memory is a pretend 80 GB of which cudaMalloc's blocks are taken, so that
// cudaMemGetInfo's free bytes drop by what an allocation holds, as on a GPU.
constexpr size_t EMULATED_DEVICE_BYTES = 80000000000;
inline std::atomic<size_t> emulated_device_used{0};
inline cudaError_t cudaMalloc(void **p, size_t bytes) {
    *p = bytes <= EMULATED_DEVICE_BYTES - emulated_device_used ? malloc(bytes ? bytes : 1) : NULL;
    if (!*p) return cudaErrorMemoryAllocation;
    emulated_device_used += malloc_usable_size(*p);
    return cudaSuccess;
}
inline cudaError_t cudaFree(void *p) {
    if (p) emulated_device_used -= malloc_usable_size(p);
    free(p);
    return cudaSuccess;
}
inline cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total_bytes) {
    *free_bytes = EMULATED_DEVICE_BYTES - emulated_device_used, *total_bytes = EMULATED_DEVICE_BYTES;
    return cudaSuccess;
}
enum cudaMemcpyKind { cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost, cudaMemcpyDeviceToDevice };
inline cudaError_t cudaMemcpy(void *dst, const void *src, size_t n, cudaMemcpyKind) {
    memcpy(dst, src, n);
    return cudaSuccess;
}
inline cudaError_t cudaMemcpy2D(void *dst, size_t dpitch, const void *src, size_t spitch, size_t width, size_t height,
                                cudaMemcpyKind) {
    for (size_t r = 0; r < height; r++) memcpy((char *)dst + r * dpitch, (const char *)src + r * spitch, width);
    return cudaSuccess;
}
inline cudaError_t cudaMemset(void *dst, int byte, size_t n) {
    memset(dst, byte, n);
    return cudaSuccess;
}

// One device: the CPU, which runs one block at a time (one "SM").
struct cudaDeviceProp {
    char name[256];
    int major, minor, multiProcessorCount;
    size_t totalGlobalMem;
};
inline cudaError_t cudaGetDeviceCount(int *count) {
    *count = 1;
    return cudaSuccess;
}
inline cudaError_t cudaGetDeviceProperties(cudaDeviceProp *p, int device) {
    if (device != 0) return cudaErrorInvalidValue;
    *p = cudaDeviceProp{};
    snprintf(p->name, sizeof p->name, "the CPU emulating CUDA (tests/emulate/cuda_on_cpu.h)");
    p->multiProcessorCount = 1, p->totalGlobalMem = EMULATED_DEVICE_BYTES;
    return cudaSuccess;
}
inline cudaError_t cudaDriverGetVersion(int *v) {
    *v = 0;
    return cudaSuccess;
}
inline cudaError_t cudaRuntimeGetVersion(int *v) {
    *v = 0;
    return cudaSuccess;
}
inline cudaError_t cudaSetDevice(int device) { return device == 0 ? cudaSuccess : cudaErrorInvalidValue; }

// Streams and events: every launch and copy runs to its end when it is issued, so all work is
// already in order and a stream or an event is a token that only has to exist (NULL: stream 0).
struct EmulatedStream {};
typedef EmulatedStream *cudaStream_t;
typedef EmulatedStream *cudaEvent_t;
enum { cudaStreamNonBlocking = 1, cudaEventDisableTiming = 2 };
inline cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned) {
    *s = new EmulatedStream;
    return cudaSuccess;
}
inline cudaError_t cudaEventCreateWithFlags(cudaEvent_t *e, unsigned) { return cudaStreamCreateWithFlags(e, 0); }
inline cudaError_t cudaStreamDestroy(cudaStream_t s) {
    delete s;
    return cudaSuccess;
}
inline cudaError_t cudaEventDestroy(cudaEvent_t e) { return cudaStreamDestroy(e); }
inline cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
inline cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t) { return e ? cudaSuccess : cudaErrorInvalidValue; }
inline cudaError_t cudaStreamWaitEvent(cudaStream_t, cudaEvent_t e, unsigned) {
    return e ? cudaSuccess : cudaErrorInvalidValue;
}

// ---- cuBLAS (column-major, as the library): a product is common/model/matmul.c's sgemm ----
enum cublasStatus_t {
    CUBLAS_STATUS_SUCCESS = 0,
    CUBLAS_STATUS_NOT_INITIALIZED = 1,
    CUBLAS_STATUS_ALLOC_FAILED = 3,
    CUBLAS_STATUS_INVALID_VALUE = 7,
    CUBLAS_STATUS_ARCH_MISMATCH = 8,
    CUBLAS_STATUS_MAPPING_ERROR = 11,
    CUBLAS_STATUS_EXECUTION_FAILED = 13,
    CUBLAS_STATUS_INTERNAL_ERROR = 14,
    CUBLAS_STATUS_NOT_SUPPORTED = 15,
    CUBLAS_STATUS_LICENSE_ERROR = 16,
};
typedef void *cublasHandle_t;
enum cublasOperation_t { CUBLAS_OP_N = 0, CUBLAS_OP_T = 1 };
enum cudaDataType_t { CUDA_R_32F = 0, CUDA_R_16F = 2, CUDA_R_16BF = 14 };
enum cublasComputeType_t { CUBLAS_COMPUTE_32F = 68, CUBLAS_COMPUTE_32F_FAST_TF32 = 77 };
enum cublasGemmAlgo_t { CUBLAS_GEMM_DEFAULT = -1 };
inline cublasStatus_t cublasCreate(cublasHandle_t *h) {
    *h = NULL;
    return CUBLAS_STATUS_SUCCESS;
}
inline cublasStatus_t cublasDestroy(cublasHandle_t) { return CUBLAS_STATUS_SUCCESS; }

// widen: n elements of type t at p, as floats (exact).
inline std::vector<float> widen(const void *p, long n, cudaDataType_t t) {
    std::vector<float> x(n);
    for (long i = 0; i < n; i++)
        x[i] = t == CUDA_R_32F ? ((const float *)p)[i]
            : t == CUDA_R_16BF ? bf16_to_fp32(((const uint16_t *)p)[i])
                               : fp16_to_fp32(((const uint16_t *)p)[i]);
    return x;
}

// cublasGemmStridedBatchedEx: for each of `batch` matrices, column-major
//   C (m,n) = alpha op(A) op(B) + beta C,   op(A) (m,k), op(B) (k,n)
// where a column-major matrix with leading dimension ld is, read row-major with the same ld, its
// transpose: C^T (n,m) = alpha op(B)^T op(A)^T + beta C^T, one row-major sgemm whose operands
// are B (transposed when transb) and A (when transa). Refused as cuBLAS refuses them: negative
// sizes, a leading dimension shorter than its column. A and B share one type (as the product's
// calls do); alpha and beta are float (CUBLAS_COMPUTE_32F).
inline cublasStatus_t cublasGemmStridedBatchedEx(cublasHandle_t, cublasOperation_t transa, cublasOperation_t transb,
                                                 int m, int n, int k, const void *alpha, const void *A,
                                                 cudaDataType_t a_type, int lda, long long stride_a, const void *B,
                                                 cudaDataType_t b_type, int ldb, long long stride_b, const void *beta,
                                                 void *C, cudaDataType_t c_type, int ldc, long long stride_c, int batch,
                                                 cublasComputeType_t, cublasGemmAlgo_t) {
    const int a_rows = transa == CUBLAS_OP_N ? m : k, b_rows = transb == CUBLAS_OP_N ? k : n;
    if (m < 0 || n < 0 || k < 0 || batch < 0 || lda < (a_rows > 1 ? a_rows : 1) || ldb < (b_rows > 1 ? b_rows : 1) ||
        ldc < (m > 1 ? m : 1) || a_type != b_type)
        return CUBLAS_STATUS_INVALID_VALUE;
    const long a_cols = transa == CUBLAS_OP_N ? k : m, b_cols = transb == CUBLAS_OP_N ? n : k;
    const long na = batch ? (batch - 1) * stride_a + (a_cols - 1) * lda + a_rows : 0;
    const long nb = batch ? (batch - 1) * stride_b + (b_cols - 1) * ldb + b_rows : 0;
    const long nc = batch ? (batch - 1) * stride_c + (long)(n - 1) * ldc + m : 0;
    const std::vector<float> a = widen(A, na, a_type), b = widen(B, nb, b_type);
    std::vector<float> out = widen(C, nc, c_type);  // sgemm leaves the padding between columns as it was
    for (int i = 0; i < batch; i++)
        sgemm(transb == CUBLAS_OP_T, transa == CUBLAS_OP_T, n, m, k, *(const float *)alpha, b.data() + i * stride_b,
              ldb, a.data() + i * stride_a, lda, *(const float *)beta, out.data() + i * stride_c, ldc);
    for (long i = 0; i < nc; i++) {  // stored in C's type: rounded once
        if (c_type == CUDA_R_32F) ((float *)C)[i] = out[i];
        else ((uint16_t *)C)[i] = c_type == CUDA_R_16BF ? fp32_to_bf16(out[i]) : fp32_to_fp16(out[i]);
    }
    return CUBLAS_STATUS_SUCCESS;
}
inline cublasStatus_t cublasGemmEx(cublasHandle_t h, cublasOperation_t transa, cublasOperation_t transb, int m, int n,
                                   int k, const void *alpha, const void *A, cudaDataType_t a_type, int lda,
                                   const void *B, cudaDataType_t b_type, int ldb, const void *beta, void *C,
                                   cudaDataType_t c_type, int ldc, cublasComputeType_t compute, cublasGemmAlgo_t algo) {
    return cublasGemmStridedBatchedEx(h, transa, transb, m, n, k, alpha, A, a_type, lda, 0, B, b_type, ldb, 0, beta, C,
                                      c_type, ldc, 0, 1, compute, algo);
}

// ---- running kernels ----
// fiber_main: a thread's fiber: the launch's kernel call, then back to the scheduler (uc_link).
inline void fiber_main() {
    fibers.body();
    fibers.state[fibers.current] = FIBER_DONE;
}

// run_block: every thread of block blockIdx as a fiber, round after round until all returned;
// a round resumes each thread once (in `reverse` order or not), up to its next barrier.
inline void run_block(unsigned n, bool reverse) {
    BlockFibers &f = fibers;
    f.ctx.resize(n), f.state.assign(n, FIBER_RUNS);
    if (f.stacks.size() < n * FIBER_STACK) f.stacks.resize(n * FIBER_STACK);
    for (unsigned t = 0; t < n; t++) {
        getcontext(&f.ctx[t]);
        f.ctx[t].uc_stack = {f.stacks.data() + t * FIBER_STACK, 0, FIBER_STACK};
        f.ctx[t].uc_link = &f.scheduler;
        makecontext(&f.ctx[t], fiber_main, 0);
    }
    for (bool waiting = true; waiting;) {
        waiting = false;
        for (unsigned i = 0; i < n; i++) {
            const unsigned t = reverse ? n - 1 - i : i;
            if (f.state[t] == FIBER_DONE) continue;
            f.current = t, f.state[t] = FIBER_RUNS;
            threadIdx = dim3(t % blockDim.x, t / blockDim.x % blockDim.y, t / (blockDim.x * blockDim.y));
            swapcontext(&f.scheduler, &f.ctx[t]);
            waiting |= f.state[t] == FIBER_WAITS;
        }
    }
}

// EmulatedLaunch: runs every block of the grid in turn (blocks alternate the order of their
// threads). A kernel whose first launch never called __syncthreads (an element-wise kernel: most
// launches) runs from then on as a plain loop over blocks and threads: the same results, faster.
inline std::map<const void *, bool> kernel_syncs;  // kernel -> its first launch called __syncthreads

// launch_fits: CUDA's limits on a launch (compute capability 3.0 on): at most 1024 threads a block
// (x, y <= 1024, z <= 64), a grid's y and z at most 65535, no dimension 0.
inline bool launch_fits(dim3 grid, dim3 block) {
    const unsigned long threads = (unsigned long)block.x * block.y * block.z;
    return threads >= 1 && threads <= 1024 && block.z <= 64 && grid.x >= 1 && grid.y >= 1 && grid.z >= 1 &&
        grid.y <= 65535 && grid.z <= 65535;
}

template <typename... Args> struct EmulatedLaunch {
    dim3 grid, block;
    void (*kernel)(Args...);
    void operator()(Args... args) const {
        if (!launch_fits(grid, block)) {
            emulated_last_error = cudaErrorInvalidConfiguration;
            return;
        }
        gridDim = grid, blockDim = block;
        const unsigned n = block.x * block.y * block.z;
        const auto seen = kernel_syncs.find((const void *)kernel);
        fibers.plain = seen != kernel_syncs.end() && !seen->second;
        fibers.synced = false;
        fibers.body = [&] { kernel(args...); };
        unsigned long b = 0;
        for (unsigned z = 0; z < grid.z; z++)
            for (unsigned y = 0; y < grid.y; y++)
                for (unsigned x = 0; x < grid.x; x++, b++) {
                    blockIdx = dim3(x, y, z);
                    if (!fibers.plain) {
                        run_block(n, b % 2);
                        continue;
                    }
                    for (unsigned t = 0; t < n; t++) {
                        threadIdx = dim3(t % block.x, t / block.x % block.y, t / (block.x * block.y));
                        kernel(args...);
                    }
                }
        if (!fibers.plain) kernel_syncs[(const void *)kernel] = fibers.synced;
        fibers.plain = false;
    }
};

template <typename... Args> EmulatedLaunch<Args...> emulated_launch(dim3 grid, dim3 block, void (*kernel)(Args...)) {
    return EmulatedLaunch<Args...>{grid, block, kernel};
}
#define LAUNCH(kernel, grid, block) emulated_launch(grid, block, kernel)
