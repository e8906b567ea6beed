// nvToolsExt.h — the emulated build's stand-in for NVTX's header of the same name: a profiler's
// named ranges (kernels/core/cuda_common.cu's NvtxRange). There is no profiler on the CPU, so
// pushing and popping a range does nothing.
#pragma once

inline int nvtxRangePushA(const char *name) {
    (void)name;
    return 0;
}
inline int nvtxRangePop() { return 0; }
