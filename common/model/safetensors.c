// safetensors.c — see safetensors.h.
#include "common/model/safetensors.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "common/core/util.h"

#define MAX_HEADER (100u << 20)

static const struct {
    const char *name;
    StDtype dtype;
    size_t bytes;
} DTYPES[] = {
    {"F32", ST_F32, 4},
    {"F16", ST_F16, 2},
    {"BF16", ST_BF16, 2},
    {"I64", ST_I64, 8},
};

// parse_tensor: one header entry, validated against the data section's size.
static void parse_tensor(const char *path, const cJSON *e, size_t data_size, StTensor *t) {
    t->name = xstrdup(e->string);
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsString(dtype) || !cJSON_IsArray(shape) || !cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2)
        die("%s: tensor %s: header entry needs dtype, shape and data_offsets [begin, end]", path, t->name);
    size_t elem = 0;
    for (size_t i = 0; i < ARRAY_LEN(DTYPES); i++)
        if (!strcmp(dtype->valuestring, DTYPES[i].name)) {
            t->dtype = DTYPES[i].dtype;
            elem = DTYPES[i].bytes;
        }
    if (!elem)
        die("%s: tensor %s: unsupported dtype %s (F32, F16, BF16, I64 are read)", path, t->name, dtype->valuestring);
    t->ndim = cJSON_GetArraySize(shape);
    if (t->ndim > ST_MAX_DIMS) die("%s: tensor %s: %d dimensions (at most %d)", path, t->name, t->ndim, ST_MAX_DIMS);
    t->numel = 1;
    for (int d = 0; d < t->ndim; d++) {
        const cJSON *s = cJSON_GetArrayItem(shape, d);
        if (!cJSON_IsNumber(s) || s->valuedouble < 0 || s->valuedouble > 1e12 ||
            s->valuedouble != (double)(int64_t)s->valuedouble)
            die("%s: tensor %s: dimension %d is not a sane non-negative integer", path, t->name, d);
        t->shape[d] = (int64_t)s->valuedouble;
        if (t->shape[d] && t->numel > (int64_t)(data_size / elem) / t->shape[d] + 1)
            die("%s: tensor %s: shape is larger than the file", path, t->name);
        t->numel *= t->shape[d];
    }
    const cJSON *b = cJSON_GetArrayItem(offs, 0), *en = cJSON_GetArrayItem(offs, 1);
    if (!cJSON_IsNumber(b) || !cJSON_IsNumber(en) || b->valuedouble < 0 || en->valuedouble < b->valuedouble ||
        en->valuedouble > (double)data_size || b->valuedouble != (double)(size_t)b->valuedouble ||
        en->valuedouble != (double)(size_t)en->valuedouble)
        die("%s: tensor %s: data_offsets must be two whole numbers within the data section (%zu bytes)", path, t->name,
            data_size);
    t->begin = (size_t)b->valuedouble;
    t->end = (size_t)en->valuedouble;
    if (t->end - t->begin != (size_t)t->numel * elem)
        die("%s: tensor %s: byte range %zu..%zu holds %zu bytes, but shape x %s needs %zu", path, t->name, t->begin,
            t->end, t->end - t->begin, dtype->valuestring, (size_t)t->numel * elem);
}

static int by_begin(const void *a, const void *b) {
    const StTensor *x = a, *y = b;
    return x->begin < y->begin ? -1 : x->begin > y->begin;
}

SafeTensors st_open(const char *path) {
    SafeTensors st = {.path = xstrdup(path)};
    st.bytes = (unsigned char *)read_file(path, &st.size);
    if (st.size < 8) die("%s: %zu bytes is too short for a safetensors file (truncated?)", path, st.size);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | st.bytes[i];
    if (n > MAX_HEADER)
        die("%s: header length %llu is over the %u-byte limit (not a safetensors file?)", path, (unsigned long long)n,
            MAX_HEADER);
    if (n > st.size - 8)
        die("%s: header length %llu runs past the end of the %zu-byte file (truncated?)", path, (unsigned long long)n,
            st.size);
    st.data_start = 8 + (size_t)n;
    const size_t data_size = st.size - st.data_start;
    cJSON *root = cJSON_ParseWithLength((const char *)st.bytes + 8, (size_t)n);
    if (!root || !cJSON_IsObject(root)) die("%s: the header is not a JSON object", path);
    for (const cJSON *e = root->child; e; e = e->next) {
        if (!strcmp(e->string, "__metadata__")) continue;
        if (!cJSON_IsObject(e)) die("%s: tensor %s: header entry is not an object", path, e->string);
        st.tensors = xrealloc(st.tensors, sizeof(StTensor) * (size_t)(st.n + 1));
        memset(&st.tensors[st.n], 0, sizeof(StTensor));
        parse_tensor(path, e, data_size, &st.tensors[st.n++]);
    }
    cJSON_Delete(root);
    // Ranges must not overlap; sort a copy by start and check neighbours.
    StTensor *sorted = xmalloc(sizeof(StTensor) * (size_t)(st.n ? st.n : 1));
    if (st.n) memcpy(sorted, st.tensors, sizeof(StTensor) * (size_t)st.n);  // st.tensors is NULL when n = 0
    qsort(sorted, (size_t)st.n, sizeof(StTensor), by_begin);
    for (int i = 1; i < st.n; i++)
        if (sorted[i].begin < sorted[i - 1].end && sorted[i].end > sorted[i].begin)
            die("%s: tensor %s overlaps tensor %s (bytes %zu..%zu and %zu..%zu)", path, sorted[i].name,
                sorted[i - 1].name, sorted[i].begin, sorted[i].end, sorted[i - 1].begin, sorted[i - 1].end);
    free(sorted);
    return st;
}

void st_close(SafeTensors *st) {
    for (int i = 0; i < st->n; i++) free(st->tensors[i].name);
    free(st->tensors);
    free(st->bytes);
    free(st->path);
    memset(st, 0, sizeof *st);
}

const StTensor *st_find(const SafeTensors *st, const char *name) {
    for (int i = 0; i < st->n; i++)
        if (!strcmp(st->tensors[i].name, name)) return &st->tensors[i];
    return NULL;
}

// f16_to_f32 / bf16_to_f32: exact widening (every narrow value is a float32).
static float f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0x1f) bits = sign | 0x7f800000u | man << 13;     // inf / NaN
    else if (exp) bits = sign | (exp + 112) << 23 | man << 13;  // normal: rebias 15 -> 127
    else if (!man) bits = sign;                                 // zero
    else {                                                      // subnormal: normalise
        int e = -1;
        do {
            man <<= 1;
            e++;
        } while (!(man & 0x400));
        bits = sign | (uint32_t)(112 - e) << 23 | (man & 0x3ff) << 13;
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static float bf16_to_f32(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

void st_read_f32(const SafeTensors *st, const StTensor *t, float *dst, int64_t numel) {
    if (numel != t->numel)
        die("%s: tensor %s has %lld values, expected %lld", st->path, t->name, (long long)t->numel, (long long)numel);
    const unsigned char *src = st->bytes + st->data_start + t->begin;
    for (int64_t i = 0; i < numel; i++) {
        switch (t->dtype) {
        case ST_F32: memcpy(&dst[i], src + 4 * i, 4); break;
        case ST_F16: dst[i] = f16_to_f32((uint16_t)(src[2 * i] | src[2 * i + 1] << 8)); break;
        case ST_BF16: dst[i] = bf16_to_f32((uint16_t)(src[2 * i] | src[2 * i + 1] << 8)); break;
        case ST_I64: {
            int64_t v;
            memcpy(&v, src + 8 * i, 8);
            dst[i] = (float)v;
            break;
        }
        }
    }
}

static int by_name(const void *a, const void *b) {
    return strcmp(((const StWrite *)a)->name, ((const StWrite *)b)->name);
}

void st_write(const char *path, const StWrite *tensors, int n) {
    StWrite *t = xmalloc(sizeof(StWrite) * (size_t)(n ? n : 1));
    memcpy(t, tensors, sizeof(StWrite) * (size_t)n);
    qsort(t, (size_t)n, sizeof(StWrite), by_name);
    cJSON *root = cJSON_CreateObject();
    cJSON_AddItemToObject(root, "__metadata__", cJSON_CreateObject());
    cJSON_AddStringToObject(cJSON_GetObjectItem(root, "__metadata__"), "format", "pt");
    size_t offset = 0;
    for (int i = 0; i < n; i++) {
        size_t numel = 1;
        cJSON *e = cJSON_CreateObject(), *shape = cJSON_CreateArray(), *offs = cJSON_CreateArray();
        for (int d = 0; d < t[i].ndim; d++) {
            cJSON_AddItemToArray(shape, cJSON_CreateNumber(t[i].shape[d]));
            numel *= (size_t)t[i].shape[d];
        }
        cJSON_AddStringToObject(e, "dtype", "F32");
        cJSON_AddItemToObject(e, "shape", shape);
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)offset));
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)(offset + 4 * numel)));
        cJSON_AddItemToObject(e, "data_offsets", offs);
        cJSON_AddItemToObject(root, t[i].name, e);
        offset += 4 * numel;
    }
    char *json = cJSON_PrintUnformatted(root);
    size_t len = strlen(json), padded = (len + 7) / 8 * 8;
    FileReplacement w = replace_begin(path);
    unsigned char hdr[8];
    for (int i = 0; i < 8; i++) hdr[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    xfwrite(hdr, 1, 8, w.f, w.tmp);
    xfwrite(json, 1, len, w.f, w.tmp);
    for (size_t i = len; i < padded; i++) xfwrite(" ", 1, 1, w.f, w.tmp);
    for (int i = 0; i < n; i++) {
        size_t numel = 1;
        for (int d = 0; d < t[i].ndim; d++) numel *= (size_t)t[i].shape[d];
        xfwrite(t[i].data, sizeof(float), numel, w.f, w.tmp);  // little-endian hosts only (x86-64, arm64)
    }
    replace_commit(&w);
    free(json);
    cJSON_Delete(root);
    free(t);
}
