/* RoPE (Su et al. 2021) on adjacent pairs and causal softmax attention with
 * grouped-query heads, forward and backward. */
#include <math.h>
#include <string.h>

#include "tensor/types.h"
#include "train/ops.h"
#include "kernels/vec.h"

/* Angles as the inference engine computes them (src/model/rope.c): in
 * double, theta = pos * base^(-2i/hd), so saved models give the same logits. */
void mb_rope_table(float *cs, int ctx, int head_dim, float base) {
    int half = head_dim / 2;
    for (int pos = 0; pos < ctx; pos++)
        for (int i = 0; i < half; i++) {
            double theta = pos * pow((double)base, -2.0 * i / head_dim);
            cs[((size_t)pos * half + i) * 2] = (float)cos(theta);
            cs[((size_t)pos * half + i) * 2 + 1] = (float)sin(theta);
        }
}

static void rotate(float *x, const float *cs, int n, int ctx, int n_heads, int head_dim,
                   float sign) {
    int half = head_dim / 2;
    for (int t = 0; t < n; t++) {
        const float *c = cs + (size_t)(t % ctx) * half * 2;
        for (int h = 0; h < n_heads; h++) {
            float *v = x + ((size_t)t * n_heads + h) * head_dim;
            for (int i = 0; i < half; i++) {
                float co = c[2 * i], si = sign * c[2 * i + 1];
                float a = v[2 * i], b = v[2 * i + 1];
                v[2 * i] = a * co - b * si;
                v[2 * i + 1] = a * si + b * co;
            }
        }
    }
}

void mb_rope_forward(float *x, const float *cs, int n, int ctx, int n_heads, int head_dim) {
    rotate(x, cs, n, ctx, n_heads, head_dim, 1.0f);
}

/* A rotation's transpose is the rotation by -theta. */
void mb_rope_backward(float *dx, const float *cs, int n, int ctx, int n_heads, int head_dim) {
    rotate(dx, cs, n, ctx, n_heads, head_dim, -1.0f);
}

typedef struct {
    const mb_attn_shape *s;
    float *out, *probs, *dq, *dk, *dv, *scratch;
    const float *q, *k, *v, *dout, *cprobs;
} attn_job;

/* Tasks are (sequence, kv head) pairs: the query heads of one group share
 * K and V, so in the backward each task owns its dK and dV rows. */
static void forward_task(void *p, int ith, int nth) {
    const attn_job *j = p;
    const mb_attn_shape *s = j->s;
    int T = s->ctx, hd = s->head_dim, H = s->n_heads, Hkv = s->n_kv_heads, G = H / Hkv;
    int qs = H * hd, kvs = Hkv * hd;
    float scale = 1.0f / sqrtf((float)hd);
    long a, b;
    mb_split_range((long)s->n_seq * Hkv, ith, nth, &a, &b);
    for (long task = a; task < b; task++) {
        int seq = (int)(task / Hkv), hk = (int)(task % Hkv);
        size_t row0 = (size_t)seq * T;
        for (int h = hk * G; h < (hk + 1) * G; h++) {
            float *P = j->probs + ((size_t)seq * H + h) * T * T;
            for (int t = 0; t < T; t++) {
                const float *qt = j->q + (row0 + t) * qs + (size_t)h * hd;
                float *pt = P + (size_t)t * T, mx = -INFINITY;
                for (int u = 0; u <= t; u++) {
                    pt[u] = mb_vdot(qt, j->k + (row0 + u) * kvs + (size_t)hk * hd, hd) * scale;
                    if (pt[u] > mx) mx = pt[u];
                }
                float sum = 0;
                for (int u = 0; u <= t; u++)
                    sum += pt[u] = expf(pt[u] - mx);
                float inv = 1.0f / sum;
                for (int u = 0; u <= t; u++)
                    pt[u] *= inv;
                for (int u = t + 1; u < T; u++)
                    pt[u] = 0;
                float *ot = j->out + (row0 + t) * qs + (size_t)h * hd;
                memset(ot, 0, (size_t)hd * sizeof(float));
                for (int u = 0; u <= t; u++) {
                    const float *vu = j->v + (row0 + u) * kvs + (size_t)hk * hd;
                    float w = s->f16_weights ? mb_fp16_to_fp32(mb_fp32_to_fp16(pt[u])) : pt[u];
                    for (int i = 0; i < hd; i++)
                        ot[i] += w * vu[i];
                }
            }
        }
    }
}

void mb_attention_forward(mb_threadpool *pool, const mb_attn_shape *s, float *out, float *probs,
                          const float *q, const float *k, const float *v) {
    attn_job j = {.s = s, .out = out, .probs = probs, .q = q, .k = k, .v = v};
    mb_train_parallel(pool, forward_task, &j);
}

/* With S = scale Q K^T, P = softmax(S), O = P V:
 *   dV += P^T dO;  dP = dO V^T;  dS = P (dP - rowsum(P dP));
 *   dQ = scale dS K;  dK += scale dS^T Q. */
static void backward_task(void *p, int ith, int nth) {
    const attn_job *j = p;
    const mb_attn_shape *s = j->s;
    int T = s->ctx, hd = s->head_dim, H = s->n_heads, Hkv = s->n_kv_heads, G = H / Hkv;
    int qs = H * hd, kvs = Hkv * hd;
    float scale = 1.0f / sqrtf((float)hd);
    float *dp = j->scratch + (size_t)ith * T;
    long a, b;
    mb_split_range((long)s->n_seq * Hkv, ith, nth, &a, &b);
    for (long task = a; task < b; task++) {
        int seq = (int)(task / Hkv), hk = (int)(task % Hkv);
        size_t row0 = (size_t)seq * T;
        for (int t = 0; t < T; t++) {
            memset(j->dk + (row0 + t) * kvs + (size_t)hk * hd, 0, (size_t)hd * sizeof(float));
            memset(j->dv + (row0 + t) * kvs + (size_t)hk * hd, 0, (size_t)hd * sizeof(float));
        }
        for (int h = hk * G; h < (hk + 1) * G; h++) {
            const float *P = j->cprobs + ((size_t)seq * H + h) * T * T;
            for (int t = 0; t < T; t++) {
                const float *pt = P + (size_t)t * T;
                const float *dot_ = j->dout + (row0 + t) * qs + (size_t)h * hd;
                const float *qt = j->q + (row0 + t) * qs + (size_t)h * hd;
                float *dqt = j->dq + (row0 + t) * qs + (size_t)h * hd;
                float sum = 0;
                for (int u = 0; u <= t; u++) {
                    const float *vu = j->v + (row0 + u) * kvs + (size_t)hk * hd;
                    float *dvu = j->dv + (row0 + u) * kvs + (size_t)hk * hd;
                    dp[u] = mb_vdot(dot_, vu, hd);
                    sum += pt[u] * dp[u];
                    for (int i = 0; i < hd; i++)
                        dvu[i] += pt[u] * dot_[i];
                }
                memset(dqt, 0, (size_t)hd * sizeof(float));
                for (int u = 0; u <= t; u++) {
                    float ds = pt[u] * (dp[u] - sum) * scale;
                    const float *ku = j->k + (row0 + u) * kvs + (size_t)hk * hd;
                    float *dku = j->dk + (row0 + u) * kvs + (size_t)hk * hd;
                    mb_vaxpy(dqt, ds, ku, hd);
                    mb_vaxpy(dku, ds, qt, hd);
                }
            }
        }
    }
}

void mb_attention_backward(mb_threadpool *pool, const mb_attn_shape *s, float *dq, float *dk,
                           float *dv, const float *dout, const float *probs, const float *q,
                           const float *k, const float *v, float *scratch) {
    attn_job j = {.s = s,
                  .dq = dq,
                  .dk = dk,
                  .dv = dv,
                  .dout = dout,
                  .cprobs = probs,
                  .q = q,
                  .k = k,
                  .v = v,
                  .scratch = scratch};
    mb_train_parallel(pool, backward_task, &j);
}
