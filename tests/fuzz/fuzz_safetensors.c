// fuzz_safetensors.c — st_open on arbitrary bytes, then every tensor read as float32.
#include "common/model/safetensors.h"
#include "common/core/util.h"
#include "tests/fuzz/fuzz.h"

#include <stdlib.h>

static void parse(const char *path) {
    SafeTensors st = st_open(path);
    for (int i = 0; i < st.n; i++) {
        const StTensor *t = st_find(&st, st.tensors[i].name);
        float *x = xmalloc(sizeof(float) * (size_t)t->numel);
        st_read_f32(&st, t, x, t->numel);
        free(x);
    }
    st_close(&st);
}

FUZZ_FILE_TARGET("input.safetensors", parse)
