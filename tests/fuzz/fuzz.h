// fuzz.h — the harness every libFuzzer target in tests/fuzz/ is built on (issue 8: every parser
// that reads a downloaded file is fuzzed). A target is one file, tests/fuzz/fuzz_<name>.c:
//
//     #include "tests/fuzz/fuzz.h"
//     #include "common/model/safetensors.h"
//     static void parse(const char *path) { SafeTensors st = st_open(path); st_close(&st); }
//     FUZZ_FILE_TARGET("input.safetensors", parse)
//
// plus a seed corpus of real files in tests/fuzz/corpus/<name>/; the Makefile finds both by
// name (`make fuzz`, `make fuzz-<name>`), so adding a parser is adding those.
//
// How a target survives bad input. The parsers die() on bad input: one error line and exit(1),
// which would end the fuzzer at the first rejected input. The harness sets die_hook (util.h),
// so die() formats its message (that code runs too) and longjmps back here; the input counts as
// cleanly rejected. Programs never set the hook, so their behaviour is unchanged. Forking a
// child per input would do the same without the hook, but costs a fork per input and loses the
// child's coverage counters, which are what guide libFuzzer.
//
// What a longjmp out of a parser leaves behind. Everything the parser had allocated and not
// yet freed (its half-built tables, cJSON trees) would be a leak that LeakSanitizer reports
// against the harness, not a bug. So while a parser runs, ASan's malloc/free hooks record every
// live block it allocated; after a die() the harness frees exactly those. After a parse that
// returns normally nothing is freed for it, so a real leak on the success path is still a
// finding (FUZZ_FILE_TARGET_RELEASE_ALL is for an API that keeps its allocations for the
// program's life by design, such as --config's strings).
//
// The input reaches a loader as a file (the loaders take paths, as the programs do), written to a
// private directory under /dev/shm (else /tmp) under the name the target gives. A lazily built
// cache a parser keeps in a static (the tokenizer's scratch) must be warmed up before fuzzing,
// or a die() after it grows would free it under the parser's feet.
#pragma once
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>

typedef void (*FuzzParseFile)(const char *path);
typedef void (*FuzzParseBytes)(const uint8_t *data, size_t size);

// fuzz_file: write the input to <private dir>/<name> and call parse(path) with die() caught;
// `release_all` frees whatever parse left allocated even when it returned normally.
int fuzz_file(const char *name, FuzzParseFile parse, const uint8_t *data, size_t size, int release_all);
// fuzz_bytes: parse(data, size) with die() caught, for functions that take text, not a file.
int fuzz_bytes(FuzzParseBytes parse, const uint8_t *data, size_t size);

#define FUZZ_ENTRY_(call)                                         \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size); \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return call; }
// FUZZ_FILE_TARGET("input.csv", parse): the input as a file of that name (loaders that choose the
// format by extension, or read DIR/config.json, get the name they expect).
#define FUZZ_FILE_TARGET(name, parse)             FUZZ_ENTRY_(fuzz_file(name, parse, data, size, 0))
#define FUZZ_FILE_TARGET_RELEASE_ALL(name, parse) FUZZ_ENTRY_(fuzz_file(name, parse, data, size, 1))
#define FUZZ_BYTES_TARGET(parse)                  FUZZ_ENTRY_(fuzz_bytes(parse, data, size))
