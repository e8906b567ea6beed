// allreduce.c — see allreduce.h (lesson 18).
#include "common/train/allreduce.h"

#include <string.h>

#include "common/core/util.h"

static void count_start(CommCount *c, int N) {
    if (N < 1 || N > ALLREDUCE_MAX_RANKS) die("an all-reduce needs 1 to %d ranks (got %d)", ALLREDUCE_MAX_RANKS, N);
    memset(c, 0, sizeof *c);
    c->ranks = N;
}

// send: rank `from` sends `bytes` in the current step (c->steps - 1).
static void send(CommCount *c, int from, size_t bytes) {
    c->sent[from] += bytes;
    c->step_bytes[c->steps - 1] += bytes;
}

void allreduce_naive(float **x, int N, size_t n, CommCount *count) {
    count_start(count, N);
    const size_t S = sizeof(float) * n;
    if (N == 1) return;
    count->steps = 1;  // gather: every rank's x_r reaches rank 0, which sums in rank order
    for (int r = 1; r < N; r++) send(count, r, S);
    for (size_t i = 0; i < n; i++) {
        float s = x[0][i];
        for (int r = 1; r < N; r++) s += x[r][i];
        x[0][i] = s;
    }
    count->steps = 2;  // broadcast: rank 0 sends the sum to every other rank
    for (int r = 1; r < N; r++) {
        memcpy(x[r], x[0], S);
        send(count, 0, S);
    }
}

// chunk c of n floats on N ranks: [c n / N, (c+1) n / N)
static size_t chunk_begin(size_t n, int N, int c) { return n * (size_t)c / (size_t)N; }
static int mod(int a, int N) { return ((a % N) + N) % N; }

void allreduce_ring(float **x, int N, size_t n, CommCount *count) {
    count_start(count, N);
    // reduce-scatter. In step s rank r sends chunk (r - s) and receives chunk (r - 1 - s): never
    // the chunk it sends, so every rank's sends of one step can be applied in place, in any order.
    for (int s = 0; s < N - 1; s++) {
        count->steps++;
        for (int r = 0; r < N; r++) {
            const int c = mod(r - s, N), to = mod(r + 1, N);
            const size_t b = chunk_begin(n, N, c), e = chunk_begin(n, N, c + 1);
            for (size_t i = b; i < e; i++) x[to][i] += x[r][i];
            send(count, r, sizeof(float) * (e - b));
        }
    }
    // all-gather: rank r now holds the sum of chunk r + 1; pass the complete chunks around.
    for (int s = 0; s < N - 1; s++) {
        count->steps++;
        for (int r = 0; r < N; r++) {
            const int c = mod(r + 1 - s, N), to = mod(r + 1, N);
            const size_t b = chunk_begin(n, N, c), e = chunk_begin(n, N, c + 1);
            memcpy(x[to] + b, x[r] + b, sizeof(float) * (e - b));
            send(count, r, sizeof(float) * (e - b));
        }
    }
}

double naive_root_bytes(int N, double S) { return (N - 1) * S; }
double ring_bytes_per_rank(int N, double S) { return 2.0 * (N - 1) / N * S; }
