/* Block kernels of Q2_K and Q3_K with Q8_K activations, shared by the x86
 * levels like dot_k_body.h (a separate body: that one defines the Q4_K..Q6_K
 * dots itself). Both types keep 2-bit codes in the same place: for 32-value
 * run r (values 32r..32r+31), byte l of qs[32*(r/4)..] holds value 32r+l at
 * bits 2*(r%4); run r covers sub-blocks 2r (its bytes 0..15) and 2r+1
 * (16..31). Codes enter the byte dots unsigned; Q3_K's -4 offset and Q2_K's
 * mins come out of Q8_K's bsums, once per super-block. */
#include <string.h>

#include "kernels/x86/dot_common.h"
#include "kernels/x86/kblock.h"
#include "tensor/blocks.h"

/* The 2-bit codes of run 4h+k from Q = qs[32h..32h+31]. A 16-bit shift by
 * 2k brings no bits of the upper byte into the lower one's low two bits. */
static inline __m256i mbx_bits2(__m256i q, int k) {
    return _mm256_and_si256(_mm256_srli_epi16(q, 2 * k), _mm256_set1_epi8(3));
}

/* Q3_K's high bit of run R (bit R of each hmask byte) moved to bit 2: with
 * bit 2 kept alone, the 16-bit shifts cannot carry a neighbour byte's bit. */
static inline __m256i mbx_q3_high(__m256i hm, int r) {
    const __m256i h = r <= 2 ? _mm256_slli_epi16(hm, 2 - r) : _mm256_srli_epi16(hm, r - 2);
    return _mm256_and_si256(h, _mm256_set1_epi8(4));
}

/* Q3_K's sixteen 6-bit scales, minus 32, as int16: scale i has its low
 * nibble in s[i % 8] (high nibble of the byte when i >= 8) and its top two
 * bits at bit 2*(i/4) of s[8 + i%4]. Reads exactly the 12 scale bytes (a
 * 16-byte load would pass the end of the row's last block). */
static inline __m256i mbx_q3_scales(const uint8_t *s) {
    uint64_t lo8;
    uint32_t hi4;
    memcpy(&lo8, s, 8);
    memcpy(&hi4, s + 8, 4);
    const __m128i v = _mm_cvtsi64_si128((long long)lo8), m4 = _mm_set1_epi8(0xF);
    const __m128i lo =
        _mm_unpacklo_epi64(_mm_and_si128(v, m4), _mm_and_si128(_mm_srli_epi16(v, 4), m4));
    /* Lane q (scales 4q..4q+3) shifts the top-bit word right by 2q. */
    const __m128i h = _mm_srlv_epi32(_mm_set1_epi32((int)hi4), _mm_setr_epi32(0, 2, 4, 6));
    const __m128i hi = _mm_slli_epi16(_mm_and_si128(h, _mm_set1_epi8(3)), 4);
    const __m128i sc = _mm_sub_epi8(_mm_or_si128(lo, hi), _mm_set1_epi8(32));
    return _mm256_cvtepi8_epi16(sc);
}

/* For half h of a block with int16 scales SC16 (one per sub-block), the
 * multipliers of run 4h+k: scale 8h+2k repeated over the low 128-bit half,
 * 8h+2k+1 over the high half. */
static inline __m256i mbx_run_scales(__m256i sc16, int h, int k) {
    const __m256i sch =
        h ? _mm256_permute4x64_epi64(sc16, 0xEE) : _mm256_permute4x64_epi64(sc16, 0x44);
    const __m256i pick = _mm256_setr_epi8(0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 2, 3, 2,
                                          3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3);
    return _mm256_shuffle_epi8(sch, _mm256_add_epi8(pick, _mm256_set1_epi8((char)(4 * k))));
}

/* The single-row kernels: unpacking fused with the dot, so everything stays
 * in registers. Two integer chains so the multiply-add latency does not
 * bound the loop. */
static inline __m256 mbx_block_q3_k(const mb_block_q3_k *x, const mb_block_q8_k *y, __m256 acc) {
    const __m256i sc16 = mbx_q3_scales(x->scales);
    const __m256i hm = mbx_load32(x->hmask);
    __m256i even = _mm256_setzero_si256(), odd = even;
    MBX_UNROLL
    for (int h = 0; h < 2; h++) {
        const __m256i q = mbx_load32(x->qs + 32 * h);
        MBX_UNROLL
        for (int k = 0; k < 4; k++) {
            const int r = 4 * h + k;
            const __m256i u = _mm256_or_si256(mbx_bits2(q, k), mbx_q3_high(hm, r));
            const __m256i a = mbx_load32(y->qs + 32 * r);
            if (k & 1)
                odd = mbx_dot_us8_scaled(odd, u, a, mbx_run_scales(sc16, h, k));
            else
                even = mbx_dot_us8_scaled(even, u, a, mbx_run_scales(sc16, h, k));
        }
    }
    /* The -4 offset: 4 * sum_j sc_j * bsums_j. */
    const __m256i off = _mm256_slli_epi32(_mm256_madd_epi16(mbx_load32(y->bsums), sc16), 2);
    const __m256i isum = _mm256_sub_epi32(_mm256_add_epi32(even, odd), off);
    const float d = _cvtsh_ss(x->d) * y->d;
    return _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(isum), acc);
}

static inline __m256 mbx_block_q2_k(const mb_block_q2_k *x, const mb_block_q8_k *y, __m256 acc) {
    const __m128i s8 = _mm_loadu_si128((const __m128i *)(const void *)x->scales);
    const __m128i m4 = _mm_set1_epi8(0xF);
    const __m256i sc16 = _mm256_cvtepu8_epi16(_mm_and_si128(s8, m4));
    const __m256i m16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(s8, 4), m4));
    __m256i even = _mm256_setzero_si256(), odd = even;
    MBX_UNROLL
    for (int h = 0; h < 2; h++) {
        const __m256i q = mbx_load32(x->qs + 32 * h);
        MBX_UNROLL
        for (int k = 0; k < 4; k++) {
            const __m256i a = mbx_load32(y->qs + 32 * (4 * h + k));
            if (k & 1)
                odd = mbx_dot_us8_scaled(odd, mbx_bits2(q, k), a, mbx_run_scales(sc16, h, k));
            else
                even = mbx_dot_us8_scaled(even, mbx_bits2(q, k), a, mbx_run_scales(sc16, h, k));
        }
    }
    const __m256i msum = _mm256_madd_epi16(mbx_load32(y->bsums), m16);
    const float d = _cvtsh_ss(x->d) * y->d, dmin = _cvtsh_ss(x->dmin) * y->d;
    acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(_mm256_add_epi32(even, odd)), acc);
    return _mm256_fnmadd_ps(_mm256_set1_ps(dmin), _mm256_cvtepi32_ps(msum), acc);
}

/* A weight block unpacked once for several activation rows: eight 32-byte
 * runs of unsigned codes with their int16 scales, the multipliers of Q8_K's
 * sixteen bsums (Q2_K: the mins; Q3_K: 4 * scales) and the float scales. */
static inline void mbx_prep_q3_k(const mb_block_q3_k *x, mbx_kblock *b) {
    const __m256i sc16 = mbx_q3_scales(x->scales);
    const __m256i hm = mbx_load32(x->hmask);
    MBX_UNROLL
    for (int h = 0; h < 2; h++) {
        const __m256i q = mbx_load32(x->qs + 32 * h);
        MBX_UNROLL
        for (int k = 0; k < 4; k++) {
            b->q[4 * h + k] = _mm256_or_si256(mbx_bits2(q, k), mbx_q3_high(hm, 4 * h + k));
            b->sc[4 * h + k] = mbx_run_scales(sc16, h, k);
        }
    }
    b->bsum_mul = _mm256_slli_epi16(sc16, 2);
    b->d = _cvtsh_ss(x->d);
    b->dmin = 0.0f;
}

static inline void mbx_prep_q2_k(const mb_block_q2_k *x, mbx_kblock *b) {
    const __m128i s8 = _mm_loadu_si128((const __m128i *)(const void *)x->scales);
    const __m128i m4 = _mm_set1_epi8(0xF);
    const __m256i sc16 = _mm256_cvtepu8_epi16(_mm_and_si128(s8, m4));
    MBX_UNROLL
    for (int h = 0; h < 2; h++) {
        const __m256i q = mbx_load32(x->qs + 32 * h);
        MBX_UNROLL
        for (int k = 0; k < 4; k++) {
            b->q[4 * h + k] = mbx_bits2(q, k);
            b->sc[4 * h + k] = mbx_run_scales(sc16, h, k);
        }
    }
    b->bsum_mul = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(s8, 4), m4));
    b->d = _cvtsh_ss(x->d);
    b->dmin = _cvtsh_ss(x->dmin);
}

static inline __m256 mbx_apply_q2(const mbx_kblock *b, const mb_block_q8_k *y, __m256 acc) {
    return mbx_apply_k(b, y, acc, 1);
}
static inline __m256 mbx_apply_q3(const mbx_kblock *b, const mb_block_q8_k *y, __m256 acc) {
    return mbx_apply_k(b, y, acc, 0);
}

MBX_DEFINE_PREP_DOTS(q2_k, mb_block_q2_k, mb_block_q8_k, MB_QK_K, mbx_block_q2_k, mbx_kblock,
                     mbx_prep_q2_k, mbx_apply_q2)
MBX_DEFINE_PREP_DOTS(q3_k, mb_block_q3_k, mb_block_q8_k, MB_QK_K, mbx_block_q3_k, mbx_kblock,
                     mbx_prep_q3_k, mbx_apply_q3)
