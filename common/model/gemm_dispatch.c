// gemm_dispatch.c — see gemm_dispatch.h. Lesson 08's last rung walks through it.
//
// The kernels, by what the CPU has (first match wins):
//   AVX-512F, 2 FMA ports (measured)  avx512 12x32  24 zmm accumulators of the 32 registers
//   AVX-512F, 1 FMA port  (measured)  avx512 8x32   16 zmm accumulators
//   AVX2 + FMA                        avx2 6x16     12 ymm accumulators of the 16 registers
//   anything else                     portable 4x16 plain C, vectorized by the compiler
// Why those tiles: an FMA's result is ready about 4 cycles after it starts, so with P ports the
// kernel needs at least 4 P independent accumulators in flight (8 for two ports), and each step of
// k should load few values per FMA: MR broadcasts + NR/VL loads for MR * NR/VL FMAs. 12x32 does 24
// FMAs for 14 loads; 6x16, 12 FMAs for 8 loads, with 15 of AVX2's 16 registers in use (12
// accumulators, 2 rows of B, 1 broadcast). With one 512-bit FMA per cycle (Skylake-SP's cheaper
// Xeons; Zen 4, which splits a 512-bit FMA over its two 256-bit units) 16 chains are plenty.
#include "common/model/gemm_dispatch.h"

#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/core/util.h"
#include "common/model/madd.h"

#if defined(__x86_64__) || defined(__i386__)
#define GEMM_X86 1
#include <immintrin.h>
#endif

// ---------------------------------------------------------------------------------------------
// The portable kernel: plain C. acc is a fixed-size local array, so the compiler keeps it in
// vector registers, unrolls i and turns the j loop into broadcast-multiply-adds of whatever width
// -march allows. 4 x 16 floats fit the registers of every vector instruction set. (Without the
// two pragmas GCC 12 vectorizes across i instead and gets scalar FMAs.)
#define PORTABLE_MR 4
#define PORTABLE_NR 16
static void kernel_portable(int kc, const float *restrict a, const float *restrict b, float *restrict c, long ldc) {
    float acc[PORTABLE_MR][PORTABLE_NR] = {{0}};
    for (int k = 0; k < kc; k++, a += PORTABLE_MR, b += PORTABLE_NR)
#pragma GCC unroll 16
        for (int i = 0; i < PORTABLE_MR; i++)
#pragma omp simd
            for (int j = 0; j < PORTABLE_NR; j++) acc[i][j] = madd(acc[i][j], a[i], b[j]);
    for (int i = 0; i < PORTABLE_MR; i++)
        for (int j = 0; j < PORTABLE_NR; j++) c[i * ldc + j] += acc[i][j];
}

// PORTABLE_CHAINS x 16 floats: the plain-C peak loop (fma_peak_gflops(0, ...)), for a CPU with
// neither AVX2 nor AVX-512, where the compiler picks the vectors.
#define PORTABLE_CHAINS 8
static float fma_chains_portable(long rounds, float x, float y) {
    float acc[PORTABLE_CHAINS * 16];  // one flat array: acc[chain][w] makes GCC run one chain at a time
    for (int i = 0; i < PORTABLE_CHAINS * 16; i++) acc[i] = (float)i;
    for (long r = 0; r < rounds; r++)
        for (int i = 0; i < PORTABLE_CHAINS * 16; i++) acc[i] = madd(y, acc[i], x);
    float sum = 0;
    for (int i = 0; i < PORTABLE_CHAINS * 16; i++) sum += acc[i];
    return sum;
}

// ---------------------------------------------------------------------------------------------
// The intrinsics kernels: gemm_microkernel.h compiled for each instruction set. The target
// attribute lets the compiler use those instructions in that one function, whatever -march says;
// the dispatch below calls it only on a CPU that has them.
#ifdef GEMM_X86
// fma_chains body, as the kernels: CHAINS independent vectors, acc = acc * x + y, `rounds` times.
#define FMA_CHAINS_BODY(VEC, VL, CHAINS, SET1, FMA, STORE)             \
    VEC acc[CHAINS], vx = SET1(x), vy = SET1(y);                       \
    for (int i = 0; i < CHAINS; i++) acc[i] = SET1((float)i);          \
    for (long r = 0; r < rounds; r++)                                  \
        for (int i = 0; i < CHAINS; i++) acc[i] = FMA(acc[i], vx, vy); \
    float lanes[VL], sum = 0;                                          \
    for (int i = 0; i < CHAINS; i++) {                                 \
        STORE(lanes, acc[i]);                                          \
        for (int l = 0; l < VL; l++) sum += lanes[l];                  \
    }                                                                  \
    return sum;

// AVX2 + FMA: 8 floats per vector, 16 registers.
#define KERNEL_TARGET __attribute__((target("avx2,fma")))
#define VEC           __m256
#define VL            8
#define VZERO()       _mm256_setzero_ps()
#define VLOAD(p)      _mm256_loadu_ps(p)
#define VSTORE(p, v)  _mm256_storeu_ps(p, v)
#define VBCAST(p)     _mm256_broadcast_ss(p)
#define VADD(x, y)    _mm256_add_ps(x, y)
#define VFMA(x, y, z) _mm256_fmadd_ps(x, y, z)
#define KERNEL_NAME   kernel_avx2_6x16
#define MR            6
#define NR            16
#include "common/model/gemm_microkernel.h"
static KERNEL_TARGET float fma_chains_256(long rounds, float x, float y) {
    FMA_CHAINS_BODY(__m256, 8, 12, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_storeu_ps)
}
#undef KERNEL_TARGET
#undef VEC
#undef VL
#undef VZERO
#undef VLOAD
#undef VSTORE
#undef VBCAST
#undef VADD
#undef VFMA

// AVX-512F: 16 floats per vector, 32 registers.
#define KERNEL_TARGET __attribute__((target("avx512f")))
#define VEC           __m512
#define VL            16
#define VZERO()       _mm512_setzero_ps()
#define VLOAD(p)      _mm512_loadu_ps(p)
#define VSTORE(p, v)  _mm512_storeu_ps(p, v)
#define VBCAST(p)     _mm512_set1_ps(*(p))
#define VADD(x, y)    _mm512_add_ps(x, y)
#define VFMA(x, y, z) _mm512_fmadd_ps(x, y, z)
#define KERNEL_NAME   kernel_avx512_12x32
#define MR            12
#define NR            32
#include "common/model/gemm_microkernel.h"
#define KERNEL_NAME kernel_avx512_8x32
#define MR          8
#define NR          32
#include "common/model/gemm_microkernel.h"
static KERNEL_TARGET float fma_chains_512(long rounds, float x, float y) {
    FMA_CHAINS_BODY(__m512, 16, 16, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_storeu_ps)
}
#undef KERNEL_TARGET
#undef VEC
#undef VL
#undef VZERO
#undef VLOAD
#undef VSTORE
#undef VBCAST
#undef VADD
#undef VFMA
#endif  // GEMM_X86

// ---------------------------------------------------------------------------------------------
// What the CPU has.

static bool has_avx512(void) {
#ifdef GEMM_X86
    return __builtin_cpu_supports("avx512f");
#else
    return false;
#endif
}

static bool has_avx2_fma(void) {
#ifdef GEMM_X86
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return false;
#endif
}

int fma_widest_bits(void) { return has_avx512() ? 512 : has_avx2_fma() ? 256 : 0; }

static volatile float probe_sink;  // the chains' sums go here, so the compiler keeps their work

double fma_peak_gflops(int bits, long rounds) {
    volatile float x = 0.999f, y = 0.001f;  // volatile: values unknown to the compiler
    double t0 = now_seconds(), lanes_x_chains;
#ifdef GEMM_X86
    if (bits == 512 && has_avx512()) {
        probe_sink = fma_chains_512(rounds, x, y);
        lanes_x_chains = 16 * 16;
    } else if (bits == 256 && has_avx2_fma()) {
        probe_sink = fma_chains_256(rounds, x, y);
        lanes_x_chains = 8 * 12;
    } else
#endif
        if (bits == 0) {
        probe_sink = fma_chains_portable(rounds, x, y);
        lanes_x_chains = 16 * PORTABLE_CHAINS;
    } else return 0;
    return 2.0 * lanes_x_chains * (double)rounds / (now_seconds() - t0) / 1e9;
}

// measure_fma_ports: 512-bit FMAs per cycle, from the ratio of the 512-bit to the 256-bit rate.
// Two 256-bit FMA ports are universal on AVX-512 CPUs; a second 512-bit port doubles the rate of
// 512-bit FMAs (ratio ~2), a single one gives the same FLOPs as two 256-bit ones (ratio ~1). Best
// of several short runs, interleaved, so a moment when the core was busy elsewhere does not count
// (and the first 512-bit instructions, which on some Intel CPUs run slowly while the core powers
// up its upper lanes, are past).
static int measure_fma_ports(double *ratio) {
    double best512 = 0, best256 = 0;
    for (int r = 0; r < 8; r++) {
        best512 = fmax(best512, fma_peak_gflops(512, 20000));
        best256 = fmax(best256, fma_peak_gflops(256, 20000));
    }
    *ratio = best512 / best256;
    return *ratio > 1.5 ? 2 : 1;
}

// ---------------------------------------------------------------------------------------------
// Block sizes from the caches.

// cache_bytes: the size of the level-`level` data (or unified) cache of one core, as glibc
// reports it (cpuid), else as Linux's sysfs does; 0 when neither knows.
static long cache_bytes(int level) {
    const int names[] = {_SC_LEVEL1_DCACHE_SIZE, _SC_LEVEL2_CACHE_SIZE, _SC_LEVEL3_CACHE_SIZE};
    long bytes = sysconf(names[level - 1]);
    if (bytes > 0) return bytes;
    for (int i = 0; i < 8; i++) {  // sysfs: cpu0/cache/indexN/{level,type,size}
        char path[96], type[32] = "";
        int lvl = 0;
        long kib = 0;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/level", i);
        FILE *f = fopen(path, "r");
        if (!f) break;
        int ok = fscanf(f, "%d", &lvl);
        fclose(f);
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/type", i);
        if (ok != 1 || lvl != level || !(f = fopen(path, "r"))) continue;
        ok = fscanf(f, "%31s", type);
        fclose(f);
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", i);
        if (ok != 1 || type[0] == 'I' || !(f = fopen(path, "r"))) continue;  // skip the instruction cache
        ok = fscanf(f, "%ldK", &kib);
        fclose(f);
        if (ok == 1 && kib > 0) return kib * 1024;
    }
    return 0;
}

static int round_down(long x, int multiple, int at_least) {
    long r = x / multiple * multiple;
    return r < at_least ? at_least : (int)r;
}

// GEMM_KC: the length of the dot product one kernel call computes. Every element of C is summed
// over k in blocks of KC (FMAs in order of k within a block, then added to C), whatever the
// kernel, its tile or the thread count; so with KC the same on every CPU, sgemm gives the same
// bits on every x86 with FMA, and the outputs the explainers quote do not depend on the machine.
// 256: one B panel (256 x NR floats) is 16 KiB for NR = 16, half of a 32 KiB L1; 32 KiB for
// NR = 32, two thirds of Sapphire Rapids' 48 KiB (BLIS uses 256 for Zen and 384 for Skylake-X).
#define GEMM_KC 256

// set_blocking: kc, mc, nc for the plan's tile from the caches of this machine.
//   mc: the Ap block (mc,kc) stays in L2 while the Bp micro-panels go by: half of L2.
//   nc: the Bp block (kc,nc) in L3, which the cores share: half of each core's share, at most 4096.
// (mc and nc only decide which blocks are in cache when: not one sum changes with them.)
static void set_blocking(GemmPlan *p) {
    long l1 = cache_bytes(1), l2 = cache_bytes(2), l3 = cache_bytes(3);
    bool assumed = l1 <= 0 || l2 <= 0 || l3 <= 0;
    if (l1 <= 0) l1 = 32 << 10;
    if (l2 <= 0) l2 = 256 << 10;
    if (l3 <= 0) l3 = 8 << 20;
    int cores = omp_get_num_procs();
    p->kc = GEMM_KC;
    p->mc = round_down(l2 / 2 / ((long)p->kc * sizeof(float)), p->mr, p->mr);
    p->nc = round_down(l3 / 2 / (cores > 1 ? cores : 1) / ((long)p->kc * sizeof(float)), p->nr, p->nr);
    if (p->nc > 4096) p->nc = 4096;
    snprintf(p->blocking, sizeof p->blocking,
             "caches L1d %ld KiB, L2 %ld KiB, L3 %ld KiB%s -> KC %d (fixed), MC %d (Ap = L2/2), NC %d", l1 >> 10,
             l2 >> 10, l3 >> 10, assumed ? " (some assumed: not reported)" : "", p->kc, p->mc, p->nc);
}

// ---------------------------------------------------------------------------------------------
// The plan.

static GemmPlan make_plan(const char *name, GemmKernel kernel, int mr, int nr) {
    GemmPlan p = {.name = name, .kernel = kernel, .mr = mr, .nr = nr};
    set_blocking(&p);
    return p;
}

GemmPlan gemm_plan_portable(void) {
    GemmPlan p = make_plan("portable 4x16", kernel_portable, PORTABLE_MR, PORTABLE_NR);
    snprintf(p.isa, sizeof p.isa, "plain C, vectorized by the compiler");
    return p;
}

static GemmPlan chosen;
static pthread_once_t chosen_once = PTHREAD_ONCE_INIT;

static void choose_plan(void) {
#ifdef GEMM_X86
    if (has_avx512()) {
        double ratio;
        int ports = measure_fma_ports(&ratio);
        chosen = ports == 2 ? make_plan("avx512 12x32", kernel_avx512_12x32, 12, 32)
                            : make_plan("avx512 8x32", kernel_avx512_8x32, 8, 32);
        snprintf(chosen.isa, sizeof chosen.isa,
                 "AVX-512F; 512-bit FMAs ran at %.2fx the FLOP rate of 256-bit ones: %d 512-bit FMA port%s", ratio,
                 ports, ports == 2 ? "s" : "");
        return;
    }
    if (has_avx2_fma()) {
        chosen = make_plan("avx2 6x16", kernel_avx2_6x16, 6, 16);
        snprintf(chosen.isa, sizeof chosen.isa, "AVX2 + FMA, no AVX-512F: 16 registers of 8 floats");
        return;
    }
#endif
    chosen = gemm_plan_portable();
    snprintf(chosen.isa, sizeof chosen.isa, "neither AVX-512F nor AVX2 + FMA: plain C, vectorized by the compiler");
}

const GemmPlan *gemm_plan(void) {
    if (pthread_once(&chosen_once, choose_plan)) die("pthread_once failed choosing the sgemm kernel");
    return &chosen;
}

int gemm_plans_runnable(GemmPlan out[4]) {
    int n = 0;
    out[n++] = *gemm_plan();
#ifdef GEMM_X86
    GemmPlan others[] = {make_plan("avx512 12x32", kernel_avx512_12x32, 12, 32),
                         make_plan("avx512 8x32", kernel_avx512_8x32, 8, 32),
                         make_plan("avx2 6x16", kernel_avx2_6x16, 6, 16)};
    bool runs[] = {has_avx512(), has_avx512(), has_avx2_fma()};
    for (size_t i = 0; i < ARRAY_LEN(others); i++)
        if (runs[i] && others[i].kernel != out[0].kernel) {
            out[n] = others[i];
            snprintf(out[n].isa, sizeof out[n].isa, "chosen by name, not by the dispatch");
            n++;
        }
#endif
    if (out[0].kernel != kernel_portable) out[n++] = gemm_plan_portable();
    return n;
}
