// test_vec_math.c — common/model/vec_math.h against libm in double precision: exp_approx and
// erf_approx within a few units in the last place over their whole range, and the edges.
#include <criterion/criterion.h>
#include <math.h>

#include "common/model/vec_math.h"

// ulps: |got - want| in units of the last place of the float nearest to want.
static double ulps(float got, double want) {
    float w = (float)want;
    return fabs(got - want) / (nextafterf(fabsf(w), INFINITY) - fabsf(w));
}

Test(vec_math, exp_within_2_ulp) {
    double worst = 0;
    float at = 0;
    for (float x = -87.0f; x < 88.0f; x += 1e-3f + 1e-5f * fabsf(x)) {
        double u = ulps(exp_approx(x), exp((double)x));
        if (u > worst) worst = u, at = x;
    }
    cr_assert(worst <= 2.0, "exp_approx is %.2f ulp from exp at x = %.9g", worst, at);
    cr_assert(exp_approx(0.0f) == 1.0f && exp_approx(-INFINITY) < 2e-38f && exp_approx(-100.0f) >= 0.0f);
}

Test(vec_math, erf_within_3_ulp) {
    double worst = 0;
    float at = 0;
    for (float x = -6.0f; x < 6.0f; x += 1e-4f) {
        double u = ulps(erf_approx(x), erf((double)x));
        if (u > worst) worst = u, at = x;
    }
    for (float x = 1e-30f; x < 1e-3f; x *= 1.1f) worst = fmax(worst, ulps(erf_approx(x), erf((double)x)));
    cr_assert(worst <= 3.0, "erf_approx is %.2f ulp from erf at x = %.9g", worst, at);
    cr_assert(erf_approx(0.0f) == 0.0f && erf_approx(INFINITY) == 1.0f && erf_approx(-INFINITY) == -1.0f);
    cr_assert(erf_approx(1.0f) == erff(1.0f) && erf_approx(-30.0f) == -1.0f);
}

// A diverging run feeds NaN to the softmax; it must come out NaN (the trainer's divergence check
// reads it), and computing it must not convert NaN to an int (undefined in C; UBSan reports it).
Test(vec_math, nan_stays_nan) { cr_assert(isnan(exp_approx(NAN)) && isnan(erf_approx(NAN))); }
