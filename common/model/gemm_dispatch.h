// gemm_dispatch.h — which micro-kernel and block sizes sgemm (common/model/matmul.c) uses on
// this machine, and why. Introduced by lesson 08 (matmul_cpu), whose last rung explains it.
//
// A micro-kernel computes one (MR,NR) tile of C from packed panels (see matmul.c). Which tile
// is fastest depends on the CPU: how wide its vectors are (8 floats with AVX2, 16 with AVX-512),
// how many vector registers it has (16 or 32) and how many FMA instructions it starts per cycle
// (its FMA ports). The block sizes depend on its caches. So nothing here is a constant tuned on
// one processor: on the first sgemm the program asks the CPU what it has (cpuid), MEASURES the
// FMA ports (the rate of 512-bit against 256-bit FMAs), reads the cache sizes the machine
// reports, and builds a GemmPlan from them. One thing is the same everywhere, on purpose: KC, the
// block of k each sum is split into, so every kernel computes the same bits (gemm_dispatch.c).
#pragma once
#include <stdbool.h>

// GemmKernel: C (MR,NR) tile += Ap panel (kc,MR) · Bp panel (kc,NR) (matmul.c packs them):
//   C[i*ldc + j] += sum_k a[k*MR + i] * b[k*NR + j]
typedef void (*GemmKernel)(int kc, const float *a, const float *b, float *c, long ldc);

// The largest register tile of any kernel (edge tiles are computed in a buffer this big).
#define GEMM_MAX_MR 12
#define GEMM_MAX_NR 32

typedef struct GemmPlan {
    const char *name;  // e.g. "avx2-fma 6x16"
    GemmKernel kernel;
    int mr, nr;          // register tile
    int kc, mc, nc;      // block sizes: Bp micro-panel (kc,nr) in L1, Ap (mc,kc) in L2, Bp (kc,nc) in L3
    char isa[160];       // what the CPU has and how the kernel was chosen
    char blocking[256];  // the cache sizes and how kc, mc, nc follow from them
} GemmPlan;

// gemm_plan: the plan sgemm uses, chosen once per process (thread-safe).
const GemmPlan *gemm_plan(void);
// gemm_plan_portable: the plain-C kernel (no intrinsics; the compiler vectorizes it for whatever
// -march says) with block sizes from the same caches. sgemm falls back to it on a CPU without
// AVX2 + FMA; lesson 08 times it beside the dispatched kernel.
GemmPlan gemm_plan_portable(void);
// gemm_plans_runnable: every plan this CPU can run, the chosen one first (the tests check each;
// lesson 08's --kernel picks one). Returns how many were written to out (at most 4).
int gemm_plans_runnable(GemmPlan out[4]);

// fma_peak_gflops: GFLOP/s of the calling thread running `rounds` rounds of independent FMA
// chains (acc = acc * x + y, 2 FLOPs per lane) on `bits`-wide vectors: 512 (needs AVX-512F),
// 256 (AVX2 + FMA) or 0 (plain C, as the compiler vectorizes it). There are enough chains to
// cover every FMA port's latency (16 zmm chains; 12 ymm): 2 ports x 4 cycles needs 8 in flight.
// Returns 0 when the CPU lacks the instructions.
double fma_peak_gflops(int bits, long rounds);
// fma_widest_bits: the widest width fma_peak_gflops can run here (512, 256 or 0).
int fma_widest_bits(void);
