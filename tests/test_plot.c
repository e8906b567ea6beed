// test_plot.c — a plot is a real PNG of the promised size, with the series drawn in it.
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/core/plot.h"
#include "common/core/util.h"

static unsigned be32(const unsigned char *p) { return (unsigned)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3]; }

Test(plot, writes_png_of_800x500) {
    char path[64];
    snprintf(path, sizeof path, "/tmp/bertstep-plot-%d.png", (int)getpid());
    Plot p = plot_new("test", "x", "y");
    double x[50], y[50];
    for (int i = 0; i < 50; i++) {
        x[i] = i;
        y[i] = i * i;
    }
    plot_add(&p, "square", x, y, 50);
    plot_save(&p, path);
    plot_free(&p);
    size_t n;
    unsigned char *png = (unsigned char *)read_file(path, &n);
    cr_assert(n > 1000, "PNG is only %zu bytes", n);
    cr_assert(!memcmp(png, "\x89PNG\r\n\x1a\n", 8), "no PNG signature");
    cr_assert(!memcmp(png + 12, "IHDR", 4));
    cr_assert_eq(be32(png + 16), 800);
    cr_assert_eq(be32(png + 20), 500);
    free(png);
    unlink(path);
}

// A series with nothing plottable (log axis, values <= 0) still gives a valid empty plot.
Test(plot, empty_log_plot_is_still_written) {
    char path[64];
    snprintf(path, sizeof path, "/tmp/bertstep-plot-empty-%d.png", (int)getpid());
    Plot p = plot_new("empty", "x", "y");
    p.log_y = true;
    double x[2] = {0, 1}, y[2] = {0, -1};
    plot_add(&p, "nothing", x, y, 2);
    plot_save(&p, path);
    plot_free(&p);
    cr_assert(file_exists(path));
    unlink(path);
}
