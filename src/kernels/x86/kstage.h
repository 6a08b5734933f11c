/* One K-quant super-block unpacked to a code per byte, for the packed
 * panels: the codes in value order (Q4_K 0..15, Q5_K 0..31, Q6_K 0..63,
 * Q3_K 0..7, Q2_K 0..3, all unsigned), the sub-block scales (and Q2_K's
 * mins) as signed bytes and the two float factors. Uses AVX2 only, so
 * every x86 level can stage with it. */
#ifndef MB_KERNELS_X86_KSTAGE_H
#define MB_KERNELS_X86_KSTAGE_H

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "kernels/x86/k4_scales.h"
#include "tensor/blocks.h"
#include "tensor/fp16.h"

/* Q4_K, and Q5_K when QH is set (its fifth bit: bit e/32 of qh[e%32]).
 * U: 256 bytes, 32-byte aligned. S: the 8 scales then the 8 mins (6-bit,
 * so the same bytes as signed). *DM: dmin. */
static inline void mbx_kstage_k4(uint8_t *u, int8_t *s, float *d, float *dm, uint16_t d16,
                                 uint16_t dmin16, const uint8_t *scales, const uint8_t *qs,
                                 const uint8_t *qh) {
    const __m256i nib = _mm256_set1_epi8(0xF);
    for (int p = 0; p < 4; p++) {
        const __m256i q = _mm256_loadu_si256((const __m256i *)(const void *)(qs + 32 * p));
        __m256i lo = _mm256_and_si256(q, nib);
        __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), nib);
        if (qh) {
            const __m256i h = _mm256_loadu_si256((const __m256i *)(const void *)qh);
            const __m256i bit = _mm256_set1_epi8(0x10);
            /* Bit 2p (2p + 1) of each qh byte moved to bit 4; the byte's
             * other bits are masked off, so 16-bit shifts cannot leak. */
            const __m256i h0 =
                2 * p <= 4 ? _mm256_slli_epi16(h, 4 - 2 * p) : _mm256_srli_epi16(h, 2 * p - 4);
            const __m256i h1 =
                2 * p + 1 <= 4 ? _mm256_slli_epi16(h, 3 - 2 * p) : _mm256_srli_epi16(h, 2 * p - 3);
            lo = _mm256_or_si256(lo, _mm256_and_si256(h0, bit));
            hi = _mm256_or_si256(hi, _mm256_and_si256(h1, bit));
        }
        _mm256_store_si256((__m256i *)(void *)(u + 64 * p), lo);
        _mm256_store_si256((__m256i *)(void *)(u + 64 * p + 32), hi);
    }
    _mm_storeu_si128((__m128i *)(void *)s, mbx_k4_scales(scales));
    *d = mb_half_to_float(d16);
    *dm = mb_half_to_float(dmin16);
}

/* Q6_K: the 32 values 128h + 32k + l (l < 32) take their low nibble from
 * ql[64h + 32(k & 1) + l] (high nibble when k >= 2) and their top two bits
 * from bits 2k of qh[32h + l]. S: the 16 signed scales; *DM: 32 d (the
 * format's -32 offset). */
static inline void mbx_kstage_q6(uint8_t *u, int8_t *s, float *d, float *dm,
                                 const mb_block_q6_k *x) {
    const __m256i nib = _mm256_set1_epi8(0xF), two = _mm256_set1_epi8(0x30);
    for (int h = 0; h < 2; h++) {
        const __m256i l0 = _mm256_loadu_si256((const __m256i *)(const void *)(x->ql + 64 * h));
        const __m256i l1 = _mm256_loadu_si256((const __m256i *)(const void *)(x->ql + 64 * h + 32));
        const __m256i qh = _mm256_loadu_si256((const __m256i *)(const void *)(x->qh + 32 * h));
        __m256i *o = (__m256i *)(void *)(u + 128 * h);
        _mm256_store_si256(o, _mm256_or_si256(_mm256_and_si256(l0, nib),
                                              _mm256_and_si256(_mm256_slli_epi16(qh, 4), two)));
        _mm256_store_si256(o + 1, _mm256_or_si256(_mm256_and_si256(l1, nib),
                                                  _mm256_and_si256(_mm256_slli_epi16(qh, 2), two)));
        _mm256_store_si256(o + 2, _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), nib),
                                                  _mm256_and_si256(qh, two)));
        _mm256_store_si256(o + 3, _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), nib),
                                                  _mm256_and_si256(_mm256_srli_epi16(qh, 2), two)));
    }
    memcpy(s, x->scales, 16);
    *d = mb_half_to_float(x->d);
    *dm = 32.0f * *d;
}

/* Q2_K and Q3_K keep 2-bit codes alike: value 32r + l (run r, l < 32) at
 * bits 2(r % 4) of qs[32(r / 4) + l]; a 16-bit shift by 2k brings no bits
 * of the upper byte into the lower one's low two bits. Q3_K adds bit r of
 * hmask[l] as bit 2 (the code plus 4: its values are u - 4). */
static inline void mbx_kstage_bits2(uint8_t *u, const uint8_t *qs, const uint8_t *hmask) {
    const __m256i three = _mm256_set1_epi8(3), four = _mm256_set1_epi8(4);
    const __m256i hm =
        hmask ? _mm256_loadu_si256((const __m256i *)(const void *)hmask) : _mm256_setzero_si256();
    for (int h = 0; h < 2; h++) {
        const __m256i q = _mm256_loadu_si256((const __m256i *)(const void *)(qs + 32 * h));
        for (int k = 0; k < 4; k++) {
            const int r = 4 * h + k;
            __m256i c = _mm256_and_si256(_mm256_srli_epi16(q, 2 * k), three);
            if (hmask) {
                /* Bit r of each byte to bit 2, kept alone so the 16-bit
                 * shifts cannot carry a neighbour byte's bit. */
                const __m256i b =
                    r <= 2 ? _mm256_slli_epi16(hm, 2 - r) : _mm256_srli_epi16(hm, r - 2);
                c = _mm256_or_si256(c, _mm256_and_si256(b, four));
            }
            _mm256_store_si256((__m256i *)(void *)(u + 32 * r), c);
        }
    }
}

/* Q2_K: x = d * sc * q - dmin * m per 16-value sub-block, sc and m 4-bit.
 * S: the 16 scales, then (S + 16) the 16 mins. */
static inline void mbx_kstage_q2(uint8_t *u, int8_t *s, float *d, float *dm,
                                 const mb_block_q2_k *x) {
    mbx_kstage_bits2(u, x->qs, NULL);
    for (int j = 0; j < 16; j++) {
        s[j] = (int8_t)(x->scales[j] & 0xF);
        s[16 + j] = (int8_t)(x->scales[j] >> 4);
    }
    *d = mb_half_to_float(x->d);
    *dm = mb_half_to_float(x->dmin);
}

/* Q3_K: x = d * sc * (u - 4), sc in -32..31. S: the 16 scales; *DM: 4 d
 * (the -4 offset, through the bsums as Q6_K's -32). */
static inline void mbx_kstage_q3(uint8_t *u, int8_t *s, float *d, float *dm,
                                 const mb_block_q3_k *x) {
    mbx_kstage_bits2(u, x->qs, x->hmask);
    for (int j = 0; j < 16; j++)
        s[j] = (int8_t)mb_q3k_scale(j, x->scales);
    *d = mb_half_to_float(x->d);
    *dm = 4.0f * *d;
}

#endif
