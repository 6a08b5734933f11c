/* The scalar reference of attention's online-softmax tile step (see
 * kernels/attention.h for the recurrence). Dots accumulate in double: this
 * is the yardstick the SIMD versions are measured against. */
#include <math.h>

#include "kernels/attention.h"
#include "tensor/fp16.h"
#include "tensor/types.h"

void mb_ref_attn_tile(const struct mb_attn_tile *t) {
    const int hd = t->hd;
    float s[MB_ATTN_TILE];
    for (int r = 0; r < t->n_rows; r++) {
        const int n = t->len[r], j0 = t->first ? t->first[r] : 0;
        if (n <= j0) continue;
        const float *q = t->q + (size_t)r * hd;
        float *stored = t->scores ? t->scores + r * t->score_ld : NULL;
        const int reuse = stored && t->step == MB_ATTN_STEP_APPLY;
        float mx = -INFINITY;
        for (int j = 0; j < j0; j++)
            s[j] = -INFINITY;
        for (int j = j0; j < n; j++) {
            if (reuse) {
                s[j] = stored[j];
            } else {
                const uint16_t *kj = t->k + (int64_t)j * t->k_stride;
                double d = 0.0;
                for (int i = 0; i < hd; i++)
                    d += (double)q[i] * mb_half_to_float(kj[i]);
                s[j] = (float)d * t->scale;
                if (t->softcap > 0) s[j] = t->softcap * tanhf(s[j] / t->softcap);
                if (stored && t->step == MB_ATTN_STEP_STATS) stored[j] = s[j];
            }
            mx = fmaxf(mx, s[j]);
        }
        /* Every score is -inf (or NaN): nothing this tile can add. */
        if (!(mx > -INFINITY)) continue;
        float *acc = t->acc + (size_t)r * hd;
        if (t->step == MB_ATTN_STEP_APPLY) {
            const float inv = 1.0f / t->l[r];
            for (int j = j0; j < n; j++) {
                const float p16 = mb_half_to_float(mb_fp32_to_fp16(expf(s[j] - t->m[r]) * inv));
                const uint16_t *vj = t->v + (int64_t)j * t->v_stride;
                for (int i = 0; i < hd; i++)
                    acc[i] += p16 * mb_half_to_float(vj[i]);
            }
            continue;
        }
        const float m_new = fmaxf(t->m[r], mx);
        const float c = expf(t->m[r] - m_new); /* 0 on the first tile */
        const int online = t->step == MB_ATTN_STEP_ONLINE;
        if (online && c != 1.0f)
            for (int i = 0; i < hd; i++)
                acc[i] *= c;
        double sum = 0.0;
        for (int j = j0; j < n; j++) {
            const float p = expf(s[j] - m_new);
            sum += p;
            if (!online) continue;
            const float p16 = mb_half_to_float(mb_fp32_to_fp16(p));
            const uint16_t *vj = t->v + (int64_t)j * t->v_stride;
            for (int i = 0; i < hd; i++)
                acc[i] += p16 * mb_half_to_float(vj[i]);
        }
        t->l[r] = (float)(c * t->l[r] + sum);
        t->m[r] = m_new;
    }
}
