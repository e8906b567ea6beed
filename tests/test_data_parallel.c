// test_data_parallel.c — lesson 18's claims: the ring all-reduce and the naive one both leave
// the sum of every rank's buffer on every rank, and send the bytes their formulas say; the mean
// of N ranks' gradients, each on its shard (steps_shard_batch), is the gradient of the one batch
// the shards make up.
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/core/rng.h"
#include "common/core/util.h"
#include "common/model/logreg.h"
#include "common/train/allreduce.h"
#include "common/train/steps.h"

// ranks_buffers: N buffers of n normal floats; *sum (n) gets their exact (double) sum.
static float **ranks_buffers(int N, size_t n, double **sum) {
    Rng rng;
    rng_seed(&rng, 7, RNG_STREAM_EXAMPLES);
    float **x = xmalloc(sizeof(float *) * (size_t)N);
    *sum = xcalloc(n, sizeof(double));
    for (int r = 0; r < N; r++) {
        x[r] = xmalloc(sizeof(float) * n);
        for (size_t i = 0; i < n; i++) (*sum)[i] += x[r][i] = rng_normal(&rng);
    }
    return x;
}

static void free_buffers(float **x, int N) {
    for (int r = 0; r < N; r++) free(x[r]);
    free(x);
}

typedef void (*AllReduce)(float **, int, size_t, CommCount *);

// check_sum: after `reduce`, every rank holds the exact sum to float rounding (N terms).
static CommCount check_sum(AllReduce reduce, const char *name, int N, size_t n) {
    double *want;
    float **x = ranks_buffers(N, n, &want);
    CommCount c;
    reduce(x, N, n, &c);
    for (int r = 0; r < N; r++)
        for (size_t i = 0; i < n; i++)
            cr_assert(fabs(x[r][i] - want[i]) <= 1e-6 * N * (1 + fabs(want[i])),
                      "%s N %d n %zu rank %d [%zu]: %g, want %g", name, N, n, r, i, x[r][i], want[i]);
    free_buffers(x, N);
    free(want);
    return c;
}

Test(data_parallel, allreduce_sums_and_bytes) {
    const size_t sizes[] = {1, 7, 132, 1000};
    for (int N = 1; N <= 8; N++)
        for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
            const size_t n = sizes[k], S = sizeof(float) * n;
            CommCount naive = check_sum(allreduce_naive, "naive", N, n);
            CommCount ring = check_sum(allreduce_ring, "ring", N, n);
            cr_expect_eq(naive.steps, N > 1 ? 2 : 0);
            cr_expect_eq(ring.steps, 2 * (N - 1));
            cr_expect_eq((double)naive.sent[0], naive_root_bytes(N, (double)S), "naive N %d: rank 0 sent %zu", N,
                         naive.sent[0]);
            size_t ring_total = 0;
            for (int r = 0; r < N; r++) {
                if (r > 0) cr_expect_eq(naive.sent[r], S, "naive N %d rank %d sent %zu", N, r, naive.sent[r]);
                ring_total += ring.sent[r];
                if (n % (size_t)N == 0)  // equal chunks: every rank sends exactly 2 (N-1)/N S
                    cr_expect_eq((double)ring.sent[r], ring_bytes_per_rank(N, (double)S),
                                 "ring N %d n %zu rank %d: %zu", N, n, r, ring.sent[r]);
            }
            cr_expect_eq(ring_total, 2 * (size_t)(N - 1) * S, "ring N %d n %zu: %zu bytes in all", N, n, ring_total);
        }
}

// The ring's first chunk is summed in rank order (x_0 + x_1 + ...), as the naive sum: equal bits.
Test(data_parallel, ring_chunk_zero_in_rank_order) {
    const int N = 4;
    const size_t n = 64;
    double *unused;
    float **a = ranks_buffers(N, n, &unused), **b = ranks_buffers(N, n, &unused);
    free(unused);
    CommCount c;
    allreduce_naive(a, N, n, &c);
    allreduce_ring(b, N, n, &c);
    cr_expect(!memcmp(a[0], b[0], sizeof(float) * n / N), "chunk 0 differs");
    free_buffers(a, N), free_buffers(b, N);
}

// N ranks at batch B, each gradient the mean over its shard, averaged (the sum x 1/N, as the
// trainer does): the gradient of one process's batch of B x N.
Test(data_parallel, mean_of_shards_is_the_big_batch) {
    const int D = 16, K = 3, Nex = 96, B = 4, W = 3;
    Rng rng;
    rng_seed(&rng, 3, RNG_STREAM_EXAMPLES);
    float *X = xmalloc(sizeof(float) * Nex * D);
    int y[96], order[96], rows[12];
    for (int i = 0; i < Nex * D; i++) X[i] = rng_normal(&rng);
    for (int i = 0; i < Nex; i++) y[i] = (int)(rng_uniform(&rng) * K) % K, order[i] = (i * 37) % Nex;
    LogReg m;
    logreg_init(&m, D, K, &rng, 0.3f);
    const size_t P = m.ps.numel;
    StepPlan one = {.num_examples = Nex,
                    .per_device_train_batch_size = B * W,
                    .per_device_eval_batch_size = 1,
                    .gradient_accumulation_steps = 1,
                    .n_devices = 1,
                    .num_train_epochs = 1};
    StepPlan ranks = one;
    ranks.per_device_train_batch_size = B, ranks.n_devices = W;
    steps_plan(&one), steps_plan(&ranks);
    cr_assert_eq(one.batches_per_epoch, ranks.batches_per_epoch);
    float *big = xmalloc(sizeof(float) * P), *g[3];
    for (long k = 0; k < one.batches_per_epoch; k++) {
        int n = steps_shard_batch(&one, order, 0, k, rows);
        params_zero_grad(&m.ps);
        double big_loss = logreg_add_grad_rows(&m, X, y, rows, n, 1.0f / (float)n), loss = 0;
        memcpy(big, m.ps.grads, sizeof(float) * P);
        for (int r = 0; r < W; r++) {
            n = steps_shard_batch(&ranks, order, r, k, rows);
            params_zero_grad(&m.ps);
            loss += logreg_add_grad_rows(&m, X, y, rows, n, 1.0f / (float)n) / W;
            g[r] = xmalloc(sizeof(float) * P);
            memcpy(g[r], m.ps.grads, sizeof(float) * P);
        }
        CommCount c;
        allreduce_ring(g, W, P, &c);
        cr_expect(fabs(loss - big_loss) < 1e-6, "batch %ld: mean loss %g, batch loss %g", k, loss, big_loss);
        for (size_t i = 0; i < P; i++)
            cr_expect(fabsf(g[0][i] * (1.0f / W) - big[i]) < 1e-6f, "batch %ld grad %zu: %g vs %g", k, i,
                      g[0][i] * (1.0f / W), big[i]);
        for (int r = 0; r < W; r++) free(g[r]);
    }
    free(X), free(big);
    logreg_free(&m);
}
