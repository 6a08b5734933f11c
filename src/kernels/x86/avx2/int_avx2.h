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

/* acc + the int32 lanes of sum(u[i] * s[i] * sc16[i/2]): SC16 holds one
 * int16 scale per pair of bytes (a sub-block's scale repeated). */
static inline __m256i mbx_dot_us8_scaled(__m256i acc, __m256i u, __m256i s, __m256i sc16) {
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), sc16));
}

#endif
