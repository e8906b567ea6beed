// nccl.h — the emulated build's stand-in for NCCL's header: NCCL's collectives on the CPU, so
// that the trainer's NCCL path (kernels/core/nccl_comm.cu, kernels/backend/backend_gpu.cu: ids,
// communicator, bucketed all-reduces) runs in the emulated suite.
//   - one rank (BERTSTEP_NCCL=1 in one process): the mean over ranks of a buffer is the buffer
//     itself; the suite checks that the gradients stay unchanged and that every gradient is
//     reduced exactly once a step (emulated_nccl_floats counts them);
//   - N ranks (under mpirun): an all-reduce is MPI_Allreduce's sum (divided by N for ncclAvg)
//     through the Open MPI library the trainer's common/train/dist.c has loaded (RTLD_GLOBAL),
//     so 2 emulated GPU ranks can be checked against one process at twice the batch.
// NCCL_OPEN and NCCL_SYMBOL replace nccl_comm.cu's dlopen and dlsym of libnccl.so.2.
#pragma once
#include <dlfcn.h>
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
// Open MPI's MPI_Allreduce and handles (what <mpi.h>'s macros expand to), from the loaded library.
struct EmulatedMpi {
    int (*allreduce)(const void *, void *, int, void *, void *, void *);
    int (*comm_size)(void *, int *);
    void *comm_world, *t_float, *op_sum;
};
inline bool emulated_mpi(EmulatedMpi *m) {
    *(void **)&m->allreduce = dlsym(RTLD_DEFAULT, "MPI_Allreduce");
    *(void **)&m->comm_size = dlsym(RTLD_DEFAULT, "MPI_Comm_size");
    m->comm_world = dlsym(RTLD_DEFAULT, "ompi_mpi_comm_world");
    m->t_float = dlsym(RTLD_DEFAULT, "ompi_mpi_float");
    m->op_sum = dlsym(RTLD_DEFAULT, "ompi_mpi_op_sum");
    return m->allreduce && m->comm_size && m->comm_world && m->t_float && m->op_sum;
}

// ncclCommInitRank: one rank, or the ranks of MPI's world (which must be nranks).
inline ncclResult_t ncclCommInitRank(ncclComm_t *comm, int nranks, ncclUniqueId, int rank) {
    if (nranks < 1 || rank < 0 || rank >= nranks) return ncclInvalidArgument;
    if (nranks > 1) {
        EmulatedMpi m;
        int size = 0;
        if (!emulated_mpi(&m) || m.comm_size(m.comm_world, &size) != 0 || size != nranks) return ncclInvalidArgument;
    }
    *comm = new ncclComm{nranks};
    return ncclSuccess;
}
// ncclAllReduce: over one rank, a sum or a mean is a copy (none in place); over several,
// MPI_Allreduce's sum, then x (1/N) for ncclAvg.
inline ncclResult_t ncclAllReduce(const void *send, void *recv, size_t count, ncclDataType_t type, ncclRedOp_t op,
                                  ncclComm_t comm, cudaStream_t) {
    if (!comm || type != ncclFloat32 || (op != ncclSum && op != ncclAvg)) return ncclInvalidArgument;
    emulated_nccl_floats += count;
    if (comm->nranks == 1) {
        if (send != recv) memmove(recv, send, count * sizeof(float));
        return ncclSuccess;
    }
    EmulatedMpi m;
    void *const in_place = (void *)1;  // Open MPI's MPI_IN_PLACE
    if (!emulated_mpi(&m) || count > 0x7fffffff ||
        m.allreduce(send == recv ? in_place : send, recv, (int)count, m.t_float, m.op_sum, m.comm_world) != 0)
        return ncclInvalidArgument;
    if (op == ncclAvg)
        for (size_t i = 0; i < count; i++) ((float *)recv)[i] /= (float)comm->nranks;
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
