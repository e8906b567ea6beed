// util.h — checked wrappers for libc calls and the project's one way to fail.
// Introduced by lesson 01; used everywhere.
//
// Every error in bertstep is one line on stderr, "error: <what> (<where>)", and a
// non-zero exit. The wrappers below turn a failing libc call into such a line, naming
// the call, the file and the reason, so no caller has to check errno by hand.
#pragma once
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <stdbool.h>

// die: print "error: " + message to stderr and exit with status 1. printf-style.
_Noreturn void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
// die_hook: NULL unless set: die() formats its message and calls the hook first; a hook that
// returns lets die() print and exit as usual. The fuzz harness (tests/fuzz/fuzz.h) sets one so
// that a parser rejecting bad input returns to the harness (it longjmps); under mpirun
// (common/train/dist.c) ranks other than 0 print the line with their rank.
extern void (*die_hook)(const char *message);
// warn: print "warning: " + message to stderr and continue.
void warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);

FILE *xfopen(const char *path, const char *mode);
void xfread(void *dst, size_t size, size_t count, FILE *f, const char *path);
void xfwrite(const void *src, size_t size, size_t count, FILE *f, const char *path);
// xfclose also flushes; a full disk is reported here, naming the file.
void xfclose(FILE *f, const char *path);

// read_file: the whole file into a NUL-terminated buffer; *len (if not NULL) gets its size.
char *read_file(const char *path, size_t *len);
bool file_exists(const char *path);
bool dir_exists(const char *path);
// mkdir_p: create a directory and its parents (like `mkdir -p`).
void mkdir_p(const char *path);
// rm_rf: remove a file or a directory tree; missing paths are fine.
void rm_rf(const char *path);
// path_join: "a" + "/" + "b" into a new string.
char *path_join(const char *a, const char *b);
// fsync_path: flush a file or directory to disk (used before atomic renames).
void fsync_path(const char *path);
// atomic_rename: rename(from, to) then fsync the parent directory, so a crash leaves
// either the old or the new file, never half of one.
void atomic_rename(const char *from, const char *to);

// FileReplacement: a file written under "<path>.tmp" and renamed over path once complete, so a
// reader (or a crash) sees the old file or the new one, never half of one. replace_begin opens
// the temporary file ("wb"; write to .f, naming .tmp in errors); replace_commit closes it
// (checked), flushes it to disk, renames it over path (atomic_rename) and frees .tmp.
typedef struct {
    FILE *f;
    char *tmp;
    const char *path;
} FileReplacement;
FileReplacement replace_begin(const char *path);
void replace_commit(FileReplacement *w);

// now_seconds: a monotonic clock for timing, in seconds.
double now_seconds(void);

// parse_double / parse_long: the whole string must be a number, else die naming `what`.
double parse_double(const char *s, const char *what);
long parse_long(const char *s, const char *what);

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
