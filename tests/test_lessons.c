// test_lessons.c — every lesson runs with its defaults, and every output block quoted in
// notebooks-md/ is still what the lesson prints.
//
// Quoted blocks are marked in the explainers like this:
//
//     <!-- output: build/02_batches_epochs_steps --num_examples 9000 -->
//     ```text
//     steps per epoch = 563
//     ```
//
// The command (run from the repository root, stdout only) must print the block's lines in
// order. Two escapes keep run-to-run variation out of the comparison:
//   - a line holding only `...` stands for any number of lines (none included);
//   - `{?}` inside a line stands for one run of non-space characters (timings, paths);
//   - `{?VALUE}` is the same hole showing the reader what the line printed when it was quoted
//     (a measured speed, say, with the machine named beside the block); any value matches.
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/core/util.h"

#define LESSON_TIMEOUT_S 300

// run_command: stdout of `sh -c cmd` (stderr discarded), with a hang guard; *status = exit code.
static char *run_command(const char *cmd, int *status) {
    // The command travels in the environment, so its own quotes need no escaping.
    setenv("BERTSTEP_TEST_CMD", cmd, 1);
    char full[128];
    snprintf(full, sizeof full, "timeout %d sh -c \"$BERTSTEP_TEST_CMD\" 2>/dev/null", LESSON_TIMEOUT_S);
    FILE *p = popen(full, "r");
    cr_assert(p, "popen failed for %s", cmd);
    size_t cap = 1 << 16, n = 0;
    char *out = xmalloc(cap);
    size_t got;
    while ((got = fread(out + n, 1, cap - n - 1, p)) > 0) {
        n += got;
        if (n + 1 >= cap) out = xrealloc(out, cap *= 2);
    }
    out[n] = '\0';
    int st = pclose(p);
    *status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return out;
}

// split_lines: NUL-terminate each line of `text` in place; returns the count.
static int split_lines(char *text, char ***lines) {
    int n = 0, cap = 64;
    *lines = xmalloc(sizeof(char *) * cap);
    char *s = text;
    while (*s) {
        if (n == cap) *lines = xrealloc(*lines, sizeof(char *) * (cap *= 2));
        (*lines)[n++] = s;
        char *nl = strchr(s, '\n');
        if (!nl) break;
        *nl = '\0';
        s = nl + 1;
    }
    return n;
}

// line_matches: `want` equals `got`, where each hole "{?}" or "{?VALUE}" in want matches one or
// more non-space chars.
static bool line_matches(const char *want, const char *got) {
    const char *hole = strstr(want, "{?"), *close = hole ? strchr(hole, '}') : NULL;
    if (!close) return strcmp(want, got) == 0;
    size_t k = (size_t)(hole - want);
    if (strncmp(want, got, k) != 0) return false;
    const char *g = got + k;
    for (const char *end = g + 1; end <= g + strlen(g); end++) {
        if (end[-1] == ' ') break;
        if (line_matches(close + 1, end)) return true;
    }
    return false;
}

// block_matches: the quoted lines, with "..." skipping any lines, against the printed lines.
static bool block_matches(char **want, int nw, char **got, int ng) {
    if (nw == 0) return ng == 0;
    if (!strcmp(want[0], "...")) {
        for (int skip = 0; skip <= ng; skip++)
            if (block_matches(want + 1, nw - 1, got + skip, ng - skip)) return true;
        return false;
    }
    return ng > 0 && line_matches(want[0], got[0]) && block_matches(want + 1, nw - 1, got + 1, ng - 1);
}

// first_mismatch: for the failure message, the first quoted line not found where expected.
static const char *first_mismatch(char **want, int nw, char **got, int ng) {
    int g = 0;
    for (int w = 0; w < nw; w++) {
        if (!strcmp(want[w], "...")) continue;
        while (g < ng && !line_matches(want[w], got[g])) g++;
        if (g == ng) return want[w];
        g++;
    }
    return "(order or count of lines differs)";
}

typedef struct {
    char path[256];
} PathParam;

static PathParam *glob_params(const char *pattern, size_t *n) {
    glob_t g;
    *n = 0;
    if (glob(pattern, 0, NULL, &g) != 0) return NULL;
    PathParam *ps = cr_malloc(sizeof(PathParam) * g.gl_pathc);
    for (size_t i = 0; i < g.gl_pathc; i++) {
        const char *base = strrchr(g.gl_pathv[i], '/') + 1;
        if (strlen(base) < 3 || base[0] < '0' || base[0] > '9' || base[2] != '_') continue;  // NN_name
        snprintf(ps[*n].path, sizeof ps[*n].path, "%s", g.gl_pathv[i]);
        (*n)++;
    }
    globfree(&g);
    return ps;
}

static void free_params(struct criterion_test_params *crp) { cr_free(crp->params); }

// sanitize_flags: under `make test-sanitize` (BERTSTEP_SANITIZE set), the smaller flags that
// tests/sanitize_flags.txt gives a lesson too slow for ASan (its "default run" uses them, and the
// explainer blocks quoting its full runs are left to `make test`); NULL for every other lesson.
static char *sanitize_flags(const char *command) {
    if (!getenv("BERTSTEP_SANITIZE")) return NULL;
    const char *prog = strstr(command, "build/");
    if (!prog) return NULL;
    prog += strlen("build/");
    size_t n = strcspn(prog, " ");
    char *text = read_file("tests/sanitize_flags.txt", NULL), *found = NULL;
    for (char *line = strtok(text, "\n"); line && !found; line = strtok(NULL, "\n"))
        if (line[0] != '#' && !strncmp(line, prog, n) && line[n] == ' ') found = xstrdup(line + n + 1);
    free(text);
    return found;
}

// built_under_sanitizer: false for a CUDA lesson under `make test-sanitize`, whose build is the
// CPU code alone (the sanitizers instrument C, not nvcc's output); `make test` checks its blocks.
static bool built_under_sanitizer(const char *command) {
    const char *prog = strstr(command, "build/");
    if (!getenv("BERTSTEP_SANITIZE") || !prog) return true;
    char path[256];
    snprintf(path, sizeof path, "%.*s", (int)strcspn(prog, " "), prog);
    return file_exists(path);
}

ParameterizedTestParameters(lessons, default_run) {
    size_t n;
    PathParam *ps = glob_params("build/[0-9][0-9]_*", &n);
    return cr_make_param_array(PathParam, ps, n, free_params);
}

// Each default run happens in a fresh directory that sees the repository's build/ and data/
// through links, so what a lesson writes (runs/...) cannot collide with the same lesson run by
// the notebook test at the same time.
ParameterizedTest(PathParam *p, lessons, default_run, .timeout = LESSON_TIMEOUT_S + 10) {
    char root[2048], dir[] = "/tmp/bertstep-lesson-XXXXXX", cmd[8192];
    cr_assert(getcwd(root, sizeof root), "getcwd failed");
    cr_assert(mkdtemp(dir), "mkdtemp failed");
    char *flags = sanitize_flags(p->path);
    snprintf(cmd, sizeof cmd, "cd %s && ln -s '%s/build' build && ln -s '%s/data' data && %s %s", dir, root, root,
             p->path, flags ? flags : "");
    free(flags);
    int status;
    char *out = run_command(cmd, &status);
    cr_expect_eq(status, 0, "%s exited with %d", p->path, status);
    cr_expect(strlen(out) > 0, "%s printed nothing", p->path);
    free(out);
    rm_rf(dir);
}

ParameterizedTestParameters(notebooks, quoted_output) {
    size_t n;
    PathParam *ps = glob_params("notebooks-md/[0-9][0-9]_*.md", &n);
    return cr_make_param_array(PathParam, ps, n, free_params);
}

// Each `<!-- output: CMD -->` marker is followed by a fenced block: CMD must print it.
ParameterizedTest(PathParam *p, notebooks, quoted_output, .timeout = 1800) {
    char *md = read_file(p->path, NULL);
    char **lines;
    int n = split_lines(md, &lines), blocks = 0;
    for (int i = 0; i < n; i++) {
        char *cmd = strstr(lines[i], "<!-- output: ");
        if (!cmd) continue;
        cmd += strlen("<!-- output: ");
        char *end = strstr(cmd, " -->");
        cr_assert(end, "%s:%d: marker without ' -->'", p->path, i + 1);
        *end = '\0';
        int open = i + 1;
        cr_assert(open < n && !strncmp(lines[open], "```", 3), "%s:%d: marker not followed by a ``` block", p->path,
                  i + 1);
        int close = open + 1;
        while (close < n && strncmp(lines[close], "```", 3)) close++;
        cr_assert(close < n, "%s:%d: unclosed ``` block", p->path, open + 1);

        char *small = sanitize_flags(cmd);
        if (small || !built_under_sanitizer(cmd)) {
            free(small);
            blocks++;
            i = close;
            continue;
        }
        int status;
        char *out = run_command(cmd, &status);
        char **got;
        int ng = split_lines(out, &got);
        char **want = lines + open + 1;
        int nw = close - open - 1;
        cr_expect_eq(status, 0, "%s:%d: `%s` exited with %d", p->path, i + 1, cmd, status);
        cr_expect(block_matches(want, nw, got, ng),
                  "%s:%d: `%s` no longer prints the quoted block; first line not found: \"%s\"", p->path, i + 1, cmd,
                  first_mismatch(want, nw, got, ng));
        free(got);
        free(out);
        blocks++;
        i = close;
    }
    cr_expect(blocks > 0, "%s quotes no lesson output (mark blocks with <!-- output: CMD -->)", p->path);
    free(lines);
    free(md);
}
