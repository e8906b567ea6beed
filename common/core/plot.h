// plot.h — PNG line plots: loss curves, learning-rate schedules, metrics over steps.
// Introduced by lesson 03 (the schedules); used by lessons 06, 11, 14 and the trainer.
//
//     Plot p = plot_new("learning rate", "step", "lr");
//     plot_add(&p, "linear", xs, ys, n);
//     plot_save(&p, "runs/lr.png");          // 800x500 PNG, legend, axis ticks
//
// Pixels are drawn into an RGB buffer and written with stb_image_write; text uses
// stb_easy_font's bitmap quads. Series are copied, so the caller's arrays may be freed.
// A point with no neighbour in its series (a single evaluation) is drawn as a disc; an axis whose
// data has one value is centred on it.
#pragma once
#include <stdbool.h>

#define PLOT_MAX_SERIES 12

typedef struct {
    char name[64];
    double *x, *y;
    int n;
} PlotSeries;

typedef struct {
    char title[128], xlabel[64], ylabel[64];
    bool log_y;  // logarithmic y axis (values <= 0 are skipped)
    PlotSeries series[PLOT_MAX_SERIES];
    int n_series;
} Plot;

Plot plot_new(const char *title, const char *xlabel, const char *ylabel);
void plot_add(Plot *p, const char *name, const double *x, const double *y, int n);
// plot_save: render and write the PNG (to a temporary name, then renamed); dies on I/O errors.
void plot_save(const Plot *p, const char *path);
void plot_free(Plot *p);
