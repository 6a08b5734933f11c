/* Block kernels of the K-quants with Q8_K activations, shared by the x86
 * levels like dot_q_body.h. A super-block's integer sum (scales included)
 * is exact in int32 lanes; d and dmin apply once per super-block in float.
 * Offsets (Q4_K/Q5_K mins, Q6_K's -32) come out of Q8_K's bsums, the sums
 * of each 16 activation codes, instead of being applied per value. */
#include <string.h>

#include "kernels/x86/dot_common.h"
#include "tensor/blocks.h"

/* The eight 6-bit scales and mins of a Q4_K/Q5_K block (the layout of
 * mb_k4_scale_min, four at a time). */
static inline void mbx_k4_scales(const uint8_t s[12], uint8_t sc[8], uint8_t m[8]) {
    uint32_t w[3], o[4];
    memcpy(w, s, 12);
    o[0] = w[0] & 0x3F3F3F3Fu;
    o[1] = (w[2] & 0x0F0F0F0Fu) | (((w[0] >> 6) & 0x03030303u) << 4);
    o[2] = w[1] & 0x3F3F3F3Fu;
    o[3] = ((w[2] >> 4) & 0x0F0F0F0Fu) | (((w[1] >> 6) & 0x03030303u) << 4);
    memcpy(sc, o, 8);
    memcpy(m, o + 2, 8);
}

/* Eight int32 lanes totalling sum_j m[j] * (bsums[2j] + bsums[2j+1]). */
static inline __m256i mbx_k4_min_sum(const uint8_t m[8], const int16_t bsums[16]) {
    int64_t mm;
    memcpy(&mm, m, 8);
    const __m128i m8 = _mm_cvtsi64_si128(mm);
    const __m256i m16 = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(m8, m8)); /* m0 m0 m1 m1 ... */
    const __m256i bs = _mm256_loadu_si256((const __m256i *)(const void *)bsums);
    return _mm256_madd_epi16(bs, m16);
}

static inline __m256i mbx_load32(const void *p) {
    return _mm256_loadu_si256((const __m256i *)p);
}

/* Q4_K, and Q5_K when QH is set: 32 code bytes hold sub-blocks 2p (low
 * nibbles) and 2p+1 (high); Q5_K's bit 4 of sub-block j is bit j of qh[l]. */
static inline __m256 mbx_block_k4(const uint8_t *scales, const uint8_t *qs, const uint8_t *qh,
                                  uint16_t d16, uint16_t dmin16, const mb_block_q8_k *y,
                                  __m256 acc) {
    uint8_t sc[8], m[8];
    mbx_k4_scales(scales, sc, m);
    const __m256i nib = _mm256_set1_epi8(0xF), one = _mm256_set1_epi8(1);
    const __m256i hb = qh ? mbx_load32(qh) : _mm256_setzero_si256();
    __m256i isum = _mm256_setzero_si256();
    for (int p = 0; p < 4; p++) {
        const __m256i q = mbx_load32(qs + 32 * p);
        __m256i lo = _mm256_and_si256(q, nib);
        __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), nib);
        if (qh) {
            const __m256i b0 = _mm256_and_si256(_mm256_srli_epi16(hb, 2 * p), one);
            const __m256i b1 = _mm256_and_si256(_mm256_srli_epi16(hb, 2 * p + 1), one);
            lo = _mm256_or_si256(lo, _mm256_slli_epi16(b0, 4));
            hi = _mm256_or_si256(hi, _mm256_slli_epi16(b1, 4));
        }
        const int s0 = sc[2 * p], s1 = sc[2 * p + 1];
        isum = _mm256_add_epi32(isum, mbx_dot_us8_sc2(lo, mbx_load32(y->qs + 64 * p), s0, s0));
        isum = _mm256_add_epi32(isum, mbx_dot_us8_sc2(hi, mbx_load32(y->qs + 64 * p + 32), s1, s1));
    }
    const float d = _cvtsh_ss(d16) * y->d, dmin = _cvtsh_ss(dmin16) * y->d;
    acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(isum), acc);
    const __m256i msum = mbx_k4_min_sum(m, y->bsums);
    return _mm256_fnmadd_ps(_mm256_set1_ps(dmin), _mm256_cvtepi32_ps(msum), acc);
}

static inline __m256 mbx_block_q4_k(const mb_block_q4_k *x, const mb_block_q8_k *y, __m256 acc) {
    return mbx_block_k4(x->scales, x->qs, NULL, x->d, x->dmin, y, acc);
}

static inline __m256 mbx_block_q5_k(const mb_block_q5_k *x, const mb_block_q8_k *y, __m256 acc) {
    return mbx_block_k4(x->scales, x->qs, x->qh, x->d, x->dmin, y, acc);
}

/* Q6_K: per half h, ql[64h..] low nibbles and high nibbles plus two bits of
 * qh[32h..] give four 32-value runs (sub-blocks 8h+2k, 8h+2k+1). The codes
 * enter unsigned (0..63); the -32 offset is 32 * sum_j sc_j * bsums_j. */
static inline __m256 mbx_block_q6_k(const mb_block_q6_k *x, const mb_block_q8_k *y, __m256 acc) {
    const __m256i nib = _mm256_set1_epi8(0xF), two = _mm256_set1_epi8(3);
    const int8_t *sc = x->scales;
    __m256i isum = _mm256_setzero_si256();
    for (int h = 0; h < 2; h++) {
        const __m256i l0 = mbx_load32(x->ql + 64 * h), l1 = mbx_load32(x->ql + 64 * h + 32);
        const __m256i qh = mbx_load32(x->qh + 32 * h);
        const __m256i q[4] = {
            _mm256_or_si256(_mm256_and_si256(l0, nib),
                            _mm256_slli_epi16(_mm256_and_si256(qh, two), 4)),
            _mm256_or_si256(_mm256_and_si256(l1, nib),
                            _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), two), 4)),
            _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), nib),
                            _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), two), 4)),
            _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), nib),
                            _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), two), 4)),
        };
        for (int k = 0; k < 4; k++) {
            const int j = 8 * h + 2 * k;
            const __m256i a = mbx_load32(y->qs + 128 * h + 32 * k);
            isum = _mm256_add_epi32(isum, mbx_dot_us8_sc2(q[k], a, sc[j], sc[j + 1]));
        }
    }
    const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)sc));
    const __m256i bs = _mm256_loadu_si256((const __m256i *)(const void *)y->bsums);
    const __m256i off = _mm256_slli_epi32(_mm256_madd_epi16(bs, sc16), 5);
    isum = _mm256_sub_epi32(isum, off);
    const float d = _cvtsh_ss(x->d) * y->d;
    return _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(isum), acc);
}

MBX_DEFINE_DOTS(q4_k, mb_block_q4_k, mb_block_q8_k, MB_QK_K, mbx_block_q4_k)
MBX_DEFINE_DOTS(q5_k, mb_block_q5_k, mb_block_q8_k, MB_QK_K, mbx_block_q5_k)
MBX_DEFINE_DOTS(q6_k, mb_block_q6_k, mb_block_q8_k, MB_QK_K, mbx_block_q6_k)
