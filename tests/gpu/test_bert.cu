// test_bert.cu — lesson 13 on the GPU: every kernel of kernels/bert/bert_kernels.cu against the CPU
// function it mirrors (poisoned outputs, every element; tests/gpu/bert_kernels_check.h), at small
// odd sizes and at BERT-base's (hidden 768, 12 heads, 128 tokens, feed-forward 3072); then the
// whole GPU BERT against the CPU BERT on the tiny checkpoint of tests/fixtures/bert: logits, loss,
// every gradient, with and without dropout, and 10 AdamW steps (tests/gpu/bert_model_check.h);
// with gradient checkpointing against without. Float32 products, TF32 off; then the bf16 and
// fp16 models (lesson 14). The CPU emulation (tests/emulate/test_bert_emulated.cpp) runs the same
// checks without a GPU.
#include "tests/gpu/bert_model_check.h"
#include "tests/gpu/harness.cuh"

static void expect_all(const std::vector<KernelCheck> &results) {
    for (const KernelCheck &r : results) CHECK(r.ok, "%s", r.line);
}

GPU_TEST(bert_kernels_match_cpu_small) { expect_all(bert_kernel_checks(KernelDims{2, 7, 300, 3, 44, 13, 3}, 1)); }

GPU_TEST(bert_kernels_match_cpu_bert_base_shapes) {
    expect_all(bert_kernel_checks(KernelDims{4, 128, 768, 12, 3072, 30522, 2}, 2));
}

GPU_TEST(bert_model_matches_cpu) { expect_all(bert_model_checks("tests/fixtures/bert/tiny", 3, 8, 10)); }

// Gradient checkpointing against the same model without (bert_model_check.h): the same loss and
// gradient bits (the embedding tables within atomicAdd's rounding), and exactly the activation
// bytes common/model/memory.h says it saves.
GPU_TEST(bert_checkpointing_matches_plain) { expect_all(bert_checkpointing_checks("tests/fixtures/bert/tiny", 4, 16)); }

// bf16 and fp16 with float32 masters against the float32 CPU model, AdamW steps, and a forced
// fp16 overflow (tests/gpu/bert_model_check.h; the tolerances there were measured under the CPU
// emulation, which rounds exactly as the GPU does).
GPU_TEST(bert_mixed_precision_matches_fp32) { expect_all(bert_mixed_checks()); }

// A failing allocation names the buffer and the batch it was for.
GPU_HELPER(bert_too_big) {
    BertModel m = bert_load("tests/fixtures/bert/tiny", 0, 0, NULL);
    gpu_bert_create(&m, 1 << 22, 16, GEMM_FP32, FMT_FP32);  // terabytes of activations
}

GPU_TEST(bert_allocation_failure_says_what) {
    int status;
    char *out = run_helper("bert_too_big", &status);
    CHECK(status == 1, "exit status %d, want 1; printed: %s", status, out);
    CHECK(strstr(out, "BERT activations for batches of 4194304 x 16") && strstr(out, "bytes free"),
          "the error should name the activations and the free memory; printed: %s", out);
    free(out);
}
