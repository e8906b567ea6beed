// replay.c — a main() for a fuzz target: run LLVMFuzzerTestOneInput once on each file named on
// the command line (directories: each file in them). `make test-sanitize` links every target
// with it, so the seed corpora and every kept crash input run under gcc's ASan + UBSan in CI,
// where clang's libFuzzer is not needed.
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/core/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path) {
    size_t len;
    char *bytes = read_file(path, &len);
    LLVMFuzzerTestOneInput((const uint8_t *)bytes, len);
    free(bytes);
    return 1;
}

int main(int argc, char **argv) {
    int n = 0;
    for (int i = 1; i < argc; i++) {
        if (!dir_exists(argv[i])) {
            n += replay_file(argv[i]);
            continue;
        }
        DIR *d = opendir(argv[i]);
        if (!d) die("cannot open directory %s", argv[i]);
        for (struct dirent *e; (e = readdir(d));) {
            if (e->d_name[0] == '.') continue;
            char *p = path_join(argv[i], e->d_name);
            n += replay_file(p);
            free(p);
        }
        closedir(d);
    }
    printf("%s: %d inputs replayed, no crash\n", argv[0], n);
    return 0;
}
