// cuda_runtime.h — the emulated build's stand-in for CUDA's header of the same name:
// CUDA's runtime: kernels, device memory, the device, as tests/emulate/cuda_on_cpu.h emulates them on the CPU.
// The Makefile puts this folder first on the include path of build/tests/emulated_*, so the
// product's #include <cuda_runtime.h> lands here and the product's sources compile unchanged.
#pragma once
#include "tests/emulate/cuda_on_cpu.h"
