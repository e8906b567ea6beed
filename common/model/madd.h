// madd.h — one multiply-add, fused where the CPU can: the building block of the CPU's matrix
// products (matmul.c, gemm_dispatch.c) and vector math (vec_math.h).
// Introduced by lesson 08 (matmul_cpu).
#pragma once
#include <math.h>

// madd: acc + a * b, as ONE fused multiply-add instruction where the CPU has one. Standard C
// (-std=c11) forbids the compiler from fusing `acc + a * b` by itself, because the fused form
// rounds once instead of twice; fmaf asks for it explicitly. FP_FAST_FMAF is defined when fmaf
// is a single instruction (x86 with FMA, ARM); elsewhere the plain expression is faster.
static inline float madd(float acc, float a, float b) {
#ifdef FP_FAST_FMAF
    return fmaf(a, b, acc);
#else
    return acc + a * b;
#endif
}
