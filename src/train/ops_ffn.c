/* SwiGLU (Shazeer 2020) and the cross-entropy loss head. */
#include <math.h>

#include "runtime/log_softmax.h"
#include "train/ops.h"

static inline float sigmoid(float x) {
    return 1.0f / (1.0f + expf(-x));
}

void mb_swiglu_forward(float *h, const float *g, const float *u, size_t n) {
    for (size_t i = 0; i < n; i++)
        h[i] = g[i] * sigmoid(g[i]) * u[i];
}

/* silu'(g) = s (1 + g (1 - s)) with s = sigmoid(g). */
void mb_swiglu_backward(float *dg, float *du, const float *dh, const float *g, const float *u,
                        size_t n) {
    for (size_t i = 0; i < n; i++) {
        float s = sigmoid(g[i]);
        du[i] = dh[i] * g[i] * s;
        dg[i] = dh[i] * u[i] * s * (1.0f + g[i] * (1.0f - s));
    }
}

typedef struct {
    float *logits, *row_loss;
    const float *clogits;
    const int32_t *targets;
    int n, vocab, grad;
    float scale;
} xent_job;

/* loss = logsumexp(z) - z[target]; dz = (softmax(z) - onehot) * scale / n. */
static void xent_task(void *p, int ith, int nth) {
    const xent_job *j = p;
    long t0, t1;
    mb_split_range(j->n, ith, nth, &t0, &t1);
    float g = j->scale / (float)j->n;
    for (long t = t0; t < t1; t++) {
        const float *z = j->clogits + (size_t)t * j->vocab;
        int y = j->targets[t];
        float zy = z[y];
        /* With a gradient the log-probabilities go straight into dz (which
         * may be z itself: mb_log_softmax reads each z[i] before writing). */
        float *dz = j->grad ? j->logits + (size_t)t * j->vocab : NULL;
        j->row_loss[t] = (float)(mb_log_softmax(z, j->vocab, dz) - zy);
        if (!dz) continue;
        for (int i = 0; i < j->vocab; i++)
            dz[i] = expf(dz[i]) * g;
        dz[y] -= g;
    }
}

static double run(mb_threadpool *pool, xent_job *j) {
    mb_train_parallel(pool, xent_task, j);
    double total = 0;
    for (int t = 0; t < j->n; t++)
        total += j->row_loss[t];
    return total;
}

double mb_loss_xent(mb_threadpool *pool, float *logits, const int32_t *targets, int n, int vocab,
                    float scale, float *row_loss) {
    xent_job j = {.logits = logits,
                  .clogits = logits,
                  .row_loss = row_loss,
                  .targets = targets,
                  .n = n,
                  .vocab = vocab,
                  .grad = 1,
                  .scale = scale};
    return run(pool, &j);
}

double mb_loss_xent_eval(mb_threadpool *pool, const float *logits, const int32_t *targets, int n,
                         int vocab, float *row_loss) {
    xent_job j = {.clogits = logits,
                  .row_loss = row_loss,
                  .targets = targets,
                  .n = n,
                  .vocab = vocab,
                  .grad = 0};
    return run(pool, &j);
}
