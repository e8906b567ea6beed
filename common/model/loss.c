// loss.c — see loss.h.
#include "common/model/loss.h"

#include <math.h>
#include <stddef.h>

#include "common/core/util.h"

double cross_entropy_forward(const float *logits, const int *labels, int B, int K, float *probs) {
    double total = 0.0;
    for (int b = 0; b < B; b++) {
        const float *z = logits + (size_t)b * K;
        if (labels[b] < 0 || labels[b] >= K)
            die("cross_entropy: label %d of example %d is outside 0..%d", labels[b], b, K - 1);
        float zmax = z[0];
        for (int k = 1; k < K; k++) zmax = fmaxf(zmax, z[k]);
        double sum = 0.0;
        for (int k = 0; k < K; k++) sum += exp((double)z[k] - zmax);
        double logsumexp = zmax + log(sum);
        total += logsumexp - z[labels[b]];
        if (probs)
            for (int k = 0; k < K; k++) probs[(size_t)b * K + k] = (float)exp((double)z[k] - logsumexp);
    }
    return total / B;
}

void cross_entropy_backward(const float *probs, const int *labels, int B, int K, float scale, float *dlogits) {
    for (int b = 0; b < B; b++)
        for (int k = 0; k < K; k++) {
            size_t i = (size_t)b * K + k;
            dlogits[i] = (probs[i] - (k == labels[b] ? 1.0f : 0.0f)) * scale;
        }
}

void argmax_rows(const float *logits, int B, int K, int *pred) {
    for (int b = 0; b < B; b++) {
        const float *z = logits + (size_t)b * K;
        int best = 0;
        for (int k = 1; k < K; k++)
            if (z[k] > z[best]) best = k;
        pred[b] = best;
    }
}

double mse_loss(const float *logits, const float *targets, int B, float scale, float *dlogits) {
    double total = 0.0;
    for (int b = 0; b < B; b++) {
        const double d = (double)logits[b] - targets[b];
        total += d * d;
        if (dlogits) dlogits[b] = (float)(2.0 * d) * scale;
    }
    return total / B;
}

double bce_with_logits_loss(const float *logits, const float *targets, int B, int K, float scale, float *dlogits) {
    double total = 0.0;
    for (size_t i = 0; i < (size_t)B * K; i++) {
        const double z = logits[i], y = targets[i];
        total += fmax(z, 0.0) - z * y + log1p(exp(-fabs(z)));
        if (dlogits) dlogits[i] = (float)((1.0 / (1.0 + exp(-z)) - y) * scale / K);
    }
    return total / ((double)B * K);
}

double smoothed_cross_entropy_loss(const float *logits, const int *labels, int B, int K, double eps, float scale,
                                   float *dlogits) {
    double nll = 0.0, smooth = 0.0;
    int active = 0;
    for (int b = 0; b < B; b++) {
        const float *z = logits + (size_t)b * K;
        float *dz = dlogits ? dlogits + (size_t)b * K : NULL;
        if (labels[b] == LABEL_IGNORE_INDEX) {
            for (int k = 0; dz && k < K; k++) dz[k] = 0.0f;
            continue;
        }
        if (labels[b] < 0 || labels[b] >= K)
            die("cross_entropy: label %d of example %d is outside 0..%d", labels[b], b, K - 1);
        float zmax = z[0];
        for (int k = 1; k < K; k++) zmax = fmaxf(zmax, z[k]);
        double sum = 0.0, sum_z = 0.0;
        for (int k = 0; k < K; k++) sum += exp((double)z[k] - zmax), sum_z += z[k];
        const double logsumexp = zmax + log(sum);
        nll += logsumexp - z[labels[b]];
        smooth += K * logsumexp - sum_z;  // sum_k -log p[k]
        active++;
        for (int k = 0; dz && k < K; k++) {
            const double p = exp((double)z[k] - logsumexp);
            dz[k] = (float)((p - (k == labels[b] ? 1.0 - eps : 0.0) - eps / K) * scale);
        }
    }
    if (!active) return 0.0;  // LabelSmoother divides 0 by 0 here; no example, no loss
    return (1.0 - eps) * nll / active + eps * smooth / ((double)active * K);
}
