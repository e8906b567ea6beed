// test_plot.c — a plot is a real PNG of the promised size, with the series drawn in it.
#include <criterion/criterion.h>
#include <stb_image.h>
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

// save_and_load: plot_save to a temporary file and decode it back; *w, *h get the size.
static unsigned char *save_and_load(Plot *p, int *w, int *h) {
    char path[64];
    snprintf(path, sizeof path, "/tmp/bertstep-plot-load-%d.png", (int)getpid());
    plot_save(p, path);
    int channels;
    unsigned char *px = stbi_load(path, w, h, &channels, 3);
    cr_assert(px, "stb_image could not read %s back", path);
    unlink(path);
    return px;
}

static long count_colour(const unsigned char *px, int w, int h, int r, int g, int b) {
    long n = 0;
    for (long i = 0; i < (long)w * h; i++) n += px[3 * i] == r && px[3 * i + 1] == g && px[3 * i + 2] == b;
    return n;
}

// Lines along the top and the bottom of the plot leave no free corner: the legend goes below
// the plot and the image grows taller instead of covering a line.
Test(plot, legend_never_covers_data) {
    Plot p = plot_new("full corners", "x", "y");
    double x[2] = {0, 1}, top[2] = {1, 1}, bottom[2] = {0, 0};
    plot_add(&p, "top", x, top, 2);
    plot_add(&p, "bottom", x, bottom, 2);
    int w, h;
    unsigned char *px = save_and_load(&p, &w, &h);
    plot_free(&p);
    cr_expect_eq(w, 800);
    cr_expect_gt(h, 500, "the legend should have gone below the plot (height %d)", h);
    free(px);
}

// Two identical curves: the second is dashed over the first, so both colours are drawn.
Test(plot, coinciding_curves_show_both_colours) {
    Plot p = plot_new("same twice", "x", "y");
    double x[100], y[100];
    for (int i = 0; i < 100; i++) x[i] = i, y[i] = 0.5 * i;
    plot_add(&p, "first", x, y, 100);
    plot_add(&p, "second", x, y, 100);
    int w, h;
    unsigned char *px = save_and_load(&p, &w, &h);
    plot_free(&p);
    // palette colours 0 and 1; the legend's two swatches are 20 x 4 = 80 pixels each
    long first = count_colour(px, w, h, 31, 119, 180), second = count_colour(px, w, h, 255, 127, 14);
    cr_expect_gt(first, 80 + 300, "only %ld pixels of the first curve's colour", first);
    cr_expect_gt(second, 80 + 300, "only %ld pixels of the second curve's colour", second);
    free(px);
}

// One evaluation (a single point at step 500): the axes are centred on it and it is drawn as a
// disc, so it shows mid-plot instead of a pixel on the left edge (the x axis used to span 500-501).
Test(plot, single_point_is_a_centred_marker) {
    Plot p = plot_new("one evaluation", "step", "");
    double x[1] = {500}, y[1] = {0.9667};
    plot_add(&p, "eval_accuracy", x, y, 1);
    int w, h;
    unsigned char *px = save_and_load(&p, &w, &h);
    plot_free(&p);
    // the plot area is x in [100, 780), y in [40, 440): its centre is (440, 240)
    long centre = 0;
    for (int yy = 240 - 8; yy <= 240 + 8; yy++)
        for (int xx = 440 - 8; xx <= 440 + 8; xx++) {
            const unsigned char *q = px + 3 * ((size_t)yy * w + xx);
            centre += q[0] == 31 && q[1] == 119 && q[2] == 180;
        }
    cr_expect_geq(centre, 60, "only %ld pixels of the point's colour at the plot's centre", centre);
    free(px);
}
