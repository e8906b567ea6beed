// tensorboard.c — see tensorboard.h.
#include "common/train/tensorboard.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/core/util.h"

uint32_t crc32c(const void *data, size_t n) {
    const unsigned char *p = data;
    uint32_t crc = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int bit = 0; bit < 8; bit++) crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1u)));
    }
    return ~crc;
}

uint32_t tb_masked_crc(const void *data, size_t n) {
    const uint32_t c = crc32c(data, n);
    return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

// ---- the protobuf encoding: a growing byte buffer and the three wire types used -------------

typedef struct {
    unsigned char *b;
    size_t n, cap;
} Bytes;

static void put_bytes(Bytes *o, const void *src, size_t n) {
    if (o->n + n > o->cap) {
        o->cap = (o->n + n) * 2 + 64;
        o->b = xrealloc(o->b, o->cap);
    }
    memcpy(o->b + o->n, src, n);
    o->n += n;
}

// put_le: v as `bytes` little-endian bytes (protobuf's fixed64/fixed32, TFRecord's header).
static void put_le(Bytes *o, uint64_t v, int bytes) {
    unsigned char le[8];
    for (int i = 0; i < bytes; i++) le[i] = (unsigned char)(v >> (8 * i));
    put_bytes(o, le, (size_t)bytes);
}

// put_varint: 7 bits per byte, low first, the top bit set on all but the last.
static void put_varint(Bytes *o, uint64_t v) {
    unsigned char byte;
    do {
        byte = (unsigned char)(v & 0x7f);
        v >>= 7;
        if (v) byte |= 0x80;
        put_bytes(o, &byte, 1);
    } while (v);
}

enum { WIRE_VARINT = 0, WIRE_FIXED64 = 1, WIRE_LEN = 2, WIRE_FIXED32 = 5 };

static void put_key(Bytes *o, int field, int wire) { put_varint(o, (uint64_t)(field << 3 | wire)); }

static void put_len_field(Bytes *o, int field, const void *src, size_t n) {
    put_key(o, field, WIRE_LEN);
    put_varint(o, n);
    put_bytes(o, src, n);
}

// event_bytes: Event { wall_time = 1; step = 2; file_version = 3 (or NULL); summary = 5 (or NULL) }.
static Bytes event_bytes(double wall_time, long step, const char *file_version, const Bytes *summary) {
    Bytes e = {0};
    uint64_t bits;
    memcpy(&bits, &wall_time, sizeof bits);
    put_key(&e, 1, WIRE_FIXED64);
    put_le(&e, bits, 8);
    if (step) {
        put_key(&e, 2, WIRE_VARINT);
        put_varint(&e, (uint64_t)(int64_t)step);  // a negative int64 is its two's complement, 10 bytes
    }
    if (file_version) put_len_field(&e, 3, file_version, strlen(file_version));
    if (summary) put_len_field(&e, 5, summary->b, summary->n);
    return e;
}

// write_record: one TFRecord around `data`, flushed (TensorBoard reads the file while it grows).
static void write_record(TbWriter *w, const Bytes *data) {
    Bytes r = {0};
    put_le(&r, data->n, 8);
    put_le(&r, tb_masked_crc(r.b, 8), 4);
    put_bytes(&r, data->b, data->n);
    put_le(&r, tb_masked_crc(data->b, data->n), 4);
    xfwrite(r.b, 1, r.n, w->f, w->path);
    if (fflush(w->f)) die("cannot write %s", w->path);
    free(r.b);
}

static double wall_clock(void) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void hostname(char *out, size_t n) {
    if (gethostname(out, n) != 0) snprintf(out, n, "localhost");
    out[n - 1] = '\0';
}

TbWriter *tb_open(const char *dir) {
    mkdir_p(dir);
    char host[256], name[400];
    hostname(host, sizeof host);
    const double now = wall_clock();
    snprintf(name, sizeof name, "events.out.tfevents.%010ld.%s.%ld.0", (long)now, host, (long)getpid());
    TbWriter *w = xmalloc(sizeof *w);
    w->path = path_join(dir, name);
    w->f = xfopen(w->path, "wb");
    Bytes e = event_bytes(now, 0, "brain.Event:2", NULL);
    write_record(w, &e);
    free(e.b);
    return w;
}

void tb_scalar(TbWriter *w, const char *tag, float value, long step) {
    Bytes v = {0}, s = {0};
    uint32_t bits;
    memcpy(&bits, &value, sizeof bits);
    put_len_field(&v, 1, tag, strlen(tag));
    put_key(&v, 2, WIRE_FIXED32);
    put_le(&v, bits, 4);
    put_len_field(&s, 1, v.b, v.n);  // Summary.value
    Bytes e = event_bytes(wall_clock(), step, NULL, &s);
    write_record(w, &e);
    free(v.b), free(s.b), free(e.b);
}

void tb_log(TbWriter *w, const cJSON *entry, long step) {
    for (const cJSON *it = entry->child; it; it = it->next) {
        if (!cJSON_IsNumber(it) || !strcmp(it->string, "step")) continue;
        char tag[160];
        if (!strncmp(it->string, "eval_", 5)) snprintf(tag, sizeof tag, "eval/%s", it->string + 5);
        else if (!strncmp(it->string, "test_", 5)) snprintf(tag, sizeof tag, "test/%s", it->string + 5);
        else snprintf(tag, sizeof tag, "train/%s", it->string);
        tb_scalar(w, tag, (float)it->valuedouble, step);
    }
}

void tb_close(TbWriter *w) {
    if (!w) return;
    xfclose(w->f, w->path);
    free(w->path);
    free(w);
}

char *tb_default_logdir(const char *output_dir) {
    char host[256], stamp[64], name[400];
    hostname(host, sizeof host);
    const time_t t = time(NULL);
    struct tm local;
    localtime_r(&t, &local);
    strftime(stamp, sizeof stamp, "%b%d_%H-%M-%S", &local);
    snprintf(name, sizeof name, "runs/%s_%s", stamp, host);
    return path_join(output_dir, name);
}
