// backend_no_cuda.c — the GPU backend's two entry points in a build without nvcc.
// Introduced by lesson 16 (the trainer). The Makefile links the trainer with this file where
// nvcc is missing, and with kernels/backend/backend_gpu.cu where it is there (never both, and
// it is in no library), so --device cuda here says why it cannot run.
#include "common/train/backend.h"

#include "common/core/util.h"

static const char *const NO_CUDA =
    "this build has no CUDA (nvcc was not found when it was built); the CPU path trains in fp32";

const char *backend_gpu_unavailable(void) { return NO_CUDA; }

// backend_open_gpu: backend_open asks backend_gpu_unavailable first, so a caller that reaches
// this skipped that check; it gets the same line.
Backend *backend_open_gpu(const char *dir, int K, const char *const *label_names, unsigned long seed, int max_batch,
                          int max_seq_length, bool gradient_checkpointing) {
    (void)dir, (void)K, (void)label_names, (void)seed, (void)max_batch, (void)max_seq_length,
        (void)gradient_checkpointing;
    die("--device cuda: %s", NO_CUDA);
}
