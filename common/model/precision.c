// precision.c — see precision.h (lesson 14).
#include "common/model/precision.h"

#include <math.h>
#include <string.h>

#include "common/core/util.h"

const char *format_name(FloatFormat f) { return f == FMT_FP16 ? "fp16" : f == FMT_BF16 ? "bf16" : "fp32"; }

int format_bytes(FloatFormat f) { return f == FMT_FP32 ? 4 : 2; }

FormatInfo format_info(FloatFormat f) {
    int e = f == FMT_FP16 ? 5 : 8, m = f == FMT_FP16 ? 10 : f == FMT_BF16 ? 7 : 23;
    int bias = (1 << (e - 1)) - 1;  // 15 or 127; the largest exponent is emax = bias
    return (FormatInfo){e,           m, (2 - ldexp(1, -m)) * ldexp(1, bias), ldexp(1, 1 - bias), ldexp(1, 1 - bias - m),
                        ldexp(1, -m)};
}

static uint32_t bits_of(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    return u;
}

static float float_of(uint32_t u) {
    float x;
    memcpy(&x, &u, 4);
    return x;
}

// fp32 = s eeeeeeee mmm...(23), fp16 = s eeeee mmmmmmmmmm: exponent bias 127 vs 15.
uint16_t fp32_to_fp16(float x) {
    uint32_t u = bits_of(x), sign = (u >> 16) & 0x8000, a = u & 0x7fffffff;
    if (a > 0x7f800000) return (uint16_t)(sign | 0x7e00);                        // NaN -> quiet NaN
    if (a >= 0x477ff000) return (uint16_t)(sign | 0x7c00);                       // >= 65520 (65504 + half a step): inf
    if (a < 0x38800000)                                                          // below 2^-14: a subnormal (or 0),
        return (uint16_t)(sign | (uint32_t)nearbyintf(fabsf(x) * 16777216.0f));  // a multiple of 2^-24
    a += 0xfff + ((a >> 13) & 1);                          // round the 13 dropped bits, ties to even
    return (uint16_t)(sign | ((a - (112u << 23)) >> 13));  // rebias 127 -> 15
}

float fp16_to_fp32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, e = (h >> 10) & 0x1f, m = h & 0x3ff;
    if (e == 0) return float_of(sign | bits_of(ldexpf((float)m, -24)));  // subnormal: m * 2^-24
    if (e == 31) return float_of(sign | 0x7f800000 | (m << 13));         // inf / NaN
    return float_of(sign | ((e + 112) << 23) | (m << 13));
}

uint16_t fp32_to_bf16(float x) {
    uint32_t u = bits_of(x);
    if ((u & 0x7fffffff) > 0x7f800000) return (uint16_t)((u >> 16) | 0x40);  // NaN stays a quiet NaN
    u += 0x7fff + ((u >> 16) & 1);  // round the 16 dropped bits, ties to even (overflow carries into inf)
    return (uint16_t)(u >> 16);
}

float bf16_to_fp32(uint16_t h) { return float_of((uint32_t)h << 16); }

uint16_t fp32_to_bf16_stochastic(float x, uint32_t bits16) {
    uint32_t u = bits_of(x);
    if ((u & 0x7f800000) == 0x7f800000) return fp32_to_bf16(x);  // inf and NaN are not rounded
    return (uint16_t)((u + (bits16 & 0xffff)) >> 16);            // carries with probability low16 / 2^16
}

float round_to(float x, FloatFormat f) {
    return f == FMT_FP16 ? fp16_to_fp32(fp32_to_fp16(x)) : f == FMT_BF16 ? bf16_to_fp32(fp32_to_bf16(x)) : x;
}

// round_array_bf16: x[i] = bf16_to_fp32(fp32_to_bf16(x[i])), the same bits, without branches so
// that the compiler vectorizes it (the CPU's bf16 autocast rounds every Linear operand with it).
static void round_array_bf16(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint32_t u = bits_of(x[i]);
        uint32_t rounded = (u + 0x7fff + ((u >> 16) & 1)) & 0xffff0000u;  // ties to even, as fp32_to_bf16
        uint32_t quiet_nan = (u | 0x400000) & 0xffff0000u;
        x[i] = float_of((u & 0x7fffffff) > 0x7f800000 ? quiet_nan : rounded);
    }
}

void round_array(float *x, size_t n, FloatFormat f) {
    if (f == FMT_FP32) return;
    if (f == FMT_BF16) {
        round_array_bf16(x, n);
        return;
    }
    for (size_t i = 0; i < n; i++) x[i] = round_to(x[i], f);
}

void round_array_bf16_stochastic(float *x, size_t n, Rng *rng) {
    for (size_t i = 0; i < n; i++) x[i] = bf16_to_fp32(fp32_to_bf16_stochastic(x[i], rng_u32(rng) >> 16));
}
