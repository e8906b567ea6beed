// test_memory.c — lesson 15's pieces: the activation-memory formula (common/model/memory.c) is what
// bert_alloc_acts allocates, with and without gradient checkpointing; checkpointing saves
// memory and gives bit-identical logits, loss and gradients (dropout on, so the recomputed
// forward must redraw the same masks), in fp32 and with emulated bf16 activations.
#include <criterion/criterion.h>
#include <string.h>

#include "common/model/bert.h"
#include "common/model/bert_io.h"
#include "common/model/memory.h"
#include "common/core/util.h"

#define TINY "tests/fixtures/bert/tiny"

// train_step: one training forward/backward of the tiny model on a fixed padded batch with
// dropout 0.1 everywhere; returns the model (grads, logits and act_bytes inside).
static BertModel train_step(bool checkpointing, FloatFormat fmt) {
    enum { B = 3, T = 8 };
    static const int ids[B * T] = {2, 7, 9, 11, 4, 33, 21, 3, 2, 5, 6, 3, 0, 0, 0, 0, 2, 40, 3, 0, 0, 0, 0, 0};
    static const int mask[B * T] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0};
    static const int labels[B] = {0, 2, 1};
    BertModel m = bert_load(TINY, 0, 0, NULL);
    m.config.hidden_dropout_prob = m.config.attention_probs_dropout_prob = m.config.classifier_dropout = 0.1f;
    m.gradient_checkpointing = checkpointing;
    m.act_format = fmt;
    bert_alloc_acts(&m, B, T);
    Rng rng;
    rng_seed(&rng, 42, RNG_STREAM_DROPOUT);
    bert_forward(&m, ids, NULL, mask, labels, B, T, true, &rng);
    bert_backward(&m, 1.0f / B);
    return m;
}

Test(memory, checkpointing_gives_bit_identical_gradients) {
    const FloatFormat fmts[] = {FMT_FP32, FMT_BF16};
    for (size_t f = 0; f < ARRAY_LEN(fmts); f++) {
        BertModel plain = train_step(false, fmts[f]), ckpt = train_step(true, fmts[f]);
        cr_expect(!memcmp(plain.logits, ckpt.logits, sizeof(float) * 3 * plain.config.num_labels), "%s: logits differ",
                  format_name(fmts[f]));
        cr_expect_eq(plain.loss, ckpt.loss, "%s: loss differs", format_name(fmts[f]));
        size_t differ = 0;
        for (size_t i = 0; i < plain.ps.numel; i++)
            differ += memcmp(&plain.ps.grads[i], &ckpt.ps.grads[i], sizeof(float)) != 0;
        cr_expect_eq(differ, 0, "%s: %zu of %zu gradients differ in their bits", format_name(fmts[f]), differ,
                     plain.ps.numel);
        cr_expect(ckpt.act_bytes < plain.act_bytes, "checkpointing allocated %zu bytes, plain %zu", ckpt.act_bytes,
                  plain.act_bytes);
        bert_free(&plain), bert_free(&ckpt);
    }
}

Test(memory, formula_is_what_bert_alloc_acts_allocates) {
    for (int ck = 0; ck < 2; ck++) {
        BertModel m = bert_load(TINY, 0, 0, NULL);
        m.gradient_checkpointing = ck;
        bert_alloc_acts(&m, 5, 13);
        ActivationMemory a = activation_memory(&m.config, 5, 13, 4, ck);
        cr_expect_eq(bert_param_count(&m.config), m.ps.numel, "parameter count formula %zu, model %zu",
                     bert_param_count(&m.config), m.ps.numel);
        cr_expect_eq(a.total, m.act_bytes, "checkpointing %d: formula %zu bytes, allocated %zu", ck, a.total,
                     m.act_bytes);
        bert_free(&m);
    }
}
