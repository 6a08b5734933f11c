/* The 8-bit integer dot primitives of the AVX-512 level: AVX512-VNNI's
 * VPDPBUSD in its 256-bit (VL) form, which sums four u8*s8 products straight
 * into int32 (no 16-bit intermediate), replacing AVX2's three-instruction
 * sequence. 256-bit vectors because Zen 4 splits 512-bit integer ops in two
 * anyway and the blocks are 32 bytes wide. */
#ifndef MB_KERNELS_X86_AVX512_INT_AVX512_H
#define MB_KERNELS_X86_AVX512_INT_AVX512_H

#include <immintrin.h>

#define MBX_NAME(x) mb_avx512_##x

static inline __m256i mbx_dot_us8(__m256i u, __m256i s) {
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s);
}

static inline __m256i mbx_dot_us8_sc2(__m256i u, __m256i s, int sc_lo, int sc_hi) {
    const __m256i sc = _mm256_setr_m128i(_mm_set1_epi32(sc_lo), _mm_set1_epi32(sc_hi));
    return _mm256_mullo_epi32(_mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s), sc);
}

#endif
