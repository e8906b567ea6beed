// checkpoint.c — see checkpoint.h.
#include "common/train/checkpoint.h"

#include <dirent.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/model/safetensors.h"
#include "common/core/util.h"

void trainer_state_init(TrainerState *s) {
    memset(s, 0, sizeof *s);
    s->log_history = cJSON_CreateArray();
}

void trainer_state_free(TrainerState *s) {
    cJSON_Delete(s->log_history);
    cJSON_Delete(s->info);
    s->log_history = s->info = NULL;
}

void log_history_add(TrainerState *s, cJSON *entry) { cJSON_AddItemToArray(s->log_history, entry); }

// write_tensors: n_bufs buffers laid out as ps's tensors, buffer b under names prefix[b] + name.
static void write_tensors(const char *path, const ParamSet *ps, float *const *bufs, const char *const *prefix,
                          int n_bufs) {
    int n = ps->n_tensors * n_bufs;
    StWrite *w = xmalloc(sizeof(StWrite) * (size_t)n);
    char **names = xmalloc(sizeof(char *) * (size_t)n);
    for (int b = 0; b < n_bufs; b++)
        for (int i = 0; i < ps->n_tensors; i++) {
            const ParamTensor *t = &ps->tensors[i];
            int k = b * ps->n_tensors + i;
            names[k] = xmalloc(strlen(prefix[b]) + strlen(t->name) + 1);
            sprintf(names[k], "%s%s", prefix[b], t->name);
            w[k] = (StWrite){names[k], t->ndim, t->shape, bufs[b] + t->offset};
        }
    st_write(path, w, n);
    for (int k = 0; k < n; k++) free(names[k]);
    free(names);
    free(w);
}

static void read_tensors(const char *path, const ParamSet *ps, float *base, const char *prefix) {
    SafeTensors st = st_open(path);
    char name[256];
    for (int i = 0; i < ps->n_tensors; i++) {
        const ParamTensor *t = &ps->tensors[i];
        snprintf(name, sizeof name, "%s%s", prefix, t->name);
        const StTensor *s = st_find(&st, name);
        if (!s) die("%s: tensor %s is missing", path, name);
        st_read_f32(&st, s, base + t->offset, (int64_t)t->numel);
    }
    st_close(&st);
}

static void write_state(const char *path, const TrainerState *s) {
    cJSON *root = cJSON_CreateObject();
    char buf[32];
    cJSON_AddNumberToObject(root, "global_step", (double)s->global_step);
    cJSON_AddNumberToObject(root, "epoch", s->epoch);
    if (s->has_best) cJSON_AddNumberToObject(root, "best_metric", s->best_metric);
    else cJSON_AddNullToObject(root, "best_metric");
    if (s->best_model_checkpoint[0]) cJSON_AddStringToObject(root, "best_model_checkpoint", s->best_model_checkpoint);
    else cJSON_AddNullToObject(root, "best_model_checkpoint");
    cJSON_AddNumberToObject(root, "best_global_step", (double)s->best_global_step);
    cJSON_AddNumberToObject(root, "early_stopping_patience_counter", s->early_stopping_counter);
    cJSON_AddNumberToObject(root, "optimizer_step", (double)s->optimizer_step);
    cJSON *rng = cJSON_AddObjectToObject(root, "rng_state");
    snprintf(buf, sizeof buf, "%016" PRIx64, s->rng.state);  // 64-bit integers as hex: JSON numbers are doubles
    cJSON_AddStringToObject(rng, "state", buf);
    snprintf(buf, sizeof buf, "%016" PRIx64, s->rng.inc);
    cJSON_AddStringToObject(rng, "inc", buf);
    cJSON_AddItemToObject(root, "log_history", cJSON_Duplicate(s->log_history, 1));
    for (const cJSON *it = s->info ? s->info->child : NULL; it; it = it->next)
        cJSON_AddItemToObject(root, it->string, cJSON_Duplicate(it, 1));
    char *text = cJSON_Print(root);
    FILE *f = xfopen(path, "w");
    xfwrite(text, 1, strlen(text), f, path);
    xfclose(f, path);
    free(text);
    cJSON_Delete(root);
}

// is_count: a step counter as JSON writes it, a whole number in [0, 2^53] (so the cast to long is exact).
static bool is_count(const cJSON *x) {
    return x->valuedouble >= 0 && x->valuedouble <= 9007199254740992.0 && x->valuedouble == floor(x->valuedouble);
}

void trainer_state_read(const char *path, TrainerState *s) {
    char *text = read_file(path, NULL);
    cJSON *root = cJSON_Parse(text);
    if (!root) die("%s: not valid JSON", path);
    const cJSON *step = cJSON_GetObjectItem(root, "global_step"), *epoch = cJSON_GetObjectItem(root, "epoch");
    const cJSON *best = cJSON_GetObjectItem(root, "best_metric"),
                *bmc = cJSON_GetObjectItem(root, "best_model_checkpoint");
    const cJSON *ostep = cJSON_GetObjectItem(root, "optimizer_step"), *rng = cJSON_GetObjectItem(root, "rng_state");
    const cJSON *hist = cJSON_GetObjectItem(root, "log_history");
    if (!cJSON_IsNumber(step) || !cJSON_IsNumber(epoch) || !cJSON_IsNumber(ostep) || !cJSON_IsObject(rng) ||
        !cJSON_IsArray(hist))
        die("%s: missing or malformed global_step, epoch, optimizer_step, rng_state or log_history", path);
    if (!is_count(step) || !is_count(ostep))
        die("%s: global_step and optimizer_step must be whole numbers from 0 to 2^53", path);
    const cJSON *rs = cJSON_GetObjectItem(rng, "state"), *ri = cJSON_GetObjectItem(rng, "inc");
    if (!cJSON_IsString(rs) || !cJSON_IsString(ri) || sscanf(rs->valuestring, "%" SCNx64, &s->rng.state) != 1 ||
        sscanf(ri->valuestring, "%" SCNx64, &s->rng.inc) != 1)
        die("%s: rng_state must hold hex strings state and inc", path);
    s->global_step = (long)step->valuedouble;
    s->epoch = epoch->valuedouble;
    s->optimizer_step = (long)ostep->valuedouble;
    // Optional (lesson 06's checkpoints predate them), but never out of range when present.
    const cJSON *bgs = cJSON_GetObjectItem(root, "best_global_step"),
                *esc = cJSON_GetObjectItem(root, "early_stopping_patience_counter");
    if (bgs && !(cJSON_IsNumber(bgs) && bgs->valuedouble >= 0 && bgs->valuedouble <= 1e15))
        die("%s: best_global_step must be a step number", path);
    if (esc && !(cJSON_IsNumber(esc) && esc->valuedouble >= 0 && esc->valuedouble <= 1e9))
        die("%s: early_stopping_patience_counter must be a count", path);
    s->best_global_step = bgs ? (long)bgs->valuedouble : 0;
    s->early_stopping_counter = esc ? (int)esc->valuedouble : 0;
    s->has_best = cJSON_IsNumber(best);
    s->best_metric = s->has_best ? best->valuedouble : 0;
    snprintf(s->best_model_checkpoint, sizeof s->best_model_checkpoint, "%s",
             cJSON_IsString(bmc) ? bmc->valuestring : "");
    cJSON_Delete(s->log_history);
    s->log_history = cJSON_Duplicate(hist, 1);
    // Every other key goes back into info, so a resumed run can compare its arguments.
    static const char *known[] = {"global_step",      "epoch",
                                  "best_metric",      "best_model_checkpoint",
                                  "best_global_step", "early_stopping_patience_counter",
                                  "optimizer_step",   "rng_state",
                                  "log_history"};
    cJSON_Delete(s->info);
    s->info = cJSON_CreateObject();
    for (const cJSON *it = root->child; it; it = it->next) {
        bool is_known = false;
        for (size_t i = 0; i < ARRAY_LEN(known); i++) is_known |= !strcmp(it->string, known[i]);
        if (!is_known) cJSON_AddItemToObject(s->info, it->string, cJSON_Duplicate(it, 1));
    }
    cJSON_Delete(root);
    free(text);
}

static int cmp_long(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

int checkpoints_list(const char *output_dir, long *steps, int max) {
    DIR *d = opendir(output_dir);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        long step;
        char tail;
        if (sscanf(e->d_name, "checkpoint-%ld%c", &step, &tail) == 1 && n < max) steps[n++] = step;
    }
    closedir(d);
    qsort(steps, (size_t)n, sizeof(long), cmp_long);
    return n;
}

char *checkpoint_latest(const char *output_dir) {
    long steps[4096];
    int n = checkpoints_list(output_dir, steps, 4096);
    if (!n) return NULL;
    char name[64];
    snprintf(name, sizeof name, "checkpoint-%ld", steps[n - 1]);
    return path_join(output_dir, name);
}

// remove_checkpoint: rename checkpoint-<step> to tmp-checkpoint-<step> first, so a run killed
// while deleting leaves a tmp- directory (swept by the next save), never a half-deleted checkpoint.
static void remove_checkpoint(const char *output_dir, long step) {
    char name[64], tmp_name[64];
    snprintf(name, sizeof name, "checkpoint-%ld", step);
    snprintf(tmp_name, sizeof tmp_name, "tmp-checkpoint-%ld", step);
    char *path = path_join(output_dir, name), *tmp = path_join(output_dir, tmp_name);
    rm_rf(tmp);
    atomic_rename(path, tmp);
    rm_rf(tmp);
    free(path);
    free(tmp);
}

// rotate: delete the oldest checkpoints beyond `limit`, skipping the best one.
static void rotate(const char *output_dir, int limit, const char *best) {
    long steps[4096];
    int n = checkpoints_list(output_dir, steps, 4096), excess = n - limit;
    char name[64];
    for (int i = 0; i < n && excess > 0; i++) {
        snprintf(name, sizeof name, "checkpoint-%ld", steps[i]);
        const char *slash = strrchr(best, '/');
        if (!(best[0] && !strcmp(slash ? slash + 1 : best, name))) {
            remove_checkpoint(output_dir, steps[i]);
            excess--;
        }
    }
}

void checkpoint_sweep_tmp(const char *output_dir) {
    DIR *d = opendir(output_dir);
    if (!d) return;
    char *stale[64];
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) && n < 64;)
        if (!strncmp(e->d_name, "tmp-checkpoint-", 15)) stale[n++] = path_join(output_dir, e->d_name);
    closedir(d);
    for (int i = 0; i < n; i++) {
        rm_rf(stale[i]);
        free(stale[i]);
    }
}

// write_model_tensors: the default ModelWriter, model.safetensors from the ParamSet.
static void write_model_tensors(const char *dir, void *ctx) {
    const ParamSet *ps = ctx;
    mkdir_p(dir);
    char *model = path_join(dir, "model.safetensors");
    write_tensors(model, ps, (float *const[]){ps->params}, (const char *const[]){""}, 1);
    free(model);
}

char *checkpoint_save(const char *output_dir, const ParamSet *ps, const Optimizer *opt, const TrainerState *state,
                      int save_total_limit) {
    return checkpoint_save_with(output_dir, ps, opt, state, save_total_limit, write_model_tensors, (void *)ps);
}

char *checkpoint_save_with(const char *output_dir, const ParamSet *ps, const Optimizer *opt, const TrainerState *state,
                           int save_total_limit, ModelWriter write_model, void *ctx) {
    char name[64], tmp_name[64];
    snprintf(name, sizeof name, "checkpoint-%ld", state->global_step);
    snprintf(tmp_name, sizeof tmp_name, "tmp-checkpoint-%ld", state->global_step);
    mkdir_p(output_dir);
    checkpoint_sweep_tmp(output_dir);
    char *final = path_join(output_dir, name), *tmp = path_join(output_dir, tmp_name);
    write_model(tmp, ctx);
    mkdir_p(tmp);
    char *optim = path_join(tmp, "optimizer.safetensors"), *st = path_join(tmp, "trainer_state.json");
    if (opt)
        write_tensors(optim, ps, (float *const[]){opt->m, opt->v}, (const char *const[]){"m.", "v."}, opt->v ? 2 : 1);
    write_state(st, state);
    fsync_path(st);
    fsync_path(tmp);
    rm_rf(final);  // an older checkpoint of the same step (a rerun) is replaced whole
    atomic_rename(tmp, final);
    if (save_total_limit > 0) rotate(output_dir, save_total_limit, state->best_model_checkpoint);
    free(optim);
    free(st);
    free(tmp);
    return final;
}

void checkpoint_load(const char *dir, ParamSet *ps, Optimizer *opt, TrainerState *state) {
    if (!dir_exists(dir)) die("checkpoint %s does not exist", dir);
    char *model = path_join(dir, "model.safetensors");
    read_tensors(model, ps, ps->params, "");
    free(model);
    if (opt) {
        char *optim = path_join(dir, "optimizer.safetensors");
        read_tensors(optim, ps, opt->m, "m.");
        if (opt->v) read_tensors(optim, ps, opt->v, "v.");
        free(optim);
    }
    if (state) {
        char *st = path_join(dir, "trainer_state.json");
        trainer_state_read(st, state);
        free(st);
        if (opt) opt->step = state->optimizer_step;
    }
}
