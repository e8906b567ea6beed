// util.c — see util.h.
#include "common/core/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void (*die_hook)(const char *message);

// die: the message is formatted into a buffer first (long names from a bad file are cut at
// 4 KB, so the error stays one readable line), then handed to the hook or printed.
void die(const char *fmt, ...) {
    char msg[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (die_hook) die_hook(msg);
    fflush(stdout);
    fprintf(stderr, "error: %s\n", msg);
    // _exit, not exit: a program stopped by bad input runs no exit handlers. Under
    // `make test-sanitize` the one that matters is LeakSanitizer's, which would report the
    // structures the stopped parser had half built as leaks; stdio is flushed first.
    fflush(NULL);
    _exit(1);
}

void warn(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fflush(stdout);
    fputs("warning: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) die("out of memory: malloc of %zu bytes failed", n);
    return p;
}

void *xcalloc(size_t count, size_t size) {
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) die("out of memory: calloc of %zu x %zu bytes failed", count, size);
    return p;
}

void *xrealloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q) die("out of memory: realloc to %zu bytes failed", n);
    return q;
}

char *xstrdup(const char *s) {
    size_t n = strlen(s) + 1;
    return memcpy(xmalloc(n), s, n);
}

FILE *xfopen(const char *path, const char *mode) {
    // Under a file-size limit (ulimit -f) a write past it raises SIGXFSZ, which kills the program
    // without a word. Ignored, the write fails with EFBIG instead and xfwrite/xfclose report it
    // as one error line naming the file, as they report a full disk.
    if (strpbrk(mode, "wa+")) signal(SIGXFSZ, SIG_IGN);
    FILE *f = fopen(path, mode);
    if (!f) die("cannot open %s (mode %s): %s", path, mode, strerror(errno));
    return f;
}

void xfread(void *dst, size_t size, size_t count, FILE *f, const char *path) {
    if (fread(dst, size, count, f) != count)
        die("cannot read %zu bytes from %s: %s", size * count, path,
            ferror(f) ? strerror(errno) : "file is shorter than expected");
}

void xfwrite(const void *src, size_t size, size_t count, FILE *f, const char *path) {
    if (fwrite(src, size, count, f) != count)
        die("cannot write %zu bytes to %s: %s", size * count, path, strerror(errno));
}

void xfclose(FILE *f, const char *path) {
    if (fflush(f) != 0 || ferror(f)) die("cannot write %s: %s", path, strerror(errno));
    if (fclose(f) != 0) die("cannot close %s: %s", path, strerror(errno));
}

char *read_file(const char *path, size_t *len) {
    FILE *f = xfopen(path, "rb");
    size_t cap = 1 << 16, n = 0;
    char *buf = xmalloc(cap);
    for (;;) {
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (n + 1 < cap) {
            if (ferror(f)) die("cannot read %s: %s", path, strerror(errno));
            break;
        }
        cap *= 2;
        buf = xrealloc(buf, cap);
    }
    fclose(f);
    buf[n] = '\0';
    if (len) *len = n;
    return buf;
}

bool file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

bool dir_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

void mkdir_p(const char *path) {
    char buf[PATH_MAX];
    if (strlen(path) >= sizeof buf) die("path too long: %s", path);
    strcpy(buf, path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST) die("cannot create directory %s: %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST) die("cannot create directory %s: %s", buf, strerror(errno));
}

void rm_rf(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0) return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (!d) die("cannot open directory %s: %s", path, strerror(errno));
        struct dirent *e;
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char *child = path_join(path, e->d_name);
            rm_rf(child);
            free(child);
        }
        closedir(d);
        if (rmdir(path) != 0) die("cannot remove directory %s: %s", path, strerror(errno));
    } else if (unlink(path) != 0) {
        die("cannot remove %s: %s", path, strerror(errno));
    }
}

char *path_join(const char *a, const char *b) {
    size_t na = strlen(a), nb = strlen(b);
    char *s = xmalloc(na + nb + 2);
    memcpy(s, a, na);
    size_t k = na;
    if (na && a[na - 1] != '/') s[k++] = '/';
    memcpy(s + k, b, nb + 1);
    return s;
}

void fsync_path(const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) die("cannot open %s to sync: %s", path, strerror(errno));
    if (fsync(fd) != 0 && errno != EINVAL) die("cannot sync %s: %s", path, strerror(errno));
    close(fd);
}

void atomic_rename(const char *from, const char *to) {
    if (rename(from, to) != 0) die("cannot rename %s to %s: %s", from, to, strerror(errno));
    char parent[PATH_MAX];
    snprintf(parent, sizeof parent, "%s", to);
    char *slash = strrchr(parent, '/');
    if (slash) *slash = '\0';
    else strcpy(parent, ".");
    fsync_path(parent[0] ? parent : "/");
}

FileReplacement replace_begin(const char *path) {
    FileReplacement w = {.tmp = xmalloc(strlen(path) + 5), .path = path};
    sprintf(w.tmp, "%s.tmp", path);
    w.f = xfopen(w.tmp, "wb");
    return w;
}

void replace_commit(FileReplacement *w) {
    xfclose(w->f, w->tmp);
    fsync_path(w->tmp);
    atomic_rename(w->tmp, w->path);
    free(w->tmp);
    *w = (FileReplacement){0};
}

double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double parse_double(const char *s, const char *what) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || errno == ERANGE) die("%s: '%s' is not a number", what, s);
    return v;
}

long parse_long(const char *s, const char *what) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end != '\0' || errno == ERANGE) die("%s: '%s' is not an integer", what, s);
    return v;
}
