// test_metrics.c — common/train/metrics.c against scikit-learn (tests/gen_metrics.py).
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/train/metrics.h"
#include "tests/fixture.h"

static double *get(const Fixture *f, int c, const char *what, int *n) {
    char key[64];
    snprintf(key, sizeof key, "case%d_%s", c, what);
    return fixture_doubles(f, key, n);
}

Test(metrics, match_scikit_learn) {
    Fixture f = fixture_load("tests/fixtures/metrics/metrics.txt");
    int one;
    double *n_cases = fixture_doubles(&f, "n_cases", &one);
    for (int c = 0; c < (int)n_cases[0]; c++) {
        int n, nk, np;
        double *kk = get(&f, c, "k", &nk), *yt = get(&f, c, "true", &n), *yp = get(&f, c, "pred", &np);
        int K = (int)kk[0], *y_true = malloc(sizeof(int) * n), *y_pred = malloc(sizeof(int) * n);
        for (int i = 0; i < n; i++) {
            y_true[i] = (int)yt[i];
            y_pred[i] = (int)yp[i];
        }
        Confusion conf;
        confusion_init(&conf, K);
        confusion_add(&conf, y_true, y_pred, n);
        Metrics m = metrics_compute(&conf);
        int len;
        double *p = get(&f, c, "precision", &len), *r = get(&f, c, "recall", &len), *f1 = get(&f, c, "f1", &len);
        double *s = get(&f, c, "support", &len), *macro = get(&f, c, "macro", &len),
               *acc = get(&f, c, "accuracy", &len);
        for (int k = 0; k < K; k++) {
            cr_expect(fabs(m.precision[k] - p[k]) < 1e-12, "case %d class %d precision %g vs %g", c, k, m.precision[k],
                      p[k]);
            cr_expect(fabs(m.recall[k] - r[k]) < 1e-12, "case %d class %d recall", c, k);
            cr_expect(fabs(m.f1[k] - f1[k]) < 1e-12, "case %d class %d f1 %g vs %g", c, k, m.f1[k], f1[k]);
            cr_expect_eq(m.support[k], (long)s[k]);
        }
        cr_expect(fabs(m.macro_precision - macro[0]) < 1e-12, "case %d macro precision", c);
        cr_expect(fabs(m.macro_recall - macro[1]) < 1e-12, "case %d macro recall", c);
        cr_expect(fabs(m.macro_f1 - macro[2]) < 1e-12, "case %d macro f1 %g vs %g", c, m.macro_f1, macro[2]);
        cr_expect(fabs(m.accuracy - acc[0]) < 1e-12, "case %d accuracy", c);
        metrics_free(&m);
        confusion_free(&conf);
        free(y_true);
        free(y_pred);
        free(kk);
        free(yt);
        free(yp);
        free(p);
        free(r);
        free(f1);
        free(s);
        free(macro);
        free(acc);
    }
    free(n_cases);
    fixture_free(&f);
}
