// Lesson 15 — memory: where the bytes of a training step go, gradient checkpointing, and what
// to do when a batch does not fit.
//
//   1. the accounting for a configuration (common/model/memory.h): weights, gradients, AdamW moments,
//      fp32 master weights, and activations per layer as a function of batch B and length T,
//      for all-MiniLM-L6-v2 and bert-base, in fp32 and in bf16/fp16 (2-byte activations)
//   2. the same formula against the bytes this CPU program really allocates (BertModel.act_bytes,
//      ParamSet, Optimizer): they must be equal
//   3. gradient checkpointing on the CPU BERT: activation memory with and without, the step-time
//      cost of recomputing every layer's forward, and the gradients compared bit for bit
//   4. out of memory, the remedies as numbers: a smaller batch with gradient accumulation (the
//      same effective batch, lesson 02/05), a shorter max_seq_length, dynamic padding and
//      group_by_length on the real SST-2 lengths (lesson 07 counts their tokens; here: their memory)
//
// The GPU numbers are lesson 13's: it prints the GPU model's activations as this formula plus
// the buffers only the GPU holds, beside what cudaMemGetInfo says the GPU gave (a .c lesson has no
// CUDA runtime); tests/gpu/test_memory.cu checks them.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/core/args.h"
#include "common/text/batch.h"
#include "common/model/bert.h"
#include "common/model/bert_io.h"
#include "common/text/dataset.h"
#include "common/model/memory.h"
#include "common/train/optim.h"
#include "common/train/steps.h"
#include "common/text/tokenizer.h"
#include "common/core/util.h"

static double mib(size_t bytes) { return (double)bytes / (1024.0 * 1024.0); }

// ---- 1. the accounting ------------------------------------------------------------------------

static void print_accounting(const char *name, const BertConfig *c) {
    const size_t P = bert_param_count(c);
    StateMemory s32 = state_memory(P, FMT_FP32), s16 = state_memory(P, FMT_BF16);
    printf("\n%s: L %d, C %d, I %d, heads %d: %zu parameters\n", name, c->num_hidden_layers, c->hidden_size,
           c->intermediate_size, c->num_attention_heads, P);
    printf("  training state   fp32: weights %.0f + grads %.0f + AdamW m,v %.0f = %.0f MiB (16 bytes/parameter)\n",
           mib(s32.weights), mib(s32.grads), mib(s32.adam), mib(s32.total));
    printf("              bf16/fp16: weights %.0f + fp32 masters %.0f + grads %.0f + AdamW %.0f = %.0f MiB (18 "
           "bytes/parameter)\n",
           mib(s16.weights), mib(s16.master), mib(s16.grads), mib(s16.adam), mib(s16.total));
    printf("  activations (MiB)    one layer  all layers  rest   total | checkpointed  | step total  checkpointed  "
           "saved\n");
    const int shapes[][2] = {{8, 128}, {32, 128}, {32, 512}};
    for (size_t i = 0; i < ARRAY_LEN(shapes); i++)
        for (int e = 4; e >= 2; e -= 2) {
            const int B = shapes[i][0], T = shapes[i][1];
            ActivationMemory a = activation_memory(c, B, T, e, false), k = activation_memory(c, B, T, e, true);
            size_t state = e == 4 ? s32.total : s16.total;
            printf("  B %2d T %3d %s    %9.1f  %10.1f  %5.1f  %6.1f | %12.1f  | %10.1f  %12.1f  %4.1f%%\n", B, T,
                   e == 4 ? "fp32" : "bf16", mib(a.layer), mib(a.layers), mib(a.total - a.layers), mib(a.total),
                   mib(k.total), mib(state + a.total), mib(state + k.total),
                   100.0 * (double)(a.total - k.total) / (double)(state + a.total));
        }
}

// ---- 2. the formula against the program's allocations ---------------------------------------

static void check_allocations(const char *model_dir, int B, int T) {
    printf("\n== 2. the formula against what this program allocates (%s, B %d, T %d, fp32) ==\n", model_dir, B, T);
    for (int ck = 0; ck < 2; ck++) {
        BertModel m = bert_load(model_dir, 2, 0, NULL);
        m.gradient_checkpointing = ck;
        bert_alloc_acts(&m, B, T);
        Optimizer opt;
        optimizer_init(&opt, optimizer_defaults(OPT_ADAMW), &m.ps);
        size_t program_state = 2 * sizeof(float) * m.ps.numel + 2 * sizeof(float) * opt.numel;  // params, grads, m, v
        StateMemory s = state_memory(bert_param_count(&m.config), FMT_FP32);
        ActivationMemory a = activation_memory(&m.config, B, T, 4, ck);
        printf("%-26s  weights+grads+AdamW: formula %zu, allocated %zu  activations: formula %zu, allocated %zu  %s\n",
               ck ? "gradient checkpointing" : "all activations kept", s.total, program_state, a.total, m.act_bytes,
               s.total == program_state && a.total == m.act_bytes ? "equal" : "DIFFERENT");
        optimizer_free(&opt);
        bert_free(&m);
    }
}

// ---- 3. gradient checkpointing, measured ------------------------------------------------------

typedef struct {
    float *grads;
    size_t act_bytes;
    double seconds;  // the fastest of `reps` forward+backward passes
} CkptRun;

static CkptRun run_step(const char *model_dir, bool ckpt, const Batch *b, int reps, int seed) {
    BertModel m = bert_load(model_dir, 2, (uint64_t)seed, NULL);
    m.gradient_checkpointing = ckpt;
    bert_alloc_acts(&m, b->B, b->T);
    CkptRun r = {xmalloc(sizeof(float) * m.ps.numel), m.act_bytes, INFINITY};
    for (int i = 0; i < reps; i++) {
        Rng rng;
        rng_seed(&rng, (uint64_t)seed, RNG_STREAM_DROPOUT);  // the same dropout masks in both runs
        params_zero_grad(&m.ps);
        double t0 = now_seconds();
        bert_forward(&m, b->input_ids, b->token_type_ids, b->attention_mask, b->labels, b->B, b->T, true, &rng);
        bert_backward(&m, 1.0f / (float)b->B);
        r.seconds = fmin(r.seconds, now_seconds() - t0);
    }
    memcpy(r.grads, m.ps.grads, sizeof(float) * m.ps.numel);
    bert_free(&m);
    return r;
}

static void measure_checkpointing(const char *model_dir, const Batch *b, int reps, int seed) {
    printf("\n== 3. gradient checkpointing on the CPU (%s, a real SST-2 batch: B %d, T %d, dropout on) ==\n", model_dir,
           b->B, b->T);
    CkptRun plain = run_step(model_dir, false, b, reps, seed), ck = run_step(model_dir, true, b, reps, seed);
    BertConfig c = bert_config_load(model_dir, 2);
    size_t n = bert_param_count(&c);
    bert_config_free(&c);
    printf("activations allocated: %.2f MiB kept for every layer, %.2f MiB with checkpointing (%.1f%% less)\n",
           mib(plain.act_bytes), mib(ck.act_bytes),
           100.0 * (double)(plain.act_bytes - ck.act_bytes) / (double)plain.act_bytes);
    printf("forward + backward: %.3f s, with checkpointing %.3f s: %.2fx the time (best of %d)\n", plain.seconds,
           ck.seconds, ck.seconds / plain.seconds, reps);
    printf("gradients identical bit for bit: %s\n", memcmp(plain.grads, ck.grads, sizeof(float) * n) ? "NO" : "yes");
    free(plain.grads), free(ck.grads);
}

// ---- 4. out of memory: the remedies ---------------------------------------------------------

static void remedy_accumulation(const BertConfig *c, int T) {
    printf("\n-- a smaller batch with gradient accumulation (same effective batch; lesson 05 shows the same gradient) "
           "--\n");
    const int plans[][2] = {{32, 1}, {16, 2}, {8, 4}, {4, 8}};
    for (size_t i = 0; i < ARRAY_LEN(plans); i++) {
        StepPlan p = {.num_examples = 67349,
                      .per_device_train_batch_size = plans[i][0],
                      .per_device_eval_batch_size = 32,
                      .gradient_accumulation_steps = plans[i][1],
                      .n_devices = 1,
                      .num_train_epochs = 1};
        steps_plan(&p);
        printf("batch %2d x accumulation %d = %ld per step, %ld steps per epoch: activations %.1f MiB (T %d, fp32)\n",
               plans[i][0], plans[i][1], p.effective_batch, p.updates_per_epoch,
               mib(activation_memory(c, plans[i][0], T, 4, false).total), T);
    }
}

static void remedy_seq_length(const BertConfig *c, int B, const int *len, int n) {
    printf("\n-- a shorter max_seq_length (batch %d, fp32; the B*NH*T^2 attention terms shrink quadratically) --\n", B);
    const int Ts[] = {512, 256, 128, 64};
    for (size_t i = 0; i < ARRAY_LEN(Ts); i++) {
        int cut = 0;
        for (int j = 0; j < n; j++) cut += len[j] > Ts[i];
        ActivationMemory a = activation_memory(c, B, Ts[i], 4, false);
        size_t att = (size_t)c->num_hidden_layers * (2 * 4 + 1) * (size_t)B * c->num_attention_heads * Ts[i] * Ts[i];
        printf("max_seq_length %3d: activations %8.1f MiB, of which attention probabilities %5.1f%%; truncates %.2f%% "
               "of SST-2\n",
               Ts[i], mib(a.total), 100.0 * (double)att / (double)a.total, 100.0 * cut / n);
    }
}

static void remedy_padding(const BertConfig *c, const int *len, int n, int batch, int max_len, int seed) {
    printf("\n-- dynamic padding and group_by_length on SST-2 train (%d sentences, batch %d, max_seq_length %d) --\n",
           n, batch, max_len);
    int *perm = xmalloc(sizeof(int) * (size_t)n), *grouped = xmalloc(sizeof(int) * (size_t)n);
    epoch_order((uint64_t)seed, 0, perm, n);
    group_by_length(len, n, batch, perm, grouped);
    long real = 0;
    int longest = 0;  // some batch holds the longest sentence: the peak T of any padding that adapts
    for (int i = 0; i < n; i++) real += len[i], longest = len[i] > longest ? len[i] : longest;
    const struct {
        const char *name;
        const int *order;
        int fixed;
    } ways[] = {
        {"padding=\"max_length\"", perm, max_len},
        {"dynamic padding", perm, 0},
        {"dynamic + group_by_length", grouped, 0},
    };
    printf("%-26s  %-13s  %-8s  %s\n", "", "tokens/epoch", "padding", "peak activations");
    for (size_t w = 0; w < ARRAY_LEN(ways); w++) {
        long tokens = padded_tokens(len, ways[w].order, n, batch, ways[w].fixed);
        int T = ways[w].fixed ? ways[w].fixed : longest;
        printf("%-26s  %-13ld  %5.1f%%    %.1f MiB (T %d)\n", ways[w].name, tokens,
               100.0 * (double)(tokens - real) / (double)tokens, mib(activation_memory(c, batch, T, 4, false).total),
               T);
    }
    printf("(the peak is the batch holding the longest sentence: dynamic padding lowers it to that length;\n"
           " group_by_length cuts the tokens, not the peak, and puts that batch first, so an out-of-memory\n"
           " shows at step 1, not hours in)\n");
    free(perm), free(grouped);
}

int main(int argc, char **argv) {
    const char *model_dir = "data/cache/models/all-MiniLM-L6-v2", *train_file = "data/cache/sst2/train.tsv";
    int batch = 8, max_len = 128, reps = 3, seed = 42;
    ArgSpec specs[] = {
        {"model_name_or_path", ARG_STRING, &model_dir, "BERT checkpoint directory (config.json, model.safetensors)",
         "Model and data"},
        {"train_file", ARG_STRING, &train_file, "TSV whose sentence lengths section 4 uses", NULL},
        {"max_seq_length", ARG_INT, &max_len, "truncation length of section 4", NULL},
        {"per_device_train_batch_size", ARG_INT, &batch, "batch of sections 3 and 4", "Training"},
        {"seed", ARG_INT, &seed, "data order and dropout", NULL},
        {"repeats", ARG_INT, &reps, "section 3 times the fastest of this many steps", "Timing"},
    };
    ArgParser parser = {"15_memory",
                        "Memory of a BERT training step term by term (weights, gradients, AdamW, masters, activations\n"
                        "per layer vs B and T) for MiniLM and bert-base, checked against this program's allocations;\n"
                        "gradient checkpointing measured (memory, time, identical gradients); OOM remedies as numbers.",
                        NULL, specs, ARRAY_LEN(specs)};
    args_parse(&parser, argc, argv, NULL, 0);
    if (batch < 1 || max_len < 3 || reps < 1)
        die("need --per_device_train_batch_size >= 1, --max_seq_length >= 3, --repeats >= 1");
    if (!dir_exists(model_dir) || !file_exists(train_file))
        die("%s or %s not found: run `bash data/fetch.sh` (or `make`) first", model_dir, train_file);

    BertConfig minilm = bert_config_load(model_dir, 2), base = bert_base_uncased_config(2);
    printf("== 1. the accounting (MiB = 2^20 bytes; \"rest\" = embeddings, head and backward scratch) ==\n");
    print_accounting(model_dir, &minilm);
    print_accounting("bert-base (sizes of bert-base-uncased)", &base);

    check_allocations(model_dir, batch, 64);

    // SST-2: lengths with [CLS]/[SEP] under max_seq_length, and one real batch for section 3
    Tokenizer *tok = tokenizer_from_pretrained(model_dir);
    DatasetOptions o = dataset_default_options();
    TextDataset d = dataset_load(train_file, &o);
    TokenizedSet set = tokenize_dataset(tok, &d);
    EncodeOptions eo = {.max_length = max_len}, none = {0};
    int *len = xmalloc(sizeof(int) * (size_t)d.n), *full = xmalloc(sizeof(int) * (size_t)d.n), ka, kb;
    for (int i = 0; i < d.n; i++)
        len[i] = truncated_lengths(&set, i, &eo, &ka, &kb), full[i] = truncated_lengths(&set, i, &none, &ka, &kb);
    int *rows = xmalloc(sizeof(int) * (size_t)batch);
    int *perm = xmalloc(sizeof(int) * (size_t)d.n);
    epoch_order((uint64_t)seed, 0, perm, d.n);
    memcpy(rows, perm, sizeof(int) * (size_t)batch);
    Batch b = {0};
    collate(tok, &set, rows, batch, &eo, &b);
    measure_checkpointing(model_dir, &b, reps, seed);

    printf("\n== 4. out of memory: what to do, as numbers (%s) ==\n", model_dir);
    remedy_accumulation(&minilm, max_len);
    remedy_seq_length(&minilm, 32, full, d.n);
    remedy_padding(&minilm, len, d.n, 32, max_len, seed);

    batch_free(&b);
    free(len), free(full), free(rows), free(perm);
    tokenized_set_free(&set);
    dataset_free(&d);
    tokenizer_free(tok);
    bert_config_free(&minilm);
    return 0;
}
