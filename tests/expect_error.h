// expect_error.h — the bad-input tests: code that must stop with one error line.
//
//     EXPECT_ERROR("label '7' is not one of the known labels", dataset_load(path, &o));
//
// runs the code in a child process whose stderr goes to a temporary file, then asserts what a
// user would see: the child exited with status 1 (die()'s), and the last line it wrote to stderr
// is the only "error: " line and contains the expected text (earlier "note:"/"warning:" lines
// are allowed). The expected error is read by the test instead of reaching the terminal, so a
// passing `make test` prints no error lines. The code runs in the child only: anything it
// allocates or starts (OpenMP threads, emulated GPU blocks) ends with the child.
#pragma once
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

// expect_error_fork: fork; in the child (return 0) stderr is `captured`.
static inline pid_t expect_error_fork(FILE *captured) {
    cr_assert(captured, "tmpfile failed");
    fflush(NULL);
    pid_t pid = fork();
    cr_assert(pid >= 0, "fork failed");
    if (pid == 0) dup2(fileno(captured), STDERR_FILENO);
    return pid;
}

// expect_error_check: wait for the child and assert on its exit status and captured stderr.
static inline void expect_error_check(pid_t pid, FILE *captured, const char *needle, const char *code) {
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid, "waitpid failed");
    char text[16384];
    rewind(captured);
    size_t n = fread(text, 1, sizeof text - 1, captured);
    fclose(captured);
    text[n] = '\0';
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 1,
              "`%s` should stop with exit status 1 (%s %d); its stderr:\n%s", code,
              WIFEXITED(status) ? "it exited with" : "it was killed by signal",
              WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), text);
    while (n > 0 && text[n - 1] == '\n') text[--n] = '\0';
    const char *last = strrchr(text, '\n') ? strrchr(text, '\n') + 1 : text, *first_error = strstr(text, "error: ");
    cr_assert(!strncmp(last, "error: ", 7) && first_error == last,
              "`%s` should end with one line \"error: ...\" and print no other; its stderr:\n%s", code, text);
    cr_assert(strstr(last, needle), "the error of `%s` should say \"%s\"; it says:\n%s", code, needle, last);
}

// EXPECT_ERROR(needle, code...): `code` (statements; commas allowed) must die() with an error
// line containing `needle`. A child that returns from `code` exits 0, which fails the test.
#define EXPECT_ERROR(needle, ...)                                                          \
    do {                                                                                   \
        FILE *expect_error_captured = tmpfile();                                           \
        pid_t expect_error_pid = expect_error_fork(expect_error_captured);                 \
        if (expect_error_pid == 0) {                                                       \
            __VA_ARGS__;                                                                   \
            _exit(0);                                                                      \
        }                                                                                  \
        expect_error_check(expect_error_pid, expect_error_captured, needle, #__VA_ARGS__); \
    } while (0)
