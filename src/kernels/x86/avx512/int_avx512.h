/* The 8-bit integer dot primitives of the AVX-512 levels. The integer
 * kernels (dot_avx512_{k,k23,q}.c, q4_0, kpack and qpack_avx512.c) are
 * compiled twice from one source: with MBX_VNNI (the "avx512-vnni" level,
 * -mavx512vnni) VPDPBUSD sums four u8*s8 products straight into int32 and
 * VPDPWSSD scales and accumulates 16-bit pair sums in one instruction (in
 * the packed panels; the row dots' scaled form below avoids it);
 * without it (the "avx512" level: Skylake-X has no VNNI) VPMADDUBSW's
 * 16-bit pair sums go through VPMADDWD and an add. Both give the same
 * integers wherever VPMADDUBSW does not saturate, which each function
 * states for its operands; so the two levels' results are identical.
 * 256-bit forms for the row dots because Zen 4 splits 512-bit integer ops
 * in two anyway and the blocks are 32 bytes wide; 512-bit ones for the
 * packed panels. */
#ifndef MB_KERNELS_X86_AVX512_INT_AVX512_H
#define MB_KERNELS_X86_AVX512_INT_AVX512_H

#include <immintrin.h>

#if MBX_VNNI
#define MBX_NAME(x) mb_avx512vnni_##x
#else
#define MBX_NAME(x) mb_avx512_##x
#endif

/* Eight int32 lanes whose total is sum(u[i] * s[i]): U unsigned bytes <= 128
 * (so a VPMADDUBSW pair stays within 2 * 128 * 127), S in -127..127. */
static inline __m256i mbx_dot_us8(__m256i u, __m256i s) {
#if MBX_VNNI
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s);
#else
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
#endif
}

/* acc + the int32 lanes of sum(u[i] * s[i] * sc16[i/2]). VPMADDUBSW's
 * 16-bit pair sums are exact for these operands (codes <= 63 times
 * activations in -127..127). VPMADDWD + VPADDD at both levels: the fused
 * VPDPWSSD made the Q4_K row dot three times slower on a Sapphire
 * Rapids-class core (6.6 against 20.6 GB/s of weights in L2, the eight
 * accumulations of a block in one chain of 5-cycle latencies); on Zen 4
 * the two forms were at par (docs/PERFORMANCE.md, AVX-512 levels: Q4_K dot
 * 20.2-20.3 GB/s without VNNI, 18.8-23.4 with). */
static inline __m256i mbx_dot_us8_scaled(__m256i acc, __m256i u, __m256i s, __m256i sc16) {
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), sc16));
}

/* VPDPBUSD: acc + per int32 lane the sum of four u8 * s8 products, for U
 * codes <= 128 and S in -128..127 (pairs within VPMADDUBSW's range). */
static inline __m512i mbx_dpbusd512(__m512i acc, __m512i u, __m512i s) {
#if MBX_VNNI
    return _mm512_dpbusd_epi32(acc, u, s);
#else
    return _mm512_add_epi32(acc,
                            _mm512_madd_epi16(_mm512_maddubs_epi16(u, s), _mm512_set1_epi16(1)));
#endif
}

/* As mbx_dpbusd512 for any U (0..255). Without VNNI, U's low seven bits
 * multiply as above and its top bit adds 128 * s (the bytes of S where U
 * has it, summed in pairs and scaled by 128 in VPMADDWD), both exact. */
static inline __m512i mbx_dpbusd512_u8(__m512i acc, __m512i u, __m512i s) {
#if MBX_VNNI
    return _mm512_dpbusd_epi32(acc, u, s);
#else
    const __m512i lo = _mm512_and_si512(u, _mm512_set1_epi8(0x7F));
    const __m512i hs = _mm512_maskz_mov_epi8(_mm512_movepi8_mask(u), s);
    const __m512i l = _mm512_madd_epi16(_mm512_maddubs_epi16(lo, s), _mm512_set1_epi16(1));
    const __m512i h =
        _mm512_madd_epi16(_mm512_maddubs_epi16(_mm512_set1_epi8(1), hs), _mm512_set1_epi16(128));
    return _mm512_add_epi32(acc, _mm512_add_epi32(l, h));
#endif
}

/* VPDPWSSD: acc + per int32 lane a[0] * b[0] + a[1] * b[1] (int16 pairs);
 * VPMADDWD + VPADDD give the same bits (neither saturates). */
static inline __m512i mbx_dpwssd512(__m512i acc, __m512i a, __m512i b) {
#if MBX_VNNI
    return _mm512_dpwssd_epi32(acc, a, b);
#else
    return _mm512_add_epi32(acc, _mm512_madd_epi16(a, b));
#endif
}

#endif
