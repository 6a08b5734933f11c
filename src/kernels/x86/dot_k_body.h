/* Block kernels of the K-quants with Q8_K activations, shared by the x86
 * levels like dot_q_body.h. A super-block's integer sum (scales included)
 * is exact in int32 lanes; d and dmin apply once per super-block in float.
 * Offsets (Q4_K/Q5_K mins, Q6_K's -32) come out of Q8_K's bsums, the sums
 * of each 16 activation codes, instead of being applied per value. */
#include <string.h>

#include "kernels/x86/dot_common.h"
#include "kernels/x86/k4_scales.h"
#include "kernels/x86/kblock.h"
#include "tensor/blocks.h"

/* Scale K of the eight int16 scales in each 128-bit half of SC16, repeated
 * over the half: the multiplier of one 32-value sub-block. */
static inline __m256i mbx_pick16(__m256i sc16, int k) {
    return _mm256_shuffle_epi8(sc16, _mm256_set1_epi16((short)(0x0100 + 0x0202 * k)));
}

/* Q4_K, and Q5_K when QH is set: 32 code bytes hold sub-blocks 2p (low
 * nibbles) and 2p+1 (high); Q5_K's bit 4 of sub-block j is bit j of qh[l]. */
/* The single-row kernels: unpacking fused with the dot, so everything
 * stays in registers. */
static inline __m256 mbx_block_k4(const uint8_t *scales, const uint8_t *qs, const uint8_t *qh,
                                  uint16_t d16, uint16_t dmin16, const mb_block_q8_k *y,
                                  __m256 acc) {
    const __m128i sm = mbx_k4_scales(scales);
    const __m256i sc16 = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(sm));
    const __m256i nib = _mm256_set1_epi8(0xF);
    __m256i isum = _mm256_setzero_si256();
    if (qh) {
        const __m256i hb = mbx_load32(qh), bit4 = _mm256_set1_epi8(0x10);
        MBX_UNROLL
        for (int p = 0; p < 4; p++) {
            const __m256i q = mbx_load32(qs + 32 * p);
            /* Bit 2p of each qh byte moved to bit 4 (the byte's other bits
             * are masked off, so the 16-bit shifts cannot leak). */
            const __m256i h0 = _mm256_and_si256(2 * p <= 4 ? _mm256_slli_epi16(hb, 4 - 2 * p)
                                                           : _mm256_srli_epi16(hb, 2 * p - 4),
                                                bit4);
            const __m256i h1 = _mm256_and_si256(2 * p + 1 <= 4 ? _mm256_slli_epi16(hb, 3 - 2 * p)
                                                               : _mm256_srli_epi16(hb, 2 * p - 3),
                                                bit4);
            const __m256i lo = _mm256_or_si256(_mm256_and_si256(q, nib), h0);
            const __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), nib), h1);
            isum =
                mbx_dot_us8_scaled(isum, lo, mbx_load32(y->qs + 64 * p), mbx_pick16(sc16, 2 * p));
            isum = mbx_dot_us8_scaled(isum, hi, mbx_load32(y->qs + 64 * p + 32),
                                      mbx_pick16(sc16, 2 * p + 1));
        }
    } else {
        MBX_UNROLL
        for (int p = 0; p < 4; p++) {
            const __m256i q = mbx_load32(qs + 32 * p);
            const __m256i lo = _mm256_and_si256(q, nib);
            const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), nib);
            isum =
                mbx_dot_us8_scaled(isum, lo, mbx_load32(y->qs + 64 * p), mbx_pick16(sc16, 2 * p));
            isum = mbx_dot_us8_scaled(isum, hi, mbx_load32(y->qs + 64 * p + 32),
                                      mbx_pick16(sc16, 2 * p + 1));
        }
    }
    /* Mins: m_j * (bsums[2j] + bsums[2j+1]), each min repeated for its two
     * 16-value sums. */
    const __m128i m8 = _mm_unpackhi_epi64(sm, sm);
    const __m256i m16 = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(m8, m8));
    const __m256i msum = _mm256_madd_epi16(mbx_load32(y->bsums), m16);
    const float d = _cvtsh_ss(d16) * y->d, dmin = _cvtsh_ss(dmin16) * y->d;
    acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(isum), acc);
    return _mm256_fnmadd_ps(_mm256_set1_ps(dmin), _mm256_cvtepi32_ps(msum), acc);
}

static inline __m256 mbx_block_q4_k(const mb_block_q4_k *x, const mb_block_q8_k *y, __m256 acc) {
    return mbx_block_k4(x->scales, x->qs, NULL, x->d, x->dmin, y, acc);
}

static inline __m256 mbx_block_q5_k(const mb_block_q5_k *x, const mb_block_q8_k *y, __m256 acc) {
    return mbx_block_k4(x->scales, x->qs, x->qh, x->d, x->dmin, y, acc);
}

/* Q6_K: per half h, ql[64h..] low nibbles and high nibbles plus two bits of
 * qh[32h..] give four 32-value runs k, sub-blocks 8h+2k (bytes 0..15) and
 * 8h+2k+1 (16..31). The codes enter unsigned (0..63); the -32 offset is
 * 32 * sum_j sc_j * bsums_j. */
static inline __m256 mbx_block_q6_k(const mb_block_q6_k *x, const mb_block_q8_k *y, __m256 acc) {
    const __m256i nib = _mm256_set1_epi8(0xF), two = _mm256_set1_epi8(0x30);
    const __m128i sc8 = _mm_loadu_si128((const __m128i *)(const void *)x->scales);
    const __m256i sc16 = _mm256_cvtepi8_epi16(sc8);
    const __m256i sch0 = _mm256_permute4x64_epi64(sc16, 0x44);
    const __m256i sch1 = _mm256_permute4x64_epi64(sc16, 0xEE);
    /* Bytes of int16 scale 0 in the low 128-bit half, scale 1 in the high. */
    const __m256i pick0 = _mm256_setr_epi8(0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 2, 3, 2,
                                           3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3);
    __m256i isum = _mm256_setzero_si256();
    MBX_UNROLL
    for (int h = 0; h < 2; h++) {
        /* Half h's eight scales in both 128-bit halves; run k takes scale
         * 2k in the low half and 2k+1 in the high half. */
        const __m256i sch = h ? sch1 : sch0;
        const __m256i l0 = mbx_load32(x->ql + 64 * h), l1 = mbx_load32(x->ql + 64 * h + 32);
        const __m256i qh = mbx_load32(x->qh + 32 * h);
        const __m256i q[4] = {
            _mm256_or_si256(_mm256_and_si256(l0, nib),
                            _mm256_and_si256(_mm256_slli_epi16(qh, 4), two)),
            _mm256_or_si256(_mm256_and_si256(l1, nib),
                            _mm256_and_si256(_mm256_slli_epi16(qh, 2), two)),
            _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), nib),
                            _mm256_and_si256(qh, two)),
            _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), nib),
                            _mm256_and_si256(_mm256_srli_epi16(qh, 2), two)),
        };
        MBX_UNROLL
        for (int k = 0; k < 4; k++) {
            const __m256i pick = _mm256_add_epi8(pick0, _mm256_set1_epi8((char)(4 * k)));
            const __m256i a = mbx_load32(y->qs + 128 * h + 32 * k);
            isum = mbx_dot_us8_scaled(isum, q[k], a, _mm256_shuffle_epi8(sch, pick));
        }
    }
    const __m256i off = _mm256_slli_epi32(_mm256_madd_epi16(mbx_load32(y->bsums), sc16), 5);
    isum = _mm256_sub_epi32(isum, off);
    const float d = _cvtsh_ss(x->d) * y->d;
    return _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(isum), acc);
}

/* A weight block unpacked for the integer dot: eight 32-byte vectors of
 * unsigned codes (one per 32 activation bytes), each with its int16 scales,
 * the int16 multipliers of Q8_K's sixteen bsums, and the float scales. A
 * multi-row dot unpacks a block once and applies it to several rows. */
/* Q4_K, and Q5_K when QH is set: 32 code bytes hold sub-blocks 2p (low
 * nibbles) and 2p+1 (high); Q5_K's bit 4 of sub-block j is bit j of qh[l]. */
static inline void mbx_prep_k4(const uint8_t *scales, const uint8_t *qs, const uint8_t *qh,
                               uint16_t d16, uint16_t dmin16, mbx_kblock *b) {
    const __m128i sm = mbx_k4_scales(scales);
    const __m256i sc16 = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(sm));
    const __m256i nib = _mm256_set1_epi8(0xF);
    MBX_UNROLL
    for (int p = 0; p < 4; p++) {
        const __m256i q = mbx_load32(qs + 32 * p);
        b->q[2 * p] = _mm256_and_si256(q, nib);
        b->q[2 * p + 1] = _mm256_and_si256(_mm256_srli_epi16(q, 4), nib);
        b->sc[2 * p] = mbx_pick16(sc16, 2 * p);
        b->sc[2 * p + 1] = mbx_pick16(sc16, 2 * p + 1);
    }
    if (qh) {
        /* Bit j of each qh byte moved to bit 4 (the byte's other bits are
         * masked off, so the 16-bit shifts cannot leak). */
        const __m256i hb = mbx_load32(qh), bit4 = _mm256_set1_epi8(0x10);
        MBX_UNROLL
        for (int j = 0; j < 8; j++) {
            const __m256i h = j <= 4 ? _mm256_slli_epi16(hb, 4 - j) : _mm256_srli_epi16(hb, j - 4);
            b->q[j] = _mm256_or_si256(b->q[j], _mm256_and_si256(h, bit4));
        }
    }
    /* Mins: m_j * (bsums[2j] + bsums[2j+1]), each min repeated for its two
     * 16-value sums. */
    const __m128i m8 = _mm_unpackhi_epi64(sm, sm);
    b->bsum_mul = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(m8, m8));
    b->d = _cvtsh_ss(d16);
    b->dmin = _cvtsh_ss(dmin16);
}

/* Q6_K: per half h, ql[64h..] low nibbles and high nibbles plus two bits of
 * qh[32h..] give four 32-value runs k, sub-blocks 8h+2k (bytes 0..15) and
 * 8h+2k+1 (16..31). The codes enter unsigned (0..63); the -32 offset is
 * sum_j 32 * sc_j * bsums_j. */
static inline void mbx_prep_q6_k(const mb_block_q6_k *x, mbx_kblock *b) {
    const __m256i nib = _mm256_set1_epi8(0xF), two = _mm256_set1_epi8(0x30);
    const __m128i sc8 = _mm_loadu_si128((const __m128i *)(const void *)x->scales);
    const __m256i sc16 = _mm256_cvtepi8_epi16(sc8);
    /* Bytes of int16 scale 0 in the low 128-bit half, scale 1 in the high. */
    const __m256i pick0 = _mm256_setr_epi8(0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 2, 3, 2,
                                           3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3);
    MBX_UNROLL
    for (int h = 0; h < 2; h++) {
        /* Half h's eight scales in both 128-bit halves; run k takes scale
         * 2k in the low half and 2k+1 in the high half. */
        const __m256i sch =
            h ? _mm256_permute4x64_epi64(sc16, 0xEE) : _mm256_permute4x64_epi64(sc16, 0x44);
        const __m256i l0 = mbx_load32(x->ql + 64 * h), l1 = mbx_load32(x->ql + 64 * h + 32);
        const __m256i qh = mbx_load32(x->qh + 32 * h);
        __m256i *q = b->q + 4 * h;
        q[0] = _mm256_or_si256(_mm256_and_si256(l0, nib),
                               _mm256_and_si256(_mm256_slli_epi16(qh, 4), two));
        q[1] = _mm256_or_si256(_mm256_and_si256(l1, nib),
                               _mm256_and_si256(_mm256_slli_epi16(qh, 2), two));
        q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), nib),
                               _mm256_and_si256(qh, two));
        q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), nib),
                               _mm256_and_si256(_mm256_srli_epi16(qh, 2), two));
        MBX_UNROLL
        for (int k = 0; k < 4; k++) {
            const __m256i pick = _mm256_add_epi8(pick0, _mm256_set1_epi8((char)(4 * k)));
            b->sc[4 * h + k] = _mm256_shuffle_epi8(sch, pick);
        }
    }
    b->bsum_mul = _mm256_slli_epi16(sc16, 5);
    b->d = _cvtsh_ss(x->d);
    b->dmin = 0.0f;
}

static inline void mbx_prep_q4_k(const mb_block_q4_k *x, mbx_kblock *b) {
    mbx_prep_k4(x->scales, x->qs, NULL, x->d, x->dmin, b);
}
static inline void mbx_prep_q5_k(const mb_block_q5_k *x, mbx_kblock *b) {
    mbx_prep_k4(x->scales, x->qs, x->qh, x->d, x->dmin, b);
}
static inline __m256 mbx_apply_k4(const mbx_kblock *b, const mb_block_q8_k *y, __m256 acc) {
    return mbx_apply_k(b, y, acc, 1);
}
static inline __m256 mbx_apply_q6(const mbx_kblock *b, const mb_block_q8_k *y, __m256 acc) {
    return mbx_apply_k(b, y, acc, 0);
}

MBX_DEFINE_PREP_DOTS(q4_k, mb_block_q4_k, mb_block_q8_k, MB_QK_K, mbx_block_q4_k, mbx_kblock,
                     mbx_prep_q4_k, mbx_apply_k4)
MBX_DEFINE_PREP_DOTS(q5_k, mb_block_q5_k, mb_block_q8_k, MB_QK_K, mbx_block_q5_k, mbx_kblock,
                     mbx_prep_q5_k, mbx_apply_k4)
MBX_DEFINE_PREP_DOTS(q6_k, mb_block_q6_k, mb_block_q8_k, MB_QK_K, mbx_block_q6_k, mbx_kblock,
                     mbx_prep_q6_k, mbx_apply_q6)
