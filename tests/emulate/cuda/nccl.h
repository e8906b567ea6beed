// nccl.h — the emulated build's stand-in for NCCL's header: a communicator of ONE rank on the
// CPU, where the mean over ranks of a buffer is the buffer itself. It lets the trainer's NCCL
// path (kernels/core/nccl_comm.cu, kernels/backend/backend_gpu.cu: ids, communicator, bucketed
// all-reduces) run in the emulated suite, which checks that it leaves the gradients unchanged
// and reduces every gradient exactly once a step (emulated_nccl_floats counts them).
// NCCL_OPEN and NCCL_SYMBOL replace nccl_comm.cu's dlopen and dlsym of libnccl.so.2.
#pragma once
#include <string.h>

#include "tests/emulate/cuda_on_cpu.h"

typedef enum { ncclSuccess = 0, ncclInvalidArgument = 4 } ncclResult_t;
typedef enum { ncclFloat32 = 7 } ncclDataType_t;
typedef enum { ncclSum = 0, ncclAvg = 4 } ncclRedOp_t;
struct ncclComm {
    int nranks;
};
typedef struct ncclComm *ncclComm_t;
typedef struct {
    char internal[128];
} ncclUniqueId;

// The floats all-reduced since the count was last set to 0 (tests read and reset it).
inline size_t emulated_nccl_floats = 0;

inline ncclResult_t ncclGetUniqueId(ncclUniqueId *id) {
    memset(id, 0, sizeof *id);
    return ncclSuccess;
}
inline ncclResult_t ncclCommInitRank(ncclComm_t *comm, int nranks, ncclUniqueId, int rank) {
    if (nranks != 1 || rank != 0) return ncclInvalidArgument;  // one process: one rank
    *comm = new ncclComm{nranks};
    return ncclSuccess;
}
// ncclAllReduce: over one rank, a sum or a mean is a copy (none in place).
inline ncclResult_t ncclAllReduce(const void *send, void *recv, size_t count, ncclDataType_t type, ncclRedOp_t op,
                                  ncclComm_t comm, cudaStream_t) {
    if (!comm || type != ncclFloat32 || (op != ncclSum && op != ncclAvg)) return ncclInvalidArgument;
    if (send != recv) memmove(recv, send, count * sizeof(float));
    emulated_nccl_floats += count;
    return ncclSuccess;
}
inline ncclResult_t ncclCommDestroy(ncclComm_t comm) {
    delete comm;
    return ncclSuccess;
}
inline const char *ncclGetErrorString(ncclResult_t r) { return r == ncclSuccess ? "no error" : "invalid argument"; }
inline const char *ncclGetLastError(ncclComm_t) { return ""; }
inline ncclResult_t ncclGetVersion(int *version) {
    *version = 22809;
    return ncclSuccess;
}

// nccl_comm.cu's loader: the "library" is this header, its symbols the functions above.
#define NCCL_OPEN()            ((void *)&emulated_nccl_floats)
#define NCCL_SYMBOL(lib, name) ((void)(lib), emulated_nccl_symbol(name))
inline void *emulated_nccl_symbol(const char *name) {
    const struct {
        const char *name;
        void *fn;
    } table[] = {{"ncclGetUniqueId", (void *)ncclGetUniqueId},       {"ncclCommInitRank", (void *)ncclCommInitRank},
                 {"ncclAllReduce", (void *)ncclAllReduce},           {"ncclCommDestroy", (void *)ncclCommDestroy},
                 {"ncclGetErrorString", (void *)ncclGetErrorString}, {"ncclGetLastError", (void *)ncclGetLastError},
                 {"ncclGetVersion", (void *)ncclGetVersion}};
    for (const auto &t : table)
        if (!strcmp(t.name, name)) return t.fn;
    return NULL;
}
