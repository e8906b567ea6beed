// precision.h — the narrow floating-point formats, fp16 (IEEE half) and bf16 (bfloat16), and
// the conversions to and from fp32. Introduced by lesson 14 (mixed_precision); the CPU BERT
// (common/model/bert.c) uses them to emulate, on the CPU, a GPU that stores its tensors in fp16/bf16,
// and lesson 15 counts their bytes.
//
//          sign exponent mantissa  largest      smallest normal  smallest subnormal  spacing at 1
//   fp32    1     8        23      3.40e38      1.18e-38 (2^-126) 1.40e-45 (2^-149)   2^-23
//   fp16    1     5        10      65504        6.10e-5  (2^-14)  5.96e-8  (2^-24)    2^-10
//   bf16    1     8         7      3.39e38      1.18e-38 (2^-126) 9.18e-41 (2^-133)   2^-7
//
// bf16 is the top half of an fp32: the same exponent (range), 16 fewer mantissa bits. fp16 has
// 3 more mantissa bits than bf16 but an exponent that ends at 65504 and, below, at 6e-8.
//
// Rounding is round-to-nearest-even (what every GPU conversion instruction does, and what
// torch's .half()/.bfloat16() do): the nearest representable value, ties to the one whose last
// mantissa bit is 0. Overflow gives inf, NaN stays NaN (quiet), tiny values become subnormals,
// then 0. Stochastic rounding rounds up with probability (distance to the value below) /
// (spacing), so the expected value of the rounded number is the number itself.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "common/core/rng.h"

typedef enum { FMT_FP32 = 0, FMT_FP16, FMT_BF16 } FloatFormat;
const char *format_name(FloatFormat f);
// format_bytes: bytes per element (4 or 2).
int format_bytes(FloatFormat f);

typedef struct {
    int exponent_bits, mantissa_bits;
    double largest;             // (2 - 2^-mantissa) * 2^emax
    double smallest_normal;     // 2^(1 - bias)
    double smallest_subnormal;  // 2^(1 - bias - mantissa)
    double epsilon;             // spacing between 1 and the next number: 2^-mantissa
} FormatInfo;

// format_info: the numbers of the table above, computed from the bit counts.
FormatInfo format_info(FloatFormat f);

uint16_t fp32_to_fp16(float x);  // round to nearest even
float fp16_to_fp32(uint16_t h);  // exact
uint16_t fp32_to_bf16(float x);  // round to nearest even
float bf16_to_fp32(uint16_t h);  // exact
// fp32_to_bf16_stochastic: round up with probability (dropped low 16 bits) / 2^16, from `bits16`
// uniform random bits in [0, 2^16).
uint16_t fp32_to_bf16_stochastic(float x, uint32_t bits16);

// round_to: the fp32 value of x stored in format f (x itself for FMT_FP32).
float round_to(float x, FloatFormat f);
// round_array: x[i] = round_to(x[i], f) for i < n, in place.
void round_array(float *x, size_t n, FloatFormat f);
// round_array_bf16_stochastic: x[i] = bf16 value of x[i] with stochastic rounding (16 bits per
// element from rng, in order, so a seed repeats).
void round_array_bf16_stochastic(float *x, size_t n, Rng *rng);
