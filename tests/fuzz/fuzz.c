// fuzz.c — see fuzz.h: run one parser on one input with die() caught, and free what a rejected
// parse left allocated.
#include "tests/fuzz/fuzz.h"

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/core/util.h"

// From <sanitizer/allocator_interface.h>, declared here because gcc (whose ASan the replay build
// in `make test-sanitize` uses) does not install that header; both runtimes define it.
int __sanitizer_install_malloc_and_free_hooks(void (*malloc_hook)(const volatile void *, size_t),
                                              void (*free_hook)(const volatile void *));

// ---- the blocks a parse allocated and has not freed -------------------------------------------
// An open-addressing set of pointers filled from ASan's malloc/free hooks. The hooks run inside
// the allocator, so nothing here may allocate: the tables are static. `used` lists every slot
// filled during the current parse, so clearing costs what the parse allocated, not the table.
#define LIVE_BITS 21
#define LIVE_CAP  (1u << LIVE_BITS)
#define TOMB      ((const void *)1)
static const void *live[LIVE_CAP];
static uint32_t used[LIVE_CAP / 2];
static uint32_t n_used;
static bool tracking, overflowed;

static uint32_t slot_of(const volatile void *p) {
    return (uint32_t)(((uintptr_t)p >> 4) * 0x9E3779B97F4A7C15ull >> (64 - LIVE_BITS));
}

static void on_malloc(const volatile void *p, size_t size) {
    (void)size;
    if (!tracking || !p) return;
    if (n_used == ARRAY_LEN(used)) {
        overflowed = true;
        return;
    }
    uint32_t i = slot_of(p);
    while (live[i] && live[i] != TOMB) i = (i + 1) & (LIVE_CAP - 1);
    live[i] = (const void *)p;
    used[n_used++] = i;
}

static void on_free(const volatile void *p) {
    if (!tracking || !p) return;
    for (uint32_t i = slot_of(p); live[i]; i = (i + 1) & (LIVE_CAP - 1))
        if (live[i] == p) {
            live[i] = TOMB;
            return;
        }
}

// release_live: free every block still recorded (when `free_them`), then empty the set.
static void release_live(bool free_them) {
    for (uint32_t k = 0; k < n_used; k++) {
        const void *p = live[used[k]];
        if (free_them && p && p != TOMB) free((void *)p);
        live[used[k]] = NULL;
    }
    if (free_them && overflowed)
        fprintf(stderr, "fuzz: more than %u allocations in one rejected input; some were not released\n", n_used);
    n_used = 0;
    overflowed = false;
}

// ---- die() returns here -------------------------------------------------------------------------
static jmp_buf on_die;

static void die_to_harness(const char *message) {
    if (!message[0]) abort();  // an error must say what is wrong
    longjmp(on_die, 1);
}

// ---- the input as a file -------------------------------------------------------------------------
// Each input gets a fresh directory, removed after the parse: nothing is left behind by a run
// (a crash leaves only the directory of the crashing input).
static char dir[64], path[192];

static void write_input(const char *name, const uint8_t *data, size_t size) {
    snprintf(dir, sizeof dir, "%s/bertstep-fuzz-XXXXXX", access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    if (!mkdtemp(dir)) die("fuzz: cannot create a directory for the input");
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || (size && write(fd, data, size) != (ssize_t)size) || close(fd) != 0)
        die("fuzz: cannot write %s", path);
}

static void remove_input(void) {
    unlink(path);
    rmdir(dir);
}

static void install_hooks(void) {
    static bool done;
    if (done) return;
    done = true;
    __sanitizer_install_malloc_and_free_hooks(on_malloc, on_free);
    die_hook = die_to_harness;
}

// ---- one parse with die() caught ---------------------------------------------------------------
static FuzzParseFile file_parse;
static FuzzParseBytes bytes_parse;
static const uint8_t *bytes_data;
static size_t bytes_size;

static void call_parser(void) {
    if (file_parse) file_parse(path);
    else bytes_parse(bytes_data, bytes_size);
}

static void run_caught(int release_all) {
    install_hooks();
    volatile bool died = false;
    tracking = true;
    if (setjmp(on_die) == 0) call_parser();
    else died = true;
    tracking = false;
    release_live(died || release_all);
}

int fuzz_file(const char *name, FuzzParseFile parse, const uint8_t *data, size_t size, int release_all) {
    write_input(name, data, size);
    file_parse = parse;
    run_caught(release_all);
    remove_input();
    return 0;
}

int fuzz_bytes(FuzzParseBytes parse, const uint8_t *data, size_t size) {
    bytes_parse = parse;
    bytes_data = data;
    bytes_size = size;
    run_caught(0);
    return 0;
}
