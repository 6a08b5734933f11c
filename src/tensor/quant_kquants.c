/* K-quant encoders with the searched fits the formats were designed for
 * (the algorithms of ggml's reference quantizer, so a file made here has
 * the same error as llama.cpp's and mostly the same bytes):
 *
 * - Q2_K, Q4_K, Q5_K (scale and offset per sub-block): try a range of
 *   scales around the min/max one; for each, round the codes and solve the
 *   weighted least-squares problem x ~ scale*q + min for scale and min
 *   (min <= 0, as the format stores -min); keep the fit of least weighted
 *   error. Q4_K/Q5_K weight each value by rms(sub-block) + |x| (squared
 *   error), Q2_K by |x| (absolute error).
 * - Q6_K (symmetric): try 19 scales near the max-abs one and keep the one
 *   that maximizes (sum w x q)^2 / sum w q^2 with w = x^2, i.e. the least
 *   weighted squared error after the optimal rescale.
 * - Q3_K: max-abs start, then coordinate descent on single codes with the
 *   same criterion (at most 5 passes).
 *
 * The sub-block scales are then coded against the block's largest one, and
 * the codes are chosen again against the scales exactly as the decoder will
 * see them (after fp16 and integer rounding). */
#include <math.h>
#include <string.h>

#include "tensor/blocks.h"
#include "tensor/codecs.h"
#include "tensor/quant_weighted.h"
#include "tensor/types.h"

#define GROUP_EPS 1e-15f

/* Weighted error of x ~ scale*l + min over N values. */
static float fit_error(const float *x, const float *w, const uint8_t *l, int n, float scale,
                       float min, int use_abs) {
    float err = 0.0f;
    for (int i = 0; i < n; i++) {
        float diff = scale * l[i] + min - x[i];
        err += w[i] * (use_abs ? fabsf(diff) : diff * diff);
    }
    return err;
}

/* Codes of x ~ l/iscale + min, l in 0..NMAX. */
static void codes_from(const float *x, int n, float iscale, float min, int nmax, uint8_t *l) {
    for (int i = 0; i < n; i++)
        l[i] = (uint8_t)mb_round_clamp(iscale * (x[i] - min), 0, nmax);
}

/* Searched scale/offset fit of N values to codes 0..NMAX (see the header
 * comment). Returns the scale, sets *neg_min = -min >= 0 and the codes L. */
static float fit_scale_min(const float *x, const float *w, int n, int nmax, float rmin,
                           float rdelta, int nstep, int use_abs, uint8_t *l, float *neg_min) {
    float lo = x[0], hi = x[0], sum_w = w[0], sum_x = w[0] * x[0];
    for (int i = 1; i < n; i++) {
        lo = fminf(lo, x[i]);
        hi = fmaxf(hi, x[i]);
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    if (lo > 0) lo = 0;
    if (hi == lo) {
        memset(l, 0, (size_t)n);
        *neg_min = -lo;
        return 0.0f;
    }
    float min = lo, scale = 1 / (nmax / (hi - lo));
    codes_from(x, n, nmax / (hi - lo), min, nmax, l);
    float best = fit_error(x, w, l, n, scale, min, use_abs);
    uint8_t trial[32];
    /* Later trials start from the best offset so far, as ggml's does. */
    for (int is = 0; is <= nstep; is++) {
        const float iscale = (rmin + rdelta * is + nmax) / (hi - min);
        codes_from(x, n, iscale, min, nmax, trial);
        float sl = 0, sl2 = 0, sxl = 0;
        for (int i = 0; i < n; i++) {
            sl += w[i] * trial[i];
            sl2 += w[i] * trial[i] * trial[i];
            sxl += w[i] * trial[i] * x[i];
        }
        const float det = sum_w * sl2 - sl * sl;
        if (det <= 0) continue;
        float s = (sum_w * sxl - sum_x * sl) / det;
        float m = (sl2 * sum_x - sl * sxl) / det;
        if (m > 0) { /* the format cannot add a positive offset */
            m = 0;
            s = sxl / sl2;
        }
        const float err = fit_error(x, w, trial, n, s, m, use_abs);
        if (err < best) {
            memcpy(l, trial, (size_t)n);
            best = err;
            scale = s;
            min = m;
        }
    }
    *neg_min = -min;
    return scale;
}

/* The value of largest magnitude (with its sign); 0 if all are tiny. */
static float signed_absmax(const float *x, int n) {
    float amax = 0.0f, max = 0.0f;
    for (int i = 0; i < n; i++) {
        if (fabsf(x[i]) > amax) {
            amax = fabsf(x[i]);
            max = x[i];
        }
    }
    return amax < GROUP_EPS ? 0.0f : max;
}

/* Weight of value I in the symmetric fits: x^2 (the reference's choice),
 * or the importance QW[i] times sqrt(sigma2 + x^2) with an importance
 * matrix. */
static inline float sym_weight(const float *x, const float *qw, float sigma2, int i) {
    return qw ? qw[i] * sqrtf(sigma2 + x[i] * x[i]) : x[i] * x[i];
}

/* Sums of the symmetric fit criterion for codes round(iscale*x) in
 * -NMAX..NMAX-1 (weights: sym_weight); writes the codes (+NMAX) to L if
 * asked. */
static void symmetric_sums(const float *x, const float *qw, float sigma2, int n, int nmax,
                           float iscale, float *sxl, float *sl2, uint8_t *l) {
    *sxl = *sl2 = 0;
    for (int i = 0; i < n; i++) {
        const int q = mb_round_clamp(iscale * x[i], -nmax, nmax - 1);
        const float w = sym_weight(x, qw, sigma2, i);
        *sxl += w * x[i] * q;
        *sl2 += w * q * q;
        if (l) l[i] = (uint8_t)(q + nmax);
    }
}

/* Q6_K's symmetric search: codes -NMAX..NMAX-1 (stored +NMAX in L). */
static float fit_symmetric_search(const float *x, const float *qw, float sigma2, int n, int nmax,
                                  uint8_t *l) {
    const float max = signed_absmax(x, n);
    if (max == 0.0f) {
        memset(l, 0, (size_t)n);
        return 0.0f;
    }
    float sxl, sl2;
    symmetric_sums(x, qw, sigma2, n, nmax, -nmax / max, &sxl, &sl2, l);
    float scale = sl2 ? sxl / sl2 : 0.0f, best = scale * sxl;
    for (int is = -9; is <= 9; is++) {
        if (is == 0) continue;
        const float iscale = -(nmax + 0.1f * is) / max;
        symmetric_sums(x, qw, sigma2, n, nmax, iscale, &sxl, &sl2, NULL);
        if (sl2 > 0 && sxl * sxl > best * sl2) {
            symmetric_sums(x, qw, sigma2, n, nmax, iscale, &sxl, &sl2, l);
            scale = sxl / sl2;
            best = scale * sxl;
        }
    }
    return scale;
}

/* Q3_K's fit: max-abs start, then move single codes while that raises
 * (sum w x q)^2 / sum w q^2 (w = x^2). Codes stored +NMAX in L. */
static float fit_symmetric_descent(const float *x, const float *qw, float sigma2, int n, int nmax,
                                   uint8_t *l) {
    const float max = signed_absmax(x, n);
    if (max == 0.0f) {
        memset(l, 0, (size_t)n);
        return 0.0f;
    }
    const float iscale = -nmax / max;
    int q[16];
    float sxl = 0, sl2 = 0;
    for (int i = 0; i < n; i++) {
        q[i] = mb_round_clamp(iscale * x[i], -nmax, nmax - 1);
        const float w = sym_weight(x, qw, sigma2, i);
        sxl += w * x[i] * q[i];
        sl2 += w * q[i] * q[i];
    }
    for (int pass = 0; pass < 5; pass++) {
        int changed = 0;
        for (int i = 0; i < n; i++) {
            const float w = sym_weight(x, qw, sigma2, i);
            float slx = sxl - w * x[i] * q[i];
            if (slx <= 0) continue;
            float sl2_i = sl2 - w * q[i] * q[i];
            const int nq = mb_round_clamp(x[i] * sl2_i / slx, -nmax, nmax - 1);
            if (nq == q[i]) continue;
            slx += w * x[i] * nq;
            sl2_i += w * nq * nq;
            if (sl2_i > 0 && slx * slx * sl2 > sxl * sxl * sl2_i) {
                q[i] = nq;
                sxl = slx;
                sl2 = sl2_i;
                changed++;
            }
        }
        if (!changed) break;
    }
    for (int i = 0; i < n; i++)
        l[i] = (uint8_t)(q[i] + nmax);
    return sxl / sl2;
}

/* Mean x^2 of one super-block: the sigma2 of the importance weights. */
static float block_sigma2(const float *x) {
    float s = 0;
    for (int i = 0; i < MB_QK_K; i++)
        s += x[i] * x[i];
    return s / MB_QK_K;
}

/* ---- Q2_K ------------------------------------------------------------ */

/* The reference's coding of Q2_K's 4-bit scales and mins: max-based. */
static void code_q2_k_plain(const float *scale, const float *neg_min, float max_scale,
                            float max_min, mb_block_q2_k *b) {
    if (max_scale > 0) {
        const float is = 15.f / max_scale;
        for (int j = 0; j < 16; j++)
            b->scales[j] = (uint8_t)mb_round_clamp(is * scale[j], 0, 15);
        b->d = mb_fp32_to_fp16(max_scale / 15.f);
    }
    if (max_min > 0) {
        const float is = 15.f / max_min;
        for (int j = 0; j < 16; j++)
            b->scales[j] |= (uint8_t)(mb_round_clamp(is * neg_min[j], 0, 15) << 4);
        b->dmin = mb_fp32_to_fp16(max_min / 15.f);
    }
}

/* QW (NULL: none) is the importance of each of the N values. */
static void encode_q2_k(const float *src, void *dst, int64_t n, const float *qw) {
    mb_block_q2_k *b = dst;
    for (int64_t i = 0; i < n / MB_QK_K; i++, src += MB_QK_K, qw = qw ? qw + MB_QK_K : NULL) {
        uint8_t L[MB_QK_K];
        float scale[16], neg_min[16], w[MB_QK_K], max_scale = 0, max_min = 0;
        const float sigma2 = qw ? block_sigma2(src) : 0;
        for (int j = 0; j < 16; j++) {
            const float *xs = src + 16 * j;
            float *ws = w + 16 * j;
            for (int k = 0; k < 16; k++)
                ws[k] = qw ? qw[16 * j + k] * sqrtf(sigma2 + xs[k] * xs[k]) : fabsf(xs[k]);
            scale[j] = fit_scale_min(xs, ws, 16, 3, -0.5f, 0.1f, 15, !qw, L + 16 * j, &neg_min[j]);
            max_scale = fmaxf(max_scale, scale[j]);
            max_min = fmaxf(max_min, neg_min[j]);
        }
        memset(b[i].scales, 0, sizeof b[i].scales);
        b[i].d = b[i].dmin = 0;
        if (qw && max_scale > 0) {
            int ls[16], lm[16];
            float d, dmin;
            mb_kscales_code(src, w, 16, 16, 0, 3, 0, 15, scale, neg_min, &d, &dmin, ls, lm);
            for (int j = 0; j < 16; j++)
                b[i].scales[j] = (uint8_t)(ls[j] | (lm[j] << 4));
            b[i].d = mb_fp32_to_fp16(d);
            b[i].dmin = mb_fp32_to_fp16(dmin);
        } else {
            code_q2_k_plain(scale, neg_min, max_scale, max_min, &b[i]);
        }
        for (int j = 0; j < 16; j++) {
            const float d = mb_fp16_to_fp32(b[i].d) * (b[i].scales[j] & 0xF);
            if (d == 0.0f) continue; /* keep the searched codes */
            const float dm = mb_fp16_to_fp32(b[i].dmin) * (b[i].scales[j] >> 4);
            for (int k = 0; k < 16; k++)
                L[16 * j + k] = (uint8_t)mb_round_clamp((src[16 * j + k] + dm) / d, 0, 3);
        }
        memset(b[i].qs, 0, sizeof b[i].qs);
        for (int e = 0; e < MB_QK_K; e++)
            b[i].qs[32 * (e / 128) + e % 32] |= (uint8_t)(L[e] << (2 * ((e % 128) / 32)));
    }
}

void mb_q2_k_from_float(const float *src, void *dst, int64_t n) {
    encode_q2_k(src, dst, n, NULL);
}

void mb_q2_k_from_float_w(const float *src, void *dst, int64_t n, const float *qw) {
    encode_q2_k(src, dst, n, qw);
}

/* ---- Q4_K and Q5_K ---------------------------------------------------- */

/* Pack eight 6-bit scale/min pairs the way mb_k4_scale_min reads them. */
static void pack_k4_scales(const uint8_t *ls, const uint8_t *lm, uint8_t s[12]) {
    memset(s, 0, 12);
    for (int j = 0; j < 8; j++) {
        if (j < 4) {
            s[j] |= ls[j];
            s[j + 4] |= lm[j];
        } else {
            s[j + 4] = (uint8_t)((ls[j] & 0xF) | ((lm[j] & 0xF) << 4));
            s[j - 4] |= (uint8_t)((ls[j] >> 4) << 6);
            s[j] |= (uint8_t)((lm[j] >> 4) << 6);
        }
    }
}

/* Shared by Q4_K (QMAX 15) and Q5_K (31): eight sub-blocks of 32, 6-bit
 * scales and mins; writes the header and the final codes to L. */
static void fit_k4(const float *x, const float *qw, int qmax, float rmin, int nstep,
                   uint16_t *d_out, uint16_t *dmin_out, uint8_t scales[12], uint8_t L[MB_QK_K]) {
    float scale[8], neg_min[8], w[MB_QK_K], max_scale = 0, max_min = 0;
    const float sigma2 = qw ? block_sigma2(x) : 0;
    for (int j = 0; j < 8; j++) {
        const float *xs = x + 32 * j;
        float *ws = w + 32 * j, sum_x2 = 0;
        for (int k = 0; k < 32; k++)
            sum_x2 += xs[k] * xs[k];
        const float av_x = sqrtf(sum_x2 / 32);
        for (int k = 0; k < 32; k++)
            ws[k] = qw ? qw[32 * j + k] * sqrtf(sigma2 + xs[k] * xs[k]) : av_x + fabsf(xs[k]);
        /* With importances: the finer, wider search of the published
         * imatrix quantizers. */
        scale[j] =
            qw ? fit_scale_min(xs, ws, 32, qmax, -0.9f, 0.05f, 36, 0, L + 32 * j, &neg_min[j])
               : fit_scale_min(xs, ws, 32, qmax, rmin, 0.1f, nstep, 0, L + 32 * j, &neg_min[j]);
        max_scale = fmaxf(max_scale, scale[j]);
        max_min = fmaxf(max_min, neg_min[j]);
    }
    uint8_t ls[8], lm[8];
    if (qw) {
        int ils[8], ilm[8];
        float d, dmin;
        mb_kscales_code(x, w, 8, 32, 0, qmax, 0, 63, scale, neg_min, &d, &dmin, ils, ilm);
        for (int j = 0; j < 8; j++) {
            ls[j] = (uint8_t)ils[j];
            lm[j] = (uint8_t)ilm[j];
        }
        *d_out = mb_fp32_to_fp16(d);
        *dmin_out = mb_fp32_to_fp16(dmin);
    } else {
        const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
        const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
        for (int j = 0; j < 8; j++) {
            ls[j] = (uint8_t)mb_round_clamp(inv_scale * scale[j], 0, 63);
            lm[j] = (uint8_t)mb_round_clamp(inv_min * neg_min[j], 0, 63);
        }
        *d_out = mb_fp32_to_fp16(max_scale / 63.f);
        *dmin_out = mb_fp32_to_fp16(max_min / 63.f);
    }
    pack_k4_scales(ls, lm, scales);
    for (int j = 0; j < 8; j++) {
        const float d = mb_fp16_to_fp32(*d_out) * ls[j];
        if (d == 0.0f) continue;
        const float dm = mb_fp16_to_fp32(*dmin_out) * lm[j];
        for (int k = 0; k < 32; k++)
            L[32 * j + k] = (uint8_t)mb_round_clamp((x[32 * j + k] + dm) / d, 0, qmax);
    }
}

static void encode_q4_k(const float *src, void *dst, int64_t n, const float *qw) {
    mb_block_q4_k *b = dst;
    for (int64_t i = 0; i < n / MB_QK_K; i++, src += MB_QK_K, qw = qw ? qw + MB_QK_K : NULL) {
        uint8_t L[MB_QK_K];
        fit_k4(src, qw, 15, -1.0f, 20, &b[i].d, &b[i].dmin, b[i].scales, L);
        for (int c = 0; c < 4; c++) {
            for (int l = 0; l < 32; l++)
                b[i].qs[32 * c + l] = (uint8_t)(L[64 * c + l] | (L[64 * c + 32 + l] << 4));
        }
    }
}

static void encode_q5_k(const float *src, void *dst, int64_t n, const float *qw) {
    mb_block_q5_k *b = dst;
    for (int64_t i = 0; i < n / MB_QK_K; i++, src += MB_QK_K, qw = qw ? qw + MB_QK_K : NULL) {
        uint8_t L[MB_QK_K];
        fit_k4(src, qw, 31, -0.5f, 15, &b[i].d, &b[i].dmin, b[i].scales, L);
        memset(b[i].qh, 0, sizeof b[i].qh);
        for (int c = 0; c < 4; c++) {
            for (int l = 0; l < 32; l++) {
                const uint8_t lo = L[64 * c + l], hi = L[64 * c + 32 + l];
                b[i].qs[32 * c + l] = (uint8_t)((lo & 0xF) | ((hi & 0xF) << 4));
            }
        }
        for (int e = 0; e < MB_QK_K; e++)
            b[i].qh[e % 32] |= (uint8_t)((L[e] >> 4) << (e / 32));
    }
}

/* ---- Q3_K and Q6_K ---------------------------------------------------- */

/* Weighted squared error of a symmetric sub-block fit (codes +NMAX in L). */
static float sym_error(const float *x, const float *qw, float sigma2, int n, int nmax,
                       const uint8_t *l, float scale) {
    float e = 0;
    for (int i = 0; i < n; i++) {
        const float diff = scale * (l[i] - nmax) - x[i];
        e += sym_weight(x, qw, sigma2, i) * diff * diff;
    }
    return e;
}

/* Q3_K's sub-block fit; with importances, the searched fit of Q6_K is a
 * second candidate (the descent can stall at the max-abs start). */
static float fit_q3_sub(const float *x, const float *qw, float sigma2, uint8_t *l) {
    const float s = fit_symmetric_descent(x, qw, sigma2, 16, 4, l);
    if (!qw) return s;
    uint8_t l2[16];
    const float s2 = fit_symmetric_search(x, qw, sigma2, 16, 4, l2);
    if (sym_error(x, qw, sigma2, 16, 4, l2, s2) >= sym_error(x, qw, sigma2, 16, 4, l, s)) return s;
    memcpy(l, l2, sizeof l2);
    return s2;
}

/* Integer scales SC[16] of SMIN..SMAX and the super-block scale of the
 * sixteen 16-value sub-blocks of a symmetric type (codes QLO..QHI): with
 * importances, mb_kscales_code; else the plain coder's max-based one. */
static float code_sym_scales(const float *x, const float *qw, float sigma2, int qlo, int qhi,
                             int smin, int smax, const float *scale, float max_scale, int *sc) {
    if (max_scale == 0.0f) {
        memset(sc, 0, 16 * sizeof *sc);
        return 0.0f;
    }
    if (qw) {
        float w[MB_QK_K], d;
        for (int i = 0; i < MB_QK_K; i++)
            w[i] = sym_weight(x, qw, sigma2, i);
        mb_kscales_code(x, w, 16, 16, qlo, qhi, smin, smax, scale, NULL, &d, NULL, sc, NULL);
        return d;
    }
    const float iscale = (float)smin / max_scale;
    for (int j = 0; j < 16; j++)
        sc[j] = mb_round_clamp(iscale * scale[j], smin, smax);
    return 1.f / iscale;
}

static void encode_q3_k(const float *src, void *dst, int64_t n, const float *qw) {
    mb_block_q3_k *b = dst;
    for (int64_t i = 0; i < n / MB_QK_K; i++, src += MB_QK_K, qw = qw ? qw + MB_QK_K : NULL) {
        uint8_t L[MB_QK_K];
        float scale[16], amax = 0, max_scale = 0;
        const float sigma2 = qw ? block_sigma2(src) : 0;
        for (int j = 0; j < 16; j++) {
            scale[j] = fit_q3_sub(src + 16 * j, qw ? qw + 16 * j : NULL, sigma2, L + 16 * j);
            if (fabsf(scale[j]) > amax) {
                amax = fabsf(scale[j]);
                max_scale = scale[j];
            }
        }
        memset(b[i].scales, 0, sizeof b[i].scales);
        int sc[16];
        const float d = code_sym_scales(src, qw, sigma2, -4, 3, -32, 31, scale, max_scale, sc);
        b[i].d = max_scale != 0.0f ? mb_fp32_to_fp16(d) : 0;
        for (int j = 0; max_scale != 0.0f && j < 16; j++) {
            const int u = sc[j] + 32;
            if (j < 8) {
                b[i].scales[j] |= (uint8_t)(u & 0xF);
            } else {
                b[i].scales[j - 8] |= (uint8_t)((u & 0xF) << 4);
            }
            b[i].scales[8 + j % 4] |= (uint8_t)((u >> 4) << (2 * (j / 4)));
        }
        for (int j = 0; j < 16; j++) {
            const float a = mb_fp16_to_fp32(b[i].d) * sc[j];
            if (a == 0.0f) continue;
            for (int k = 0; k < 16; k++)
                L[16 * j + k] = (uint8_t)(mb_round_clamp(src[16 * j + k] / a, -4, 3) + 4);
        }
        memset(b[i].qs, 0, sizeof b[i].qs);
        memset(b[i].hmask, 0, sizeof b[i].hmask);
        for (int e = 0; e < MB_QK_K; e++) {
            const int u = L[e]; /* 0..7: the high bit set means "no -4" */
            b[i].qs[32 * (e / 128) + e % 32] |= (uint8_t)((u & 3) << (2 * ((e % 128) / 32)));
            b[i].hmask[e % 32] |= (uint8_t)((u >> 2) << (e / 32));
        }
    }
}

static void encode_q6_k(const float *src, void *dst, int64_t n, const float *qw) {
    mb_block_q6_k *b = dst;
    for (int64_t i = 0; i < n / MB_QK_K; i++, src += MB_QK_K, qw = qw ? qw + MB_QK_K : NULL) {
        uint8_t L[MB_QK_K];
        float scale[16], amax = 0, max_scale = 0;
        const float sigma2 = qw ? block_sigma2(src) : 0;
        for (int j = 0; j < 16; j++) {
            scale[j] = fit_symmetric_search(src + 16 * j, qw ? qw + 16 * j : NULL, sigma2, 16, 32,
                                            L + 16 * j);
            if (fabsf(scale[j]) > amax) {
                amax = fabsf(scale[j]);
                max_scale = scale[j];
            }
        }
        memset(&b[i], 0, sizeof b[i]);
        if (amax < GROUP_EPS) continue; /* an all-zero block */
        int sc[16];
        b[i].d = mb_fp32_to_fp16(
            code_sym_scales(src, qw, sigma2, -32, 31, -128, 127, scale, max_scale, sc));
        for (int j = 0; j < 16; j++)
            b[i].scales[j] = (int8_t)sc[j];
        for (int j = 0; j < 16; j++) {
            const float d = mb_fp16_to_fp32(b[i].d) * b[i].scales[j];
            if (d == 0.0f) continue;
            for (int k = 0; k < 16; k++)
                L[16 * j + k] = (uint8_t)(mb_round_clamp(src[16 * j + k] / d, -32, 31) + 32);
        }
        for (int e = 0; e < MB_QK_K; e++) {
            const int u = L[e];
            const int h = e / 128, k = (e % 128) / 32, l = e % 32;
            b[i].ql[64 * h + l + 32 * (k & 1)] |= (uint8_t)((u & 0xF) << (k >= 2 ? 4 : 0));
            b[i].qh[32 * h + l] |= (uint8_t)((u >> 4) << (2 * k));
        }
    }
}

/* ---- public entry points: plain (bit-compatible with the reference) and
 * importance-weighted ---------------------------------------------------- */

#define K_ENTRY(t)                                                                                 \
    void mb_##t##_from_float(const float *src, void *dst, int64_t n) {                             \
        encode_##t(src, dst, n, NULL);                                                             \
    }                                                                                              \
    void mb_##t##_from_float_w(const float *src, void *dst, int64_t n, const float *qw) {          \
        encode_##t(src, dst, n, qw);                                                               \
    }
K_ENTRY(q3_k)
K_ENTRY(q4_k)
K_ENTRY(q5_k)
K_ENTRY(q6_k)
