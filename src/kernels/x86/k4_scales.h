/* The 6-bit scales and mins of a Q4_K/Q5_K block unpacked in one step, for
 * the row dots (dot_k_body.h) and the packed panels (avx512/kpack_avx512.c). */
#ifndef MB_KERNELS_X86_K4_SCALES_H
#define MB_KERNELS_X86_K4_SCALES_H

#include <immintrin.h>
#include <stdint.h>

/* The eight 6-bit scales (low 8 bytes) and mins (high 8 bytes) of a
 * Q4_K/Q5_K block: the layout of mb_k4_scale_min, four at a time. */
static inline __m128i mbx_k4_scales(const uint8_t *s) {
    /* Reads 16 bytes: the block goes on past its 12 scale bytes. Lanes of
     * 4 bytes: a = [b0-3, b8-11, b4-7, b8-11] holds every low part, c =
     * [-, b0-3, -, b4-7] the top two bits that go to bits 4-5. */
    const __m128i v = _mm_loadu_si128((const __m128i *)(const void *)s);
    const __m128i a =
        _mm_shuffle_epi8(v, _mm_setr_epi8(0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 8, 9, 10, 11));
    const __m128i c =
        _mm_shuffle_epi8(v, _mm_setr_epi8(0, 1, 2, 3, 0, 1, 2, 3, 4, 5, 6, 7, 4, 5, 6, 7));
    const __m128i m1 = _mm_setr_epi32(0x3F3F3F3F, 0x0F0F0F0F, 0x3F3F3F3F, 0);
    const __m128i m2 = _mm_setr_epi32(0, 0, 0, 0x0F0F0F0F);
    const __m128i m3 = _mm_setr_epi32(0, 0x30303030, 0, 0x30303030);
    return _mm_or_si128(_mm_or_si128(_mm_and_si128(a, m1), _mm_and_si128(_mm_srli_epi16(a, 4), m2)),
                        _mm_and_si128(_mm_srli_epi16(c, 2), m3));
}

#endif
