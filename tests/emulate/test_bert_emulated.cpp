// test_bert_emulated.cpp — lesson 13's kernels (kernels/bert/bert_kernels.cu), the same source the GPU
// runs, executed on the CPU by tests/emulate/cuda_on_cpu.h (cuBLAS being the CPU sgemm there),
// against the CPU layer functions they mirror, element by element on poisoned outputs
// (tests/gpu/bert_kernels_check.h). A machine without a GPU checks their indexing, reductions and
// barriers this way; tests/gpu/test_bert.cu runs the same checks on the hardware.
// The whole GPU model (kernels/bert/bert_cuda.cu) runs the same way against the CPU BERT
// (tests/gpu/bert_model_check.h): the buffers, strides and order of its calls are checked here;
// what only a GPU can show (the real cuBLAS, races, speed) is left to make test-gpu.
#include <criterion/criterion.h>

#include "tests/expect_error.h"
#include "tests/gpu/bert_model_check.h"

// Small and odd: 300 channels (more than a row block's 256 threads), 7 tokens, 3 heads of 100.
Test(emulated_bert, kernels_match_cpu, .timeout = 300) {
    const KernelDims d = {.B = 2, .T = 7, .C = 300, .NH = 3, .I = 44, .V = 13, .K = 3};
    for (const KernelCheck &r : bert_kernel_checks(d, 1)) {
        cr_expect(r.ok, "%s", r.line);
        if (r.ok) cr_log_info("%s", r.line);
    }
}

// The tiny BERT of tests/fixtures/bert (2 layers, hidden 64, 4 heads; tests/gen_bert.py), a padded
// batch of 2 x 6: one step without and one with dropout, then 3 AdamW steps (the GPU test runs
// 10 on 3 x 8; every launch is slow here).
Test(emulated_bert, model_matches_cpu, .timeout = 300) {
    for (const KernelCheck &r : bert_model_checks("tests/fixtures/bert/tiny", 2, 6, 3)) {
        cr_expect(r.ok, "%s", r.line);
        if (r.ok) cr_log_info("%s", r.line);
    }
}

// Gradient checkpointing (bert_model_check.h): the same loss and gradients as without, and the
// activation memory common/model/memory.h says; 4 x 16 tokens (every layer buffer a whole number of
// 256-byte blocks).
Test(emulated_bert, checkpointing_matches_and_saves_what_the_formula_says, .timeout = 300) {
    for (const KernelCheck &r : bert_checkpointing_checks("tests/fixtures/bert/tiny", 4, 16)) {
        cr_expect(r.ok, "%s", r.line);
        if (r.ok) cr_log_info("%s", r.line);
    }
}

// With checkpointing the layers share one set of dropout-mask buffers: the CPU's masks, one set a
// layer, cannot be uploaded (one error line).
Test(emulated_bert, checkpointing_refuses_cpu_masks) {
    EXPECT_ERROR("the GPU BERT with gradient checkpointing cannot take the CPU's dropout masks", {
        BertModel m = bert_load("tests/fixtures/bert/tiny", 0, 0, NULL);
        m.config.hidden_dropout_prob = 0.1f;
        bert_alloc_acts(&m, 1, 2);
        const int ids[2] = {3, 4};
        Rng rng;
        rng_seed(&rng, 1, 0);
        bert_forward(&m, ids, NULL, NULL, NULL, 1, 2, true, &rng);
        m.gradient_checkpointing = true;
        GpuBert g = gpu_bert_create(&m, 1, 2, GEMM_FP32, FMT_FP32);
        gpu_bert_use_dropout_masks(&g, &m);
    });
}

// A bad batch is one error line on the host, before anything reaches the GPU (where an id outside
// the vocabulary would read outside the embedding table).
Test(emulated_bert, id_outside_the_vocabulary_is_an_error) {
    EXPECT_ERROR("input_ids[0][1] = 50 is outside the vocabulary (50)", {
        BertModel m = bert_load("tests/fixtures/bert/tiny", 0, 0, NULL);
        GpuBert g = gpu_bert_create(&m, 1, 2, GEMM_FP32, FMT_FP32);
        const int ids[2] = {3, 50}, mask[2] = {1, 1};  // the tiny vocabulary has 50 tokens: 0..49
        gpu_bert_forward(&g, ids, NULL, mask, NULL, 1, 2, false, 0);
    });
}

Test(emulated_bert, batch_larger_than_allocated_is_an_error) {
    EXPECT_ERROR("batch (1 x 3) does not fit the activations allocated for (1 x 2)", {
        BertModel m = bert_load("tests/fixtures/bert/tiny", 0, 0, NULL);
        GpuBert g = gpu_bert_create(&m, 1, 2, GEMM_FP32, FMT_FP32);
        const int ids[3] = {3, 4, 5};
        gpu_bert_forward(&g, ids, NULL, NULL, NULL, 1, 3, false, 0);
    });
}

// bf16 and fp16 with float32 master weights (lesson 14's recipe), emulated: the narrow formats'
// rounding is common/model/precision.h's, bit for bit the GPU's conversion, so the errors measured here
// are the GPU's up to the order of the float32 sums inside cuBLAS.
Test(emulated_bert, mixed_precision_matches_fp32, .timeout = 300) {
    for (const KernelCheck &r : bert_mixed_checks()) {
        cr_expect(r.ok, "%s", r.line);
        if (r.ok) cr_log_info("%s", r.line);
    }
}
