/* Small AVX-512 pieces several kernel files share: the horizontal sum of
 * 16 floats (one fixed order, so every file that finishes a dot with it
 * rounds alike) and the mask of a row's last, partial step. */
#ifndef MB_KERNELS_X86_AVX512_VEC_AVX512_H
#define MB_KERNELS_X86_AVX512_VEC_AVX512_H

#include <immintrin.h>
#include <stdint.h>

static inline float mbx_hsum512(__m512 v) {
    const __m256 h = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* Lanes [0, n - i) of a step that starts at I of a row of N (n - i < 32). */
static inline __mmask32 mbx_tail_mask32(int64_t i, int64_t n) {
    return (__mmask32)((1ull << (n - i)) - 1u);
}

#endif
