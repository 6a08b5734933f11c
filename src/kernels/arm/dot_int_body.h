/* Block kernels of the 8-bit dots, shared by the neon and neon-dotprod
 * levels: the including file defines MBN_NAME (the function prefix) and
 * mbn_dot4(acc, x, y), which adds the products of sixteen int8 pairs into
 * the four int32 lanes of acc (how they are grouped into lanes is the
 * level's business; only the lanes' total is used). Within a block the
 * integer sums are exact; the block scales apply in float lanes, and a row's
 * result is the sum of those lanes. */
#include <arm_neon.h>
#include <stddef.h>
#include <stdint.h>

#include "kernels/arm/arm_kernels.h"
#include "tensor/blocks.h"
#include "tensor/fp16.h"

/* vec_dot and vec_dot_rows from BLOCK(x, y, acc). The rows form applies each
 * weight block to four activation rows while it is in L1, with the same
 * operations in the same order per row as the single dot, so the results
 * are identical. */
#define MBN_DEFINE_DOTS(name, WBLOCK, ABLOCK, QK, BLOCK)                                           \
    void MBN_NAME(dot_##name)(int64_t n, float *out, const void *w, const void *a) {               \
        const WBLOCK *x = w;                                                                       \
        const ABLOCK *y = a;                                                                       \
        float32x4_t acc = vdupq_n_f32(0.0f);                                                       \
        for (int64_t i = 0; i < n / (QK); i++)                                                     \
            acc = BLOCK(&x[i], &y[i], acc);                                                        \
        *out = vaddvq_f32(acc);                                                                    \
    }                                                                                              \
    void MBN_NAME(dot_rows_##name)(int64_t n, float *out, const void *w, const void *a,            \
                                   size_t stride, int n_rows) {                                    \
        const WBLOCK *x = w;                                                                       \
        const uint8_t *ab = a;                                                                     \
        int r = 0;                                                                                 \
        for (; r + 4 <= n_rows; r += 4) {                                                          \
            const ABLOCK *y0 = (const ABLOCK *)(const void *)(ab + (size_t)r * stride);            \
            const ABLOCK *y1 = (const ABLOCK *)(const void *)(ab + (size_t)(r + 1) * stride);      \
            const ABLOCK *y2 = (const ABLOCK *)(const void *)(ab + (size_t)(r + 2) * stride);      \
            const ABLOCK *y3 = (const ABLOCK *)(const void *)(ab + (size_t)(r + 3) * stride);      \
            float32x4_t a0 = vdupq_n_f32(0.0f), a1 = a0, a2 = a0, a3 = a0;                         \
            for (int64_t i = 0; i < n / (QK); i++) {                                               \
                a0 = BLOCK(&x[i], &y0[i], a0);                                                     \
                a1 = BLOCK(&x[i], &y1[i], a1);                                                     \
                a2 = BLOCK(&x[i], &y2[i], a2);                                                     \
                a3 = BLOCK(&x[i], &y3[i], a3);                                                     \
            }                                                                                      \
            out[r] = vaddvq_f32(a0);                                                               \
            out[r + 1] = vaddvq_f32(a1);                                                           \
            out[r + 2] = vaddvq_f32(a2);                                                           \
            out[r + 3] = vaddvq_f32(a3);                                                           \
        }                                                                                          \
        for (; r < n_rows; r++)                                                                    \
            MBN_NAME(dot_##name)(n, &out[r], w, ab + (size_t)r * stride);                          \
    }

static inline int8x16_t mbn_s8(uint8x16_t v) {
    return vreinterpretq_s8_u8(v);
}

/* acc + D * isum in float lanes. */
static inline float32x4_t mbn_scale_add(float d, int32x4_t isum, float32x4_t acc) {
    return vfmaq_n_f32(acc, vcvtq_f32_s32(isum), d);
}

/* ---- 32-value blocks with Q8_0 activations ----------------------------- */

static inline float32x4_t mbn_block_q8_0(const mb_block_q8_0 *x, const mb_block_q8_0 *y,
                                         float32x4_t acc) {
    int32x4_t s = mbn_dot4(vdupq_n_s32(0), vld1q_s8(x->qs), vld1q_s8(y->qs));
    s = mbn_dot4(s, vld1q_s8(x->qs + 16), vld1q_s8(y->qs + 16));
    return mbn_scale_add(mb_half_to_float(x->d) * mb_half_to_float(y->d), s, acc);
}

/* Value j in the low nibble of qs[j], value j + 16 in the high one; the
 * codes 0..15 stand for -8..7. */
static inline float32x4_t mbn_block_q4_0(const mb_block_q4_0 *x, const mb_block_q8_0 *y,
                                         float32x4_t acc) {
    const uint8x16_t q = vld1q_u8(x->qs);
    const int8x16_t eight = vdupq_n_s8(8);
    const int8x16_t lo = vsubq_s8(mbn_s8(vandq_u8(q, vdupq_n_u8(0xF))), eight);
    const int8x16_t hi = vsubq_s8(mbn_s8(vshrq_n_u8(q, 4)), eight);
    int32x4_t s = mbn_dot4(vdupq_n_s32(0), lo, vld1q_s8(y->qs));
    s = mbn_dot4(s, hi, vld1q_s8(y->qs + 16));
    return mbn_scale_add(mb_half_to_float(x->d) * mb_half_to_float(y->d), s, acc);
}

MBN_DEFINE_DOTS(q8_0, mb_block_q8_0, mb_block_q8_0, MB_QK8_0, mbn_block_q8_0)
MBN_DEFINE_DOTS(q4_0, mb_block_q4_0, mb_block_q8_0, MB_QK4_0, mbn_block_q4_0)

/* ---- K-quants with Q8_K activations ------------------------------------ */

/* Q4_K, and Q5_K when QH is set. Sub-block j (32 values) is the low (j even)
 * or high (j odd) nibbles of qs[32 * (j / 2) ..], Q5_K's fifth bit is bit j
 * of qh[0..31]. isum = sum_j sc_j * dot_j in int32 lanes (exact); the mins
 * come out of the bsums: m_j * (bsums[2j] + bsums[2j+1]). */
static inline float32x4_t mbn_block_k4(const uint8_t *scales, const uint8_t *qs, const uint8_t *qh,
                                       uint16_t d16, uint16_t dmin16, const mb_block_q8_k *y,
                                       float32x4_t acc) {
    uint8_t sc[8], m[8];
    for (int j = 0; j < 8; j++)
        mb_k4_scale_min(j, scales, &sc[j], &m[j]);
    const uint8x16_t nib = vdupq_n_u8(0xF);
    uint8x16_t h0 = vdupq_n_u8(0), h1 = h0;
    if (qh) h0 = vld1q_u8(qh), h1 = vld1q_u8(qh + 16);
    int32x4_t isum = vdupq_n_s32(0);
    for (int p = 0; p < 4; p++) {
        const uint8x16_t q0 = vld1q_u8(qs + 32 * p), q1 = vld1q_u8(qs + 32 * p + 16);
        uint8x16_t lo0 = vandq_u8(q0, nib), lo1 = vandq_u8(q1, nib);
        uint8x16_t hi0 = vshrq_n_u8(q0, 4), hi1 = vshrq_n_u8(q1, 4);
        if (qh) {
            /* Bit j moved to bit 4: a left shift by 4 - j (negative: right). */
            const uint8x16_t bit4 = vdupq_n_u8(0x10);
            const int8x16_t sl = vdupq_n_s8((int8_t)(4 - 2 * p));
            const int8x16_t sh = vdupq_n_s8((int8_t)(3 - 2 * p));
            lo0 = vorrq_u8(lo0, vandq_u8(vshlq_u8(h0, sl), bit4));
            lo1 = vorrq_u8(lo1, vandq_u8(vshlq_u8(h1, sl), bit4));
            hi0 = vorrq_u8(hi0, vandq_u8(vshlq_u8(h0, sh), bit4));
            hi1 = vorrq_u8(hi1, vandq_u8(vshlq_u8(h1, sh), bit4));
        }
        const int8_t *a = y->qs + 64 * p;
        int32x4_t s = mbn_dot4(vdupq_n_s32(0), mbn_s8(lo0), vld1q_s8(a));
        s = mbn_dot4(s, mbn_s8(lo1), vld1q_s8(a + 16));
        isum = vmlaq_n_s32(isum, s, sc[2 * p]);
        s = mbn_dot4(vdupq_n_s32(0), mbn_s8(hi0), vld1q_s8(a + 32));
        s = mbn_dot4(s, mbn_s8(hi1), vld1q_s8(a + 48));
        isum = vmlaq_n_s32(isum, s, sc[2 * p + 1]);
    }
    /* Pairs of bsums (|sum| <= 32 * 128, no int16 overflow) times the mins. */
    const int16x8_t pairs = vpaddq_s16(vld1q_s16(y->bsums), vld1q_s16(y->bsums + 8));
    const int16x8_t mins = vreinterpretq_s16_u16(vmovl_u8(vld1_u8(m)));
    const int32x4_t msum = vmlal_s16(vmull_s16(vget_low_s16(pairs), vget_low_s16(mins)),
                                     vget_high_s16(pairs), vget_high_s16(mins));
    acc = mbn_scale_add(mb_half_to_float(d16) * y->d, isum, acc);
    return vfmsq_n_f32(acc, vcvtq_f32_s32(msum), mb_half_to_float(dmin16) * y->d);
}

static inline float32x4_t mbn_block_q4_k(const mb_block_q4_k *x, const mb_block_q8_k *y,
                                         float32x4_t acc) {
    return mbn_block_k4(x->scales, x->qs, NULL, x->d, x->dmin, y, acc);
}

static inline float32x4_t mbn_block_q5_k(const mb_block_q5_k *x, const mb_block_q8_k *y,
                                         float32x4_t acc) {
    return mbn_block_k4(x->scales, x->qs, x->qh, x->d, x->dmin, y, acc);
}

/* Q6_K: per half h and 16-byte column c, ql[64h + 16c] gives sub-blocks
 * 8h + c (low nibbles) and 8h + c + 4 (high), ql[64h + 32 + 16c] sub-blocks
 * 8h + c + 2 and 8h + c + 6; their top two bits are bit pairs 0, 2, 1, 3 of
 * qh[32h + 16c]. Codes 0..63 stand for -32..31. */
static inline float32x4_t mbn_block_q6_k(const mb_block_q6_k *x, const mb_block_q8_k *y,
                                         float32x4_t acc) {
    const uint8x16_t nib = vdupq_n_u8(0xF), two = vdupq_n_u8(0x30);
    const int8x16_t off = vdupq_n_s8(32);
    int32x4_t isum = vdupq_n_s32(0);
    for (int h = 0; h < 2; h++) {
        for (int c = 0; c < 2; c++) {
            const uint8x16_t la = vld1q_u8(x->ql + 64 * h + 16 * c);
            const uint8x16_t lb = vld1q_u8(x->ql + 64 * h + 32 + 16 * c);
            const uint8x16_t qh = vld1q_u8(x->qh + 32 * h + 16 * c);
            const uint8x16_t q[4] = {
                vorrq_u8(vandq_u8(la, nib), vandq_u8(vshlq_n_u8(qh, 4), two)),
                vorrq_u8(vandq_u8(lb, nib), vandq_u8(vshlq_n_u8(qh, 2), two)),
                vorrq_u8(vshrq_n_u8(la, 4), vandq_u8(qh, two)),
                vorrq_u8(vshrq_n_u8(lb, 4), vandq_u8(vshrq_n_u8(qh, 2), two)),
            };
            for (int k = 0; k < 4; k++) {
                const int8x16_t v = vsubq_s8(mbn_s8(q[k]), off);
                const int8x16_t a = vld1q_s8(y->qs + 128 * h + 32 * k + 16 * c);
                const int32x4_t s = mbn_dot4(vdupq_n_s32(0), v, a);
                isum = vmlaq_n_s32(isum, s, x->scales[8 * h + 2 * k + c]);
            }
        }
    }
    return mbn_scale_add(mb_half_to_float(x->d) * y->d, isum, acc);
}

MBN_DEFINE_DOTS(q4_k, mb_block_q4_k, mb_block_q8_k, MB_QK_K, mbn_block_q4_k)
MBN_DEFINE_DOTS(q5_k, mb_block_q5_k, mb_block_q8_k, MB_QK_K, mbn_block_q5_k)
MBN_DEFINE_DOTS(q6_k, mb_block_q6_k, mb_block_q8_k, MB_QK_K, mbn_block_q6_k)
