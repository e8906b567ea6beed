// Lesson 11 — fine-tuning BERT on the CPU: the full backward pass, AdamW with the no-decay
// group, the learning-rate schedule, gradient clipping, on real data.
//
// Everything here was built in earlier lessons; this one puts it together:
//   data       SST-2 sentences (common/text/dataset.c, lesson 06) -> ids (common/text/tokenizer.c, lesson 07),
//              batches padded to their longest sentence (dynamic padding)
//   model      BertForSequenceClassification loaded from a checkpoint (common/model/bert.c, lesson 10)
//   loss       cross-entropy on the classifier over the pooled [CLS] token (common/model/loss.c)
//   backward   bert_backward: every layer of lesson 09 in reverse, into one flat gradient buffer
//   update     clip the global norm (lesson 05), lr from the schedule (lesson 03),
//              AdamW with no decay on biases and LayerNorm weights (lesson 04)
// and the step arithmetic of lesson 02 (common/train/steps.c). The loop, per optimizer step:
//
//   zero grads; for each micro-batch of the group: forward (dropout on), backward with each
//   example's loss weighted 1/(examples in the group); clip; optimizer step at lr(step)
//
// The correctness of every piece is tested against PyTorch (tests/test_bert.c): gradients of a
// tiny BERT to 2e-6, and 10 steps of this very loop to 3e-6 in the loss.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/core/args.h"
#include "common/text/batch.h"
#include "common/model/bert.h"
#include "common/text/dataset.h"
#include "common/model/loss.h"
#include "common/train/metrics.h"
#include "common/train/optim.h"
#include "common/core/plot.h"
#include "common/train/schedule.h"
#include "common/train/steps.h"
#include "common/text/tokenizer.h"
#include "common/core/util.h"

// load_split: the first `max` rows of a TSV (all when max <= 0), tokenized once, with their labels.
static TokenizedSet load_split(const char *path, int max, const Tokenizer *tok, const LabelSet *labels,
                               LabelSet *labels_out) {
    DatasetOptions o = dataset_default_options();
    o.labels = labels;
    o.max_samples = max;
    TextDataset d = dataset_load(path, &o);
    printf("  %s: %d of %d examples\n", path, d.n, d.n_rows);
    TokenizedSet s = tokenize_dataset(tok, &d);
    if (labels_out) labelset_copy(labels_out, &d.labels);
    dataset_free(&d);
    return s;
}

typedef struct {
    double loss, accuracy;
} Eval;

static const TokenizedSet *sort_set;  // for by_length
static int by_length(const void *a, const void *b) {
    int i = *(const int *)a, j = *(const int *)b;
    int li = sort_set->off_a[i + 1] - sort_set->off_a[i], lj = sort_set->off_a[j + 1] - sort_set->off_a[j];
    return li != lj ? li - lj : i - j;
}

// evaluate: mean loss and accuracy over the split, dropout off. The order of evaluation does
// not change the result, so the examples go by length: each batch pads to nearly its own size.
static Eval evaluate(BertModel *m, const Tokenizer *tok, const TokenizedSet *s, int batch, const EncodeOptions *eo) {
    int *order = xmalloc(sizeof(int) * (size_t)s->n), *pred = xmalloc(sizeof(int) * (size_t)batch);
    for (int i = 0; i < s->n; i++) order[i] = i;
    sort_set = s;
    qsort(order, (size_t)s->n, sizeof(int), by_length);
    Batch b = {0};
    double loss = 0;
    long correct = 0;
    for (int first = 0; first < s->n; first += batch) {
        int n = s->n - first < batch ? s->n - first : batch;
        const int *rows = order + first;
        collate(tok, s, rows, n, eo, &b);
        float *logits = bert_forward(m, b.input_ids, b.token_type_ids, b.attention_mask, b.labels, n, b.T, false, NULL);
        loss += m->loss * n;
        argmax_rows(logits, n, m->config.num_labels, pred);
        for (int i = 0; i < n; i++) correct += pred[i] == b.labels[i];
    }
    batch_free(&b);
    free(order), free(pred);
    return (Eval){loss / s->n, (double)correct / s->n};
}

// count_decay: tensors and parameters with and without weight decay (the Trainer's rule).
static void print_decay_groups(const ParamSet *ps) {
    int nt[2] = {0};
    size_t np[2] = {0};
    for (int i = 0; i < ps->n_tensors; i++)
        nt[ps->tensors[i].decay]++, np[ps->tensors[i].decay] += ps->tensors[i].numel;
    printf("  weight decay on %d tensors (%zu parameters: the matrices); none on %d tensors (%zu: biases, LayerNorm)\n",
           nt[1], np[1], nt[0], np[0]);
}

int main(int argc, char **argv) {
    const char *model_dir = "data/cache/models/all-MiniLM-L6-v2", *train_file = "data/cache/sst2/train.tsv";
    const char *dev_file = "data/cache/sst2/dev.tsv", *output_dir = "runs/11_bert_training_cpu", *sched_name = "linear";
    int max_train = 384, max_eval = 100, max_len = 64, batch = 16, eval_batch = 32, accum = 1, seed = 42;
    int logging_steps = 4, max_steps = 0;
    double lr = 3e-4, wd = 0.01, warmup_ratio = 0.1, max_grad_norm = 1.0, epochs = 1, adam_epsilon = 1e-8;
    bool save_model = false;
    ArgSpec specs[] = {
        {"model_name_or_path", ARG_STRING, &model_dir,
         "BERT checkpoint directory (config.json, model.safetensors, vocab.txt)", "Model and data"},
        {"train_file", ARG_STRING, &train_file, "TSV with sentence and label columns", NULL},
        {"validation_file", ARG_STRING, &dev_file, "TSV for evaluation", NULL},
        {"max_train_samples", ARG_INT, &max_train, "use the first N training rows (0: all)", NULL},
        {"max_eval_samples", ARG_INT, &max_eval, "use the first N validation rows (0: all)", NULL},
        {"max_seq_length", ARG_INT, &max_len, "truncate to this many tokens; batches pad to their longest", NULL},
        {"per_device_train_batch_size", ARG_INT, &batch, "examples per micro-batch", "Training"},
        {"per_device_eval_batch_size", ARG_INT, &eval_batch, "examples per evaluation batch", NULL},
        {"gradient_accumulation_steps", ARG_INT, &accum, "micro-batches per optimizer step", NULL},
        {"num_train_epochs", ARG_FLOAT, &epochs, "epochs over the training rows", NULL},
        {"max_steps", ARG_INT, &max_steps, "optimizer steps (> 0 overrides num_train_epochs)", NULL},
        {"learning_rate", ARG_FLOAT, &lr, "peak learning rate", NULL},
        {"lr_scheduler_type", ARG_CHOICE, &sched_name, "learning-rate schedule", NULL, SCHEDULE_CHOICES},
        {"warmup_ratio", ARG_FLOAT, &warmup_ratio, "warmup steps = ceil(ratio x total steps)", NULL},
        {"weight_decay", ARG_FLOAT, &wd, "AdamW decoupled weight decay (not on biases and LayerNorm)", NULL},
        {"adam_epsilon", ARG_FLOAT, &adam_epsilon, "AdamW epsilon", NULL},
        {"max_grad_norm", ARG_FLOAT, &max_grad_norm, "clip the global gradient norm to this (0: no clipping)", NULL},
        {"logging_steps", ARG_INT, &logging_steps, "print the mean training loss every N steps", NULL},
        {"seed", ARG_INT, &seed, "seed of the classifier, the data order and dropout", NULL},
        {"output_dir", ARG_STRING, &output_dir, "where loss.png (and with --save_model the model) go", "Output"},
        {"save_model", ARG_BOOL, &save_model, "write the fine-tuned model to output_dir/model in Hugging Face layout",
         NULL},
    };
    ArgParser parser = {
        "11_bert_training_cpu",
        "Fine-tunes a BERT checkpoint (all-MiniLM-L6-v2) on an SST-2 subset on the CPU: full backward,\n"
        "AdamW with the no-decay group, LR schedule, clipping; the loss falls, dev accuracy rises.",
        NULL, specs, ARRAY_LEN(specs)};
    args_parse(&parser, argc, argv, NULL, 0);
    if (max_len < 3 || eval_batch < 1 || logging_steps < 1)
        die("need --max_seq_length >= 3, --per_device_eval_batch_size >= 1, --logging_steps >= 1");
    if (!dir_exists(model_dir))
        die("%s not found: run `bash data/fetch.sh` (or `make`) first, or pass --model_name_or_path", model_dir);
    if (!file_exists(train_file)) die("%s not found: run `bash data/fetch.sh sst2` (or `make`) first", train_file);

    // ---- data and model ----
    Tokenizer *tok = tokenizer_from_pretrained(model_dir);
    printf("data:\n");
    LabelSet labels = {0};
    TokenizedSet train = load_split(train_file, max_train, tok, NULL, &labels);
    TokenizedSet dev = load_split(dev_file, max_eval, tok, &labels, NULL);
    int created = 0;
    BertModel m = bert_load(model_dir, labels.n, (uint64_t)seed, &created);
    printf("model: %s, %zu parameters (%.1f MB), %d labels%s\n", model_dir, m.ps.numel, m.ps.numel * 4.0 / 1e6,
           labels.n, created & 2 ? ", classifier created from --seed" : "");
    EncodeOptions eo = {.max_length = max_len};
    bert_alloc_acts(&m, batch > eval_batch ? batch : eval_batch, max_len);

    // ---- the plan, the optimizer, the schedule ----
    StepPlan plan = {.num_examples = train.n,
                     .per_device_train_batch_size = batch,
                     .per_device_eval_batch_size = eval_batch,
                     .gradient_accumulation_steps = accum,
                     .n_devices = 1,
                     .num_train_epochs = epochs,
                     .max_steps = max_steps,
                     .warmup_ratio = warmup_ratio,
                     .num_eval_examples = dev.n};
    steps_plan(&plan);
    printf("plan: %d x %d = %ld examples per step, %ld steps per epoch, %ld steps, warmup %ld\n", batch, accum,
           plan.effective_batch, plan.updates_per_epoch, plan.total_steps, plan.warmup);
    OptimizerConfig oc = optimizer_defaults(OPT_ADAMW);
    oc.weight_decay = wd;
    oc.eps = adam_epsilon;
    Optimizer opt;
    optimizer_init(&opt, oc, &m.ps);
    Schedule sched = schedule_make(schedule_kind(sched_name), lr, plan.warmup, plan.total_steps);
    printf("AdamW: lr %g (%s schedule), betas %g/%g, eps %g, weight_decay %g, max_grad_norm %g\n", lr, sched_name,
           oc.beta1, oc.beta2, oc.eps, wd, max_grad_norm);
    print_decay_groups(&m.ps);

    Eval e0 = evaluate(&m, tok, &dev, eval_batch, &eo);
    printf("\nbefore training: dev loss %.3f  accuracy %.2f\n", e0.loss, e0.accuracy);

    // ---- the training loop ----
    Rng dropout_rng;
    rng_seed(&dropout_rng, (uint64_t)seed, 2);
    int *order = xmalloc(sizeof(int) * (size_t)train.n), order_epoch = -1;
    double *xs = xmalloc(sizeof(double) * (size_t)plan.total_steps),
           *ys = xmalloc(sizeof(double) * (size_t)plan.total_steps);
    Batch b = {0};
    double group_loss = 0, log_loss = 0, log_start = now_seconds(), train_seconds = 0;
    long log_samples = 0, total_samples = 0;
    StepCursor cur = steps_begin(&plan, 0);
    MicroBatch mb;
    while (steps_next(&cur, &mb)) {
        if (mb.epoch != order_epoch) epoch_order((uint64_t)seed, mb.epoch, order, train.n), order_epoch = mb.epoch;
        // the group's examples: weight each example's loss by 1 / (examples in this group)
        long group_first = (mb.batch_in_epoch - mb.index_in_group) * batch;
        long group_end = group_first + (long)mb.group_batches * batch;
        if (group_end > train.n) group_end = train.n;
        long first = mb.batch_in_epoch * batch;
        int n = (int)(first + batch <= train.n ? batch : train.n - first);
        if (mb.index_in_group == 0) params_zero_grad(&m.ps), group_loss = 0;

        double t0 = now_seconds();
        collate(tok, &train, order + first, n, &eo, &b);
        bert_forward(&m, b.input_ids, b.token_type_ids, b.attention_mask, b.labels, n, b.T, true, &dropout_rng);
        bert_backward(&m, 1.0f / (float)(group_end - group_first));
        group_loss += m.loss * n / (double)(group_end - group_first);
        log_samples += n, total_samples += n;
        if (mb.ends_group) {
            double norm = max_grad_norm > 0 ? clip_grad_norm(&m.ps, max_grad_norm) : grad_global_norm(&m.ps);
            double step_lr = schedule_lr(&sched, mb.global_step);
            optimizer_step(&opt, &m.ps, step_lr);
            long step = mb.global_step + 1;
            xs[step - 1] = (double)step, ys[step - 1] = group_loss;
            log_loss += group_loss;
            if (step % logging_steps == 0 || step == plan.total_steps) {
                int k = step % logging_steps ? (int)(step % logging_steps) : logging_steps;
                double dt = now_seconds() - log_start;
                printf("step %4ld/%ld  loss %.3f  grad_norm %.3f  lr %.3e  %.1f samples/s\n", step, plan.total_steps,
                       log_loss / k, norm, step_lr, log_samples / dt);
                log_loss = 0, log_samples = 0, log_start = now_seconds();
            }
        }
        train_seconds += now_seconds() - t0;
    }
    printf("trained on %ld examples in %.1f s: %.1f samples/s\n", total_samples, train_seconds,
           total_samples / train_seconds);

    Eval e1 = evaluate(&m, tok, &dev, eval_batch, &eo);
    printf("after training:  dev loss %.3f  accuracy %.2f\n", e1.loss, e1.accuracy);

    mkdir_p(output_dir);
    char *png = path_join(output_dir, "loss.png");
    Plot p = plot_new("BERT fine-tuning on the CPU: training loss per step", "step", "loss");
    plot_add(&p, "train loss", xs, ys, (int)plan.total_steps);
    // the mean of the last logging_steps losses: the trend under the batch-to-batch noise
    double *avg = xmalloc(sizeof(double) * (size_t)plan.total_steps), window = 0;
    for (long s = 0; s < plan.total_steps; s++) {
        window += ys[s] - (s >= logging_steps ? ys[s - logging_steps] : 0);
        avg[s] = window / (s + 1 < logging_steps ? s + 1 : logging_steps);
    }
    char name[64];
    snprintf(name, sizeof name, "mean of the last %d", logging_steps);
    plot_add(&p, name, xs, avg, (int)plan.total_steps);
    free(avg);
    plot_save(&p, png);
    plot_free(&p);
    printf("wrote %s\n", png);
    if (save_model) {
        char *dir = path_join(output_dir, "model");
        bert_save_hf(&m, dir);
        printf("wrote %s (BertForSequenceClassification.from_pretrained loads it)\n", dir);
        free(dir);
    }
    free(png), free(xs), free(ys), free(order);
    batch_free(&b);
    optimizer_free(&opt);
    bert_free(&m);
    tokenized_set_free(&train), tokenized_set_free(&dev);
    labelset_free(&labels);
    tokenizer_free(tok);
    return 0;
}
