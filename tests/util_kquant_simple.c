/* The first, simple K-quant encoders, kept as the baseline the searched
 * encoders of src/tensor/quant_kquants.c must beat (tests/test_quantize.c):
 * each sub-block gets the plain min/max (Q2_K, Q4_K, Q5_K) or max-abs
 * (Q3_K, Q6_K) fit, the sub-block scales are quantized against the block's
 * largest one, and the codes are then chosen against the scales as the
 * decoder will see them. */
#include <math.h>
#include <string.h>

#include "tensor/blocks.h"
#include "tensor/codecs.h"
#include "util_kquant_simple.h"
#include "tensor/types.h"

/* Fit x ~ scale * q - neg_min with q in 0..qmax. The offset the format can
 * express is -dmin * m <= 0, so a sub-block that is all positive still
 * starts at zero. */
static void fit_min_max(const float *x, int n, int qmax, float *scale, float *neg_min) {
    float lo = 0.0f, hi = 0.0f;
    for (int j = 0; j < n; j++) {
        lo = fminf(lo, x[j]);
        hi = fmaxf(hi, x[j]);
    }
    *scale = (hi - lo) / (float)qmax;
    *neg_min = -lo;
}

/* Quantize the N non-negative sub-block scales V to 0..LMAX against their
 * maximum; returns the super-block scale. Rounding up (never down) keeps the
 * coded step at least as large as the fitted one, so the codes never clip. */
static float quantize_scales_up(const float *v, int n, int lmax, uint8_t *l) {
    float vmax = 0.0f;
    for (int j = 0; j < n; j++)
        vmax = fmaxf(vmax, v[j]);
    const float d = mb_fp16_to_fp32(mb_fp32_to_fp16(vmax / (float)lmax));
    for (int j = 0; j < n; j++) {
        /* A rounding slip of a few ulps must not push the maximum past LMAX. */
        l[j] = d > 0.0f ? (uint8_t)mb_round_clamp(ceilf(v[j] / d * (1.0f - 1e-6f)), 0, lmax) : 0;
    }
    return d;
}

/* Same, rounding to nearest (for the mins: a slightly wrong offset costs at
 * most half a min step). */
static float quantize_scales_near(const float *v, int n, int lmax, uint8_t *l) {
    float vmax = 0.0f;
    for (int j = 0; j < n; j++)
        vmax = fmaxf(vmax, v[j]);
    const float d = mb_fp16_to_fp32(mb_fp32_to_fp16(vmax / (float)lmax));
    for (int j = 0; j < n; j++)
        l[j] = d > 0.0f ? (uint8_t)mb_round_clamp(v[j] / d, 0, lmax) : 0;
    return d;
}

/* Codes of one offset sub-block: x ~ step * q - off, q in 0..qmax. */
static void codes_offset(const float *x, int n, float step, float off, int qmax, uint8_t *q) {
    for (int j = 0; j < n; j++)
        q[j] = step > 0.0f ? (uint8_t)mb_round_clamp((x[j] + off) / step, 0, qmax) : 0;
}

void mbt_q2_k_simple(const float *src, void *dst, int64_t n) {
    mb_block_q2_k *b = dst;
    for (int64_t i = 0; i < n / MB_QK_K; i++, src += MB_QK_K) {
        float scale[16], neg_min[16];
        uint8_t ls[16], lm[16], q[MB_QK_K];
        for (int j = 0; j < 16; j++)
            fit_min_max(src + 16 * j, 16, 3, &scale[j], &neg_min[j]);
        const float d = quantize_scales_up(scale, 16, 15, ls);
        const float dmin = quantize_scales_near(neg_min, 16, 15, lm);
        b[i].d = mb_fp32_to_fp16(d);
        b[i].dmin = mb_fp32_to_fp16(dmin);
        for (int j = 0; j < 16; j++) {
            b[i].scales[j] = (uint8_t)(ls[j] | (lm[j] << 4));
            codes_offset(src + 16 * j, 16, d * ls[j], dmin * lm[j], 3, q + 16 * j);
        }
        memset(b[i].qs, 0, sizeof b[i].qs);
        for (int e = 0; e < MB_QK_K; e++) {
            b[i].qs[32 * (e / 128) + e % 32] |= (uint8_t)(q[e] << (2 * ((e % 128) / 32)));
        }
    }
}

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

/* Shared by Q4_K and Q5_K: eight sub-blocks of 32 with 6-bit scales and
 * mins; writes the codes (0..QMAX) to Q and returns the packed header. */
static void fit_k4(const float *x, int qmax, uint16_t *d_out, uint16_t *dmin_out,
                   uint8_t scales[12], uint8_t q[MB_QK_K]) {
    float scale[8], neg_min[8];
    uint8_t ls[8], lm[8];
    for (int j = 0; j < 8; j++)
        fit_min_max(x + 32 * j, 32, qmax, &scale[j], &neg_min[j]);
    const float d = quantize_scales_up(scale, 8, 63, ls);
    const float dmin = quantize_scales_near(neg_min, 8, 63, lm);
    *d_out = mb_fp32_to_fp16(d);
    *dmin_out = mb_fp32_to_fp16(dmin);
    pack_k4_scales(ls, lm, scales);
    for (int j = 0; j < 8; j++)
        codes_offset(x + 32 * j, 32, d * ls[j], dmin * lm[j], qmax, q + 32 * j);
}

void mbt_q4_k_simple(const float *src, void *dst, int64_t n) {
    mb_block_q4_k *b = dst;
    for (int64_t i = 0; i < n / MB_QK_K; i++, src += MB_QK_K) {
        uint8_t q[MB_QK_K];
        fit_k4(src, 15, &b[i].d, &b[i].dmin, b[i].scales, q);
        for (int c = 0; c < 4; c++) {
            for (int l = 0; l < 32; l++) {
                b[i].qs[32 * c + l] = (uint8_t)(q[64 * c + l] | (q[64 * c + 32 + l] << 4));
            }
        }
    }
}

void mbt_q5_k_simple(const float *src, void *dst, int64_t n) {
    mb_block_q5_k *b = dst;
    for (int64_t i = 0; i < n / MB_QK_K; i++, src += MB_QK_K) {
        uint8_t q[MB_QK_K];
        fit_k4(src, 31, &b[i].d, &b[i].dmin, b[i].scales, q);
        memset(b[i].qh, 0, sizeof b[i].qh);
        for (int c = 0; c < 4; c++) {
            for (int l = 0; l < 32; l++) {
                const uint8_t lo = q[64 * c + l], hi = q[64 * c + 32 + l];
                b[i].qs[32 * c + l] = (uint8_t)((lo & 0xF) | ((hi & 0xF) << 4));
            }
        }
        for (int e = 0; e < MB_QK_K; e++)
            b[i].qh[e % 32] |= (uint8_t)((q[e] >> 4) << (e / 32));
    }
}

/* Signed sub-block scales for the symmetric types: the value of largest
 * magnitude maps to the most negative code -QNEG, as in Q4_0. Then the
 * scales are coded as integers in [-SNEG, SNEG - 1] against the largest, by
 * magnitude rounded up so that codes do not clip. */
static float fit_symmetric(const float *x, int n_sub, int sub, int qneg, int sneg, int *ls) {
    float s[16], sabs = 0.0f;
    for (int j = 0; j < n_sub; j++) {
        float amax = 0.0f, max = 0.0f;
        for (int k = 0; k < sub; k++) {
            if (fabsf(x[sub * j + k]) > amax) {
                amax = fabsf(x[sub * j + k]);
                max = x[sub * j + k];
            }
        }
        s[j] = max / (float)-qneg;
        sabs = fmaxf(sabs, fabsf(s[j]));
    }
    /* d > 0 always: the sign lives in the integer scales. */
    const float d = mb_fp16_to_fp32(mb_fp32_to_fp16(sabs / (float)sneg));
    for (int j = 0; j < n_sub; j++) {
        if (d == 0.0f) {
            ls[j] = 0;
            continue;
        }
        const float mag = ceilf(fabsf(s[j]) / d * (1.0f - 1e-6f));
        ls[j] = mb_round_clamp(s[j] < 0 ? -mag : mag, -sneg, sneg - 1);
    }
    return d;
}

void mbt_q3_k_simple(const float *src, void *dst, int64_t n) {
    mb_block_q3_k *b = dst;
    for (int64_t i = 0; i < n / MB_QK_K; i++, src += MB_QK_K) {
        int ls[16];
        const float d = fit_symmetric(src, 16, 16, 4, 32, ls);
        b[i].d = mb_fp32_to_fp16(d);
        memset(b[i].scales, 0, sizeof b[i].scales);
        memset(b[i].qs, 0, sizeof b[i].qs);
        memset(b[i].hmask, 0, sizeof b[i].hmask);
        for (int j = 0; j < 16; j++) {
            const int u = ls[j] + 32; /* 0..63 */
            if (j < 8) {
                b[i].scales[j] |= (uint8_t)(u & 0xF);
            } else {
                b[i].scales[j - 8] |= (uint8_t)((u & 0xF) << 4);
            }
            b[i].scales[8 + j % 4] |= (uint8_t)((u >> 4) << (2 * (j / 4)));
        }
        for (int e = 0; e < MB_QK_K; e++) {
            const float step = d * ls[e / 16];
            const int q = step != 0.0f ? mb_round_clamp(src[e] / step, -4, 3) : 0;
            const int u = q + 4; /* 0..7: the high bit set means "no -4" */
            b[i].qs[32 * (e / 128) + e % 32] |= (uint8_t)((u & 3) << (2 * ((e % 128) / 32)));
            b[i].hmask[e % 32] |= (uint8_t)((u >> 2) << (e / 32));
        }
    }
}

void mbt_q6_k_simple(const float *src, void *dst, int64_t n) {
    mb_block_q6_k *b = dst;
    for (int64_t i = 0; i < n / MB_QK_K; i++, src += MB_QK_K) {
        int ls[16];
        const float d = fit_symmetric(src, 16, 16, 32, 128, ls);
        b[i].d = mb_fp32_to_fp16(d);
        for (int j = 0; j < 16; j++)
            b[i].scales[j] = (int8_t)ls[j];
        memset(b[i].ql, 0, sizeof b[i].ql);
        memset(b[i].qh, 0, sizeof b[i].qh);
        for (int e = 0; e < MB_QK_K; e++) {
            const float step = d * ls[e / 16];
            const int u = (step != 0.0f ? mb_round_clamp(src[e] / step, -32, 31) : 0) + 32;
            const int h = e / 128, k = (e % 128) / 32, l = e % 32;
            b[i].ql[64 * h + l + 32 * (k & 1)] |= (uint8_t)((u & 0xF) << (k >= 2 ? 4 : 0));
            b[i].qh[32 * h + l] |= (uint8_t)((u >> 4) << (2 * k));
        }
    }
}
