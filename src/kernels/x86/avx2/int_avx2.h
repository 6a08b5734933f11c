/* The 8-bit integer dot primitives of the AVX2 level, for the shared block
 * kernels in ../dot_q_body.h and ../dot_k_body.h. Every one is exact: the
 * operands' ranges keep VPMADDUBSW's 16-bit pair sums below saturation
 * (unsigned codes <= 128 times activations in -127..127). */
#ifndef MB_KERNELS_X86_AVX2_INT_AVX2_H
#define MB_KERNELS_X86_AVX2_INT_AVX2_H

#include <immintrin.h>

#define MBX_NAME(x) mb_avx2_##x

/* Eight int32 lanes whose total is sum(u[i] * s[i]), U unsigned bytes. */
static inline __m256i mbx_dot_us8(__m256i u, __m256i s) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

/* As mbx_dot_us8, with bytes 0..15 scaled by SC_LO and 16..31 by SC_HI. */
static inline __m256i mbx_dot_us8_sc2(__m256i u, __m256i s, int sc_lo, int sc_hi) {
    const __m256i sc =
        _mm256_setr_m128i(_mm_set1_epi16((short)sc_lo), _mm_set1_epi16((short)sc_hi));
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), sc);
}

#endif
