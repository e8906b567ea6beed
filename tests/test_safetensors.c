// test_safetensors.c — reading files written by the Python safetensors library (F32, F16,
// BF16), a write/read round trip, and one error exit for each way a file can lie.
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/model/safetensors.h"
#include "common/core/util.h"
#include "tests/expect_error.h"
#include "tests/fixture.h"

#define MIXED "tests/fixtures/safetensors/mixed.safetensors"

Test(safetensors, reads_f32_f16_bf16_written_by_python) {
    SafeTensors st = st_open(MIXED);
    Fixture f = fixture_load("tests/fixtures/safetensors/mixed.txt");
    cr_assert_eq(st.n, 4);
    for (int i = 0; i < st.n; i++) {
        int n;
        double *want = fixture_doubles(&f, st.tensors[i].name, &n);
        float *got = malloc(sizeof(float) * (size_t)n);
        st_read_f32(&st, &st.tensors[i], got, n);
        for (int k = 0; k < n; k++)
            cr_assert((isinf(want[k]) && isinf(got[k])) || got[k] == (float)want[k], "%s[%d]: %.9g, python %.9g",
                      st.tensors[i].name, k, got[k], want[k]);
        free(got);
        free(want);
    }
    cr_assert_eq(st_find(&st, "bert.embeddings.word_embeddings.weight")->shape[1], 4);
    cr_assert_null(st_find(&st, "missing"));
    fixture_free(&f);
    st_close(&st);
}

static char *temp_path(const char *tag) {
    char *p = xmalloc(96);
    snprintf(p, 96, "/tmp/bertstep-st-%s-%d.safetensors", tag, (int)getpid());
    return p;
}

Test(safetensors, write_then_read_round_trip) {
    char *path = temp_path("rt");
    float a[6] = {1, -2, 3.5f, 1e-30f, -0.0f, 7}, b[2] = {42, 43};
    StWrite t[2] = {{"z.last", 2, (int[]){2, 3}, a}, {"a.first", 1, (int[]){2}, b}};
    st_write(path, t, 2);
    SafeTensors st = st_open(path);
    cr_assert_eq(st.n, 2);
    float got[6];
    st_read_f32(&st, st_find(&st, "z.last"), got, 6);
    cr_assert(!memcmp(got, a, sizeof a));
    cr_assert_eq(st_find(&st, "a.first")->begin, 0, "tensors are stored sorted by name");
    cr_assert_eq(st.data_start % 8, 0, "header padded to 8 bytes");
    char tmp[128];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    cr_assert(file_exists(path) && !file_exists(tmp), "the file is in place and its .tmp is gone");
    st_close(&st);
    unlink(path);
    free(path);
}

// corrupt: write MIXED's bytes with `header` as its JSON header, or its first `keep` bytes
// (keep < 0: all of them).
static char *corrupt(const char *tag, const char *header, long keep) {
    size_t n;
    char *bytes = read_file(MIXED, &n);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | (unsigned char)bytes[i];
    char *path = temp_path(tag);
    FILE *f = xfopen(path, "wb");
    if (header) {
        uint64_t len = strlen(header);
        for (int i = 0; i < 8; i++) fputc((int)(len >> (8 * i)) & 0xff, f);
        fputs(header, f);
        fwrite(bytes + 8 + hlen, 1, n - 8 - hlen, f);
    } else {
        fwrite(bytes, 1, keep < 0 || (size_t)keep > n ? n : (size_t)keep, f);
    }
    fclose(f);
    free(bytes);
    return path;
}

// expect_rejected: st_open(path) stops with one error line that says `why`; the file is removed.
static void expect_rejected(char *path, const char *why) {
    EXPECT_ERROR(why, st_open(path));
    unlink(path);
    free(path);
}

Test(safetensors, truncated_file) {
    expect_rejected(corrupt("trunc", NULL, 100),
                    "header length 320 runs past the end of the 100-byte file (truncated?)");
}
Test(safetensors, shorter_than_length_field) {
    expect_rejected(corrupt("tiny", NULL, 5), "5 bytes is too short for a safetensors file (truncated?)");
}
Test(safetensors, header_length_past_end) {
    char *p = corrupt("hlen", NULL, -1);
    FILE *f = xfopen(p, "r+b");
    unsigned char big[8] = {0xff, 0xff, 0xff, 0x00, 0, 0, 0, 0};
    fwrite(big, 1, 8, f);
    fclose(f);
    expect_rejected(p, "header length 16777215 runs past the end of the");
}
Test(safetensors, not_json) { expect_rejected(corrupt("json", "{\"a\": [1, 2", 0), "the header is not a JSON object"); }
Test(safetensors, unknown_dtype) {
    expect_rejected(corrupt("dtype", "{\"a\":{\"dtype\":\"F8_E4M3\",\"shape\":[2],\"data_offsets\":[0,2]}}", 0),
                    "tensor a: unsupported dtype F8_E4M3");
}
Test(safetensors, size_disagrees_with_shape) {
    expect_rejected(corrupt("size", "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 0),
                    "tensor a: byte range 0..8 holds 8 bytes, but shape x F32 needs 12");
}
Test(safetensors, range_outside_data) {
    expect_rejected(corrupt("range", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[1000000,1000008]}}", 0),
                    "tensor a: data_offsets must be two whole numbers within the data section");
}
Test(safetensors, overlapping_ranges) {
    expect_rejected(corrupt("overlap",
                            "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                            "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}",
                            0),
                    "tensor b overlaps tensor a (bytes 8..16 and 0..16)");
}
Test(safetensors, negative_dimension) {
    expect_rejected(corrupt("neg", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 0),
                    "tensor a: dimension 0 is not a sane non-negative integer");
}
