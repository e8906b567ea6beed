// safetensors.h — read and write tensors in Hugging Face's safetensors format.
// Introduced by lesson 06 (checkpoints); lesson 10 loads BERT checkpoints with it and the
// trainer writes fine-tuned models that transformers loads back.
//
// File layout:  [8-byte little-endian N][N bytes of JSON header][data section]
// header: {"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...,
//          "__metadata__": {...}}   offsets are relative to the start of the data section.
// The reader trusts nothing: the header length must fit in the file (and below 100 MB), the JSON
// must parse, every dtype must be known, every byte range must equal shape x dtype size, lie in
// the data section, and the ranges must not overlap. Any failure is one error line naming the
// file and the tensor.
#pragma once
#include <stddef.h>
#include <stdint.h>

#define ST_MAX_DIMS 8

typedef enum { ST_F32, ST_F16, ST_BF16, ST_I64 } StDtype;

typedef struct {
    char *name;
    StDtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    int64_t numel;
    size_t begin, end;  // byte range within the data section
} StTensor;

typedef struct {
    char *path;
    unsigned char *bytes;  // the whole file
    size_t size;
    size_t data_start;  // 8 + header length
    StTensor *tensors;
    int n;
} SafeTensors;

SafeTensors st_open(const char *path);
void st_close(SafeTensors *st);
// st_find: the tensor named `name`, or NULL.
const StTensor *st_find(const SafeTensors *st, const char *name);
// st_read_f32: the tensor's values as float32 (F16 and BF16 widened exactly); `numel` must match.
void st_read_f32(const SafeTensors *st, const StTensor *t, float *dst, int64_t numel);

typedef struct {
    const char *name;
    int ndim;
    const int *shape;
    const float *data;  // numel = product of shape
} StWrite;

// st_write: F32 tensors, sorted by name as the Python library writes them, header padded with
// spaces to a multiple of 8; written to "<path>.tmp" and renamed, so a crash never leaves a
// half-written file under `path`.
void st_write(const char *path, const StWrite *tensors, int n);
