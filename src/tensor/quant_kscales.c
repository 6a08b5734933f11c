/* Coding a super-block's sub-block scales for the importance-weighted
 * K-quant encoders. The plain encoders code the scales as round(a_j / d)
 * with d = max|a_j| / SMAX, which ignores what the sub-blocks matter: a
 * sub-block of important input channels loses as much to a coarse scale
 * as one of unimportant ones. Here every choice is made on the weighted
 * squared error of the values as the decoder will see them:
 *
 * 1. the super-block scale d (and dmin): a few candidates around the
 *    max-based one, each also refitted by the least-squares d of the
 *    scales weighted by each sub-block's total importance; each is scored
 *    by the weighted error of the whole super-block after re-rounding
 *    every value against the coded scales (d and dmin in fp16);
 * 2. then each sub-block's integer scale (and min) moves by up to +-1 if
 *    that lowers the sub-block's weighted error, given d and dmin; the
 *    sub-blocks are independent once d and dmin are fixed, so this is an
 *    exact search of that neighbourhood.
 *
 * The values decode as a*q - m with a = d*ls, m = dmin*lm, q in QLO..QHI
 * (the symmetric types: m = 0, ls signed). */
#include <math.h>
#include <string.h>

#include "tensor/codecs.h"
#include "tensor/quant_weighted.h"
#include "tensor/types.h"

typedef struct {
    const float *x, *w; /* the super-block's values and weights */
    int nsub, sublen, qlo, qhi, smin, smax;
    const float *a, *m; /* fitted sub-block scales and offsets (m: NULL) */
    float sw[16];       /* each sub-block's total weight */
} kscale_job;

static float fp16_round(float v) {
    return mb_fp16_to_fp32(mb_fp32_to_fp16(v));
}

/* Weighted squared error of sub-block J decoded with scale A, offset M,
 * each value taking its nearest code. */
static float sub_error(const kscale_job *k, int j, float a, float m) {
    const float *x = k->x + j * k->sublen, *w = k->w + j * k->sublen;
    float e = 0;
    const float ia = a != 0.0f ? 1.0f / a : 0.0f;
    for (int i = 0; i < k->sublen; i++) {
        const int q = a != 0.0f ? mb_round_clamp((x[i] + m) * ia, k->qlo, k->qhi) : 0;
        const float diff = a * q - m - x[i];
        e += w[i] * diff * diff;
    }
    return e;
}

static int code_of(float v, float d, int lo, int hi) {
    return d != 0.0f ? mb_round_clamp(v / d, lo, hi) : 0;
}

/* Total error with super-block scales D and DM (already fp16-exact). */
static float total_error(const kscale_job *k, float d, float dm) {
    float e = 0;
    for (int j = 0; j < k->nsub; j++) {
        const int ls = code_of(k->a[j], d, k->smin, k->smax);
        const int lm = k->m ? code_of(k->m[j], dm, 0, k->smax) : 0;
        e += sub_error(k, j, d * ls, dm * lm);
    }
    return e;
}

/* The best super-block scale for the values V (sub-block scales or
 * offsets, codes LO..HI), scored by total_error with the other scale
 * fixed: IS_MIN says which of (d, dm) is being chosen. */
static float search_super(const kscale_job *k, const float *v, int lo, int hi, int is_min,
                          float other) {
    float vmax = 0, amax = 0;
    for (int j = 0; j < k->nsub; j++)
        if (fabsf(v[j]) > amax) {
            amax = fabsf(v[j]);
            vmax = v[j];
        }
    if (amax == 0.0f) return 0.0f;
    /* The max-magnitude value maps to the far end of the code range: SMIN
     * for the signed types (d < 0 as the plain coder: Q3_K's -32), SMAX
     * for the unsigned ones. */
    const float target = lo < 0 ? (float)lo : (float)hi, step = lo < 0 ? -0.25f : 0.25f;
    float best_d = fp16_round(vmax / target), best = INFINITY;
    for (int s = -8; s <= 4; s++) {
        const float iscale = (target + step * s) / vmax;
        float cand[2] = {1.0f / iscale, 0.0f};
        float sxl = 0, sl2 = 0; /* least-squares d over the codes, by sub-block weight */
        for (int j = 0; j < k->nsub; j++) {
            const int l = mb_round_clamp(iscale * v[j], lo, hi);
            sxl += k->sw[j] * v[j] * l;
            sl2 += k->sw[j] * l * l;
        }
        cand[1] = sl2 > 0 ? sxl / sl2 : cand[0];
        for (int c = 0; c < 2; c++) {
            const float d = fp16_round(cand[c]);
            if (d == 0.0f || !isfinite(d)) continue;
            const float e = is_min ? total_error(k, other, d) : total_error(k, d, other);
            if (e < best) {
                best = e;
                best_d = d;
            }
        }
    }
    return best_d;
}

void mb_kscales_code(const float *x, const float *w, int nsub, int sublen, int qlo, int qhi,
                     int smin, int smax, const float *a, const float *m, float *d_out,
                     float *dmin_out, int *ls, int *lm) {
    kscale_job k = {x, w, nsub, sublen, qlo, qhi, smin, smax, a, m, {0}};
    for (int j = 0; j < nsub; j++)
        for (int i = 0; i < sublen; i++)
            k.sw[j] += w[j * sublen + i];
    /* Start from the plain coder's dmin so the first d search sees it. */
    float mmax = 0;
    for (int j = 0; m && j < nsub; j++)
        mmax = fmaxf(mmax, m[j]);
    float dm = m ? fp16_round(mmax / smax) : 0.0f;
    const float d = search_super(&k, a, smin, smax, 0, dm);
    if (m && mmax > 0) dm = search_super(&k, m, 0, smax, 1, d);
    for (int j = 0; j < nsub; j++) {
        int bs = code_of(a[j], d, smin, smax), bm = m ? code_of(m[j], dm, 0, smax) : 0;
        const int s0 = bs, m0 = bm;
        float best = sub_error(&k, j, d * bs, dm * bm);
        for (int ds = -1; ds <= 1; ds++) {
            for (int dl = m ? -1 : 0; dl <= (m ? 1 : 0); dl++) {
                const int s = s0 + ds, l = m0 + dl;
                if ((ds == 0 && dl == 0) || s < smin || s > smax || l < 0 || l > smax) continue;
                const float e = sub_error(&k, j, d * s, dm * l);
                if (e < best) {
                    best = e;
                    bs = s;
                    bm = l;
                }
            }
        }
        ls[j] = bs;
        if (lm) lm[j] = bm;
    }
    *d_out = d;
    if (dmin_out) *dmin_out = dm;
}
