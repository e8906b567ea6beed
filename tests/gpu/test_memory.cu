// test_memory.cu — lesson 15's accounting checked against what the GPU actually allocates:
// cudaMemGetInfo's free bytes before and after gpu_bert_create (then gpu_bert_adamw_init, then
// one training step), without and with gradient checkpointing, against gpu_bert_memory_bytes and
// against common/model/memory.h's formula for the same config and batch.
//
// The slack allowed, and why:
//   - pages: the driver hands out device memory in 2 MiB pages, so a cudaMalloc of n bytes can
//     take up to 2 MiB more than n, or nothing when a small one fits a page already taken;
//     gpu_bert_create makes 5 allocations (parameters, gradients, two AdamW tables, activations):
//     5 x 2 MiB either way.
//   - the cuBLAS handle gpu_bert_create makes: measured here on its own (after a first handle
//     has paid the library's one-time setup), and allowed on top.
//   - the formula counts what the CPU model allocates: the GPU also holds a few buffers of its
//     own (gpu_bert_acts_beyond_formula) and pads each buffer to 256 bytes (under 64 KiB here).
//   - a training step may allocate what cuBLAS and lazily loaded kernels need (cuBLAS's
//     workspace: 32 MiB recommended on Hopper); 128 MiB allowed, against 780 MB of activations,
//     so a buffer of activation size allocated during a step would show.
// The model: the tests' tiny BERT (2 layers, hidden 64, 16 positions) at 4096 x 16 tokens, so
// that the activations (about 780 MB, 1/3 less with checkpointing) dwarf the slack.
#include <stdio.h>
#include <stdlib.h>

#include <vector>

#include "kernels/bert/bert_cuda.cuh"
#include "tests/gpu/harness.cuh"

extern "C" {
#include "common/model/bert_io.h"
#include "common/model/memory.h"
}

static const long long PAGE = 2 << 20, CREATE_SLACK = 5 * PAGE, ALIGN_SLACK = 64 << 10, STEP_SLACK = 128 << 20;

// dropped: how much the free memory fell since `before` (negative if it rose).
static long long dropped(size_t before) { return (long long)before - (long long)gpu_free_bytes(); }

// handle_cost: what one more cuBLAS handle takes.
static long long handle_cost(void) {
    cublasHandle_t h;
    CUBLAS_CHECK(cublasCreate(&h));  // the library's one-time setup
    CUBLAS_CHECK(cublasDestroy(h));
    const size_t before = gpu_free_bytes();
    CUBLAS_CHECK(cublasCreate(&h));
    const long long cost = dropped(before);
    CUBLAS_CHECK(cublasDestroy(h));
    return cost;
}

GPU_TEST(memory_matches_the_accounting) {
    CUDA_CHECK(cudaFree(0));  // the context exists before anything is measured
    BertModel m = bert_load("tests/fixtures/bert/tiny", 0, 0, NULL);
    const int B = 4096, T = 16;
    const long long handle = handle_cost();
    printf("  cuBLAS handle: %.2f MiB; pages of 2 MiB; model: tiny BERT at %d x %d tokens, fp32\n", handle / 1048576.0,
           B, T);
    const StateMemory state = state_memory(bert_param_count(&m.config), FMT_FP32);
    long long created[2];
    for (int ck = 0; ck < 2; ck++) {
        m.gradient_checkpointing = ck;
        size_t before = gpu_free_bytes();
        GpuBert g = gpu_bert_create(&m, B, T, GEMM_FP32, FMT_FP32);
        created[ck] = dropped(before);
        const long long held = (long long)gpu_bert_memory_bytes(&g);  // parameters, gradients, activations
        const ActivationMemory a = activation_memory(&m.config, B, T, 4, ck);
        const long long formula = (long long)(state.weights + state.grads + a.total + gpu_bert_acts_beyond_formula(&g));
        const char *name = ck ? "gradient checkpointing" : "all activations kept";
        printf("  %s: gpu_bert_create took %.2f MiB; gpu_bert_memory_bytes %.2f MiB; common/model/memory.h %.2f MiB "
               "(+ GPU-only buffers)\n",
               name, created[ck] / 1048576.0, held / 1048576.0, formula / 1048576.0);
        CHECK(created[ck] >= held - CREATE_SLACK && created[ck] <= held + handle + CREATE_SLACK,
              "%s: gpu_bert_create took %lld bytes, gpu_bert_memory_bytes says %lld (+ handle %lld, +- 5 pages)", name,
              created[ck], held, handle);
        CHECK(created[ck] >= formula - CREATE_SLACK && created[ck] <= formula + ALIGN_SLACK + handle + CREATE_SLACK,
              "%s: gpu_bert_create took %lld bytes, the formula (with the GPU-only buffers) says %lld", name,
              created[ck], formula);

        before = gpu_free_bytes();
        gpu_bert_adamw_init(&g, optimizer_defaults(OPT_ADAMW));
        const long long moments = dropped(before);
        printf("  %s: AdamW moments took %.2f MiB; the formula %.2f MiB\n", name, moments / 1048576.0,
               state.adam / 1048576.0);
        CHECK(llabs(moments - (long long)state.adam) <= PAGE,
              "%s: the AdamW moments took %lld bytes, the formula says %zu", name, moments, state.adam);

        // one training step: nothing of activation size may be allocated on the way
        std::vector<int> ids((size_t)B * T), labels(B);
        for (size_t i = 0; i < ids.size(); i++) ids[i] = (int)(i * 7 % (size_t)m.config.vocab_size);
        for (int b = 0; b < B; b++) labels[b] = b % m.config.num_labels;
        before = gpu_free_bytes();
        gpu_bert_zero_grad(&g);
        gpu_bert_forward(&g, ids.data(), NULL, NULL, labels.data(), B, T, true, 5);
        gpu_bert_backward(&g, 1.0f / B);
        gpu_bert_clip_grad_norm(&g, 1.0);
        gpu_bert_adamw_step(&g, 1e-3);
        const long long step = dropped(before);
        printf("  %s: a training step allocated %.2f MiB more (cuBLAS workspace, kernels loaded on first use)\n", name,
               step / 1048576.0);
        CHECK(step <= STEP_SLACK, "%s: a training step allocated %lld bytes", name, step);
        gpu_bert_free(&g);
    }
    const long long saved = created[0] - created[1];
    const long long formula_saved = (long long)(activation_memory(&m.config, B, T, 4, false).total -
                                                activation_memory(&m.config, B, T, 4, true).total);
    printf("  gradient checkpointing saved %.2f MiB; common/model/memory.h says %.2f MiB\n", saved / 1048576.0,
           formula_saved / 1048576.0);
    CHECK(llabs(saved - formula_saved) <= 2 * PAGE, "checkpointing saved %lld bytes, the formula says %lld", saved,
          formula_saved);
    bert_free(&m);
}
