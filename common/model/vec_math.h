// vec_math.h — e^x and erf(x) as plain arithmetic the compiler can vectorize.
// Used by common/model/layers.c (GELU, softmax); tests/test_vec_math.c checks them against libm.
//
// libm's expf and erff are calls: a loop that calls them runs one element at a time. These are
// the same functions written as polynomials with no branches and no calls, so a loop marked
// `#pragma omp simd` computes 8 (AVX2) or 16 (AVX-512) of them per instruction. Both are within
// a few units in the last place (ulp) of the exact value, like libm's (the test measures it).
#pragma once
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "common/model/madd.h"

// select_float: c ? x : y, with bit operations instead of a branch. (GCC turns a `?:` whose value
// then feeds a division, or whose side is computed only for it, into a branch, and a loop with a
// branch does not vectorize.)
static inline float select_float(int c, float x, float y) {
    uint32_t bx, by, mask = -(uint32_t)(c != 0);
    memcpy(&bx, &x, sizeof bx);
    memcpy(&by, &y, sizeof by);
    uint32_t bits = (bx & mask) | (by & ~mask);
    float r;
    memcpy(&r, &bits, sizeof r);
    return r;
}

// exp_approx: e^x for x in [-87.3, 88.3] (x below gives 2^-126, about 1.2e-38; the callers only
// need that e^x is tiny there). Cephes' method:
//   n = round(x / ln 2),  r = x - n ln 2 in [-ln2/2, ln2/2]   (ln 2 in two parts, so r is exact)
//   e^r = 1 + r + r^2 P(r)   (a degree-5 minimax polynomial),   e^x = e^r * 2^n
// and 2^n is built from its bits: the exponent field of a float holds n + 127.
static inline float exp_approx(float x) {
    x = x < -87.3f ? -87.3f : x > 88.3f ? 88.3f : x;
    const float round_magic = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
    float shifted = madd(round_magic, x, 1.44269504f);  // 1.5 * 2^23 + n: n is its low mantissa bits
    float n = shifted - round_magic;
    float r = madd(madd(x, n, -0.693359375f), n, 2.12194440e-4f);
    float p = 1.9875691500e-4f;
    p = madd(1.3981999507e-3f, p, r);
    p = madd(8.3334519073e-3f, p, r);
    p = madd(4.1665795894e-2f, p, r);
    p = madd(1.6666665459e-1f, p, r);
    p = madd(5.0000001201e-1f, p, r);
    float er = madd(r + 1.0f, p, r * r);
    // n read from the bits of `shifted`, not by (int)n: a NaN x then stays NaN (er is NaN) instead
    // of converting NaN to int, which C leaves undefined.
    uint32_t shifted_bits;
    memcpy(&shifted_bits, &shifted, sizeof shifted_bits);
    uint32_t bits = (shifted_bits - 0x4B400000u + 127u) << 23;  // 0x4B400000: the bits of round_magic
    float two_n;
    memcpy(&two_n, &bits, sizeof two_n);  // the bits as a float (compiles to no instruction)
    return er * two_n;
}

// erf_approx: erf(x) for every float x, in two pieces (coefficients fitted by least squares,
// with relative weights, to erf computed in 30-digit arithmetic; max fit error 1.4e-8 and 2.6e-8):
//   |x| < 1:       erf(x) = x P(x^2)                       P of degree 6
//   1 <= |x| < 4:  erf(x) = sign(x) (1 - e^(-x^2) Q(1/|x|))  Q of degree 9 (Q ~ erfc(x) e^(x^2))
//   |x| >= 4:      erf(x) = sign(x)  (1 - erf(4) = 1.5e-8 is below half an ulp of 1)
// Both pieces are computed and one is picked, so the loop has no branch.
static inline float erf_approx(float x) {
    float z = x * x, a = fabsf(x);
    float p = 7.46839942e-05f;
    p = madd(-0.000788337551f, p, z);
    p = madd(0.00517223869f, p, z);
    p = madd(-0.02684398f, p, z);
    p = madd(0.112832919f, p, z);
    p = madd(-0.376125872f, p, z);
    p = madd(1.12837911f, p, z);
    float small = x * p;
    float ac = select_float(a < 1.0f, 1.0f, select_float(a > 4.0f, 4.0f, a));  // |x| clamped to [1, 4]
    float u = 1.0f / ac;
    float q = 0.0297327675f;
    q = madd(-0.173890427f, q, u);
    q = madd(0.423282385f, q, u);
    q = madd(-0.515147328f, q, u);
    q = madd(0.218499348f, q, u);
    q = madd(0.242056921f, q, u);
    q = madd(-0.380287319f, q, u);
    q = madd(0.0215788279f, q, u);
    q = madd(0.561629474f, q, u);
    q = madd(0.000128972126f, q, u);
    float large = 1.0f - exp_approx(-ac * ac) * q;
    return select_float(a < 1.0f, small, copysignf(large, x));
}
