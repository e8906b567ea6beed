// Lesson 01 — the whole of training in one weight.
//
// One example (x, y), one weight w, a prediction w*x and a squared-error loss:
//
//   loss(w) = 1/2 (w x - y)^2        grad = dloss/dw = (w x - y) x
//   w_new   = w - lr * grad          (one step = one update of the weight)
//
// The loop below is what every later lesson does with 22 million weights instead of one.
// Then the same loop runs at learning rates from 1e-1 down to 1e-6, and the product
// lr * x^2 (the loss's curvature times the learning rate, a pure number) predicts what happens:
//   lr*x^2 > 2      each step overshoots by more than it corrects: the weight explodes
//   1 < lr*x^2 < 2  overshoots, but by less each time: it oscillates into the minimum
//   lr*x^2 < 1      approaches the minimum from one side: converges
//   lr*x^2 << 1     each step removes a tiny fraction of the error: barely moves
#include <math.h>
#include <stdio.h>

#include "common/core/args.h"
#include "common/core/util.h"

static double loss_of(double w, double x, double y) { return 0.5 * (w * x - y) * (w * x - y); }
static double grad_of(double w, double x, double y) { return (w * x - y) * x; }

// verdict: what the loop did, judged from the error's size and sign along the way.
static const char *verdict(double err0, double err_end, int sign_flips, bool finite) {
    double remaining = fabs(err_end) / fabs(err0);  // fraction of the starting error left
    if (!finite || remaining > 1) return "explodes";
    if (remaining > 0.9) return "barely moves";
    if (remaining > 0.01) return "converges slowly";
    return sign_flips > 0 ? "oscillates, converges" : "converges";
}

int main(int argc, char **argv) {
    double x = 5.0, y = 15.0, w0 = 0.0, lr = 0.01;
    int steps = 5, sweep_steps = 50;
    ArgSpec specs[] = {
        {"x", ARG_FLOAT, &x, "the input of the one example", "Problem"},
        {"y", ARG_FLOAT, &y, "its target (the best weight is y/x)", NULL},
        {"w0", ARG_FLOAT, &w0, "the starting weight", NULL},
        {"learning_rate", ARG_FLOAT, &lr, "learning rate of the step-by-step run", "Training"},
        {"max_steps", ARG_INT, &steps, "updates printed one by one", NULL},
        {"sweep_steps", ARG_INT, &sweep_steps, "updates per learning rate in the sweep", NULL},
    };
    ArgParser parser = {"01_scalar_loop",
                        "One weight, one example: w_new = w - lr * grad printed step by step, then the same loop\n"
                        "at learning rates 1e-1 ... 1e-6 (explode, oscillate, converge, barely move).",
                        NULL, specs, ARRAY_LEN(specs)};
    args_parse(&parser, argc, argv, NULL, 0);
    if (x == 0) die("--x must not be 0 (the gradient would always be 0)");
    if (steps < 1 || sweep_steps < 1) die("--max_steps and --sweep_steps must be at least 1");

    printf("== One example x = %g, y = %g; prediction w*x; the best weight is y/x = %g ==\n", x, y, y / x);
    printf("loss = 1/2 (w x - y)^2, grad = (w x - y) x, lr = %g\n", lr);
    printf("%4s %12s %12s %12s %12s %12s\n", "step", "w", "loss", "grad", "lr*grad", "w_new");
    double w = w0;
    for (int step = 1; step <= steps; step++) {
        double g = grad_of(w, x, y), w_new = w - lr * g;
        printf("%4d %12.6f %12.6f %12.6f %12.6f %12.6f\n", step, w, loss_of(w, x, y), g, lr * g, w_new);
        w = w_new;
    }

    printf("\n== The same loop, %d steps at each learning rate: lr * x^2 decides ==\n", sweep_steps);
    printf("%8s %8s %14s %14s  %s\n", "lr", "lr*x^2", "w after", "loss after", "what happens");
    const double rates[] = {1e-1, 5e-2, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6};
    for (size_t i = 0; i < ARRAY_LEN(rates); i++) {
        double wi = w0, err0 = w0 * x - y;
        int flips = 0;
        for (int s = 0; s < sweep_steps; s++) {
            double before = wi * x - y;
            wi -= rates[i] * grad_of(wi, x, y);
            if ((wi * x - y) * before < 0) flips++;
        }
        double err = wi * x - y;
        printf("%8.0e %8.2g %14.6g %14.6g  %s\n", rates[i], rates[i] * x * x, wi, loss_of(wi, x, y),
               verdict(err0, err, flips, isfinite(err)));
    }

    // The error e = w x - y obeys e_new = (1 - lr x^2) e: only the product lr*x^2 matters.
    // Measuring x in other units (x -> 10x, y -> 10y) multiplies x^2 by 100, so the same lr
    // means a 100x larger step: a learning rate is a scale on the gradient, meaningful only
    // relative to the gradient's size.
    printf("\n== Units: the same problem with x and y measured 10x larger ==\n");
    printf("%8s %14s %14s\n", "lr", "lr*x^2 before", "lr*x^2 after");
    printf("%8.0e %14.4f %14.4f\n", lr, lr * x * x, lr * 100 * x * x);
    printf("error after one step is multiplied by (1 - lr*x^2): %.4f before, %.4f after\n", 1 - lr * x * x,
           1 - lr * 100 * x * x);
    return 0;
}
