// dist.h — data parallelism's communication, behind five calls: which process this is, how
// many there are, the mean of a buffer over all of them, a broadcast from the main process,
// and one check that they all run the same thing. Introduced by the trainer's multi-process
// runs (lesson 16 under mpirun) and lesson 18 (data parallel).
//
// One process (no mpirun) is the default: rank 0 of a world of 1, every call a no-op, and no
// MPI library is loaded. Launched by Open MPI's `mpirun -np N`, dist_init loads libmpi.so.40 at
// run time (dlopen: the program links no MPI, so it runs where Open MPI is not installed) and
// joins the N ranks.
//
// Reductions are deterministic: a buffer is gathered to rank 0 chunk by chunk, summed there in
// rank order (x_0 + x_1 + ... + x_{N-1}, then x (1/N)) and broadcast back, so every rank gets the
// same bits on every run, whatever algorithm the MPI library would pick for MPI_Allreduce.
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

// dist_init: join the ranks when launched by mpirun (else a world of 1). Ranks other than 0
// print nothing but an error line ("error: rank 1: ..."): rank 0 speaks for the run.
void dist_init(void);
int dist_rank(void);
int dist_world(void);
static inline bool dist_is_main(void) { return dist_rank() == 0; }

// dist_mean_floats: x (n) <- the mean of every rank's x (n), the same bits on all ranks.
void dist_mean_floats(float *x, size_t n);
// dist_sum_doubles: x (n) <- the sum of every rank's x (n), in rank order, on all ranks.
void dist_sum_doubles(double *x, int n);
// dist_bcast_from_main: every rank's `bytes` at p <- rank 0's.
void dist_bcast_from_main(void *p, size_t bytes);
// dist_check_same: every rank passes its hash of `what` (the command line, the data files...);
// where any rank's differs from rank 0's, rank 0 prints one error line naming that rank and
// `what`, and all ranks exit with status 1 (before any training).
void dist_check_same(const char *what, uint64_t hash);
// dist_finalize: leave the ranks (after the last collective call; a no-op in a world of 1).
void dist_finalize(void);

// fnv1a: a 64-bit FNV-1a hash of n bytes, continuing from h (start with FNV1A_INIT).
#define FNV1A_INIT 0xcbf29ce484222325ULL
uint64_t fnv1a(uint64_t h, const void *p, size_t n);
// hash_file: fnv1a of a whole file's bytes; 0 for a file that cannot be read.
uint64_t hash_file(const char *path);
