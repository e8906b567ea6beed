// memory.c — see memory.h (lesson 15).
#include "common/model/memory.h"

ActivationMemory activation_memory(const BertConfig *c, int B, int T, int elem_bytes, bool checkpointing) {
    const size_t e = (size_t)elem_bytes, L = (size_t)c->num_hidden_layers, K = (size_t)c->num_labels;
    const size_t BT = (size_t)B * T, BTC = BT * c->hidden_size, BTI = BT * c->intermediate_size;
    const size_t ATT = (size_t)B * c->num_attention_heads * T * T, BC = (size_t)B * c->hidden_size;
    ActivationMemory a;
    a.layer = e * (8 * BTC + 2 * BTI + 2 * ATT + 4 * BT) + ATT + 2 * BTC;
    a.layers = checkpointing ? L * e * BTC + (a.layer - e * BTC) : L * a.layer;
    a.embeddings = e * (3 * BTC + 2 * BT) + BTC;
    a.head = e * (3 * BC + 3 * B * K) + BC;
    a.backward = e * (6 * BTC + BTI + ATT + 3 * BC);
    a.total = a.layers + a.embeddings + a.head + a.backward;
    return a;
}

size_t bert_embedding_param_count(const BertConfig *c) {
    const size_t V = (size_t)c->vocab_size, C = (size_t)c->hidden_size;
    return V * C + (size_t)c->max_position_embeddings * C + (size_t)c->type_vocab_size * C + 2 * C;
}

size_t bert_param_count(const BertConfig *c) {
    const size_t C = (size_t)c->hidden_size, I = (size_t)c->intermediate_size, K = (size_t)c->num_labels;
    size_t layer = 4 * (C * C + C) + 2 * C + (I * C + I) + (C * I + C) + 2 * C;
    return bert_embedding_param_count(c) + (size_t)c->num_hidden_layers * layer + C * C + C + K * C + K;
}

BertConfig bert_base_uncased_config(int num_labels) {
    return (BertConfig){.vocab_size = 30522,
                        .hidden_size = 768,
                        .num_hidden_layers = 12,
                        .num_attention_heads = 12,
                        .intermediate_size = 3072,
                        .max_position_embeddings = 512,
                        .type_vocab_size = 2,
                        .num_labels = num_labels};
}

StateMemory state_memory(size_t n_params, FloatFormat f) {
    StateMemory s = {(size_t)format_bytes(f) * n_params, f == FMT_FP32 ? 0 : 4 * n_params, 4 * n_params, 8 * n_params,
                     0};
    s.total = s.weights + s.master + s.grads + s.adam;
    return s;
}
