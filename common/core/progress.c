// progress.c — see progress.h.
#include "common/core/progress.h"

#include <stdio.h>
#include <unistd.h>

#include "common/core/util.h"

Progress progress_begin(long total, long start_step, long plain_every) {
    Progress p = {.total = total,
                  .plain_every = plain_every,
                  .tty = isatty(fileno(stderr)),
                  .start = now_seconds(),
                  .start_step = start_step};
    return p;
}

void format_duration(double s, char *buf, int n) {
    if (s < 60) snprintf(buf, (size_t)n, "%.1fs", s);
    else if (s < 3600) snprintf(buf, (size_t)n, "%dm%02ds", (int)s / 60, (int)s % 60);
    else snprintf(buf, (size_t)n, "%dh%02dm", (int)s / 3600, ((int)s % 3600) / 60);
}

void progress_update(Progress *p, int epoch, int epochs, long step, double loss, double lr, long samples_in_step) {
    p->samples += samples_in_step;
    double elapsed = now_seconds() - p->start;
    long done = step - p->start_step;
    double rate = elapsed > 0 ? p->samples / elapsed : 0;
    double eta = done > 0 ? elapsed / done * (double)(p->total - step) : 0;
    char eta_s[32];
    format_duration(eta, eta_s, sizeof eta_s);
    if (p->tty) {
        enum { BAR = 24 };
        char bar[BAR + 1];
        int filled = p->total > 0 ? (int)(BAR * step / p->total) : BAR;
        for (int i = 0; i < BAR; i++) bar[i] = i < filled ? '#' : '.';
        bar[BAR] = '\0';
        fprintf(stderr, "\r\033[Kepoch %d/%d [%s] %ld/%ld  loss %.4f  lr %.2e  %.1f samples/s  ETA %s", epoch + 1,
                epochs, bar, step, p->total, loss, lr, rate, eta_s);
        fflush(stderr);
    } else if ((p->plain_every > 0 && step % p->plain_every == 0) || step == p->total) {
        fprintf(stderr, "progress: epoch %d/%d step %ld/%ld loss %.4f lr %.2e %.1f samples/s ETA %s\n", epoch + 1,
                epochs, step, p->total, loss, lr, rate, eta_s);
    }
}

void progress_clear(Progress *p) {
    if (p->tty) fputs("\r\033[K", stderr);
}

void progress_end(Progress *p) {
    if (p->tty) fputc('\n', stderr);
}
