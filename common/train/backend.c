// backend.c — backend_open: a device name to the backend that runs it.
// Introduced by lesson 16 (the trainer).
//
// Which GPU backend a binary has is decided when it is linked, not here: the Makefile links the
// trainer with exactly one of two files defining backend_gpu_unavailable and backend_open_gpu,
//   kernels/backend/backend_gpu.cu     a build with nvcc: lesson 13's GpuBert
//   common/train/backend_no_cuda.c     a build without: --device cuda is refused with one line
// so this dispatcher is the same in both.
#include "common/train/backend.h"

#include <string.h>

#include "common/core/util.h"

Backend *backend_open(const char *device, const char *dir, int K, const char *const *label_names, unsigned long seed,
                      int max_batch, int max_seq_length, bool gradient_checkpointing) {
    if (!strcmp(device, "cpu"))
        return backend_open_cpu(dir, K, label_names, seed, max_batch, max_seq_length, gradient_checkpointing);
    if (strcmp(device, "cuda")) die("--device %s: no such backend (cpu or cuda)", device);
    const char *why = backend_gpu_unavailable();
    if (why) die("--device cuda: %s", why);
    return backend_open_gpu(dir, K, label_names, seed, max_batch, max_seq_length, gradient_checkpointing);
}
