/* An 8 x 8 block of 32-bit values transposed in registers (data movement
 * only, so any 32-bit pattern passes unchanged): the attention tile's K
 * transpose (attn_avx2.c) and the packed panels (kpack_avx2.c,
 * qpack_avx2.c), whose codes go four bytes to a lane. */
#ifndef MB_KERNELS_X86_AVX2_TRANSPOSE_AVX2_H
#define MB_KERNELS_X86_AVX2_TRANSPOSE_AVX2_H

#include <immintrin.h>
#include <stddef.h>

/* 8 x 8 floats in place: pairs of rows interleaved by float, then by float
 * pair, then the 128-bit halves exchanged. */
static inline void mbx_transpose(__m256 r[8]) {
    __m256 t[8], u[8];
    for (int k = 0; k < 4; k++) {
        t[2 * k] = _mm256_unpacklo_ps(r[2 * k], r[2 * k + 1]);
        t[2 * k + 1] = _mm256_unpackhi_ps(r[2 * k], r[2 * k + 1]);
    }
    /* u[4k + m], 128-bit half L: column 4L + m of rows 4k..4k+3. */
    for (int k = 0; k < 2; k++) {
        u[4 * k] = _mm256_shuffle_ps(t[4 * k], t[4 * k + 2], 0x44);
        u[4 * k + 1] = _mm256_shuffle_ps(t[4 * k], t[4 * k + 2], 0xee);
        u[4 * k + 2] = _mm256_shuffle_ps(t[4 * k + 1], t[4 * k + 3], 0x44);
        u[4 * k + 3] = _mm256_shuffle_ps(t[4 * k + 1], t[4 * k + 3], 0xee);
    }
    for (int m = 0; m < 4; m++) {
        r[m] = _mm256_permute2f128_ps(u[m], u[4 + m], 0x20);
        r[4 + m] = _mm256_permute2f128_ps(u[m], u[4 + m], 0x31);
    }
}

/* The same for eight rows of 32 bytes at U (32-byte aligned, STRIDE bytes
 * apart) into eight vectors at OUT (32-byte aligned, 32 bytes apart):
 * vector c takes bytes 4c..4c+3 of every row, row r in lane r. */
static inline void mbx_transpose_bytes(void *out, const void *u, size_t stride) {
    __m256 r[8];
    for (int i = 0; i < 8; i++)
        r[i] = _mm256_load_ps((const float *)(const void *)((const char *)u + (size_t)i * stride));
    mbx_transpose(r);
    for (int c = 0; c < 8; c++)
        _mm256_store_ps((float *)out + 8 * c, r[c]);
}

#endif
