// cuda_on_cpu.h — just enough CUDA to run lesson 12's kernels (kernels/matmul/matmul.cu) and lesson
// 13's (kernels/bert/bert_kernels.cu, and the GPU BERT of kernels/bert/bert_cuda.cu) on the CPU, so that
// the CPU test suite, which has no GPU, still checks their index arithmetic, their bounds at the
// edges of the matrices, the placement of their barriers, and lesson 13's whole model.
//
// kernels/matmul/matmul.cuh and kernels/bert/bert_kernels.cuh include this instead of kernels/core/cuda_common.cuh
// when compiled with -DBERTSTEP_CPU_EMULATION (tests/emulate/test_*.cpp, by g++). Emulation model:
//   - the threads of a block are fibers (ucontext) on the launching CPU thread: each runs until it
//     reaches __syncthreads() or returns, then the next one does; when every thread of the block
//     waits at the barrier, all go on. The order alternates from block to block (0..n-1, then
//     n-1..0), so a missing barrier between a write and another thread's read shows up whichever
//     thread comes first. A kernel whose first launch never called __syncthreads (element-wise:
//     most launches) is then run as a plain loop over its threads;
//   - blocks run one after another, so a kernel's __shared__ arrays can be function statics
//     (one copy, shared by the running block's threads);
//   - LAUNCH(kernel, grid, block)(args...) stands for kernel<<<grid, block>>>(args...);
//   - atomicAdd is a C++20 atomic_ref add;
//   - __nv_bfloat16 and __half are 16-bit structs; the conversion intrinsics the kernels call
//     (__float2bfloat16_rn, __half2float, ...) are common/model/precision.h's round-to-nearest-even
//     conversions, bit for bit what the GPU's conversion instructions do;
//   - cuBLAS (gemm_cublas_ex of kernels/core/cublas_gemm.cuh) is the CPU sgemm, once per matrix of a
//     batch: bf16/fp16 inputs are widened to float (exactly), the products and sums are float32
//     as in the tensor cores (TF32's input rounding is not emulated), and a bf16/fp16 output is
//     rounded once, to nearest even, as cuBLAS stores it.
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
#include "common/model/gemm_check.h"
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

// Device memory is host memory; the calls the kernels and tests/gpu/matmul_check.h make.
#define CUDA_CHECK(call) (void)(call)
enum cudaMemcpyKind { cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost, cudaMemcpyDeviceToDevice };
inline int cudaGetLastError() { return 0; }
inline int cudaDeviceSynchronize() { return 0; }
// Emulated kernels run to the end inside their launch: every launch is synchronous, as with
// cuda_common.cuh's debug switch (BERTSTEP_CUDA_SYNC) on, and none fails.
inline void cuda_check_launch(const char *file, int line) { (void)file, (void)line; }
#define CUDA_CHECK_LAUNCH() cuda_check_launch(__FILE__, __LINE__)
// NvtxRange (a profiler's named range): nothing to name on the CPU.
struct NvtxRange {
    explicit NvtxRange(const char *name) { (void)name; }
};
// The device's memory is a pretend 80 GB of which cuda_malloc's blocks are taken, so that
// gpu_free_bytes drops by what an allocation holds, as cudaMemGetInfo does on a GPU.
inline std::atomic<size_t> emulated_device_used{0};
inline void *cuda_malloc(size_t bytes, const char *what) {
    (void)what;
    void *p = xmalloc(bytes);
    emulated_device_used += malloc_usable_size(p);
    return p;
}
inline size_t gpu_free_bytes() { return (size_t)80e9 - emulated_device_used; }
inline int cudaMemcpy(void *dst, const void *src, size_t n, cudaMemcpyKind) {
    memcpy(dst, src, n);
    return 0;
}
inline int cudaMemset(void *dst, int byte, size_t n) {
    memset(dst, byte, n);
    return 0;
}
inline int cudaFree(void *p) {
    if (p) emulated_device_used -= malloc_usable_size(p);
    free(p);
    return 0;
}
// gpu_available / gpu_describe (kernels/core/cuda_common.cuh): the CPU is always there.
inline bool gpu_available(char *why, size_t n) {
    (void)why, (void)n;
    return true;
}
inline void gpu_describe(char *out, size_t n) {
    snprintf(out, n, "the CPU emulating CUDA (tests/emulate/cuda_on_cpu.h)");
}
inline int cudaMemcpy2D(void *dst, size_t dpitch, const void *src, size_t spitch, size_t width, size_t height,
                        cudaMemcpyKind) {
    for (size_t r = 0; r < height; r++) memcpy((char *)dst + r * dpitch, (const char *)src + r * spitch, width);
    return 0;
}

// cuBLAS: a handle is nothing; a product is common/model/matmul.c's sgemm per matrix of the batch.
typedef void *cublasHandle_t;
#define CUBLAS_CHECK(call) (void)(call)
inline int cublasCreate(cublasHandle_t *h) {
    *h = NULL;
    return 0;
}
inline int cublasDestroy(cublasHandle_t) { return 0; }
// widen: n elements of format f at p, as floats (exact).
inline std::vector<float> widen(const void *p, long n, FloatFormat f) {
    std::vector<float> x(n);
    for (long i = 0; i < n; i++)
        x[i] = f == FMT_FP32 ? ((const float *)p)[i]
            : f == FMT_BF16  ? bf16_to_fp32(((const uint16_t *)p)[i])
                             : fp16_to_fp32(((const uint16_t *)p)[i]);
    return x;
}
inline void gemm_cublas_ex(cublasHandle_t, const GemmShape *s, const void *A, const void *B, FloatFormat ab, void *C,
                           FloatFormat c, bool) {
    const std::vector<float> a = widen(A, gemm_elements_a(s), ab), b = widen(B, gemm_elements_b(s), ab);
    const long nc = gemm_elements_c(s);
    std::vector<float> out = widen(C, nc, c);  // sgemm leaves the padding between rows as it was
    for (int k = 0; k < s->batch; k++)
        sgemm(s->trans_a, s->trans_b, s->M, s->N, s->K, s->alpha, a.data() + k * s->stride_a, s->lda,
              b.data() + k * s->stride_b, s->ldb, s->beta, out.data() + k * s->stride_c, s->ldc);
    for (long i = 0; i < nc; i++) {  // stored in C's format: rounded once
        if (c == FMT_FP32) ((float *)C)[i] = out[i];
        else ((uint16_t *)C)[i] = c == FMT_BF16 ? fp32_to_bf16(out[i]) : fp32_to_fp16(out[i]);
    }
}
inline void gemm_cublas(cublasHandle_t h, GemmPrecision p, const GemmShape *s, const void *A, const void *B, float *C) {
    gemm_cublas_ex(h, s, A, B, p == GEMM_BF16 ? FMT_BF16 : FMT_FP32, C, FMT_FP32, p == GEMM_TF32);
}

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

template <typename... Args> struct EmulatedLaunch {
    dim3 grid, block;
    void (*kernel)(Args...);
    void operator()(Args... args) const {
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
