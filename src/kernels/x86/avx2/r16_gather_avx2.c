/* r16_gather.h at the avx2 level (the AVX-512 levels take it too): each
 * half of the eight chunks (rows 0-7, rows 8-15) is an 8 x 8 matrix of
 * 32-bit words, transposed by the usual three rounds of unpacks and lane
 * permutes, so each row is one 32-byte store instead of eight 4-byte
 * moves. */
#include <immintrin.h>

#include "kernels/r16_gather.h"
#include "kernels/x86/avx2/dot_avx2.h"

void mb_avx2_r16_gather(const uint8_t *chunks, size_t chunk_stride, uint8_t *dst, size_t row_bytes,
                        int r0, int nr) {
    dst -= (size_t)r0 * row_bytes; /* rows are stored at their index's place */
    for (int half = r0 / 8; half < (r0 + nr) / 8; half++) {
        __m256i v[8], t[8], u[8];
        for (int i = 0; i < 8; i++)
            v[i] = _mm256_loadu_si256(
                (const __m256i *)(const void *)(chunks + (size_t)i * chunk_stride + 32 * half));
        /* v[i] word r = chunk i, row r. */
        for (int i = 0; i < 8; i += 2) {
            t[i] = _mm256_unpacklo_epi32(v[i], v[i + 1]);
            t[i + 1] = _mm256_unpackhi_epi32(v[i], v[i + 1]);
        }
        for (int i = 0; i < 8; i += 4) {
            u[i] = _mm256_unpacklo_epi64(t[i], t[i + 2]);
            u[i + 1] = _mm256_unpackhi_epi64(t[i], t[i + 2]);
            u[i + 2] = _mm256_unpacklo_epi64(t[i + 1], t[i + 3]);
            u[i + 3] = _mm256_unpackhi_epi64(t[i + 1], t[i + 3]);
        }
        /* u[4q + k] holds, for chunks 4q..4q+3, row k (low lane) and row
         * k + 4 (high lane). */
        for (int k = 0; k < 4; k++) {
            const __m256i lo = _mm256_permute2x128_si256(u[k], u[4 + k], 0x20);
            const __m256i hi = _mm256_permute2x128_si256(u[k], u[4 + k], 0x31);
            _mm256_storeu_si256((__m256i *)(void *)(dst + (size_t)(8 * half + k) * row_bytes), lo);
            _mm256_storeu_si256((__m256i *)(void *)(dst + (size_t)(8 * half + k + 4) * row_bytes),
                                hi);
        }
    }
}
