/* Importance-weighted encoders of the 32-value legacy types (the K-quant
 * ones share quant_kquants.c's fits) and the dispatcher. Every value's
 * weight is QW[i] * sqrt(sigma2 + x^2), sigma2 the block's mean x^2: the
 * importance of its input channel, leaning towards large values, as is
 * usual for importance-matrix quantization.
 *
 * - Q4_0, Q5_0 (symmetric, x ~ d*q): try scales around the max-abs one;
 *   for each, round the codes and take the weighted least-squares d; keep
 *   the fit of largest (sum w x q)^2 / sum w q^2, i.e. least weighted error.
 * - Q4_1, Q5_1 (x ~ d*q + m): likewise, solving for d and m; the plain
 *   min/max fit is the first candidate, so the result is never worse by the
 *   weighted measure. */
#include <math.h>
#include <string.h>

#include "tensor/blocks.h"
#include "tensor/codecs.h"
#include "tensor/quant_weighted.h"
#include "tensor/types.h"

#define QK 32

static void block_weights(const float *x, const float *qw, float *w) {
    float s = 0;
    for (int i = 0; i < QK; i++)
        s += x[i] * x[i];
    const float sigma2 = s / QK;
    for (int i = 0; i < QK; i++)
        w[i] = qw[i] * sqrtf(sigma2 + x[i] * x[i]);
}

/* Symmetric weighted fit: codes -NMAX..NMAX-1 into Q; returns d. */
static float fit_sym(const float *x, const float *w, int nmax) {
    float amax = 0, max = 0;
    for (int i = 0; i < QK; i++)
        if (fabsf(x[i]) > amax) {
            amax = fabsf(x[i]);
            max = x[i];
        }
    if (amax < 1e-30f) return 0.0f;
    float best = -1, d = 0;
    for (int is = -12; is <= 12; is++) {
        const float iscale = -(nmax + 0.05f * is) / max;
        float sxl = 0, sl2 = 0;
        for (int i = 0; i < QK; i++) {
            const int l = mb_round_clamp(iscale * x[i], -nmax, nmax - 1);
            sxl += w[i] * x[i] * l;
            sl2 += w[i] * l * l;
        }
        if (sl2 > 0 && sxl * sxl > best * sl2) {
            best = sxl * sxl / sl2;
            d = sxl / sl2;
        }
    }
    return d;
}

static void encode_sym(const float *x, const float *qw, int nmax, uint16_t *d_out, int *q) {
    float w[QK];
    block_weights(x, qw, w);
    const float d = fit_sym(x, w, nmax);
    *d_out = mb_fp32_to_fp16(d);
    const float dd = mb_fp16_to_fp32(*d_out);
    for (int i = 0; i < QK; i++)
        q[i] = dd != 0.0f ? mb_round_clamp(x[i] / dd, -nmax, nmax - 1) + nmax : nmax;
}

static float asym_error(const float *x, const float *w, const uint8_t *l, float d, float m) {
    float e = 0;
    for (int i = 0; i < QK; i++) {
        const float diff = d * l[i] + m - x[i];
        e += w[i] * diff * diff;
    }
    return e;
}

/* x ~ d*q + m, q in 0..NMAX: codes into Q. */
static void encode_asym(const float *x, const float *qw, int nmax, uint16_t *d_out, uint16_t *m_out,
                        int *q) {
    float w[QK], lo = x[0], hi = x[0];
    block_weights(x, qw, w);
    for (int i = 1; i < QK; i++) {
        lo = fminf(lo, x[i]);
        hi = fmaxf(hi, x[i]);
    }
    float d = (hi - lo) / nmax, m = lo;
    if (hi > lo) {
        uint8_t l[QK];
        for (int i = 0; i < QK; i++)
            l[i] = (uint8_t)mb_round_clamp((x[i] - lo) / d, 0, nmax);
        float best = asym_error(x, w, l, d, m);
        for (int is = -10; is <= 10; is++) {
            const float iscale = (nmax + 0.1f * is) / (hi - lo);
            float sw = 0, sx = 0, sl = 0, sl2 = 0, sxl = 0;
            for (int i = 0; i < QK; i++) {
                l[i] = (uint8_t)mb_round_clamp((x[i] - lo) * iscale, 0, nmax);
                sw += w[i];
                sx += w[i] * x[i];
                sl += w[i] * l[i];
                sl2 += w[i] * l[i] * l[i];
                sxl += w[i] * x[i] * l[i];
            }
            const float det = sw * sl2 - sl * sl;
            if (!(det > 0)) continue;
            const float dt = (sw * sxl - sx * sl) / det, mt = (sl2 * sx - sl * sxl) / det;
            if (!(dt > 0)) continue;
            const float e = asym_error(x, w, l, dt, mt);
            if (e < best) {
                best = e;
                d = dt;
                m = mt;
            }
        }
    }
    *d_out = mb_fp32_to_fp16(d);
    *m_out = mb_fp32_to_fp16(m);
    const float dd = mb_fp16_to_fp32(*d_out), mm = mb_fp16_to_fp32(*m_out);
    for (int i = 0; i < QK; i++)
        q[i] = dd != 0.0f ? mb_round_clamp((x[i] - mm) / dd, 0, nmax) : 0;
}

static void pack_nibbles(const int *q, uint8_t qs[16]) {
    for (int j = 0; j < 16; j++)
        qs[j] = (uint8_t)((q[j] & 0xF) | ((q[j + 16] & 0xF) << 4));
}

static void pack_high(const int *q, uint8_t qh_bytes[4]) {
    uint32_t qh = 0;
    for (int j = 0; j < QK; j++)
        qh |= (uint32_t)((q[j] >> 4) & 1) << j;
    for (int k = 0; k < 4; k++)
        qh_bytes[k] = (uint8_t)(qh >> (8 * k));
}

void mb_q4_0_from_float_w(const float *src, void *dst, int64_t n, const float *qw) {
    mb_block_q4_0 *b = dst;
    for (int64_t i = 0; i < n / QK; i++, src += QK, qw += QK) {
        int q[QK];
        encode_sym(src, qw, 8, &b[i].d, q);
        pack_nibbles(q, b[i].qs);
    }
}

void mb_q5_0_from_float_w(const float *src, void *dst, int64_t n, const float *qw) {
    mb_block_q5_0 *b = dst;
    for (int64_t i = 0; i < n / QK; i++, src += QK, qw += QK) {
        int q[QK];
        encode_sym(src, qw, 16, &b[i].d, q);
        pack_nibbles(q, b[i].qs);
        pack_high(q, b[i].qh);
    }
}

void mb_q4_1_from_float_w(const float *src, void *dst, int64_t n, const float *qw) {
    mb_block_q4_1 *b = dst;
    for (int64_t i = 0; i < n / QK; i++, src += QK, qw += QK) {
        int q[QK];
        encode_asym(src, qw, 15, &b[i].d, &b[i].m, q);
        pack_nibbles(q, b[i].qs);
    }
}

void mb_q5_1_from_float_w(const float *src, void *dst, int64_t n, const float *qw) {
    mb_block_q5_1 *b = dst;
    for (int64_t i = 0; i < n / QK; i++, src += QK, qw += QK) {
        int q[QK];
        encode_asym(src, qw, 31, &b[i].d, &b[i].m, q);
        pack_nibbles(q, b[i].qs);
        pack_high(q, b[i].qh);
    }
}

int mb_quant_row_weighted(uint32_t type, const float *src, void *dst, int64_t n, const float *qw) {
    switch (type) {
    case MB_TYPE_Q4_0: mb_q4_0_from_float_w(src, dst, n, qw); return 1;
    case MB_TYPE_Q4_1: mb_q4_1_from_float_w(src, dst, n, qw); return 1;
    case MB_TYPE_Q5_0: mb_q5_0_from_float_w(src, dst, n, qw); return 1;
    case MB_TYPE_Q5_1: mb_q5_1_from_float_w(src, dst, n, qw); return 1;
    case MB_TYPE_Q2_K: mb_q2_k_from_float_w(src, dst, n, qw); return 1;
    case MB_TYPE_Q3_K: mb_q3_k_from_float_w(src, dst, n, qw); return 1;
    case MB_TYPE_Q4_K: mb_q4_k_from_float_w(src, dst, n, qw); return 1;
    case MB_TYPE_Q5_K: mb_q5_k_from_float_w(src, dst, n, qw); return 1;
    case MB_TYPE_Q6_K: mb_q6_k_from_float_w(src, dst, n, qw); return 1;
    default: return 0;
    }
}
