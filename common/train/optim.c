// optim.c — see optim.h.
#include "common/train/optim.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/core/util.h"

OptimizerConfig optimizer_defaults(OptimizerKind kind) {
    OptimizerConfig c = {.kind = kind, .momentum = 0.0, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.0};
    if (kind == OPT_ADAMW) c.weight_decay = 0.01;
    return c;
}

void optimizer_init(Optimizer *opt, OptimizerConfig cfg, const ParamSet *ps) {
    memset(opt, 0, sizeof *opt);
    opt->cfg = cfg;
    opt->numel = ps->numel;
    opt->m = xcalloc(ps->numel, sizeof(float));
    if (cfg.kind != OPT_SGD) opt->v = xcalloc(ps->numel, sizeof(float));
}

void optimizer_free(Optimizer *opt) {
    free(opt->m);
    free(opt->v);
    memset(opt, 0, sizeof *opt);
}

const char *optimizer_name(OptimizerKind kind) {
    switch (kind) {
    case OPT_SGD: return "sgd";
    case OPT_ADAM: return "adam";
    case OPT_ADAMW: return "adamw";
    }
    return "?";
}

static void sgd_range(Optimizer *o, float *p, const float *g, size_t begin, size_t end, bool decay, double lr) {
    const float wd = decay ? (float)o->cfg.weight_decay : 0.0f, mu = (float)o->cfg.momentum;
    const float keep = (float)(1.0 - o->cfg.dampening);
    for (size_t i = begin; i < end; i++) {
        float grad = g[i] + wd * p[i];  // L2 regularisation folded into the gradient
        if (mu != 0.0f) {
            o->m[i] = o->step == 0 ? grad : mu * o->m[i] + keep * grad;
            grad = o->cfg.nesterov ? grad + mu * o->m[i] : o->m[i];
        }
        p[i] -= (float)lr * grad;
    }
}

// optim_arg: one "key=value" of --optim_args into the SGD config c (what transformers' _get_sgd reads).
static void optim_arg(OptimizerConfig *c, const char *key, const char *value) {
    char *end;
    if (!strcmp(key, "nesterov")) {
        c->nesterov = !strcasecmp(value, "true") || !strcmp(value, "1") || !strcasecmp(value, "yes");
        return;
    }
    double v = strtod(value, &end);
    if (end == value || *end) die("--optim_args: %s=%s is not a number", key, value);
    if (!strcmp(key, "momentum")) c->momentum = v;
    else if (!strcmp(key, "dampening")) c->dampening = v;
    else if (!strcmp(key, "weight_decay")) return;  // HF passes it, but the parameter groups' value wins
    else die("--optim_args: sgd takes momentum, dampening, nesterov or weight_decay, not '%s'", key);
}

OptimizerConfig optimizer_config_hf(const char *optim, const char *optim_args, double beta1, double beta2, double eps,
                                    double weight_decay) {
    OptimizerConfig c = optimizer_defaults(OPT_ADAMW);
    if (!strcmp(optim, "sgd")) c = optimizer_defaults(OPT_SGD);
    else if (!strcmp(optim, "adafactor"))
        die("--optim adafactor is not implemented here (its factored second moments are another optimizer); use "
            "adamw_torch or sgd");
    else if (strcmp(optim, "adamw_torch") && strcmp(optim, "adamw_torch_fused") && strcmp(optim, "adamw"))
        die("--optim %s is not implemented here (choose from %s)", optim, OPTIM_CHOICES);
    c.beta1 = beta1;
    c.beta2 = beta2;
    c.eps = eps;
    c.weight_decay = weight_decay;
    if (!optim_args || !*optim_args) return c;
    if (c.kind != OPT_SGD) die("--optim_args: %s takes none (only sgd's momentum, dampening, nesterov)", optim);
    char *copy = xstrdup(optim_args), *save = NULL;
    for (char *kv = strtok_r(copy, ", ", &save); kv; kv = strtok_r(NULL, ", ", &save)) {
        char *eq = strchr(kv, '=');
        if (!eq) die("--optim_args: '%s' is not key=value", kv);
        *eq = '\0';
        optim_arg(&c, kv, eq + 1);
    }
    free(copy);
    return c;
}

AdamCoefs adam_coefs(const OptimizerConfig *c, long t, double lr) {
    const double bias1 = 1.0 - pow(c->beta1, (double)t), bias2 = 1.0 - pow(c->beta2, (double)t);
    return (AdamCoefs){(float)(lr / bias1), (float)sqrt(bias2), (float)c->beta1,
                       (float)c->beta2,     (float)c->eps,      (float)(1.0 - lr * c->weight_decay)};
}

static void adam_range(Optimizer *o, float *p, const float *g, size_t begin, size_t end, bool decay, double lr) {
    const OptimizerConfig *c = &o->cfg;
    const AdamCoefs k = adam_coefs(c, o->step + 1, lr);
    const bool decoupled = c->kind == OPT_ADAMW;
    const float l2 = (!decoupled && decay) ? (float)c->weight_decay : 0.0f;
    const float shrink = (decoupled && decay) ? k.shrink : 1.0f;
    for (size_t i = begin; i < end; i++) {
        float grad = g[i] + l2 * p[i];
        p[i] *= shrink;                                          // AdamW: decay the weight itself
        o->m[i] += (1.0f - k.b1) * (grad - o->m[i]);             // m = b1 m + (1-b1) g, as torch's lerp
        o->v[i] = k.b2 * o->v[i] + (1.0f - k.b2) * grad * grad;  // v = b2 v + (1-b2) g^2
        float denom = sqrtf(o->v[i]) / k.bias2_sqrt + k.eps;     // sqrt(v_hat) + eps
        p[i] -= k.step_size * o->m[i] / denom;                   // p -= lr * m_hat / denom
    }
}

void optimizer_step_range(Optimizer *opt, float *params, const float *grads, size_t begin, size_t end, bool decay,
                          double lr) {
    if (opt->cfg.kind == OPT_SGD) sgd_range(opt, params, grads, begin, end, decay, lr);
    else adam_range(opt, params, grads, begin, end, decay, lr);
}

void optimizer_step(Optimizer *opt, ParamSet *ps, double lr) {
    if (opt->numel != ps->numel) die("optimizer_step: optimizer has %zu floats, parameters %zu", opt->numel, ps->numel);
    for (int i = 0; i < ps->n_tensors; i++) {
        const ParamTensor *t = &ps->tensors[i];
        optimizer_step_range(opt, ps->params, ps->grads, t->offset, t->offset + t->numel, t->decay, lr);
    }
    opt->step++;
}

double grad_global_norm(const ParamSet *ps) {
    double sum = 0.0;
    for (size_t i = 0; i < ps->numel; i++) sum += (double)ps->grads[i] * ps->grads[i];
    return sqrt(sum);
}

double clip_grad_norm(ParamSet *ps, double max_norm) {
    double norm = grad_global_norm(ps);
    double coef = max_norm / (norm + 1e-6);  // torch clamps this at 1: only ever shrinks
    if (coef < 1.0) {
        float scale = (float)coef;
        for (size_t i = 0; i < ps->numel; i++) ps->grads[i] *= scale;
    }
    return norm;
}
