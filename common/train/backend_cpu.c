// backend_cpu.c — the trainer's CPU backend: the BERT of lessons 10-11 behind backend.h.
#include "common/train/backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/model/bert.h"
#include "common/model/bert_io.h"
#include "common/model/matmul_bf16.h"
#include "common/core/util.h"

static BertModel *bert_of(Backend *b) { return b->model; }

static const float *cpu_forward(Backend *b, const Batch *x, bool training, Rng *rng, double *loss) {
    BertModel *m = bert_of(b);
    const int *labels = loss ? batch_labels(x) : NULL;
    const float *logits =
        bert_forward(m, x->input_ids, x->token_type_ids, x->attention_mask, labels, x->B, x->T, training, rng);
    if (loss) *loss = m->loss;
    return logits;
}

static void cpu_backward(Backend *b, float example_weight) { bert_backward(bert_of(b), example_weight); }

static void cpu_backward_from_dlogits(Backend *b, const float *dlogits) {
    bert_backward_from_dlogits(bert_of(b), dlogits);
}

static void cpu_zero_grad(Backend *b) { params_zero_grad(b->ps); }

static double cpu_step(Backend *b, Optimizer *opt, double lr, double max_grad_norm) {
    double norm = max_grad_norm > 0 ? clip_grad_norm(b->ps, max_grad_norm) : grad_global_norm(b->ps);
    optimizer_step(opt, b->ps, lr);
    return norm;
}

// cpu_set_format: bf16 is torch.autocast on the CPU (what the Hugging Face Trainer does with bf16
// and use_cpu): the Linear layers multiply in bf16 with fp32 sums, everything else stays fp32, and
// ps.params stays the fp32 master copy the optimizer updates (matmul_bf16.h). Says which path the
// products take on this CPU. fp16 on the CPU is refused before (training_args.c).
static void cpu_set_format(Backend *b, FloatFormat format) {
    if (format != FMT_BF16) die("internal: the CPU backend trains in fp32 or bf16, not %s", format_name(format));
    bert_of(b)->autocast_bf16 = true;
    printf("bf16 on the CPU: %s\n", gemm_bf16_path());
}

static bool cpu_try_alloc_batch(Backend *b, int max_batch) {
    BertModel *m = bert_of(b);
    return bert_try_alloc_acts(m, max_batch, m->max_T);
}

static void cpu_save_pretrained(Backend *b, const char *dir) { bert_save_hf(bert_of(b), dir); }

static void cpu_close(Backend *b) {
    bert_free(bert_of(b));
    free(b->model);
    free(b);
}

// set_label_names: the model's id2label becomes the data set's label names, so the saved
// config.json maps class ids to the names in the data (label2id is written from it).
static void set_label_names(BertConfig *c, int K, const char *const *names) {
    for (int k = 0; k < c->num_labels; k++) free(c->id2label[k]);
    free(c->id2label);
    c->num_labels = K;
    c->id2label = xmalloc(sizeof(char *) * (size_t)K);
    for (int k = 0; k < K; k++) c->id2label[k] = xstrdup(names[k]);
}

BertModel *backend_load_bert(const char *dir, int K, const char *const *label_names, unsigned long seed,
                             int max_seq_length) {
    BertConfig c = bert_config_load(dir, K);  // checked before the weights are read
    if (max_seq_length > c.max_position_embeddings)
        die("--max_seq_length %d is longer than the model's max_position_embeddings %d (%s/config.json)",
            max_seq_length, c.max_position_embeddings, dir);
    bert_config_free(&c);
    BertModel *m = xmalloc(sizeof *m);
    *m = bert_load(dir, K, (uint64_t)seed, NULL);
    if (label_names) set_label_names(&m->config, K, label_names);
    return m;
}

Backend *backend_of_bert(BertModel *m) {
    Backend *b = xcalloc(1, sizeof *b);
    *b = (Backend){.num_labels = m->config.num_labels,
                   .id2label = m->config.id2label,
                   .max_position_embeddings = m->config.max_position_embeddings,
                   .config = &m->config,
                   .ps = &m->ps};
    return b;
}

Backend *backend_open_cpu(const char *dir, int K, const char *const *label_names, unsigned long seed, int max_batch,
                          int max_seq_length, bool gradient_checkpointing) {
    BertModel *m = backend_load_bert(dir, K, label_names, seed, max_seq_length);
    m->gradient_checkpointing = gradient_checkpointing;
    bert_alloc_acts(m, max_batch, max_seq_length);
    Backend *b = backend_of_bert(m);
    b->device = "cpu", b->model = m;
    b->backward_from_dlogits = cpu_backward_from_dlogits;
    b->forward = cpu_forward, b->backward = cpu_backward, b->zero_grad = cpu_zero_grad, b->step = cpu_step;
    b->save_pretrained = cpu_save_pretrained, b->close = cpu_close, b->set_format = cpu_set_format;
    b->try_alloc_batch = cpu_try_alloc_batch;
    return b;
}
