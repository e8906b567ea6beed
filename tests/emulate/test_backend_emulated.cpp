// test_backend_emulated.cpp — the trainer's GPU backend (kernels/backend/backend_gpu.cu), run on CPU
// threads by tests/emulate/cuda_on_cpu.h, against the CPU backend through the same Backend table
// (common/train/backend.h) as lesson 16 uses it: forward, backward with gradient accumulation, the
// clipped AdamW step with the host Optimizer's settings, sync_to_host, params_changed and
// save_pretrained, and --gradient_checkpointing passed through. It checks the plumbing (what is uploaded, downloaded, accumulated, counted);
// tests/gpu/test_trainer.cu runs the trainer itself with --device cuda on a GPU.
#include <criterion/criterion.h>
#include <unistd.h>

#include <utility>
#include <vector>

#include "kernels/backend/backend_gpu.cu"

extern "C" {
#include "common/model/compare.h"
}

#define FIX "tests/fixtures/trainer/tiny-bert"  // 2 layers, hidden 32, 4 heads, 50 tokens
enum { B = 3, T = 5, MICRO = 2, STEPS = 3 };
static const char *const LABELS[] = {"negative", "positive"};

// Example: one padded micro-batch (B,T) of token ids from the tiny vocabulary and its labels.
typedef struct {
    int ids[B * T], types[B * T], mask[B * T], length[B], labels[B];
    Batch batch;
} Example;

static void make_batch(Example *e, Rng *r) {
    for (int b = 0; b < B; b++) {
        e->length[b] = 2 + (int)rng_below(r, T - 1);  // 2..T real tokens, the rest padding
        e->labels[b] = (int)rng_below(r, 2);
        for (int t = 0; t < T; t++) {
            const bool real = t < e->length[b];
            e->ids[b * T + t] = real ? 1 + (int)rng_below(r, 49) : 0;
            e->types[b * T + t] = 0, e->mask[b * T + t] = real;
        }
    }
    e->batch = (Batch){.B = B,
                       .T = T,
                       .input_ids = e->ids,
                       .token_type_ids = e->types,
                       .attention_mask = e->mask,
                       .length = e->length,
                       .labels = e->labels,
                       .cap = B * T};
}

// Run: what a few trainer steps report: the loss of every micro-batch and each step's grad norm.
typedef struct {
    double loss[STEPS * MICRO], norm[STEPS];
} Run;

// train: STEPS optimizer steps of MICRO accumulated micro-batches each, as lesson 16's loop
// (example_weight 1/(MICRO*B), clipping at 0.1 so that clipping happens, weight decay on).
static Run train(Backend *be, Optimizer *opt, const Example *ex) {
    Run run = {};
    Rng unused;
    rng_seed(&unused, 0, 0);
    for (int s = 0; s < STEPS; s++) {
        be->zero_grad(be);
        for (int k = 0; k < MICRO; k++) {
            const Example *e = &ex[s * MICRO + k];
            be->forward(be, &e->batch, false, &unused, &run.loss[s * MICRO + k]);
            be->backward(be, 1.0f / (MICRO * B));
        }
        run.norm[s] = be->step(be, opt, 1e-2 * (s + 1), 0.1);
    }
    if (be->sync_to_host) be->sync_to_host(be, opt);
    return run;
}

static Optimizer adamw(const Backend *be) {
    Optimizer opt;
    optimizer_init(&opt,
                   (OptimizerConfig){.kind = OPT_ADAMW, .beta1 = 0.8, .beta2 = 0.99, .eps = 1e-3, .weight_decay = 0.5},
                   be->ps);
    return opt;
}

static void expect_same_runs(const Run *gpu, const Run *cpu, const char *when) {
    for (int i = 0; i < STEPS * MICRO; i++)
        cr_expect(fabs(gpu->loss[i] - cpu->loss[i]) <= 1e-4 * fabs(cpu->loss[i]), "%s: loss %d: GPU %.7f, CPU %.7f",
                  when, i, gpu->loss[i], cpu->loss[i]);
    for (int s = 0; s < STEPS; s++)
        cr_expect(fabs(gpu->norm[s] - cpu->norm[s]) <= 1e-4 * cpu->norm[s], "%s: grad norm %d: GPU %.7f, CPU %.7f",
                  when, s, gpu->norm[s], cpu->norm[s]);
    cr_expect(cpu->norm[0] > 0.1, "%s: the first step's norm %.3f should be clipped (max 0.1)", when, cpu->norm[0]);
}

static void expect_same_state(const Backend *gpu, const Optimizer *gopt, const Backend *cpu, const Optimizer *copt,
                              const char *when) {
    const size_t n = cpu->ps->numel;
    const TensorDiff d = bert_tensor_diff((const BertModel *)cpu->model, gpu->ps->params, cpu->ps->params);
    const double em = max_relative_error(gopt->m, copt->m, n), ev = max_relative_error(gopt->v, copt->v, n);
    cr_expect(d.worst < 1e-4 && em < 1e-4 && ev < 1e-4, "%s: relative errors params %.2e (%s), m %.2e, v %.2e", when,
              d.worst, d.worst_name, em, ev);
    cr_expect_eq(gopt->step, copt->step, "%s: the optimizer's step counter: GPU %ld, CPU %ld", when, gopt->step,
                 copt->step);
}

Test(emulated_backend, trainer_steps_match_cpu, .timeout = 300) {
    Rng r;
    rng_seed(&r, 7, 0);
    Example ex[STEPS * MICRO];
    for (int i = 0; i < STEPS * MICRO; i++) make_batch(&ex[i], &r);
    Backend *cpu = backend_open_cpu(FIX, 2, LABELS, 42, B, T, false),
            *gpu = backend_open_gpu(FIX, 2, LABELS, 42, B, T, false);
    cr_assert_str_eq(gpu->device, "cuda");
    Optimizer copt = adamw(cpu), gopt = adamw(gpu);

    // 1. three accumulated, clipped AdamW steps: the same losses, norms, parameters and moments
    Run c = train(cpu, &copt, ex), g = train(gpu, &gopt, ex);
    expect_same_runs(&g, &c, "first run");
    expect_same_state(gpu, &gopt, cpu, &copt, "after sync_to_host");

    // 2. a checkpoint loaded on the host (here: the parameters halved, the moments kept), then
    // params_changed: the GPU continues from the host's parameters and optimizer
    for (size_t i = 0; i < cpu->ps->numel; i++) cpu->ps->params[i] *= 0.5f, gpu->ps->params[i] *= 0.5f;
    gpu->params_changed(gpu);
    c = train(cpu, &copt, ex), g = train(gpu, &gopt, ex);
    expect_same_runs(&g, &c, "after params_changed");
    expect_same_state(gpu, &gopt, cpu, &copt, "after params_changed");

    // 3. save_pretrained writes the GPU's parameters (a Hugging Face directory bert_load reads)
    char dir[64];
    snprintf(dir, sizeof dir, "/tmp/bertstep-backend-gpu-%d", (int)getpid());
    gpu->save_pretrained(gpu, dir);
    BertModel saved = bert_load(dir, 0, 0, NULL);
    cr_expect_eq(saved.config.num_labels, 2);
    cr_expect_str_eq(saved.config.id2label[1], "positive");
    const double es = max_relative_error(saved.ps.params, cpu->ps->params, saved.ps.numel);
    cr_expect(es < 1e-4, "saved parameters vs the CPU's: relative error %.2e", es);
    bert_free(&saved);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_expect_eq(system(cmd), 0);
    optimizer_free(&copt), optimizer_free(&gopt);
    cpu->close(cpu), gpu->close(gpu);
}

// Training forwards drop elements from masks seeded by the trainer's Rng: the same Rng state
// gives the same loss, another state another loss, and both differ from the evaluation loss.
Test(emulated_backend, dropout_follows_the_rng, .timeout = 300) {
    Rng r, a, b;
    rng_seed(&r, 7, 0);
    Example e;
    make_batch(&e, &r);
    Backend *gpu = backend_open_gpu(FIX, 2, LABELS, 42, B, T, false);
    double eval, l1, l2, l3;
    gpu->forward(gpu, &e.batch, false, &r, &eval);
    rng_seed(&a, 1, 0), rng_seed(&b, 1, 0);
    gpu->forward(gpu, &e.batch, true, &a, &l1);
    gpu->forward(gpu, &e.batch, true, &b, &l2);
    gpu->forward(gpu, &e.batch, true, &a, &l3);
    cr_expect(l1 == l2, "same Rng state, different losses: %.7f %.7f", l1, l2);
    cr_expect(l1 != l3 && l1 != eval, "dropout did not change the loss: eval %.7f, training %.7f %.7f", eval, l1, l3);
    gpu->close(gpu);
}

// --gradient_checkpointing reaches both models (the GPU one holds fewer activation bytes), and
// with dropout on the GPU backend trains as without: the same losses and norms. (Bit for bit in
// bert_model_check.h; here the embedding tables' atomicAdd sums may round differently from one
// run to the next, and the optimizer carries that into the next steps: 1e-6 allowed.)
Test(emulated_backend, gradient_checkpointing_trains_the_same, .timeout = 300) {
    Backend *cpu = backend_open_cpu(FIX, 2, LABELS, 42, B, T, true);
    cr_expect(((BertModel *)cpu->model)->gradient_checkpointing, "the CPU backend did not set gradient_checkpointing");
    cpu->close(cpu);
    Backend *be[2] = {backend_open_gpu(FIX, 2, LABELS, 42, B, T, false),
                      backend_open_gpu(FIX, 2, LABELS, 42, B, T, true)};
    const GpuBert *plain = &gpu_of(be[0])->gpu, *ckpt = &gpu_of(be[1])->gpu;
    cr_expect(!plain->gradient_checkpointing && ckpt->gradient_checkpointing && ckpt->acts_bytes < plain->acts_bytes,
              "activation bytes: %zu without, %zu with checkpointing", plain->acts_bytes, ckpt->acts_bytes);
    Rng r;
    rng_seed(&r, 7, 0);
    Example ex[STEPS * MICRO];
    for (int i = 0; i < STEPS * MICRO; i++) make_batch(&ex[i], &r);
    double loss[2][STEPS * MICRO], norm[2][STEPS];
    for (int k = 0; k < 2; k++) {
        Optimizer opt = adamw(be[k]);
        Rng dropout;
        rng_seed(&dropout, 5, 0);  // the same dropout seeds on both
        for (int s = 0; s < STEPS; s++) {
            be[k]->zero_grad(be[k]);
            for (int i = 0; i < MICRO; i++) {
                const Example *e = &ex[s * MICRO + i];
                be[k]->forward(be[k], &e->batch, true, &dropout, &loss[k][s * MICRO + i]);
                be[k]->backward(be[k], 1.0f / (MICRO * B));
            }
            norm[k][s] = be[k]->step(be[k], &opt, 1e-2, 0.1);
        }
        optimizer_free(&opt);
    }
    for (int i = 0; i < STEPS * MICRO; i++)
        cr_expect(fabs(loss[1][i] - loss[0][i]) <= 1e-6 * fabs(loss[0][i]),
                  "loss %d: %.9f with checkpointing, %.9f without", i, loss[1][i], loss[0][i]);
    for (int s = 0; s < STEPS; s++)
        cr_expect(fabs(norm[1][s] - norm[0][s]) <= 1e-6 * norm[0][s],
                  "grad norm %d: %.9f with checkpointing, %.9f without", s, norm[1][s], norm[0][s]);
    cr_expect(loss[0][0] == loss[1][0], "the first forward (same parameters, same masks): %.9f and %.9f", loss[0][0],
              loss[1][0]);
    be[0]->close(be[0]), be[1]->close(be[1]);
}

// --bf16 / --fp16 (set_format): the same accumulated, clipped AdamW steps as the float32 CPU
// backend. Measured here (largest relative difference over the 6 losses / 3 grad norms):
// bf16 5.8e-4 / 2.4e-3, fp16 2.8e-4 / 1.4e-4; the tolerances are about 4x the larger of the two.
// Then an fp16 step forced to overflow is skipped: the norm is not finite, the optimizer's step
// counter stays, and the scale halves.
Test(emulated_backend, mixed_precision_steps_follow_fp32, .timeout = 300) {
    Rng r;
    rng_seed(&r, 7, 0);
    Example ex[STEPS * MICRO];
    for (int i = 0; i < STEPS * MICRO; i++) make_batch(&ex[i], &r);
    Backend *cpu = backend_open_cpu(FIX, 2, LABELS, 42, B, T, false);
    Optimizer copt = adamw(cpu);
    const Run c = train(cpu, &copt, ex);
    const struct {
        FloatFormat f;
        double tol;
    } runs[] = {{FMT_BF16, 1e-2}, {FMT_FP16, 1e-3}};
    for (const auto &run : runs) {
        Backend *gpu = backend_open_gpu(FIX, 2, LABELS, 42, B, T, false);
        gpu->set_format(gpu, run.f);
        cr_expect((gpu->scaler != NULL) == (run.f == FMT_FP16), "%s: a loss scaler exactly with fp16",
                  format_name(run.f));
        Optimizer gopt = adamw(gpu);
        const Run g = train(gpu, &gopt, ex);
        double worst_loss = 0, worst_norm = 0;
        for (int i = 0; i < STEPS * MICRO; i++) worst_loss = fmax(worst_loss, fabs(g.loss[i] - c.loss[i]) / c.loss[i]);
        for (int k = 0; k < STEPS; k++) worst_norm = fmax(worst_norm, fabs(g.norm[k] - c.norm[k]) / c.norm[k]);
        cr_expect(worst_loss <= run.tol && worst_norm <= run.tol,
                  "%s: losses within %.2g, grad norms within %.2g of the float32 CPU backend's (tolerance %.2g)",
                  format_name(run.f), worst_loss, worst_norm, run.tol);
        cr_log_info("%s backend: losses within %.2g, grad norms within %.2g of fp32", format_name(run.f), worst_loss,
                    worst_norm);
        cr_expect_eq(gopt.step, STEPS);
        if (gpu->scaler) {
            gpu->scaler->scale = ldexpf(1.0f, 100);
            gpu->zero_grad(gpu);
            double loss;
            gpu->forward(gpu, &ex[0].batch, false, &r, &loss);
            gpu->backward(gpu, 1.0f / (float)B);
            const double norm = gpu->step(gpu, &gopt, 1e-2, 0.1);
            cr_expect(!isfinite(norm) && gopt.step == STEPS && gpu->scaler->scale == ldexpf(1.0f, 99),
                      "fp16 overflow: norm %g, optimizer step %ld (want %d), scale 2^%g (want 2^99)", norm, gopt.step,
                      (int)STEPS, log2(gpu->scaler->scale));
        }
        optimizer_free(&gopt);
        gpu->close(gpu);
    }
    optimizer_free(&copt);
    cpu->close(cpu);
}

// Data parallel on GPUs (BERTSTEP_NCCL=1: the NCCL path with one rank, the stand-in of
// tests/emulate/cuda/nccl.h). The backward reports its gradients in L + 1 ranges, from the end of
// the buffer down to 0, each starting at a tensor: every gradient in exactly one bucket. The
// group's last backward queues them all (numel floats a step, in L + 1 buckets); earlier
// backwards queue none; all_reduce_grads of one rank leaves the gradients bit for bit as they
// were, so the steps are those of the backend without NCCL.
static std::vector<std::pair<size_t, size_t>> ranges_seen;
static void record_range(void *, size_t start, size_t end) { ranges_seen.push_back({start, end}); }

Test(emulated_backend, nccl_one_rank_buckets_cover_every_gradient_once, .timeout = 300) {
    Rng r;
    rng_seed(&r, 7, 0);
    Example ex[STEPS * MICRO];
    for (int i = 0; i < STEPS * MICRO; i++) make_batch(&ex[i], &r);
    setenv("BERTSTEP_NCCL", "1", 1);
    Backend *nccl = backend_open_gpu(FIX, 2, LABELS, 42, B, T, false);
    unsetenv("BERTSTEP_NCCL");
    Backend *plain = backend_open_gpu(FIX, 2, LABELS, 42, B, T, false);
    cr_assert(nccl->all_reduce_grads && !plain->all_reduce_grads, "all_reduce_grads only with NCCL");

    // the ranges the backward reports
    GpuBert *g = &gpu_of(plain)->gpu;
    const int L = g->config.num_hidden_layers;
    double loss;
    plain->forward(plain, &ex[0].batch, false, &r, &loss);
    g->grads_final = record_range;
    gpu_bert_backward(g, 1.0f);
    g->grads_final = NULL;
    cr_assert_eq(ranges_seen.size(), (size_t)L + 1, "%zu ranges for %d layers", ranges_seen.size(), L);
    size_t end = g->numel;
    for (const auto &[start, stop] : ranges_seen) {
        cr_expect(stop == end && start < stop, "range [%zu, %zu) after one ending at %zu", start, stop, end);
        bool at_tensor = false;
        for (int t = 0; t < g->n_tensors; t++) at_tensor |= g->tensors[t].offset == start;
        cr_expect(at_tensor, "range [%zu, %zu) does not start at a tensor", start, stop);
        end = start;
    }
    cr_expect_eq(end, 0, "the ranges stop at %zu, not 0", end);
    plain->zero_grad(plain);

    // accumulated steps with and without NCCL
    Optimizer popt = adamw(plain), nopt = adamw(nccl);
    const size_t n = nccl->ps->numel;
    float *pg = (float *)xmalloc(sizeof(float) * n), *ng = (float *)xmalloc(sizeof(float) * n);
    for (int s = 0; s < STEPS; s++) {
        plain->zero_grad(plain), nccl->zero_grad(nccl);
        emulated_nccl_floats = 0;
        for (int k = 0; k < MICRO; k++) {
            const Example *e = &ex[s * MICRO + k];
            nccl->last_backward = plain->last_backward = k == MICRO - 1;
            plain->forward(plain, &e->batch, false, &r, &loss), plain->backward(plain, 1.0f / (MICRO * B));
            nccl->forward(nccl, &e->batch, false, &r, &loss), nccl->backward(nccl, 1.0f / (MICRO * B));
            cr_expect_eq(emulated_nccl_floats, k == MICRO - 1 ? n : 0, "step %d, backward %d: %zu floats reduced", s, k,
                         emulated_nccl_floats);
        }
        cr_expect_eq(gpu_of(nccl)->sync->buckets_queued, L + 1);
        nccl->all_reduce_grads(nccl);
        cr_expect_eq(emulated_nccl_floats, n, "all_reduce_grads reduced again: %zu floats", emulated_nccl_floats);
        gpu_bert_download_grads(&gpu_of(plain)->gpu, pg), gpu_bert_download_grads(&gpu_of(nccl)->gpu, ng);
        cr_expect(!memcmp(pg, ng, sizeof(float) * n), "step %d: a 1-rank all-reduce changed the gradients", s);
        const double pn = plain->step(plain, &popt, 1e-2, 0.1), nn = nccl->step(nccl, &nopt, 1e-2, 0.1);
        cr_expect(pn == nn, "step %d: grad norm %.9g with NCCL, %.9g without", s, nn, pn);
    }
    // a backward not told it ends the group: all_reduce_grads reduces the whole buffer at once
    nccl->zero_grad(nccl);
    emulated_nccl_floats = 0;
    nccl->last_backward = false;
    nccl->forward(nccl, &ex[0].batch, false, &r, &loss), nccl->backward(nccl, 1.0f);
    nccl->all_reduce_grads(nccl);
    cr_expect_eq(emulated_nccl_floats, n);
    free(pg), free(ng);
    optimizer_free(&popt), optimizer_free(&nopt);
    plain->close(plain), nccl->close(nccl);
}
