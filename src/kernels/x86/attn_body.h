/* The x86 body of attention's online-softmax tile step (the recurrence is in
 * kernels/attention.h), written once over a level's vector macros:
 *   MBX_VEC, MBX_W (lanes), MBX_ZERO(), MBX_SET1(x), MBX_LD(p), MBX_ST(p, v),
 *   MBX_LDF16(p) (W halves to floats), MBX_FMA(a, b, acc), MBX_ADD, MBX_MUL,
 *   MBX_HSUM(v), MBX_EXP(v) (0 below -87), MBX_R16(v) (round to F16 and back).
 * Scores: four query rows meet each key row while its halves are converted
 * once. Weighted sum of V: each chunk of W output values stays in registers
 * for up to eight rows while the tile's V rows stream past it from L1, so a
 * V tile is converted once per eight rows. Rows shorter than the longest of
 * their block get weight 0 past their end. */
#ifndef MB_KERNELS_X86_ATTN_BODY_H
#define MB_KERNELS_X86_ATTN_BODY_H

#include <math.h>

#include "kernels/attention.h"
#include "tensor/fp16.h"
#include "tensor/types.h"

static void mbx_attn_scores(const struct mb_attn_tile *t, float (*s)[MB_ATTN_TILE]) {
    const int hd = t->hd, hv = hd / MBX_W * MBX_W;
    int r = 0;
    for (; r + 4 <= t->n_rows; r += 4) {
        int n = 0;
        for (int k = 0; k < 4; k++)
            n = t->len[r + k] > n ? t->len[r + k] : n;
        const float *q0 = t->q + (size_t)r * hd, *q1 = q0 + hd, *q2 = q1 + hd, *q3 = q2 + hd;
        for (int j = 0; j < n; j++) {
            const uint16_t *kj = t->k + (int64_t)j * t->stride;
            MBX_VEC a0 = MBX_ZERO(), a1 = MBX_ZERO(), a2 = MBX_ZERO(), a3 = MBX_ZERO();
            for (int i = 0; i < hv; i += MBX_W) {
                const MBX_VEC kv = MBX_LDF16(kj + i);
                a0 = MBX_FMA(MBX_LD(q0 + i), kv, a0);
                a1 = MBX_FMA(MBX_LD(q1 + i), kv, a1);
                a2 = MBX_FMA(MBX_LD(q2 + i), kv, a2);
                a3 = MBX_FMA(MBX_LD(q3 + i), kv, a3);
            }
            float d0 = MBX_HSUM(a0), d1 = MBX_HSUM(a1), d2 = MBX_HSUM(a2), d3 = MBX_HSUM(a3);
            for (int i = hv; i < hd; i++) {
                const float kf = mb_half_to_float(kj[i]);
                d0 += q0[i] * kf, d1 += q1[i] * kf, d2 += q2[i] * kf, d3 += q3[i] * kf;
            }
            s[r][j] = d0 * t->scale, s[r + 1][j] = d1 * t->scale;
            s[r + 2][j] = d2 * t->scale, s[r + 3][j] = d3 * t->scale;
        }
    }
    for (; r < t->n_rows; r++) {
        const float *q = t->q + (size_t)r * hd;
        for (int j = 0; j < t->len[r]; j++) {
            const uint16_t *kj = t->k + (int64_t)j * t->stride;
            MBX_VEC a = MBX_ZERO();
            for (int i = 0; i < hv; i += MBX_W)
                a = MBX_FMA(MBX_LD(q + i), MBX_LDF16(kj + i), a);
            float d = MBX_HSUM(a);
            for (int i = hv; i < hd; i++)
                d += q[i] * mb_half_to_float(kj[i]);
            s[r][j] = d * t->scale;
        }
    }
}

/* Turns row R's scores into F16-rounded weights (0 past its length, up to
 * N_PAD) for the tile step's phase, updating m and l (and rescaling the
 * accumulator) where the phase does. Returns 0 when no V product follows. */
static int mbx_attn_weights(const struct mb_attn_tile *t, int r, float *s, int n_pad) {
    const int n = t->len[r], hd = t->hd;
    float mx = -INFINITY;
    for (int j = 0; j < n; j++)
        mx = fmaxf(mx, s[j]);
    if (!(mx > -INFINITY)) {
        for (int j = 0; j < n_pad; j++)
            s[j] = 0.0f;
        return 0;
    }
    int j = 0;
    if (t->step == MB_ATTN_STEP_APPLY) {
        const float m = t->m[r], inv = 1.0f / t->l[r];
        const MBX_VEC vneg = MBX_SET1(-m), vinv = MBX_SET1(inv);
        for (; j + MBX_W <= n; j += MBX_W)
            MBX_ST(s + j, MBX_R16(MBX_MUL(MBX_EXP(MBX_ADD(MBX_LD(s + j), vneg)), vinv)));
        for (; j < n; j++)
            s[j] = mb_half_to_float(mb_fp32_to_fp16(expf(s[j] - m) * inv));
        for (; j < n_pad; j++)
            s[j] = 0.0f;
        return 1;
    }
    const int online = t->step == MB_ATTN_STEP_ONLINE;
    const float m_new = fmaxf(t->m[r], mx);
    const float c = expf(t->m[r] - m_new);
    const MBX_VEC vneg = MBX_SET1(-m_new);
    MBX_VEC sum = MBX_ZERO();
    for (; j + MBX_W <= n; j += MBX_W) {
        const MBX_VEC p = MBX_EXP(MBX_ADD(MBX_LD(s + j), vneg));
        sum = MBX_ADD(sum, p);
        if (online) MBX_ST(s + j, MBX_R16(p));
    }
    float tail = 0.0f;
    for (; j < n; j++) {
        const float p = expf(s[j] - m_new);
        tail += p;
        s[j] = mb_half_to_float(mb_fp32_to_fp16(p));
    }
    for (; j < n_pad; j++)
        s[j] = 0.0f;
    t->l[r] = c * t->l[r] + MBX_HSUM(sum) + tail;
    t->m[r] = m_new;
    if (!online) return 0;
    if (c != 1.0f) {
        float *acc = t->acc + (size_t)r * hd;
        const MBX_VEC vc = MBX_SET1(c);
        int i = 0;
        for (; i + MBX_W <= hd; i += MBX_W)
            MBX_ST(acc + i, MBX_MUL(MBX_LD(acc + i), vc));
        for (; i < hd; i++)
            acc[i] *= c;
    }
    return 1;
}

/* acc[r] += sum_j p[r][j] * V[j] for rows [r0, r0 + nr), nr <= 8. Always
 * inlined so that a constant NR unrolls the row loops into registers. */
static inline __attribute__((always_inline)) void
mbx_attn_values(const struct mb_attn_tile *t, float (*p)[MB_ATTN_TILE], int r0, int nr, int n) {
    const int hd = t->hd, hv = hd / MBX_W * MBX_W;
    for (int i = 0; i < hv; i += MBX_W) {
        MBX_VEC a[8];
        for (int k = 0; k < nr; k++)
            a[k] = MBX_LD(t->acc + (size_t)(r0 + k) * hd + i);
        for (int j = 0; j < n; j++) {
            const MBX_VEC v = MBX_LDF16(t->v + (int64_t)j * t->stride + i);
            for (int k = 0; k < nr; k++)
                a[k] = MBX_FMA(MBX_SET1(p[r0 + k][j]), v, a[k]);
        }
        for (int k = 0; k < nr; k++)
            MBX_ST(t->acc + (size_t)(r0 + k) * hd + i, a[k]);
    }
    for (int i = hv; i < hd; i++)
        for (int j = 0; j < n; j++) {
            const float v = mb_half_to_float(t->v[(int64_t)j * t->stride + i]);
            for (int k = 0; k < nr; k++)
                t->acc[(size_t)(r0 + k) * hd + i] += p[r0 + k][j] * v;
        }
}

void MBX_NAME(attn_tile)(const struct mb_attn_tile *t) {
    float s[MB_ATTN_MAX_ROWS][MB_ATTN_TILE];
    mbx_attn_scores(t, s);
    for (int r0 = 0; r0 < t->n_rows; r0 += 8) {
        const int nr = t->n_rows - r0 < 8 ? t->n_rows - r0 : 8;
        int n = 0, any = 0;
        for (int k = 0; k < nr; k++)
            n = t->len[r0 + k] > n ? t->len[r0 + k] : n;
        for (int k = 0; k < nr; k++)
            any |= mbx_attn_weights(t, r0 + k, s[r0 + k], n);
        if (!any) continue;
        if (nr == 8)
            mbx_attn_values(t, s, r0, 8, n);
        else if (nr == 4)
            mbx_attn_values(t, s, r0, 4, n);
        else if (nr == 2)
            mbx_attn_values(t, s, r0, 2, n);
        else
            for (int k = 0; k < nr; k++)
                mbx_attn_values(t, s, r0 + k, 1, n);
    }
}

#endif
