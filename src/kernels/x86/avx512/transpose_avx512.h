/* A 16 x 16 block of 32-bit values transposed in registers (data movement
 * only, so any 32-bit pattern passes unchanged): the attention tile's K
 * transpose and the packed K-quant panels (kpack_avx512.c). */
#ifndef MB_KERNELS_X86_AVX512_TRANSPOSE_AVX512_H
#define MB_KERNELS_X86_AVX512_TRANSPOSE_AVX512_H

#include <immintrin.h>

/* 16 x 16 floats in place: pairs of rows interleaved by float, then by
 * float pair, then 128-bit lanes gathered in two steps. */
static inline void mbx_transpose(__m512 r[16]) {
    __m512 t[16], u[16];
    for (int k = 0; k < 8; k++) {
        t[2 * k] = _mm512_unpacklo_ps(r[2 * k], r[2 * k + 1]);
        t[2 * k + 1] = _mm512_unpackhi_ps(r[2 * k], r[2 * k + 1]);
    }
    /* u[4k + m], 128-bit lane L: column 4L + m of rows 4k..4k+3. */
    for (int k = 0; k < 4; k++) {
        const __m512d a = _mm512_castps_pd(t[4 * k]), b = _mm512_castps_pd(t[4 * k + 1]);
        const __m512d c = _mm512_castps_pd(t[4 * k + 2]), d = _mm512_castps_pd(t[4 * k + 3]);
        u[4 * k] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
        u[4 * k + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
        u[4 * k + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
        u[4 * k + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
    }
    for (int m = 0; m < 4; m++) {
        const __m512 v = _mm512_shuffle_f32x4(u[m], u[4 + m], 0x88);
        const __m512 w = _mm512_shuffle_f32x4(u[m], u[4 + m], 0xdd);
        const __m512 v2 = _mm512_shuffle_f32x4(u[8 + m], u[12 + m], 0x88);
        const __m512 w2 = _mm512_shuffle_f32x4(u[8 + m], u[12 + m], 0xdd);
        r[m] = _mm512_shuffle_f32x4(v, v2, 0x88);
        r[4 + m] = _mm512_shuffle_f32x4(w, w2, 0x88);
        r[8 + m] = _mm512_shuffle_f32x4(v, v2, 0xdd);
        r[12 + m] = _mm512_shuffle_f32x4(w, w2, 0xdd);
    }
}

#endif
