// dist.c — see dist.h. Open MPI is loaded with dlopen only when mpirun launched this process
// (mpirun sets OMPI_COMM_WORLD_SIZE in every rank's environment), so the program links no MPI.
// Its handles are Open MPI's: MPI_COMM_WORLD is the address of the library's ompi_mpi_comm_world,
// MPI_FLOAT of ompi_mpi_float, and so on (what <mpi.h>'s macros expand to), found with dlsym.
#include "common/train/dist.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/core/util.h"

#define MPI_LIBRARY  "libmpi.so.40"
#define INSTALL_HINT "install Open MPI: sudo apt-get install openmpi-bin libopenmpi-dev"

typedef void *Handle;  // MPI_Comm, MPI_Datatype: pointers in Open MPI
static struct {
    int rank, world;
    bool on;
    Handle comm, t_float, t_double, t_byte;
    int (*init)(int *, char ***);
    int (*comm_rank)(Handle, int *);
    int (*comm_size)(Handle, int *);
    int (*gather)(const void *, int, Handle, void *, int, Handle, int, Handle);
    int (*allgather)(const void *, int, Handle, void *, int, Handle, Handle);
    int (*bcast)(void *, int, Handle, int, Handle);
    int (*finalize)(void);
} mpi = {.rank = 0, .world = 1};

static void *mpi_symbol(void *lib, const char *name) {
    void *p = dlsym(lib, name);
    if (!p) die("%s has no %s: this program needs Open MPI's library (%s)", MPI_LIBRARY, name, INSTALL_HINT);
    return p;
}

static void load_mpi(void) {
    void *lib = dlopen(MPI_LIBRARY, RTLD_NOW | RTLD_GLOBAL);  // GLOBAL: Open MPI's plugins link against it
    if (!lib) die("launched by mpirun, but %s cannot be loaded (%s); %s", MPI_LIBRARY, dlerror(), INSTALL_HINT);
    mpi.comm = mpi_symbol(lib, "ompi_mpi_comm_world");
    mpi.t_float = mpi_symbol(lib, "ompi_mpi_float");
    mpi.t_double = mpi_symbol(lib, "ompi_mpi_double");
    mpi.t_byte = mpi_symbol(lib, "ompi_mpi_byte");
    *(void **)&mpi.init = mpi_symbol(lib, "MPI_Init");
    *(void **)&mpi.comm_rank = mpi_symbol(lib, "MPI_Comm_rank");
    *(void **)&mpi.comm_size = mpi_symbol(lib, "MPI_Comm_size");
    *(void **)&mpi.gather = mpi_symbol(lib, "MPI_Gather");
    *(void **)&mpi.allgather = mpi_symbol(lib, "MPI_Allgather");
    *(void **)&mpi.bcast = mpi_symbol(lib, "MPI_Bcast");
    *(void **)&mpi.finalize = mpi_symbol(lib, "MPI_Finalize");
}

// rank_die: an error on a rank other than 0 names the rank. It waits a moment first: when every
// rank hits the same error (a bad flag), rank 0's line comes alone and mpirun ends the others.
static int rank_stderr = -1;  // a rank other than 0: its real stderr, for its error line only
static void rank_die(const char *message) {
    if (mpi.rank == 0) return;
    sleep(2);
    dprintf(rank_stderr, "error: rank %d: %s\n", mpi.rank, message);
    _exit(1);
}

// quiet_other_ranks: ranks other than 0 print nothing (notes and warnings included: rank 0 says
// the same), except their error line.
static void quiet_other_ranks(void) {
    if (mpi.rank == 0) return;
    rank_stderr = dup(STDERR_FILENO);
    if (rank_stderr < 0 || !freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr))
        die("cannot silence rank %d's output", mpi.rank);
}

void dist_init(void) {
    const char *size = getenv("OMPI_COMM_WORLD_SIZE");
    if (!size) {
        if (getenv("PMI_RANK") || getenv("PMIX_RANK"))
            die("launched by an MPI launcher other than Open MPI's mpirun; run it with Open MPI (%s)", INSTALL_HINT);
        return;
    }
    load_mpi();
    // MPI's default error handler (MPI_ERRORS_ARE_FATAL) ends the whole job on a failed call,
    // and mpirun ends every rank when one exits without MPI_Finalize (a crash, a kill, die()).
    mpi.init(NULL, NULL);
    mpi.comm_rank(mpi.comm, &mpi.rank);
    mpi.comm_size(mpi.comm, &mpi.world);
    mpi.on = mpi.world > 1;
    quiet_other_ranks();
    die_hook = rank_die;
}

int dist_rank(void) { return mpi.rank; }
int dist_world(void) { return mpi.world; }

// The chunk gathered to rank 0 at a time: rank 0 holds world x CHUNK floats, not world x n.
enum { CHUNK = 1 << 20 };

void dist_mean_floats(float *x, size_t n) {
    if (!mpi.on) return;
    const int W = mpi.world;
    float *all = mpi.rank == 0 ? xmalloc(sizeof(float) * (size_t)W * CHUNK) : NULL;  // (W, CHUNK)
    const float inv = 1.0f / (float)W;
    for (size_t start = 0; start < n; start += CHUNK) {
        const int m = (int)(n - start < CHUNK ? n - start : CHUNK);
        mpi.gather(x + start, m, mpi.t_float, all, m, mpi.t_float, 0, mpi.comm);
        if (mpi.rank == 0)
            for (int i = 0; i < m; i++) {
                float s = all[i];  // x_0 + x_1 + ... in rank order
                for (int w = 1; w < W; w++) s += all[(size_t)w * m + i];
                x[start + i] = s * inv;
            }
        mpi.bcast(x + start, m, mpi.t_float, 0, mpi.comm);
    }
    free(all);
}

void dist_sum_doubles(double *x, int n) {
    if (!mpi.on) return;
    const int W = mpi.world;
    double *all = xmalloc(sizeof(double) * (size_t)W * n);  // (W, n)
    mpi.gather(x, n, mpi.t_double, all, n, mpi.t_double, 0, mpi.comm);
    if (mpi.rank == 0)
        for (int i = 0; i < n; i++) {
            double s = all[i];
            for (int w = 1; w < W; w++) s += all[(size_t)w * n + i];
            x[i] = s;
        }
    mpi.bcast(x, n, mpi.t_double, 0, mpi.comm);
    free(all);
}

void dist_bcast_from_main(void *p, size_t bytes) {
    if (mpi.on) mpi.bcast(p, (int)bytes, mpi.t_byte, 0, mpi.comm);
}

void dist_check_same(const char *what, uint64_t hash) {
    if (!mpi.on) return;
    uint64_t *all = xmalloc(sizeof(uint64_t) * (size_t)mpi.world);
    mpi.allgather(&hash, sizeof hash, mpi.t_byte, all, sizeof hash, mpi.t_byte, mpi.comm);
    int bad = 0;
    for (int w = 1; w < mpi.world && !bad; w++)
        if (all[w] != all[0]) bad = w;
    free(all);
    if (!bad) return;
    mpi.finalize();  // every rank leaves together: mpirun reports no crash
    if (mpi.rank != 0) {
        sleep(2);  // rank 0's line first: a rank that exits 1 sooner has mpirun end rank 0 unheard
        _exit(1);
    }
    die_hook = NULL;
    die("rank %d and rank 0 differ in their %s: every rank must run the same flags on the same files", bad, what);
}

void dist_finalize(void) {
    if (mpi.comm) mpi.finalize();
}

uint64_t fnv1a(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}

uint64_t hash_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    uint64_t h = FNV1A_INIT;
    unsigned char buf[1 << 16];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, f)) > 0) h = fnv1a(h, buf, got);
    fclose(f);
    return h;
}
