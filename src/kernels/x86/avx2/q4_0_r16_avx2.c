/* Q4_0's 16-row groups (kernels/q4_0_r16.h) at the avx2 level: each
 * 64-byte chunk is two registers of eight rows. Per block and half, the
 * eight VPMADDUBSW of the four chunks' low and high nibbles against four
 * activation codes broadcast from memory add up in 16 bits (each pair at
 * most 2 * 15 * 128, eight of them 30720: no saturation), one VPMADDWD
 * makes each row's lane an int32, the seed -8 * sum(y) is added, and one
 * FMA adds the block with the rows' scales times the activation's: the
 * reference's operations, so its bits. No shuffle. */
#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>

#include "kernels/prefetch.h"
#include "kernels/q4_0_r16.h"
#include "kernels/x86/avx2/dot_avx2.h"

enum { R16_ACT = 2 };

static inline __attribute__((always_inline)) void r16_group(int64_t nb, float *out,
                                                            size_t out_stride, const uint8_t *grp,
                                                            const mb_q4_0_r16_act *a, const int C,
                                                            int pf, int add) {
    const __m256i nib = _mm256_set1_epi8(0xF), ones = _mm256_set1_epi16(1);
    __m256 acc[R16_ACT][2];
    for (int c = 0; c < C; c++)
        for (int h = 0; h < 2; h++)
            acc[c][h] =
                add ? _mm256_loadu_ps(out + (size_t)c * out_stride + 8 * h) : _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *p = grp + (size_t)b * MB_Q4_0_R16_BLOCK_BYTES;
        if (pf) mb_prefetch_row(p + MB_Q4_0_R16_PREFETCH_AHEAD, MB_Q4_0_R16_BLOCK_BYTES);
        __m256i s[R16_ACT][2];
        for (int c = 0; c < C; c++)
            s[c][0] = s[c][1] = _mm256_setzero_si256();
        for (int k = 0; k < 4; k++)
            for (int h = 0; h < 2; h++) {
                const __m256i q =
                    _mm256_loadu_si256((const __m256i *)(const void *)(p + 32 + 64 * k + 32 * h));
                const __m256i lo = _mm256_and_si256(q, nib);
                const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), nib);
                for (int c = 0; c < C; c++) {
                    const mb_q4_0_r16_act *ab = &a[(size_t)c * nb + b];
                    s[c][h] = _mm256_add_epi16(
                        s[c][h], _mm256_add_epi16(
                                     _mm256_maddubs_epi16(lo, _mm256_set1_epi32(ab->y[k])),
                                     _mm256_maddubs_epi16(hi, _mm256_set1_epi32(ab->y[4 + k]))));
                }
            }
        for (int h = 0; h < 2; h++) {
            const __m256 dw =
                _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(p + 16 * h)));
            for (int c = 0; c < C; c++) {
                const mb_q4_0_r16_act *ab = &a[(size_t)c * nb + b];
                const __m256i isum =
                    _mm256_add_epi32(_mm256_madd_epi16(s[c][h], ones), _mm256_set1_epi32(ab->seed));
                acc[c][h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum),
                                            _mm256_mul_ps(dw, _mm256_set1_ps(ab->d)), acc[c][h]);
            }
        }
    }
    for (int c = 0; c < C; c++) {
        _mm256_storeu_ps(out + (size_t)c * out_stride, acc[c][0]);
        _mm256_storeu_ps(out + (size_t)c * out_stride + 8, acc[c][1]);
    }
}

void mb_avx2_q4_0_r16(int64_t n, float *out, size_t out_stride, const void *w, size_t group_stride,
                      int n_groups, const mb_q4_0_r16_act *a, int n_act, int add) {
    const int64_t nb = n / 32;
    const int pf = mb_decode_prefetch();
    for (int g = 0; g < n_groups; g++) {
        const uint8_t *grp = (const uint8_t *)w + (size_t)g * group_stride;
        for (int c0 = 0; c0 < n_act; c0 += R16_ACT) {
            float *o = out + (size_t)c0 * out_stride + (size_t)g * MB_Q4_0_R16_ROWS;
            const mb_q4_0_r16_act *ac = a + (size_t)c0 * (size_t)nb;
            if (n_act - c0 >= 2)
                r16_group(nb, o, out_stride, grp, ac, 2, pf, add);
            else
                r16_group(nb, o, out_stride, grp, ac, 1, pf, add);
        }
    }
}
