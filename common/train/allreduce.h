// allreduce.h — the two all-reduce algorithms of data parallelism, run on N ranks' buffers held
// in one process, counting the bytes each rank would send. Introduced by lesson 18 (data
// parallel), which prints them; the trainer's real all-reduce is common/train/dist.h (MPI).
//
// All-reduce: every rank r holds x_r (n floats, S = 4 n bytes); afterwards every rank holds
// x_0 + x_1 + ... + x_{N-1}.
//
//   naive  gather to rank 0, which sums in rank order, then broadcast:  2 steps
//          rank 0 receives (N-1) S and sends (N-1) S; every other rank sends S
//   ring   the buffer cut into N chunks; rank r sends only to rank r+1 (mod N):  2 (N-1) steps
//          reduce-scatter: in step s, rank r sends its partial sum of chunk (r - s) mod N to
//            rank r+1, which adds it to its own; after N-1 steps rank r holds the whole sum of
//            chunk (r+1) mod N
//          all-gather: in step s, rank r sends chunk (r + 1 - s) mod N, complete, to rank r+1,
//            which overwrites its own
//          every rank sends 2 (N-1) chunks = 2 (N-1)/N S (when N divides n): the same for every
//          rank, and N times less than the naive root, so the slowest link carries N x less
//
// The ring adds chunk c in the order x_c + x_{c+1} + ... (rank order rotated by c): the sum is
// the naive one up to float rounding, not bit for bit (dist.h sums in rank order for that).
#pragma once
#include <stddef.h>

enum { ALLREDUCE_MAX_RANKS = 64 };

// CommCount: what an all-reduce moved.
typedef struct {
    int ranks;
    int steps;                                         // communication steps
    size_t step_bytes[2 * (ALLREDUCE_MAX_RANKS - 1)];  // bytes sent by all ranks together in each step
    size_t sent[ALLREDUCE_MAX_RANKS];                  // bytes each rank sent over all steps
} CommCount;

// allreduce_naive / allreduce_ring: x[r] (n floats, r < N) <- the sum over ranks, on every rank;
// *count gets the bytes sent. N is 1..ALLREDUCE_MAX_RANKS.
void allreduce_naive(float **x, int N, size_t n, CommCount *count);
void allreduce_ring(float **x, int N, size_t n, CommCount *count);

// The bytes the formulas above predict for a buffer of S bytes on N ranks.
double naive_root_bytes(int N, double S);     // (N-1) S, sent by rank 0 (and as much received)
double ring_bytes_per_rank(int N, double S);  // 2 (N-1)/N S
