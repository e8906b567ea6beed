// test_bert.c — the CPU BERT (common/model/bert.c, common/model/layers.c) against Hugging Face transformers
// (tests/gen_bert.py): logits, loss and every parameter's gradient of a tiny random
// BertForSequenceClassification on a padded batch; a prefix-less F16/BF16 checkpoint without a
// classifier; the real all-MiniLM-L6-v2's last hidden state (when the checkpoint is present);
// 10 AdamW steps against torch.optim.AdamW; save/load round trip; shape errors; dropout seeds;
// gradient accumulation.
//
// "Relative error" of a tensor is max_i |got_i - want_i| / max_i |want_i|: a tolerance on the
// tensor's scale, so elements that happen to be near zero do not blow the ratio up.
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/model/bert.h"
#include "common/model/bert_io.h"
#include "common/model/compare.h"
#include "common/train/optim.h"
#include "common/model/safetensors.h"
#include "common/train/schedule.h"
#include "common/core/util.h"
#include "tests/expect_error.h"
#include "tests/fixture.h"

#define DIR    "tests/fixtures/bert/"
#define MINILM "data/cache/models/all-MiniLM-L6-v2"

static double rel_error(const float *got, const double *want, size_t n) {
    double diff = 0, scale = 0;
    for (size_t i = 0; i < n; i++) {
        diff = fmax(diff, fabs(got[i] - want[i]));
        scale = fmax(scale, fabs(want[i]));
    }
    return diff / scale;
}

Test(bert, tiny_logits_loss_and_every_gradient_match_transformers) {
    Fixture f = fixture_load(DIR "tiny.txt");
    FixtureBatch b = fixture_batch(&f);
    BertModel m = bert_load(DIR "tiny", 0, 0, NULL);
    cr_assert_eq(m.config.num_labels, 3);
    bert_alloc_acts(&m, b.B, b.T);
    float *logits = bert_forward(&m, b.ids, b.types, b.mask, b.labels, b.B, b.T, false, NULL);
    int n;
    double *want = fixture_doubles(&f, "logits", &n), *loss = fixture_doubles(&f, "loss", &n);
    double e = rel_error(logits, want, (size_t)b.B * 3);
    cr_expect(e < 1e-5, "logits relative error %.3g", e);
    cr_expect(fabs(m.loss - loss[0]) < 1e-5 * fabs(loss[0]), "loss %.9g, transformers %.9g", m.loss, loss[0]);

    bert_backward(&m, 1.0f / b.B);
    SafeTensors st = st_open(DIR "tiny_grads.safetensors");
    cr_assert_eq(st.n, m.ps.n_tensors, "the fixture has %d gradients, the model %d tensors", st.n, m.ps.n_tensors);
    double worst = 0, scale = 0;
    const char *worst_name = "";
    for (size_t i = 0; i < m.ps.numel; i++) scale = fmax(scale, fabsf(m.ps.grads[i]));
    for (int i = 0; i < m.ps.n_tensors; i++) {
        const ParamTensor *p = &m.ps.tensors[i];
        const StTensor *t = st_find(&st, p->name);
        cr_assert(t, "no reference gradient for %s", p->name);
        float *ref = xmalloc(sizeof(float) * p->numel);
        st_read_f32(&st, t, ref, (int64_t)p->numel);
        if (strstr(p->name, "attention.self.key.bias")) {
            // Adding b to every key adds q.b to every score of a softmax row, which softmax
            // ignores: this gradient is exactly 0, and both sides hold rounding noise around 0.
            for (size_t j = 0; j < p->numel; j++)
                cr_expect(fabsf(m.ps.grads[p->offset + j]) < 1e-6 * scale && fabsf(ref[j]) < 1e-6 * scale,
                          "gradient of %s should be ~0: %g (transformers %g)", p->name, m.ps.grads[p->offset + j],
                          ref[j]);
        } else {
            double err = max_relative_error(m.ps.grads + p->offset, ref, p->numel);
            cr_expect(err < 1e-4, "gradient of %s: relative error %.3g", p->name, err);
            if (err > worst) worst = err, worst_name = p->name;
        }
        free(ref);
    }
    cr_log_info("tiny BERT: logits rel err %.2g, loss %.9g vs %.9g, worst gradient %s rel err %.2g", e, m.loss, loss[0],
                worst_name, worst);
    st_close(&st);
    free(want), free(loss);
    bert_free(&m);
    fixture_batch_free(&b);
    fixture_free(&f);
}

// The same encoder stored as real checkpoints are: names without "bert.", F16/BF16, position_ids,
// no classifier. The encoder's output must match; the created classifier must be announced.
Test(bert, prefixless_f16_bf16_checkpoint_without_head) {
    Fixture f = fixture_load(DIR "tiny.txt");
    FixtureBatch b = fixture_batch(&f);
    int created = 0;
    BertModel m = bert_load(DIR "tiny_mixed", 3, 7, &created);
    cr_expect_eq(created, 2, "the classifier (only) should have been created, got mask %d", created);
    bert_alloc_acts(&m, b.B, b.T);
    bert_forward(&m, b.ids, b.types, b.mask, NULL, b.B, b.T, false, NULL);
    int n;
    double *want = fixture_doubles(&f, "mixed_hidden", &n);
    double e = rel_error(m.acts[m.config.num_hidden_layers - 1].out, want, (size_t)n);
    cr_expect(e < 1e-5, "last hidden state relative error %.3g", e);
    free(want);
    bert_free(&m);
    fixture_batch_free(&b);
    fixture_free(&f);
}

Test(bert, minilm_last_hidden_state_matches_transformers) {
    if (!file_exists(MINILM "/model.safetensors")) cr_skip_test("%s not present (make data fetches it)", MINILM);
    Fixture f = fixture_load(DIR "minilm.txt");
    FixtureBatch b = fixture_batch(&f);
    BertModel m = bert_load(MINILM, 2, 0, NULL);
    bert_alloc_acts(&m, b.B, b.T);
    bert_forward(&m, b.ids, NULL, b.mask, NULL, b.B, b.T, false, NULL);
    SafeTensors st = st_open(DIR "minilm_hidden.safetensors");
    const StTensor *t = st_find(&st, "last_hidden_state");
    size_t numel = (size_t)b.B * b.T * m.config.hidden_size;
    cr_assert(t && t->numel == (int64_t)numel);
    float *ref = xmalloc(sizeof(float) * numel);
    st_read_f32(&st, t, ref, (int64_t)numel);
    double e = max_relative_error(m.acts[m.config.num_hidden_layers - 1].out, ref, numel);
    cr_expect(e < 1e-4, "all-MiniLM-L6-v2 last hidden state relative error %.3g", e);
    cr_log_info("all-MiniLM-L6-v2: last hidden state rel err %.2g", e);
    free(ref);
    st_close(&st);
    bert_free(&m);
    fixture_batch_free(&b);
    fixture_free(&f);
}

// Lesson 11's loop on the tiny model: 10 AdamW steps (decay / no-decay groups), linear schedule
// with warmup, clipping at 1.0, against torch.optim.AdamW + get_scheduler + clip_grad_norm_.
Test(bert, ten_adamw_steps_match_pytorch) {
    Fixture f = fixture_load(DIR "tiny.txt");
    FixtureBatch b = fixture_batch(&f);
    int n;
    double *cfg = fixture_doubles(&f, "train_config", &n), *losses = fixture_doubles(&f, "train_losses", &n);
    double *norms = fixture_doubles(&f, "train_grad_norms", &n);
    const int steps = (int)cfg[0];
    BertModel m = bert_load(DIR "tiny", 0, 0, NULL);
    bert_alloc_acts(&m, b.B, b.T);
    OptimizerConfig oc = optimizer_defaults(OPT_ADAMW);
    oc.weight_decay = cfg[2];
    Optimizer opt;
    optimizer_init(&opt, oc, &m.ps);
    Schedule s = schedule_make(SCHED_LINEAR, cfg[1], (long)cfg[3], steps);
    for (int step = 0; step < steps; step++) {
        params_zero_grad(&m.ps);
        bert_forward(&m, b.ids, b.types, b.mask, b.labels, b.B, b.T, false, NULL);
        bert_backward(&m, 1.0f / b.B);
        double norm = clip_grad_norm(&m.ps, cfg[4]);
        optimizer_step(&opt, &m.ps, schedule_lr(&s, step));
        cr_log_info("step %d: loss %.9g, PyTorch %.9g, rel diff %.2g", step, m.loss, losses[step],
                    fabs(m.loss - losses[step]) / losses[step]);
        cr_expect(fabs(m.loss - losses[step]) <= 1e-5 * fabs(losses[step]), "step %d: loss %.9g, PyTorch %.9g", step,
                  m.loss, losses[step]);
        cr_expect(fabs(norm - norms[step]) <= 1e-4 * norms[step], "step %d: grad norm %.9g, PyTorch %.9g", step, norm,
                  norms[step]);
    }
    optimizer_free(&opt);
    free(cfg), free(losses), free(norms);
    bert_free(&m);
    fixture_batch_free(&b);
    fixture_free(&f);
}

// Saving writes a checkpoint that loads back to the same logits (transformers loads it too: the
// layout is the one save_pretrained writes, checked by hand with from_pretrained).
Test(bert, save_then_load_gives_the_same_logits) {
    Fixture f = fixture_load(DIR "tiny.txt");
    FixtureBatch b = fixture_batch(&f);
    BertModel m = bert_load(DIR "tiny_mixed", 3, 11, NULL);
    bert_alloc_acts(&m, b.B, b.T);
    float *l1 = bert_forward(&m, b.ids, b.types, b.mask, NULL, b.B, b.T, false, NULL);
    float before[9];
    memcpy(before, l1, sizeof before);
    char dir[] = "/tmp/bertstep-save-XXXXXX";
    cr_assert(mkdtemp(dir));
    char *out = path_join(dir, "model");
    bert_save_hf(&m, out);
    bert_save_hf(&m, out);  // over an existing directory
    int created = -1;
    BertModel m2 = bert_load(out, 0, 99, &created);
    cr_expect_eq(created, 0, "the saved checkpoint should hold pooler and classifier");
    cr_expect_eq(m2.config.num_labels, 3);
    bert_alloc_acts(&m2, b.B, b.T);
    float *l2 = bert_forward(&m2, b.ids, b.types, b.mask, NULL, b.B, b.T, false, NULL);
    for (int i = 0; i < 9; i++)
        cr_expect_eq(l2[i], before[i], "logit %d: %g after reload, %g before", i, l2[i], before[i]);
    bert_free(&m2);
    bert_free(&m);
    rm_rf(dir);
    free(out);
    fixture_batch_free(&b);
    fixture_free(&f);
}

// training-mode forward: the same seed gives the same dropout masks, another seed other masks,
// and dropout changes the logits.
Test(bert, dropout_is_seeded) {
    Fixture f = fixture_load(DIR "tiny.txt");
    FixtureBatch b = fixture_batch(&f);
    BertModel m = bert_load(DIR "tiny", 0, 0, NULL);
    m.config.hidden_dropout_prob = m.config.attention_probs_dropout_prob = m.config.classifier_dropout = 0.1f;
    bert_alloc_acts(&m, b.B, b.T);
    float runs[3][9];
    uint64_t seeds[3] = {1, 1, 2};
    for (int r = 0; r < 3; r++) {
        Rng rng;
        rng_seed(&rng, seeds[r], RNG_STREAM_DROPOUT);
        memcpy(runs[r], bert_forward(&m, b.ids, b.types, b.mask, NULL, b.B, b.T, true, &rng), sizeof runs[r]);
    }
    float eval[9];
    memcpy(eval, bert_forward(&m, b.ids, b.types, b.mask, NULL, b.B, b.T, false, NULL), sizeof eval);
    cr_expect(!memcmp(runs[0], runs[1], sizeof runs[0]), "same seed, different logits");
    cr_expect(memcmp(runs[0], runs[2], sizeof runs[0]), "different seeds, same logits");
    cr_expect(memcmp(runs[0], eval, sizeof eval), "dropout did not change the logits");
    bert_free(&m);
    fixture_batch_free(&b);
    fixture_free(&f);
}

// Two micro-batches (rows {0,1} and {2}) each weighted 1/3 add up to the gradient of the batch of 3.
Test(bert, gradient_accumulation_equals_the_full_batch) {
    Fixture f = fixture_load(DIR "tiny.txt");
    FixtureBatch b = fixture_batch(&f);
    BertModel m = bert_load(DIR "tiny", 0, 0, NULL);
    bert_alloc_acts(&m, b.B, b.T);
    bert_forward(&m, b.ids, b.types, b.mask, b.labels, b.B, b.T, false, NULL);
    bert_backward(&m, 1.0f / b.B);
    float *full = xmalloc(sizeof(float) * m.ps.numel);
    memcpy(full, m.ps.grads, sizeof(float) * m.ps.numel);
    params_zero_grad(&m.ps);
    const int T = b.T, first[2] = {0, 2}, count[2] = {2, 1};
    for (int k = 0; k < 2; k++) {
        int o = first[k] * T;
        bert_forward(&m, b.ids + o, b.types + o, b.mask + o, b.labels + first[k], count[k], T, false, NULL);
        bert_backward(&m, 1.0f / b.B);
    }
    double e = max_relative_error(m.ps.grads, full, m.ps.numel);
    cr_expect(e < 1e-5, "accumulated gradient differs from the full batch's: relative error %.3g", e);
    free(full);
    bert_free(&m);
    fixture_batch_free(&b);
    fixture_free(&f);
}

// copy_checkpoint_with_config: a directory with the tiny model's weights and an edited config.json.
static char *checkpoint_with_config(const char *find, const char *replace) {
    static char dir[] = "/tmp/bertstep-badcfg-XXXXXX";
    cr_assert(mkdtemp(dir));
    char *cfg = read_file(DIR "tiny/config.json", NULL), *at = strstr(cfg, find);
    cr_assert(at, "config.json has no %s", find);
    char *path = path_join(dir, "config.json");
    FILE *f = xfopen(path, "w");
    fprintf(f, "%.*s%s%s", (int)(at - cfg), cfg, replace, at + strlen(find));
    xfclose(f, path);
    char *st = path_join(dir, "model.safetensors"), cwd[1024], target[2048];
    cr_assert(getcwd(cwd, sizeof cwd));
    snprintf(target, sizeof target, "%s/" DIR "tiny/model.safetensors", cwd);
    cr_assert(symlink(target, st) == 0);
    return dir;
}

Test(bert, shape_disagreeing_with_config_is_an_error) {
    const char *dir = checkpoint_with_config("\"intermediate_size\": 128", "\"intermediate_size\": 96");
    EXPECT_ERROR("has shape [128, 64], config.json says [96, 64]", bert_load(dir, 0, 0, NULL));
    rm_rf(dir);
}

Test(bert, missing_required_key_is_an_error) {
    const char *dir = checkpoint_with_config("\"hidden_size\": 64,", "");
    EXPECT_ERROR("config.json: key \"hidden_size\" is missing", bert_load(dir, 0, 0, NULL));
    rm_rf(dir);
}

Test(bert, unsupported_activation_is_an_error) {
    const char *dir = checkpoint_with_config("\"gelu\"", "\"relu\"");
    EXPECT_ERROR("\"hidden_act\" must be \"gelu\"", bert_load(dir, 0, 0, NULL));
    rm_rf(dir);
}

// Lesson 10's interface for scripts: texts on stdin -> one line of logits each, through the
// tokenizer (vocab.txt of tiny/) and the model; transformers' BertTokenizer + model agree.
Test(bert, lesson10_logits_only_matches_transformers) {
    cr_assert(file_exists("build/10_bert_forward"), "build/10_bert_forward not built (make lessons)");
    FILE *p =
        popen("build/10_bert_forward --model_name_or_path " DIR "tiny --logits_only < " DIR "tiny_lines.txt", "r");
    cr_assert(p);
    Fixture f = fixture_load(DIR "tiny_lines_logits.txt");
    int n;
    double *want = fixture_doubles(&f, "logits", &n);
    float *got = xmalloc(sizeof(float) * (size_t)n);
    int read = 0;
    while (read < n && fscanf(p, "%f", &got[read]) == 1) read++;
    cr_expect_eq(pclose(p), 0, "10_bert_forward failed");
    cr_assert_eq(read, n, "read %d logits, want %d", read, n);
    double e = rel_error(got, want, (size_t)n);
    cr_expect(e < 1e-5, "logits relative error %.3g", e);
    free(got), free(want);
    fixture_free(&f);
}
