/* AdamW, the learning-rate schedule and gradient clipping. */
#include <math.h>

#include "train/lora.h"
#include "train/train.h"

float mb_train_lr(const mb_train_config *c, int step) {
    if (step < c->warmup) return c->lr * (float)(step + 1) / (float)c->warmup;
    int span = c->steps - c->warmup;
    double progress = span > 0 ? (double)(step - c->warmup) / span : 1.0;
    if (progress > 1) progress = 1;
    return (float)(c->min_lr + 0.5 * (c->lr - c->min_lr) * (1.0 + cos(M_PI * progress)));
}

double mb_train_clip(float *grads, size_t n, float max_norm) {
    double ss = 0;
    for (size_t i = 0; i < n; i++)
        ss += (double)grads[i] * grads[i];
    double norm = sqrt(ss);
    if (max_norm > 0 && norm > max_norm) {
        float s = (float)(max_norm / norm);
        for (size_t i = 0; i < n; i++)
            grads[i] *= s;
    }
    return norm;
}

/* m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
 * p -= lr (m/(1-b1^t) / (sqrt(v/(1-b2^t)) + eps) + wd p)
 * on one flat range; STEP is 1-based for the bias correction. */
void mb_adamw_update(const mb_train_config *c, float *p, const float *g, float *am, float *av,
                     size_t n, float wd, float lr, int step) {
    float b1 = c->beta1, b2 = c->beta2;
    float bc1 = (float)(1.0 - pow(b1, step)), bc2 = (float)(1.0 - pow(b2, step));
    for (size_t i = 0; i < n; i++) {
        am[i] = b1 * am[i] + (1 - b1) * g[i];
        av[i] = b2 * av[i] + (1 - b2) * g[i] * g[i];
        float mhat = am[i] / bc1, vhat = av[i] / bc2;
        p[i] -= lr * (mhat / (sqrtf(vhat) + c->adam_eps) + wd * p[i]);
    }
}

/* Decay on matrices only (tp->decay). */
void mb_train_adamw(mb_tmodel *m, float lr, int step) {
    const mb_train_config *c = mb_tmodel_config(m);
    float *p = mb_tmodel_params(m), *g = mb_tmodel_grads(m);
    float *am = mb_tmodel_adam_m(m), *av = mb_tmodel_adam_v(m);
    for (int t = 0; t < mb_tmodel_n_tensors(m); t++) {
        const mb_tparam *tp = mb_tmodel_tensor(m, t);
        size_t o = tp->offset;
        mb_adamw_update(c, p + o, g + o, am + o, av + o, tp->n, tp->decay ? c->weight_decay : 0.0f,
                        lr, step);
    }
}
