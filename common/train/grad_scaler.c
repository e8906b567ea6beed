// grad_scaler.c — see grad_scaler.h (lesson 14).
#include "common/train/grad_scaler.h"

#include <math.h>

#include "common/core/util.h"

GradScaler grad_scaler_default(void) { return (GradScaler){65536.0f, 2.0f, 0.5f, 2000, 0}; }

bool grad_scaler_unscale(const GradScaler *s, float *grads, size_t n) {
    const float inv_scale = (float)(1.0 / (double)s->scale);  // torch: scale.double().reciprocal().float()
    bool found_inf = false;
    for (size_t i = 0; i < n; i++) {
        grads[i] *= inv_scale;
        found_inf |= !isfinite(grads[i]);
    }
    return found_inf;
}

void grad_scaler_update(GradScaler *s, bool found_inf) {
    if (found_inf) {
        s->scale *= s->backoff_factor;
        s->growth_tracker = 0;
        return;
    }
    if (++s->growth_tracker == s->growth_interval) {
        float grown = s->scale * s->growth_factor;
        if (isfinite(grown)) s->scale = grown;
        s->growth_tracker = 0;
    }
}

cJSON *grad_scaler_state(const GradScaler *s) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "scale", s->scale);
    cJSON_AddNumberToObject(o, "growth_factor", s->growth_factor);
    cJSON_AddNumberToObject(o, "backoff_factor", s->backoff_factor);
    cJSON_AddNumberToObject(o, "growth_interval", s->growth_interval);
    cJSON_AddNumberToObject(o, "_growth_tracker", s->growth_tracker);
    return o;
}

static double state_number(const cJSON *state, const char *key, const char *where) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(state, key);
    if (!cJSON_IsNumber(v)) die("%s: grad scaler state has no number \"%s\"", where, key);
    return v->valuedouble;
}

GradScaler grad_scaler_load_state(const cJSON *state, const char *where) {
    if (!cJSON_IsObject(state)) die("%s: grad scaler state is not a JSON object", where);
    GradScaler s = {(float)state_number(state, "scale", where), (float)state_number(state, "growth_factor", where),
                    (float)state_number(state, "backoff_factor", where),
                    (int)state_number(state, "growth_interval", where),
                    (int)state_number(state, "_growth_tracker", where)};
    if (!(s.scale > 0) || !isfinite(s.scale))
        die("%s: grad scaler scale %g is not a positive finite number", where, s.scale);
    if (!(s.growth_factor > 1) || !(s.backoff_factor > 0 && s.backoff_factor < 1) || s.growth_interval < 1 ||
        s.growth_tracker < 0 || s.growth_tracker >= s.growth_interval)
        die("%s: grad scaler state is inconsistent (growth_factor > 1, 0 < backoff_factor < 1, "
            "0 <= _growth_tracker < growth_interval)",
            where);
    return s;
}
