/* The distillation loss head (Hinton et al. 2015): the KL divergence from
 * the teacher's softened distribution to the student's, times T^2 so its
 * gradient keeps the scale of the data term, mixed with cross-entropy on
 * the data:
 *
 *   L = alpha T^2 KL(p_T || q_T) + (1 - alpha) CE(q, y)
 *   p_T = softmax(t / T), q_T = softmax(z / T), q = softmax(z)
 *   dL/dz = alpha T (q_T - p_T) + (1 - alpha) (q - onehot(y))
 *
 * With a top-k teacher, the KL is taken between the two distributions
 * coarse-grained to K + 1 outcomes: each of the teacher's K kept tokens,
 * and "any other token", whose teacher probability p_r = 1 - sum_K p_i is
 * known because the cache keeps the teacher's log-normalizer at T. Then
 *
 *   KL_K = sum_K p_i log(p_i / q_i) + p_r log(p_r / q_r),  q_r = sum_{j not in K} q_j
 *   dKL_K/dz_j = (q_j - target_j) / T,  target_j = p_j in K, p_r q_j / q_r outside
 *
 * so the tail keeps the teacher's mass, shared as the student already
 * shares it (renormalizing p over the K tokens instead would push every
 * other token towards 0 and wreck the student's cross-entropy on them).
 * KL_K <= KL (coarse-graining never increases a divergence), with equality
 * when K is the whole vocabulary. */
#include <math.h>
#include <stdlib.h>

#include "runtime/log_softmax.h"
#include "train/ops.h"

typedef struct {
    float *logits, *row_loss;
    const int32_t *targets;
    const mb_teacher_view *t;
    int n, vocab;
    float scale;
} distill_job;

static void distill_task(void *p, int ith, int nth) {
    const distill_job *j = p;
    const mb_teacher_view *t = j->t;
    const float T = t->temperature, inv_t = 1.0f / T, a = t->alpha;
    const float g = j->scale / (float)j->n;
    long r0, r1;
    mb_split_range(j->n, ith, nth, &r0, &r1);
    /* The K kept tokens' gradients of one row (top-k teacher only). */
    float *kgrad = t->logits ? NULL : malloc((size_t)t->k * sizeof *kgrad);
    if (!t->logits && !kgrad) {
        for (long r = r0; r < r1; r++)
            j->row_loss[r] = NAN; /* out of memory: a NaN loss stops nothing silently */
        return;
    }
    for (long r = r0; r < r1; r++) {
        float *z = j->logits + (size_t)r * j->vocab;
        const double lse1 = mb_log_sum_exp(z, j->vocab, 1.0f);
        const double lse_t = mb_log_sum_exp(z, j->vocab, inv_t);
        const int y = j->targets[r];
        double kl = 0;
        /* The student's terms first: dz = (1-a) q + a T q_T, then the
         * teacher's and the data's subtracted where they are nonzero. */
        const float ce = (float)(lse1 - z[y]);
        if (t->logits) {
            const float *tz = t->logits + (size_t)r * j->vocab;
            const double tlse = mb_log_sum_exp(tz, j->vocab, inv_t);
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
            const double tlse = t->topk_lse[r];
            double p_k = 0, q_k = 0;
            for (int i = 0; i < t->k; i++) {
                const double lp = tl[i] * inv_t - tlse, lq = z[ids[i]] * inv_t - lse_t;
                kl += exp(lp) * (lp - lq);
                p_k += exp(lp);
                q_k += exp(lq);
            }
            /* The tail: p_r from the teacher's normalizer; q_r summed over
             * the student's other tokens below, not as 1 - q_k (rounding). */
            /* The normalizer is stored in float, so p_k is off by ~1e-7
             * relative: a tail below 1e-6 is rounding, not mass. */
            const double p_r = p_k < 1 - 1e-6 ? 1 - p_k : 0;
            double q_r = 0;
            for (int i = 0; i < j->vocab; i++)
                q_r += exp(z[i] * inv_t - lse_t);
            q_r = q_r > q_k ? q_r - q_k : 0;
            if (p_r > 0) kl += p_r * (log(p_r) - log(q_r > 1e-300 ? q_r : 1e-300));
            /* Outside K the target is p_r q_j / q_r; inside it is p_j: the
             * K tokens' gradients are computed first (from the logits the
             * full pass overwrites) and put back after it. */
            const double tail = q_r > 1e-300 ? p_r / q_r : 0;
            for (int i = 0; i < t->k; i++) {
                const int id = ids[i];
                const double qt = exp(z[id] * inv_t - lse_t);
                const float q = (float)exp(z[id] - lse1);
                kgrad[i] = g * ((1 - a) * q + a * T * (float)(qt - exp(tl[i] * inv_t - tlse)));
            }
            for (int i = 0; i < j->vocab; i++) {
                const double qt = exp(z[i] * inv_t - lse_t);
                const float q = (float)exp(z[i] - lse1);
                z[i] = g * ((1 - a) * q + a * T * (float)(qt - tail * qt));
            }
            for (int i = 0; i < t->k; i++)
                z[ids[i]] = kgrad[i];
        }
        z[y] -= g * (1 - a);
        j->row_loss[r] = (float)(a * T * T * kl + (1 - a) * ce);
    }
    free(kgrad);
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
