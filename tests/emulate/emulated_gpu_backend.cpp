// emulated_gpu_backend.cpp — the trainer's GPU backend (kernels/backend/backend_gpu.cu, lesson 13's GpuBert
// and its kernels) compiled against tests/emulate/cuda_on_cpu.h, for build/tests/emulated_trainer:
// lesson 16 linked with it runs --device cuda (and --bf16 / --fp16) on the CPU, so the
// trainer's GPU-only paths run in `make test` (tests/emulate/test_trainer_emulated.cpp).
#include "kernels/backend/backend_gpu.cu"
#include "kernels/bert/bert_cuda.cu"
#include "kernels/bert/bert_kernels.cu"
