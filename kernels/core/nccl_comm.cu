// nccl_comm.cu — see nccl_comm.cuh.
#include "kernels/core/nccl_comm.cuh"

#include <dlfcn.h>
#include <stdio.h>

// NCCL_OPEN(): the library's handle (NULL when it cannot be loaded); NCCL_SYMBOL(lib, name): one
// of its functions. The emulated build defines both first (tests/emulate/cuda/nccl.h).
#ifndef NCCL_OPEN
#define NCCL_LIBRARY           "libnccl.so.2"
#define NCCL_OPEN()            dlopen(NCCL_LIBRARY, RTLD_NOW)
#define NCCL_SYMBOL(lib, name) dlsym(lib, name)
#endif
#define NCCL_INSTALL_HINT \
    "install NCCL (the CUDA toolkit's libnccl2, or pip's nvidia-nccl-cu13) and put its lib folder on LD_LIBRARY_PATH"

// The functions used, typed as <nccl.h> declares them (decltype: no link against the library).
static struct {
    bool loaded;
    decltype(&ncclGetUniqueId) get_unique_id;
    decltype(&ncclCommInitRank) comm_init_rank;
    decltype(&ncclAllReduce) all_reduce;
    decltype(&ncclCommDestroy) comm_destroy;
    decltype(&ncclGetErrorString) error_string;
    decltype(&ncclGetLastError) last_error;
    decltype(&ncclGetVersion) get_version;
} nccl;

static void *nccl_symbol(void *lib, const char *name) {
    void *p = NCCL_SYMBOL(lib, name);
    if (!p)
        die("the NCCL library has no %s: it is too old (ncclAvg needs NCCL 2.10 or later); %s", name,
            NCCL_INSTALL_HINT);
    return p;
}

static void load_nccl(void) {
    if (nccl.loaded) return;
    void *lib = NCCL_OPEN();
    if (!lib) die("the GPU ranks all-reduce with NCCL, but it cannot be loaded (%s); %s", dlerror(), NCCL_INSTALL_HINT);
    *(void **)&nccl.get_unique_id = nccl_symbol(lib, "ncclGetUniqueId");
    *(void **)&nccl.comm_init_rank = nccl_symbol(lib, "ncclCommInitRank");
    *(void **)&nccl.all_reduce = nccl_symbol(lib, "ncclAllReduce");
    *(void **)&nccl.comm_destroy = nccl_symbol(lib, "ncclCommDestroy");
    *(void **)&nccl.error_string = nccl_symbol(lib, "ncclGetErrorString");
    *(void **)&nccl.last_error = nccl_symbol(lib, "ncclGetLastError");
    *(void **)&nccl.get_version = nccl_symbol(lib, "ncclGetVersion");
    nccl.loaded = true;
}

void nccl_check(ncclResult_t r, const char *call, const char *file, int line) {
    if (r == ncclSuccess) return;
    const char *detail = nccl.last_error(NULL);  // the last error's own words (NULL: any communicator)
    die("%s failed: %s (ncclResult_t %d)%s%s at %s:%d", call, nccl.error_string(r), (int)r,
        detail && *detail ? ": " : "", detail ? detail : "", file, line);
}

ncclUniqueId nccl_unique_id(void) {
    load_nccl();
    ncclUniqueId id;
    NCCL_CHECK(nccl.get_unique_id(&id));
    return id;
}

NcclComm nccl_comm_init(ncclUniqueId id, int world, int rank) {
    load_nccl();
    NcclComm c = {};
    c.rank = rank, c.world = world;
    NCCL_CHECK(nccl.comm_init_rank(&c.comm, world, id, rank));
    CUDA_CHECK(cudaStreamCreateWithFlags(&c.stream, cudaStreamNonBlocking));
    return c;
}

void nccl_mean_floats(NcclComm *c, float *x, size_t n) {
    NCCL_CHECK(nccl.all_reduce(x, x, n, ncclFloat32, ncclAvg, c->comm, c->stream));
}

void nccl_comm_free(NcclComm *c) {
    if (!c->comm) return;
    CUDA_CHECK(cudaStreamSynchronize(c->stream));
    NCCL_CHECK(nccl.comm_destroy(c->comm));
    CUDA_CHECK(cudaStreamDestroy(c->stream));
    *c = NcclComm{};
}

void nccl_version(char *out, size_t n) {
    load_nccl();
    int v = 0;
    NCCL_CHECK(nccl.get_version(&v));  // 22809 = 2.28.9 (NCCL_VERSION_CODE's layout from 2.9 on)
    snprintf(out, n, "%d.%d.%d", v / 10000, v / 100 % 100, v % 100);
}
