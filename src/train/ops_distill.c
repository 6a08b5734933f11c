/* The distillation loss head (Hinton et al. 2015): the KL divergence from
 * the teacher's softened distribution to the student's, times T^2 so its
 * gradient keeps the scale of the data term, mixed with cross-entropy on
 * the data:
 *
 *   L = alpha T^2 KL(p_T || q_T) + (1 - alpha) CE(q, y)
 *   p_T = softmax(t / T), q_T = softmax(z / T), q = softmax(z)
 *   dL/dz = alpha T (q_T - p_T) + (1 - alpha) (q - onehot(y))
 *
 * With a top-k teacher, p_T is the softmax of the k kept logits over those
 * k tokens (the rest of the vocabulary gets 0). */
#include <math.h>

#include "train/ops.h"

typedef struct {
    float *logits, *row_loss;
    const int32_t *targets;
    const mb_teacher_view *t;
    int n, vocab;
    float scale;
} distill_job;

/* log-sum-exp of Z[0..n) / T in double; MX receives max(Z) / T. */
static double logsumexp_scaled(const float *z, int n, float inv_t, float *mx_out) {
    float mx = -INFINITY;
    for (int i = 0; i < n; i++)
        mx = z[i] * inv_t > mx ? z[i] * inv_t : mx;
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += exp((double)(z[i] * inv_t - mx));
    *mx_out = mx;
    return mx + log(sum);
}

static void distill_task(void *p, int ith, int nth) {
    const distill_job *j = p;
    const mb_teacher_view *t = j->t;
    const float T = t->temperature, inv_t = 1.0f / T, a = t->alpha;
    const float g = j->scale / (float)j->n;
    long r0, r1;
    mb_split_range(j->n, ith, nth, &r0, &r1);
    for (long r = r0; r < r1; r++) {
        float *z = j->logits + (size_t)r * j->vocab, mx;
        const double lse1 = logsumexp_scaled(z, j->vocab, 1.0f, &mx);
        const double lse_t = logsumexp_scaled(z, j->vocab, inv_t, &mx);
        const int y = j->targets[r];
        double kl = 0;
        /* The student's terms first: dz = (1-a) q + a T q_T, then the
         * teacher's and the data's subtracted where they are nonzero. */
        const float ce = (float)(lse1 - z[y]);
        if (t->logits) {
            const float *tz = t->logits + (size_t)r * j->vocab;
            float tmx;
            const double tlse = logsumexp_scaled(tz, j->vocab, inv_t, &tmx);
            for (int i = 0; i < j->vocab; i++) {
                const double lp = tz[i] * inv_t - tlse, lq = z[i] * inv_t - lse_t;
                const double pt = exp(lp);
                kl += pt * (lp - lq);
                const float q = (float)exp(z[i] - lse1), qt = (float)exp(lq);
                z[i] = g * ((1 - a) * q + a * T * (qt - (float)pt));
            }
        } else {
            const int32_t *ids = t->topk_ids + (size_t)r * t->k;
            const float *tl = t->topk_logits + (size_t)r * t->k;
            float tmx;
            const double tlse = logsumexp_scaled(tl, t->k, inv_t, &tmx);
            for (int i = 0; i < t->k; i++) {
                const double lp = tl[i] * inv_t - tlse;
                kl += exp(lp) * (lp - (z[ids[i]] * inv_t - lse_t));
            }
            for (int i = 0; i < j->vocab; i++) {
                const float q = (float)exp(z[i] - lse1);
                const float qt = (float)exp(z[i] * inv_t - lse_t);
                z[i] = g * ((1 - a) * q + a * T * qt);
            }
            for (int i = 0; i < t->k; i++)
                z[ids[i]] -= g * a * T * (float)exp(tl[i] * inv_t - tlse);
        }
        z[y] -= g * (1 - a);
        j->row_loss[r] = (float)(a * T * T * kl + (1 - a) * ce);
    }
}

double mb_loss_distill(mb_threadpool *pool, float *logits, const int32_t *targets, int n, int vocab,
                       const mb_teacher_view *teacher, float scale, float *row_loss) {
    distill_job j = {.logits = logits,
                     .row_loss = row_loss,
                     .targets = targets,
                     .t = teacher,
                     .n = n,
                     .vocab = vocab,
                     .scale = scale};
    mb_train_parallel(pool, distill_task, &j);
    double total = 0;
    for (int r = 0; r < n; r++)
        total += row_loss[r];
    return total;
}
