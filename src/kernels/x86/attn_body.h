/* The x86 body of attention's online-softmax tile step (the recurrence is in
 * kernels/attention.h), written once over a level's vector macros:
 *   MBX_VEC, MBX_W (lanes), MBX_ZERO(), MBX_SET1(x), MBX_LD(p), MBX_ST(p, v),
 *   MBX_LDF16(p) (W halves to floats), MBX_FMA(a, b, acc), MBX_ADD, MBX_MUL,
 *   MBX_MAX(a, b) (b where a is NaN), MBX_HSUM(v), MBX_HMAX(v),
 *   MBX_EXP(v) (0 below -87), MBX_R16(v) (round to F16 and back),
 *   mbx_transpose(MBX_VEC r[MBX_W]) (a W x W block in place), and the score
 *   blocking MBX_KT_ROWS x MBX_KT_VECS and MBX_PV_ROWS (accumulators in
 *   registers), MBX_KT_MIN_ROWS (the GQA group from which the transpose
 *   pays), MBX_PV_BLOCKED (whether the weighted sum uses the scores'
 *   blocking) and MBX_PV_MIN_ROWS (rows from which it does).
 * Scores, groups of MBX_KT_MIN_ROWS heads and more (tinyllama's 8): the
 * tile's K is converted and transposed once, keys in lanes, and each row's
 * scores come out W at a time from broadcast FMAs over the head dimension,
 * MBX_KT_ROWS rows per loaded K vector; no horizontal sums. Smaller groups
 * (MHA, llama-125m's 3), whose decode gives a call few rows, for which the
 * transpose costs more than it saves: one dot and one horizontal sum per
 * (row, key). The two sum q . k in different orders, so the way is chosen
 * from the model's group, which a batched pass (speculative decoding's
 * verification, prefill) and token-by-token decode share, not from the
 * call's row count, which they do not: chosen by rows, llama-125m's logits
 * differed between them by up to 0.06. The weighted sum's ways (blocked or
 * per group of rows, padded with weight 0) add the same products in the
 * same order, so either serves any row count, and a row's output is the
 * same bits in any call. Weighted sum of V: each chunk of W output values stays in
 * registers for up to MBX_PV_ROWS rows while the tile's V rows stream past
 * it from L1, so a V tile is converted once per MBX_PV_ROWS rows. Rows
 * shorter than the longest of their block get weight 0 past their end. */
#ifndef MB_KERNELS_X86_ATTN_BODY_H
#define MB_KERNELS_X86_ATTN_BODY_H

#include <math.h>
#include <string.h>

#include "kernels/attention.h"
#include "tensor/fp16.h"
#include "tensor/types.h"

enum {
    MBX_KT_DIMS = 64, /* head dimensions per transposed block (16 KiB) */
    MBX_KT_KEYS = MBX_KT_VECS * MBX_W,
};

/* One row at a time: a W-lane dot per key, then a horizontal sum. */
static void mbx_attn_scores_rows(const struct mb_attn_tile *t, float (*s)[MB_ATTN_TILE]) {
    const int hd = t->hd, hv = hd / MBX_W * MBX_W;
    for (int r = 0; r < t->n_rows; r++) {
        const float *q = t->q + (size_t)r * hd;
        for (int j = t->first ? t->first[r] : 0; j < t->len[r]; j++) {
            const uint16_t *kj = t->k + (int64_t)j * t->k_stride;
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

/* kt[i][j] = K[j][i0 + i] as floats for i < NI, keys j < NJ (a multiple of
 * W); keys past n_kv are 0 (never read past the tile). */
static void mbx_attn_kt(const struct mb_attn_tile *t, int i0, int ni, int nj,
                        float (*kt)[MB_ATTN_TILE]) {
    const int nv = ni / MBX_W * MBX_W;
    for (int j0 = 0; j0 < nj; j0 += MBX_W) {
        for (int i = 0; i < nv; i += MBX_W) {
            MBX_VEC r[MBX_W];
            for (int jj = 0; jj < MBX_W; jj++)
                r[jj] = j0 + jj < t->n_kv
                            ? MBX_LDF16(t->k + (int64_t)(j0 + jj) * t->k_stride + i0 + i)
                            : MBX_ZERO();
            mbx_transpose(r);
            for (int c = 0; c < MBX_W; c++)
                MBX_ST(kt[i + c] + j0, r[c]);
        }
        for (int i = nv; i < ni; i++)
            for (int jj = 0; jj < MBX_W; jj++)
                kt[i][j0 + jj] =
                    j0 + jj < t->n_kv
                        ? mb_half_to_float(t->k[(int64_t)(j0 + jj) * t->k_stride + i0 + i])
                        : 0.0f;
    }
}

/* Rows [r, r + RB) x keys [jb, jb + MBX_KT_KEYS) over dimensions [i0, i0 +
 * NI): the partial sums of earlier dimension blocks are in s (I0 > 0), and
 * the last block scales. Always inlined so that a constant RB keeps the
 * accumulators in registers. */
static inline __attribute__((always_inline)) void
mbx_attn_kt_block(const struct mb_attn_tile *t, const float (*kt)[MB_ATTN_TILE], int i0, int ni,
                  int r, int rb, int jb, float (*s)[MB_ATTN_TILE]) {
    MBX_VEC acc[MBX_KT_ROWS][MBX_KT_VECS];
#pragma GCC unroll 8
    for (int k = 0; k < rb; k++)
#pragma GCC unroll 8
        for (int v = 0; v < MBX_KT_VECS; v++)
            acc[k][v] = i0 ? MBX_LD(s[r + k] + jb + v * MBX_W) : MBX_ZERO();
    const float *q = t->q + (size_t)r * t->hd + i0;
    for (int i = 0; i < ni; i++) {
        MBX_VEC kv[MBX_KT_VECS];
#pragma GCC unroll 8
        for (int v = 0; v < MBX_KT_VECS; v++)
            kv[v] = MBX_LD(kt[i] + jb + v * MBX_W);
#pragma GCC unroll 8
        for (int k = 0; k < rb; k++) {
            const MBX_VEC b = MBX_SET1(q[(size_t)k * t->hd + i]);
#pragma GCC unroll 8
            for (int v = 0; v < MBX_KT_VECS; v++)
                acc[k][v] = MBX_FMA(b, kv[v], acc[k][v]);
        }
    }
    const MBX_VEC sc = MBX_SET1(i0 + ni == t->hd ? t->scale : 1.0f);
#pragma GCC unroll 8
    for (int k = 0; k < rb; k++)
#pragma GCC unroll 8
        for (int v = 0; v < MBX_KT_VECS; v++)
            MBX_ST(s[r + k] + jb + v * MBX_W, MBX_MUL(acc[k][v], sc));
}

/* Keys in lanes: the K tile transposed once per MBX_KT_DIMS dimensions,
 * then every row's scores from broadcast FMAs (keys past n_kv get junk
 * scores that no row reads). */
static void mbx_attn_scores_kt(const struct mb_attn_tile *t, float (*s)[MB_ATTN_TILE]) {
    float kt[MBX_KT_DIMS][MB_ATTN_TILE] __attribute__((aligned(64)));
    const int hd = t->hd, nr = t->n_rows;
    const int nj = (t->n_kv + MBX_KT_KEYS - 1) / MBX_KT_KEYS * MBX_KT_KEYS;
    for (int i0 = 0; i0 < hd; i0 += MBX_KT_DIMS) {
        const int ni = hd - i0 < MBX_KT_DIMS ? hd - i0 : MBX_KT_DIMS;
        mbx_attn_kt(t, i0, ni, nj, kt);
        for (int jb = 0; jb < nj; jb += MBX_KT_KEYS) {
            int r = 0;
            for (; r + MBX_KT_ROWS <= nr; r += MBX_KT_ROWS)
                mbx_attn_kt_block(t, (const float(*)[MB_ATTN_TILE])kt, i0, ni, r, MBX_KT_ROWS, jb,
                                  s);
            for (; r < nr; r++)
                mbx_attn_kt_block(t, (const float(*)[MB_ATTN_TILE])kt, i0, ni, r, 1, jb, s);
        }
    }
}

/* Soft cap (Gemma 2) and the window's start: scores before first[r] are
 * -inf, which the weights turn into 0. */
static void mbx_attn_cap_mask(const struct mb_attn_tile *t, float (*s)[MB_ATTN_TILE]) {
    for (int r = 0; r < t->n_rows; r++) {
        if (t->softcap > 0)
            for (int j = 0; j < t->len[r]; j++)
                s[r][j] = t->softcap * tanhf(s[r][j] / t->softcap);
        const int f = t->first ? t->first[r] : 0;
        for (int j = 0; j < f && j < t->len[r]; j++)
            s[r][j] = -INFINITY;
    }
}

/* The tile's scores: computed, or in APPLY read back from the store of the
 * STATS pass (the same values, so m and l fit them exactly). */
static void mbx_attn_scores(const struct mb_attn_tile *t, float (*s)[MB_ATTN_TILE]) {
    const int store = t->scores != NULL;
    if (store && t->step == MB_ATTN_STEP_APPLY) {
        for (int r = 0; r < t->n_rows; r++)
            memcpy(s[r], t->scores + r * t->score_ld, (size_t)t->len[r] * sizeof **s);
        return;
    }
    /* From the group, never from n_rows: the two ways sum q . k in
     * different orders (x86/attn_body.h's head comment). */
    if (t->group >= MBX_KT_MIN_ROWS)
        mbx_attn_scores_kt(t, s);
    else
        mbx_attn_scores_rows(t, s);
    if (t->softcap > 0 || t->first) mbx_attn_cap_mask(t, s);
    if (store && t->step == MB_ATTN_STEP_STATS)
        for (int r = 0; r < t->n_rows; r++)
            memcpy(t->scores + r * t->score_ld, s[r], (size_t)t->len[r] * sizeof **s);
}

/* Turns row R's scores into F16-rounded weights (0 past its length, up to
 * N_PAD) for the tile step's phase, updating m and l (and rescaling the
 * accumulator) where the phase does. Returns 0 when no V product follows. */
static int mbx_attn_weights(const struct mb_attn_tile *t, int r, float *s, int n_pad) {
    const int n = t->len[r], hd = t->hd;
    /* The maximum ignores NaN scores, as fmaxf would (MBX_MAX keeps its
     * second operand, the scalar compare its right side), without a libm
     * call per score. */
    MBX_VEC vmx = MBX_SET1(-INFINITY);
    int j = 0;
    for (; j + MBX_W <= n; j += MBX_W)
        vmx = MBX_MAX(MBX_LD(s + j), vmx);
    float mx = MBX_HMAX(vmx);
    for (; j < n; j++)
        mx = s[j] > mx ? s[j] : mx;
    if (!(mx > -INFINITY)) {
        for (j = 0; j < n_pad; j++)
            s[j] = 0.0f;
        return 0;
    }
    j = 0;
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
    const float m_new = t->m[r] > mx ? t->m[r] : mx; /* neither is NaN */
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

/* acc[r] += sum_j p[r][j] * V[j] for rows [r0, r0 + nr), nr <=
 * MBX_PV_ROWS, dimensions from I0 (a multiple of W) on. Always inlined,
 * and the row loops unrolled, so that a constant NR keeps the accumulators
 * in registers. */
static inline __attribute__((always_inline)) void mbx_attn_values(const struct mb_attn_tile *t,
                                                                  float (*p)[MB_ATTN_TILE], int r0,
                                                                  int nr, int n, int i0) {
    const int hd = t->hd, hv = hd / MBX_W * MBX_W;
    for (int i = i0; i < hv; i += MBX_W) {
        MBX_VEC a[MBX_PV_ROWS];
#pragma GCC unroll 16
        for (int k = 0; k < nr; k++)
            a[k] = MBX_LD(t->acc + (size_t)(r0 + k) * hd + i);
        for (int j = 0; j < n; j++) {
            const MBX_VEC v = MBX_LDF16(t->v + (int64_t)j * t->v_stride + i);
#pragma GCC unroll 16
            for (int k = 0; k < nr; k++)
                a[k] = MBX_FMA(MBX_SET1(p[r0 + k][j]), v, a[k]);
        }
#pragma GCC unroll 16
        for (int k = 0; k < nr; k++)
            MBX_ST(t->acc + (size_t)(r0 + k) * hd + i, a[k]);
    }
    for (int i = hv > i0 ? hv : i0; i < hd; i++)
        for (int j = 0; j < n; j++) {
            const float v = mb_half_to_float(t->v[(int64_t)j * t->v_stride + i]);
            for (int k = 0; k < nr; k++)
                t->acc[(size_t)(r0 + k) * hd + i] += p[r0 + k][j] * v;
        }
}

/* Rows [r, r + RB) x dimensions [ib, ib + MBX_KT_KEYS) of the weighted
 * sum, over V rows already converted into vf: the scores' register
 * blocking with the roles swapped (a V row's vectors loaded once for RB
 * rows, one broadcast weight per row). */
static inline __attribute__((always_inline)) void mbx_attn_pv_block(const struct mb_attn_tile *t,
                                                                    const float (*vf)[MBX_KT_KEYS],
                                                                    float (*p)[MB_ATTN_TILE],
                                                                    int ib, int r, int rb, int n) {
    const int hd = t->hd;
    MBX_VEC acc[MBX_KT_ROWS][MBX_KT_VECS];
#pragma GCC unroll 8
    for (int k = 0; k < rb; k++)
#pragma GCC unroll 8
        for (int v = 0; v < MBX_KT_VECS; v++)
            acc[k][v] = MBX_LD(t->acc + (size_t)(r + k) * hd + ib + v * MBX_W);
    for (int j = 0; j < n; j++) {
        MBX_VEC vv[MBX_KT_VECS];
#pragma GCC unroll 8
        for (int v = 0; v < MBX_KT_VECS; v++)
            vv[v] = MBX_LD(vf[j] + v * MBX_W);
#pragma GCC unroll 8
        for (int k = 0; k < rb; k++) {
            const MBX_VEC b = MBX_SET1(p[r + k][j]);
#pragma GCC unroll 8
            for (int v = 0; v < MBX_KT_VECS; v++)
                acc[k][v] = MBX_FMA(b, vv[v], acc[k][v]);
        }
    }
#pragma GCC unroll 8
    for (int k = 0; k < rb; k++)
#pragma GCC unroll 8
        for (int v = 0; v < MBX_KT_VECS; v++)
            MBX_ST(t->acc + (size_t)(r + k) * hd + ib + v * MBX_W, acc[k][v]);
}

/* The weighted sum for many rows: each block of MBX_KT_KEYS dimensions of
 * the tile's V converted once for all rows, then register blocks of rows;
 * the dimensions past the last whole block go the per-group way. GN[g] and
 * GANY[g]: group g's (MBX_PV_ROWS rows) padded length and whether any of
 * its rows has weights. Returns the first dimension left. */
static int mbx_attn_values_blocked(const struct mb_attn_tile *t, float (*p)[MB_ATTN_TILE],
                                   const int *gn, const int *gany, int n_max) {
    float vf[MB_ATTN_TILE][MBX_KT_KEYS] __attribute__((aligned(64)));
    const int hb = t->hd / MBX_KT_KEYS * MBX_KT_KEYS;
    for (int ib = 0; ib < hb; ib += MBX_KT_KEYS) {
        for (int j = 0; j < n_max; j++)
            for (int v = 0; v < MBX_KT_VECS; v++)
                MBX_ST(vf[j] + v * MBX_W,
                       MBX_LDF16(t->v + (int64_t)j * t->v_stride + ib + v * MBX_W));
        for (int r0 = 0, g = 0; r0 < t->n_rows; r0 += MBX_PV_ROWS, g++) {
            if (!gany[g]) continue;
            const int re = t->n_rows - r0 < MBX_PV_ROWS ? t->n_rows : r0 + MBX_PV_ROWS;
            int r = r0;
            for (; r + MBX_KT_ROWS <= re; r += MBX_KT_ROWS)
                mbx_attn_pv_block(t, (const float(*)[MBX_KT_KEYS])vf, p, ib, r, MBX_KT_ROWS, gn[g]);
            for (; r < re; r++)
                mbx_attn_pv_block(t, (const float(*)[MBX_KT_KEYS])vf, p, ib, r, 1, gn[g]);
        }
    }
    return hb;
}

void MBX_NAME(attn_tile)(const struct mb_attn_tile *t) {
    float s[MB_ATTN_MAX_ROWS][MB_ATTN_TILE];
    int gn[MB_ATTN_MAX_ROWS], gany[MB_ATTN_MAX_ROWS], n_max = 0;
    mbx_attn_scores(t, s);
    for (int r0 = 0, g = 0; r0 < t->n_rows; r0 += MBX_PV_ROWS, g++) {
        const int nr = t->n_rows - r0 < MBX_PV_ROWS ? t->n_rows - r0 : MBX_PV_ROWS;
        int n = 0, any = 0;
        for (int k = 0; k < nr; k++)
            n = t->len[r0 + k] > n ? t->len[r0 + k] : n;
        for (int k = 0; k < nr; k++)
            any |= mbx_attn_weights(t, r0 + k, s[r0 + k], n);
        gn[g] = n, gany[g] = any;
        if (any && n > n_max) n_max = n;
    }
    const int i0 = MBX_PV_BLOCKED && t->n_rows >= MBX_PV_MIN_ROWS
                       ? mbx_attn_values_blocked(t, s, gn, gany, n_max)
                       : 0;
    if (i0 == t->hd) return;
    for (int r0 = 0, g = 0; r0 < t->n_rows; r0 += MBX_PV_ROWS, g++) {
        if (!gany[g]) continue;
        const int nr = t->n_rows - r0 < MBX_PV_ROWS ? t->n_rows - r0 : MBX_PV_ROWS, n = gn[g];
        /* Row counts the compiler sees as constants: the whole block, then
         * halves of what is left. */
        int k = 0;
        if (nr == MBX_PV_ROWS) mbx_attn_values(t, s, r0, MBX_PV_ROWS, n, i0), k = nr;
        if (MBX_PV_ROWS > 8 && nr - k >= 8) mbx_attn_values(t, s, r0 + k, 8, n, i0), k += 8;
        if (nr - k >= 4) mbx_attn_values(t, s, r0 + k, 4, n, i0), k += 4;
        if (nr - k >= 2) mbx_attn_values(t, s, r0 + k, 2, n, i0), k += 2;
        if (nr - k >= 1) mbx_attn_values(t, s, r0 + k, 1, n, i0);
    }
}

#endif
