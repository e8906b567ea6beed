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
