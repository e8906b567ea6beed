// progress.h — a progress bar for long loops, or plain lines when the output is a log file.
// Introduced by lesson 06; used by lesson 11 and the trainer.
//
// On a terminal (stderr is a TTY) one line is redrawn in place:
//   epoch 1/3  [#########.........]  420/1263  loss 0.3412  lr 1.8e-05  212.4 samples/s  ETA 3m58s
// Otherwise (CI, `> log`) a plain line is printed every `plain_every` updates, so logs stay readable.
#pragma once
#include <stdbool.h>

typedef struct {
    long total;        // updates in the run
    long plain_every;  // plain-line interval when not a terminal (0: only the last)
    bool tty;
    double start;     // now_seconds() at progress_begin
    long start_step;  // first step counted (non-zero when resuming)
    long samples;     // examples processed since start
} Progress;

Progress progress_begin(long total, long start_step, long plain_every);
// progress_update: after optimizer step `step` (1-based), with the latest loss and lr.
void progress_update(Progress *p, int epoch, int epochs, long step, double loss, double lr, long samples_in_step);
// progress_clear: erase the bar (terminal) so a log line can be printed; the next update redraws it.
void progress_clear(Progress *p);
// progress_end: finish the line (terminal) so later output starts on a fresh line.
void progress_end(Progress *p);
// format_duration: "3m58s", "1h02m", "12.3s".
void format_duration(double seconds, char *buf, int n);
