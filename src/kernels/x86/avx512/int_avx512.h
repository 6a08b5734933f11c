/* The 8-bit integer dot primitives of the AVX-512 level, in AVX512-VNNI's
 * 256-bit (VL) forms: VPDPBUSD sums four u8*s8 products straight into int32,
 * VPDPWSSD scales and accumulates 16-bit pair sums in one instruction. 256-bit
 * vectors because Zen 4 splits 512-bit integer ops in two anyway and the
 * blocks are 32 bytes wide. */
#ifndef MB_KERNELS_X86_AVX512_INT_AVX512_H
#define MB_KERNELS_X86_AVX512_INT_AVX512_H

#include <immintrin.h>

#define MBX_NAME(x) mb_avx512_##x

static inline __m256i mbx_dot_us8(__m256i u, __m256i s) {
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s);
}

/* VPMADDUBSW's 16-bit pair sums are exact for these operands (codes <= 63
 * times activations in -127..127); VPDPWSSD then scales and accumulates
 * them into int32 in one instruction. */
static inline __m256i mbx_dot_us8_scaled(__m256i acc, __m256i u, __m256i s, __m256i sc16) {
    return _mm256_dpwssd_epi32(acc, _mm256_maddubs_epi16(u, s), sc16);
}

#endif
