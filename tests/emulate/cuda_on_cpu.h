// cuda_on_cpu.h — just enough CUDA to run lesson 12's kernels (kernels/matmul.cu) and lesson
// 13's (kernels/bert_kernels.cu, and the GPU BERT of kernels/bert_cuda.cu) on the CPU, so that
// the CPU test suite, which has no GPU, still checks their index arithmetic, their bounds at the
// edges of the matrices, the placement of their barriers, and lesson 13's whole model.
//
// kernels/matmul.cuh and kernels/bert_kernels.cuh include this instead of kernels/cuda_common.cuh
// when compiled with -DBERTSTEP_CPU_EMULATION (tests/emulate/test_*.cpp, by g++). Emulation model:
//   - the threads of a block are CPU threads (std::thread), threadIdx is thread-local;
//   - __syncthreads() is a std::barrier over the block's threads;
//   - blocks run one after another, so a kernel's __shared__ arrays can be function statics
//     (one copy, shared by the running block's threads);
//   - LAUNCH(kernel, grid, block)(args...) stands for kernel<<<grid, block>>>(args...);
//   - atomicAdd is a C++20 atomic_ref add;
//   - cuBLAS (gemm_cublas of kernels/cublas_gemm.cuh) is the CPU sgemm, once per matrix of a
//     batch: TF32 and BF16 are computed in float32 here.
// It cannot show speed, warp behaviour, or what the GPU's memory model would do with a race
// that the barriers here happen to order; bench/gpu.sh runs compute-sanitizer for those.
#pragma once
#include <atomic>
#include <barrier>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <thread>
#include <vector>

#define _Noreturn [[noreturn]]
extern "C" {
#include "common/gemm_check.h"
#include "common/matmul.h"
#include "common/rng.h"
#include "common/util.h"
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

inline thread_local dim3 threadIdx, blockIdx;
inline dim3 blockDim, gridDim;
inline std::barrier<> *block_barrier;

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static
#define __align__(n) __attribute__((aligned(n)))
inline void __syncthreads() { block_barrier->arrive_and_wait(); }
inline float atomicAdd(float *address, float value) { return std::atomic_ref<float>(*address).fetch_add(value); }

// Device memory is host memory; the calls the kernels and tests/gpu/matmul_check.h make.
#define CUDA_CHECK(call) (void)(call)
enum cudaMemcpyKind { cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost, cudaMemcpyDeviceToDevice };
inline int cudaGetLastError() { return 0; }
inline int cudaDeviceSynchronize() { return 0; }
inline void *cuda_malloc(size_t bytes, const char *what) { (void)what; return xmalloc(bytes); }
inline int cudaMemcpy(void *dst, const void *src, size_t n, cudaMemcpyKind) { memcpy(dst, src, n); return 0; }
inline int cudaMemset(void *dst, int byte, size_t n) { memset(dst, byte, n); return 0; }
inline int cudaFree(void *p) { free(p); return 0; }
// gpu_available (kernels/cuda_common.cuh): the CPU threads are always there.
inline bool gpu_available(char *why, size_t n) { (void)why, (void)n; return true; }
inline int cudaMemcpy2D(void *dst, size_t dpitch, const void *src, size_t spitch, size_t width, size_t height,
                        cudaMemcpyKind) {
    for (size_t r = 0; r < height; r++) memcpy((char *)dst + r * dpitch, (const char *)src + r * spitch, width);
    return 0;
}

// cuBLAS: a handle is nothing; a product is common/matmul.c's sgemm per matrix of the batch.
typedef void *cublasHandle_t;
#define CUBLAS_CHECK(call) (void)(call)
inline int cublasCreate(cublasHandle_t *h) { *h = NULL; return 0; }
inline int cublasDestroy(cublasHandle_t) { return 0; }
inline void gemm_cublas(cublasHandle_t, GemmPrecision, const GemmShape *s, const void *A, const void *B, float *C) {
    for (int b = 0; b < s->batch; b++)
        sgemm(s->trans_a, s->trans_b, s->M, s->N, s->K, s->alpha, (const float *)A + b * s->stride_a, s->lda,
              (const float *)B + b * s->stride_b, s->ldb, s->beta, C + b * s->stride_c, s->ldc);
}

// EmulatedLaunch: runs every block of the grid in turn; the block's threads are started once
// and step from block to block together (a barrier at the end of each block).
template <typename... Args>
struct EmulatedLaunch {
    dim3 grid, block;
    void (*kernel)(Args...);
    void operator()(Args... args) const {
        gridDim = grid, blockDim = block;
        const unsigned n = block.x * block.y * block.z;
        std::barrier<> barrier(n);
        block_barrier = &barrier;
        std::vector<std::thread> threads;
        for (unsigned t = 0; t < n; t++)
            threads.emplace_back([&, t] {
                threadIdx = dim3(t % block.x, t / block.x % block.y, t / (block.x * block.y));
                for (unsigned z = 0; z < grid.z; z++)
                    for (unsigned y = 0; y < grid.y; y++)
                        for (unsigned x = 0; x < grid.x; x++) {
                            blockIdx = dim3(x, y, z);
                            kernel(args...);
                            barrier.arrive_and_wait();  // the next block reuses the __shared__ arrays
                        }
            });
        for (auto &th : threads) th.join();
    }
};

template <typename... Args>
EmulatedLaunch<Args...> emulated_launch(dim3 grid, dim3 block, void (*kernel)(Args...)) {
    return EmulatedLaunch<Args...>{grid, block, kernel};
}
#define LAUNCH(kernel, grid, block) emulated_launch(grid, block, kernel)
