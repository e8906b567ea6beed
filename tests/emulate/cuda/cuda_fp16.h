// cuda_fp16.h — the emulated build's stand-in for CUDA's header of the same name:
// __half and its conversions, as tests/emulate/cuda_on_cpu.h emulates them on the CPU.
// The Makefile puts this folder first on the include path of build/tests/emulated_*, so the
// product's #include <cuda_fp16.h> lands here and the product's sources compile unchanged.
#pragma once
#include "tests/emulate/cuda_on_cpu.h"
