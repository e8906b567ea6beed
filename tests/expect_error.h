// expect_error.h — the bad-input tests: code that must stop with one error line.
//
//     EXPECT_ERROR("label '7' is not one of the known labels", dataset_load(path, &o));
//
// runs the code in a forked child whose stderr the test reads through a pipe, then checks what a
// user would see: exit status 1 (die()'s) and exactly one line on stderr, "error: ...", holding
// the expected text. The expected error never reaches the terminal, so a passing `make test`
// prints no error lines. The code runs in the child only: whatever it allocates or starts
// (OpenMP threads, emulated GPU blocks) ends with the child. tests/test_bad_input.c runs its
// loaders through the same child_run_begin / child_run_end.
#pragma once
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct {
    int status;      // exit status; -1 = killed by a signal (a crash)
    char err[8192];  // what it wrote to stderr
} ChildOutcome;

// child_run_begin: fork; in the child (return 0) stderr is the write end of a pipe whose read end
// the parent keeps in *err_fd.
static inline pid_t child_run_begin(int *err_fd) {
    int fds[2];
    cr_assert(pipe(fds) == 0, "pipe failed");
    fflush(NULL);
    pid_t pid = fork();
    cr_assert(pid >= 0, "fork failed");
    if (pid == 0) {
        dup2(fds[1], STDERR_FILENO);
        close(fds[0]);
    } else {
        close(fds[1]);
        *err_fd = fds[0];
    }
    return pid;
}

// drop_sanitizer_notes: under `make test-sanitize` a child forked from the (threaded) test runner
// may get a line "==PID==Running thread ... was not suspended" from LeakSanitizer at exit. Such
// "==" lines are the runtime's, not the program's; a real sanitizer finding changes the exit
// status (abort, or LeakSanitizer's 23), which the tests check.
static inline void drop_sanitizer_notes(char *text) {
    char *out = text;
    for (char *line = text; *line;) {
        char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) + 1 : strlen(line);
        if (strncmp(line, "==", 2)) {
            memmove(out, line, len);
            out += len;
        }
        line += len;
    }
    *out = '\0';
}

// child_run_end: everything the child wrote to stderr, then its exit status.
static inline ChildOutcome child_run_end(pid_t pid, int err_fd) {
    ChildOutcome o;
    size_t n = 0;
    ssize_t got;
    while ((got = read(err_fd, o.err + n, sizeof o.err - 1 - n)) > 0) n += (size_t)got;
    close(err_fd);
    o.err[n] = '\0';
    drop_sanitizer_notes(o.err);
    int st = 0;
    cr_assert_eq(waitpid(pid, &st, 0), pid, "waitpid failed");
    o.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return o;
}

// expect_one_error_line: the child exited 1 after writing exactly one line, "error: ...", that
// holds `want`. `what` names the case in the failure messages.
static inline void expect_one_error_line(const ChildOutcome *o, const char *what, const char *want) {
    cr_expect_eq(o->status, 1, "%s: expected exit 1 with an error saying '%s', got status %d and: %s", what, want,
                 o->status, o->err);
    const char *nl = strchr(o->err, '\n');
    cr_expect(!strncmp(o->err, "error: ", 7) && nl && nl[1] == '\0', "%s: not exactly one error line: %s", what,
              o->err);
    cr_expect(strstr(o->err, want), "%s: the error does not say '%s': %s", what, want, o->err);
}

// EXPECT_ERROR(want, code...): `code` (statements; commas allowed) must die() with one error line
// holding `want`. A child that returns from `code` exits 0, which fails the test.
#define EXPECT_ERROR(want, ...)                                                               \
    do {                                                                                      \
        int expect_error_fd;                                                                  \
        pid_t expect_error_pid = child_run_begin(&expect_error_fd);                           \
        if (expect_error_pid == 0) {                                                          \
            __VA_ARGS__;                                                                      \
            _exit(0);                                                                         \
        }                                                                                     \
        ChildOutcome expect_error_outcome = child_run_end(expect_error_pid, expect_error_fd); \
        expect_one_error_line(&expect_error_outcome, #__VA_ARGS__, want);                     \
    } while (0)
