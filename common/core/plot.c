// plot.c — see plot.h.
#include "common/core/plot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stb_easy_font.h>
#include <stb_image_write.h>

#include "common/core/util.h"

enum { W = 800, H = 500, LEFT = 100, RIGHT = 20, TOP = 40, BOTTOM = 60, SCALE = 2, DASH = 8, MARKER = 5 };

typedef struct {
    unsigned char r, g, b;
} Rgb;
typedef struct {
    unsigned char *px;     // (h, W, 3)
    int h;                 // H, or more when the legend goes below the plot
    unsigned char *cover;  // (H, W): how many series have drawn each pixel (NULL: none tracked)
} Canvas;

// A palette that stays distinguishable for the first 8 series (then repeats).
static const Rgb PALETTE[] = {{31, 119, 180},  {255, 127, 14}, {44, 160, 44},   {214, 39, 40},
                              {148, 103, 189}, {140, 86, 75},  {227, 119, 194}, {127, 127, 127}};

static void put(Canvas *c, int x, int y, Rgb col) {
    if (x < 0 || y < 0 || x >= W || y >= c->h) return;
    unsigned char *p = c->px + 3 * ((size_t)y * W + x);
    p[0] = col.r;
    p[1] = col.g;
    p[2] = col.b;
}

static void fill_rect(Canvas *c, int x0, int y0, int x1, int y1, Rgb col) {
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++) put(c, x, y, col);
}

// line: Bresenham, `thick` pixels wide.
static void line(Canvas *c, int x0, int y0, int x1, int y1, Rgb col, int thick) {
    int dx = abs(x1 - x0), dy = -abs(y1 - y0), sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1, err = dx + dy;
    for (;;) {
        fill_rect(c, x0 - thick / 2, y0 - thick / 2, x0 - thick / 2 + thick, y0 - thick / 2 + thick, col);
        if (x0 == x1 && y0 == y1) break;
        int e2 = 2 * err;
        if (e2 >= dy) {
            err += dy;
            x0 += sx;
        }
        if (e2 <= dx) {
            err += dx;
            y0 += sy;
        }
    }
}

// text: stb_easy_font turns a string into quads of a 1-pixel font; drawn SCALE times larger.
static void text(Canvas *c, int x, int y, const char *s, Rgb col) {
    static char buf[60000];
    int quads = stb_easy_font_print(0, 0, (char *)s, NULL, buf, sizeof buf);
    for (int q = 0; q < quads; q++) {
        const float *v = (const float *)(buf + q * 4 * 16);  // 4 vertices of (x, y, z, rgba)
        int x0 = (int)v[0], y0 = (int)v[1], x1 = (int)v[2 * 4], y1 = (int)v[2 * 4 + 1];
        fill_rect(c, x + SCALE * x0, y + SCALE * y0, x + SCALE * x1, y + SCALE * y1, col);
    }
}

static int text_width(const char *s) { return SCALE * stb_easy_font_width((char *)s); }

// curve_pixels: how many pixels of the rectangle [x0,x1) x [y0,y1) some series has drawn.
static long curve_pixels(const Canvas *c, int x0, int y0, int x1, int y1) {
    long n = 0;
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++) n += c->cover[(size_t)y * W + x] > 0;
    return n;
}

// below_plot: grow the canvas by `extra` white rows at the bottom (the legend goes there).
static void below_plot(Canvas *c, int extra) {
    c->px = xrealloc(c->px, (size_t)W * (c->h + extra) * 3);
    memset(c->px + (size_t)W * c->h * 3, 255, (size_t)W * extra * 3);
    c->h += extra;
}

// draw_legend: one line per series on a white box, in a corner of the plot area where no curve
// is drawn; when every corner holds data, below the plot (the image grows taller), so the legend
// never hides a curve.
static void draw_legend(Canvas *c, const Plot *p, int pw, int ph) {
    int wide = 0;
    for (int i = 0; i < p->n_series; i++)
        wide = text_width(p->series[i].name) > wide ? text_width(p->series[i].name) : wide;
    const int bw = wide + 40, bh = 18 * p->n_series + 8, m = 6;
    const int xs[2] = {LEFT + m, LEFT + pw - bw - m}, ys[2] = {TOP + m, TOP + ph - bh - m};
    int bx = xs[1], by = ys[0];
    long best = -1;
    for (int j = 0; j < 2; j++)  // top row first, right column first: ties keep top right
        for (int i = 1; i >= 0; i--) {
            long n = bw <= pw - 2 * m && bh <= ph - 2 * m ? curve_pixels(c, xs[i], ys[j], xs[i] + bw, ys[j] + bh) : 1;
            if (best < 0 || n < best) {
                best = n;
                bx = xs[i];
                by = ys[j];
            }
        }
    if (best > 0) {  // no free corner: below the x-axis label
        by = c->h;
        bx = LEFT;
        below_plot(c, bh + m);
    } else {
        fill_rect(c, bx, by, bx + bw, by + bh, (Rgb){255, 255, 255});
    }
    for (int i = 0; i < p->n_series; i++) {
        int ly = by + 6 + 18 * i;
        fill_rect(c, bx + 6, ly + 4, bx + 26, ly + 8, PALETTE[i % ARRAY_LEN(PALETTE)]);
        text(c, bx + 32, ly, p->series[i].name, (Rgb){0, 0, 0});
    }
}

// draw_marker: a filled disc of radius MARKER at (x, y): a point with no neighbour to join (a
// single evaluation) stays visible. The pixels go into `mine`.
static void draw_marker(Canvas *c, int x0, int y0, Rgb col, unsigned char *mine) {
    for (int y = y0 - MARKER; y <= y0 + MARKER; y++)
        for (int x = x0 - MARKER; x <= x0 + MARKER; x++)
            if ((x - x0) * (x - x0) + (y - y0) * (y - y0) <= MARKER * MARKER && x >= 0 && y >= 0 && x < W && y < H) {
                put(c, x, y, col);
                mine[(size_t)y * W + x] = 1;
            }
}

// draw_series: the polyline through (px[k], py[k]), 2 pixels wide. Where earlier series already
// drew (c->cover > 0) it is dashed: along the line, dash d (DASH pixels long) is drawn only when
// d mod (n + 1) == n for n earlier series there, so curves that coincide show every colour in
// turn instead of the last one hiding the others. Then the pixels it drew count in c->cover.
static void draw_series(Canvas *c, const int *px, const int *py, const bool *ok, int n, Rgb col, unsigned char *mine) {
    memset(mine, 0, (size_t)W * H);
    long along = 0;  // distinct pixels along the line so far
    int lx = -1, ly = -1;
    for (int k = 0; k < n; k++) {
        if (!ok[k]) continue;
        bool joined = k > 0 && ok[k - 1];
        if (!joined && !(k + 1 < n && ok[k + 1])) {  // isolated: nothing to draw a line to
            draw_marker(c, px[k], py[k], col, mine);
            continue;
        }
        int x0 = joined ? px[k - 1] : px[k], y0 = joined ? py[k - 1] : py[k], x1 = px[k], y1 = py[k];
        const int lo = joined ? -1 : -3, hi = joined ? 1 : 4;  // a lone point (a run's start): a 7-pixel dot
        int dx = abs(x1 - x0), dy = -abs(y1 - y0), sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1, err = dx + dy;
        for (;;) {  // Bresenham
            if (x0 != lx || y0 != ly || !joined) {
                int under = x0 >= 0 && y0 >= 0 && x0 < W && y0 < H ? c->cover[(size_t)y0 * W + x0] : 0;
                if (!joined || under == 0 || (along / DASH) % (under + 1) == (long)under)
                    for (int y = y0 + lo; y < y0 + hi; y++)
                        for (int x = x0 + lo; x < x0 + hi; x++)
                            if (x >= 0 && y >= 0 && x < W && y < H) {
                                put(c, x, y, col);
                                mine[(size_t)y * W + x] = 1;
                            }
                along++;
                lx = x0, ly = y0;
            }
            if (x0 == x1 && y0 == y1) break;
            int e2 = 2 * err;
            if (e2 >= dy) err += dy, x0 += sx;
            if (e2 <= dx) err += dx, y0 += sy;
        }
    }
    for (size_t q = 0; q < (size_t)W * H; q++) c->cover[q] += mine[q] && c->cover[q] < 255;
}

Plot plot_new(const char *title, const char *xlabel, const char *ylabel) {
    Plot p = {0};
    snprintf(p.title, sizeof p.title, "%s", title);
    snprintf(p.xlabel, sizeof p.xlabel, "%s", xlabel);
    snprintf(p.ylabel, sizeof p.ylabel, "%s", ylabel);
    return p;
}

void plot_add(Plot *p, const char *name, const double *x, const double *y, int n) {
    if (p->n_series == PLOT_MAX_SERIES) die("plot '%s': more than %d series", p->title, PLOT_MAX_SERIES);
    PlotSeries *s = &p->series[p->n_series++];
    snprintf(s->name, sizeof s->name, "%s", name);
    s->n = n;
    s->x = xmalloc(sizeof(double) * (size_t)(n ? n : 1));
    s->y = xmalloc(sizeof(double) * (size_t)(n ? n : 1));
    memcpy(s->x, x, sizeof(double) * (size_t)n);
    memcpy(s->y, y, sizeof(double) * (size_t)n);
}

void plot_free(Plot *p) {
    for (int i = 0; i < p->n_series; i++) {
        free(p->series[i].x);
        free(p->series[i].y);
    }
    p->n_series = 0;
}

static bool usable(const Plot *p, double y) { return isfinite(y) && (!p->log_y || y > 0); }

// nice_step: a tick spacing of 1, 2 or 5 times a power of ten giving about `ticks` ticks.
static double nice_step(double range, int ticks) {
    double raw = range / ticks, mag = pow(10, floor(log10(raw))), f = raw / mag;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag;
}

// label_digits: significant digits that tell ticks `step` apart on [lo, hi]: 3, or more when the
// values are large next to the step (losses 1.0984 and 1.1024: ticks 1.0985, 1.099, ...).
static int label_digits(double lo, double hi, double step) {
    const int need = (int)ceil(log10(fmax(fabs(lo), fabs(hi)) / step)) + 1;
    return need > 3 ? need : 3;
}

// widen_if_flat: an axis whose data has one value (a single evaluation at step 500) is centred on
// it, +-10% of the value (+-1 around 0), so the point sits mid-plot with ticks either side.
static void widen_if_flat(double *lo, double *hi) {
    if (*hi > *lo) return;
    const double pad = *lo != 0 ? 0.1 * fabs(*lo) : 1.0;
    *lo -= pad;
    *hi += pad;
}

void plot_save(const Plot *p, const char *path) {
    double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
    for (int i = 0; i < p->n_series; i++)
        for (int k = 0; k < p->series[i].n; k++) {
            double y = p->series[i].y[k];
            if (!usable(p, y)) continue;
            if (p->log_y) y = log10(y);
            xmin = fmin(xmin, p->series[i].x[k]);
            xmax = fmax(xmax, p->series[i].x[k]);
            ymin = fmin(ymin, y);
            ymax = fmax(ymax, y);
        }
    if (!isfinite(xmin)) {
        xmin = 0;
        xmax = 1;
        ymin = 0;
        ymax = 1;
    }
    widen_if_flat(&xmin, &xmax);
    widen_if_flat(&ymin, &ymax);
    double ypad = 0.05 * (ymax - ymin);
    ymin -= ypad;
    ymax += ypad;

    Canvas c = {xcalloc((size_t)W * H * 3, 1), H, xcalloc((size_t)W * H, 1)};
    memset(c.px, 255, (size_t)W * H * 3);
    const Rgb black = {0, 0, 0}, grey = {225, 225, 225};
    const int pw = W - LEFT - RIGHT, ph = H - TOP - BOTTOM;
#define PX(x) (LEFT + (int)lround(((x)-xmin) / (xmax - xmin) * pw))
#define PY(y) (TOP + ph - (int)lround(((y)-ymin) / (ymax - ymin) * ph))
    char label[48];
    double xs = nice_step(xmax - xmin, 8);
    for (double t = ceil(xmin / xs) * xs; t <= xmax + 1e-9 * xs; t += xs) {
        line(&c, PX(t), TOP, PX(t), TOP + ph, grey, 1);
        snprintf(label, sizeof label, "%g", fabs(t) < 1e-12 * xs ? 0.0 : t);
        text(&c, PX(t) - text_width(label) / 2, TOP + ph + 8, label, black);
    }
    double ys = p->log_y ? 1.0 : nice_step(ymax - ymin, 6);
    const int digits = label_digits(ymin, ymax, ys);
    for (double t = ceil(ymin / ys) * ys; t <= ymax + 1e-9 * ys; t += ys) {
        line(&c, LEFT, PY(t), LEFT + pw, PY(t), grey, 1);
        if (p->log_y) snprintf(label, sizeof label, "1e%d", (int)lround(t));
        else snprintf(label, sizeof label, "%.*g", digits, fabs(t) < 1e-12 * ys ? 0.0 : t);
        text(&c, LEFT - 6 - text_width(label), PY(t) - 6, label, black);
    }
    line(&c, LEFT, TOP, LEFT, TOP + ph, black, 1);
    line(&c, LEFT, TOP + ph, LEFT + pw, TOP + ph, black, 1);
    text(&c, (W - text_width(p->title)) / 2, 10, p->title, black);
    text(&c, LEFT + (pw - text_width(p->xlabel)) / 2, H - 24, p->xlabel, black);
    text(&c, 8, 10, p->ylabel, black);

    unsigned char *mine = xmalloc((size_t)W * H);
    for (int i = 0; i < p->n_series; i++) {
        const PlotSeries *s = &p->series[i];
        int *px = xmalloc(sizeof(int) * (size_t)(s->n ? s->n : 1)),
            *py = xmalloc(sizeof(int) * (size_t)(s->n ? s->n : 1));
        bool *ok = xmalloc(sizeof(bool) * (size_t)(s->n ? s->n : 1));
        for (int k = 0; k < s->n; k++) {
            ok[k] = usable(p, s->y[k]);
            px[k] = ok[k] ? PX(s->x[k]) : 0;
            py[k] = ok[k] ? PY(p->log_y ? log10(s->y[k]) : s->y[k]) : 0;
        }
        draw_series(&c, px, py, ok, s->n, PALETTE[i % ARRAY_LEN(PALETTE)], mine);
        free(px), free(py), free(ok);
    }
    free(mine);
    draw_legend(&c, p, pw, ph);
#undef PX
#undef PY
    char *tmp = xmalloc(strlen(path) + 8);
    sprintf(tmp, "%s.tmp", path);
    if (!stbi_write_png(tmp, W, c.h, 3, c.px, W * 3)) die("cannot write the plot %s", tmp);
    atomic_rename(tmp, path);
    free(tmp);
    free(c.px);
    free(c.cover);
}
