// backend_registry.c — which backends a trainer binary has: backend_open and the default device.
// Introduced by lesson 16 (the trainer).
//
// This file is compiled twice (Makefile):
//   - by cc into build/libbertstep.a, without BERTSTEP_HAVE_CUDA: the CPU-only registry every
//     C program and the CPU tests link. --device cuda is refused with one line.
//   - when nvcc exists, by cc with -DBERTSTEP_HAVE_CUDA=1 into build/obj/common/
//     backend_registry_cuda.o, which the trainer (lesson 16) links as an object ahead of the
//     libraries, together with build/libbertstep_cuda.a (kernels/backend/backend_gpu.cu and lesson 13's
//     GpuBert). An object's definitions come before an archive's, so the linker never takes the
//     CPU-only backend_registry.o out of libbertstep.a for that binary.
// Either way each function is written once, and a binary holds exactly one registry.
#include "common/train/backend.h"

#include <string.h>

#include "common/core/util.h"

#ifdef BERTSTEP_HAVE_CUDA
const char *backend_cuda_unavailable(void) { return backend_gpu_unavailable(); }
#define OPEN_CUDA backend_open_gpu
#else
const char *backend_cuda_unavailable(void) {
    return "this build has no CUDA (nvcc was not found when it was built); the CPU path trains in fp32";
}
#define OPEN_CUDA(...) NULL  // never reached: backend_cuda_unavailable() refused first
#endif

Backend *backend_open(const char *device, const char *dir, int K, const char *const *label_names, unsigned long seed,
                      int max_batch, int max_seq_length, bool gradient_checkpointing) {
    if (!strcmp(device, "cpu"))
        return backend_open_cpu(dir, K, label_names, seed, max_batch, max_seq_length, gradient_checkpointing);
    if (strcmp(device, "cuda")) die("--device %s: no such backend (cpu or cuda)", device);
    const char *why = backend_cuda_unavailable();
    if (why) die("--device cuda: %s", why);
    return OPEN_CUDA(dir, K, label_names, seed, max_batch, max_seq_length, gradient_checkpointing);
}
