// plot.c — see plot.h.
#include "common/core/plot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stb_easy_font.h>
#include <stb_image_write.h>

#include "common/core/util.h"

enum { W = 800, H = 500, LEFT = 100, RIGHT = 20, TOP = 40, BOTTOM = 60, SCALE = 2 };

typedef struct {
    unsigned char r, g, b;
} Rgb;
typedef struct {
    unsigned char *px;
} Canvas;  // (H, W, 3)

// A palette that stays distinguishable for the first 8 series (then repeats).
static const Rgb PALETTE[] = {{31, 119, 180},  {255, 127, 14}, {44, 160, 44},   {214, 39, 40},
                              {148, 103, 189}, {140, 86, 75},  {227, 119, 194}, {127, 127, 127}};

static void put(Canvas *c, int x, int y, Rgb col) {
    if (x < 0 || y < 0 || x >= W || y >= H) return;
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

// ink: how many non-white pixels lie in the rectangle [x0,x1) x [y0,y1).
static long ink(const Canvas *c, int x0, int y0, int x1, int y1) {
    long n = 0;
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++) {
            const unsigned char *q = c->px + 3 * ((size_t)y * W + x);
            n += q[0] != 255 || q[1] != 255 || q[2] != 255;
        }
    return n;
}

// draw_legend: one line per series on a white box, in whichever corner of the plot area
// hides the fewest curve pixels (so the legend never sits on the data when it can avoid it).
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
            long n = ink(c, xs[i], ys[j], xs[i] + bw, ys[j] + bh);
            if (best < 0 || n < best) {
                best = n;
                bx = xs[i];
                by = ys[j];
            }
        }
    fill_rect(c, bx, by, bx + bw, by + bh, (Rgb){255, 255, 255});
    for (int i = 0; i < p->n_series; i++) {
        int ly = by + 6 + 18 * i;
        fill_rect(c, bx + 6, ly + 4, bx + 26, ly + 8, PALETTE[i % ARRAY_LEN(PALETTE)]);
        text(c, bx + 32, ly, p->series[i].name, (Rgb){0, 0, 0});
    }
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
    if (xmax == xmin) xmax = xmin + 1;
    if (ymax == ymin) {
        ymin -= 0.5;
        ymax += 0.5;
    }
    double ypad = 0.05 * (ymax - ymin);
    ymin -= ypad;
    ymax += ypad;

    Canvas c = {xcalloc((size_t)W * H * 3, 1)};
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
    for (double t = ceil(ymin / ys) * ys; t <= ymax + 1e-9 * ys; t += ys) {
        line(&c, LEFT, PY(t), LEFT + pw, PY(t), grey, 1);
        if (p->log_y) snprintf(label, sizeof label, "1e%d", (int)lround(t));
        else snprintf(label, sizeof label, "%.3g", fabs(t) < 1e-12 * ys ? 0.0 : t);
        text(&c, LEFT - 6 - text_width(label), PY(t) - 6, label, black);
    }
    line(&c, LEFT, TOP, LEFT, TOP + ph, black, 1);
    line(&c, LEFT, TOP + ph, LEFT + pw, TOP + ph, black, 1);
    text(&c, (W - text_width(p->title)) / 2, 10, p->title, black);
    text(&c, LEFT + (pw - text_width(p->xlabel)) / 2, H - 24, p->xlabel, black);
    text(&c, 8, 10, p->ylabel, black);

    for (int i = 0; i < p->n_series; i++) {
        const PlotSeries *s = &p->series[i];
        Rgb col = PALETTE[i % ARRAY_LEN(PALETTE)];
        int have = 0, px0 = 0, py0 = 0;
        for (int k = 0; k < s->n; k++) {
            if (!usable(p, s->y[k])) {
                have = 0;
                continue;
            }
            int px = PX(s->x[k]), py = PY(p->log_y ? log10(s->y[k]) : s->y[k]);
            if (have) line(&c, px0, py0, px, py, col, 2);
            else
                fill_rect(&c, px - 3, py - 3, px + 4, py + 4,
                          col);  // a visible dot where a run starts (a lone eval point)
            px0 = px;
            py0 = py;
            have = 1;
        }
    }
    draw_legend(&c, p, pw, ph);
#undef PX
#undef PY
    char *tmp = xmalloc(strlen(path) + 8);
    sprintf(tmp, "%s.tmp", path);
    if (!stbi_write_png(tmp, W, H, 3, c.px, W * 3)) die("cannot write the plot %s", tmp);
    atomic_rename(tmp, path);
    free(tmp);
    free(c.px);
}
