/* Q4_K's 16-row groups (kernels/q4_k_r16.h) at the avx2 level: each 64-byte
 * chunk is two registers of eight rows, taken one half of the group at a
 * time. Per sub-block, the eight VPMADDUBSW of its chunks' nibbles against
 * four activation codes broadcast from memory add up in 16 bits (each pair
 * at most 2 * 15 * 128, eight of them 30720: no saturation), and one
 * VPMADDWD by the rows' scale (each row's scale in both 16-bit halves of
 * its lane) makes the scaled sum an int32 and adds its two pairs: the
 * block's isum. The mins go the same way against the activation's
 * sub-block sums (low and high bytes), then the two FMAs of the reference:
 * its bits. No shuffle. */
#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>

#include "kernels/prefetch.h"
#include "kernels/q4_k_r16.h"
#include "kernels/x86/avx2/dot_avx2.h"

enum { R16_ACT = 2 };

#define R16_INLINE static inline __attribute__((always_inline))
#if defined(__clang__)
#define R16_UNROLL _Pragma("unroll")
#else
#define R16_UNROLL _Pragma("GCC unroll 8")
#endif

/* Keeps a sum a chain of adds in program order: left alone, GCC
 * reassociated the unrolled adds into trees, computed every product first
 * and spilled them (the product ran at 24-25 GB/s in L2). */
#define R16_CHAIN(v) __asm__("" : "+x"(v))

/* Byte S (0..3) of every 32-bit lane of V, in both 16-bit halves. */
R16_INLINE __m256i r16_byte_pair(__m256i v, int s) {
    const __m256i b = _mm256_and_si256(_mm256_srli_epi32(v, 8 * s), _mm256_set1_epi32(0xFF));
    return _mm256_or_si256(b, _mm256_slli_epi32(b, 16));
}

/* Eight rows' scales (MINS 0) or mins (MINS 1) of sub-blocks 0..3 (HALF
 * 0) or 4..7 (HALF 1), byte s % 4 of each row's lane (mb_k4_scale_min),
 * from the scale chunks at SP (this half of the group's rows), read again
 * where needed: kept in registers they made GCC spill the sums. */
R16_INLINE __m256i r16_scales(const uint8_t *sp, int half, int mins) {
    const __m256i nib = _mm256_set1_epi8(0x0F), low6 = _mm256_set1_epi8(0x3F),
                  top2 = _mm256_set1_epi8(0x30);
    const __m256i own = _mm256_loadu_si256((const __m256i *)(const void *)(sp + 64 * mins));
    if (!half) return _mm256_and_si256(own, low6);
    const __m256i c2 = _mm256_loadu_si256((const __m256i *)(const void *)(sp + 128));
    const __m256i low = mins ? _mm256_srli_epi16(c2, 4) : c2;
    return _mm256_or_si256(_mm256_and_si256(low, nib),
                           _mm256_and_si256(_mm256_srli_epi16(own, 2), top2));
}

R16_INLINE void r16_group(int64_t nb, float *out, size_t out_stride, const uint8_t *grp,
                          const mb_q4_k_r16_act *a, const int C, int pf, int add) {
    const __m256i nib = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1);
    __m256 acc[R16_ACT][2];
    for (int c = 0; c < C; c++)
        for (int h = 0; h < 2; h++)
            acc[c][h] =
                add ? _mm256_loadu_ps(out + (size_t)c * out_stride + 8 * h) : _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *p = grp + (size_t)b * MB_Q4_K_R16_BLOCK_BYTES;
        const uint8_t *pfp = pf ? p + MB_Q4_K_R16_PREFETCH_AHEAD : p;
        for (int h = 0; h < 2; h++) {
            const uint8_t *sp = p + MB_Q4_K_R16_SCALES + 32 * h;
            __m256i isum[R16_ACT];
            for (int c = 0; c < C; c++)
                isum[c] = _mm256_setzero_si256();
            R16_UNROLL
            for (int j = 0; j < 4; j++) {
                /* Without a branch (which made GCC spill the sums): with
                 * the prefetch off, lines of this block, already read. */
                mb_prefetch_row(pfp + (4 * h + j) * (MB_Q4_K_R16_BLOCK_BYTES / 8),
                                MB_Q4_K_R16_BLOCK_BYTES / 8);
                __m256i slo[R16_ACT], shi[R16_ACT];
                for (int c = 0; c < C; c++)
                    slo[c] = shi[c] = _mm256_setzero_si256();
                R16_UNROLL
                for (int i = 0; i < 8; i++) {
                    const __m256i q = _mm256_loadu_si256(
                        (const __m256i *)(const void *)(p + MB_Q4_K_R16_CODES + 64 * (4 * i + j) +
                                                        32 * h));
                    const __m256i lo = _mm256_and_si256(q, nib);
                    const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), nib);
                    for (int c = 0; c < C; c++) {
                        const int32_t *y = a[(size_t)c * nb + b].y + 16 * j + i;
                        slo[c] = _mm256_add_epi16(
                            slo[c], _mm256_maddubs_epi16(lo, _mm256_set1_epi32(y[0])));
                        shi[c] = _mm256_add_epi16(
                            shi[c], _mm256_maddubs_epi16(hi, _mm256_set1_epi32(y[8])));
                        R16_CHAIN(slo[c]);
                        R16_CHAIN(shi[c]);
                    }
                }
                const __m256i scj = r16_scales(sp, j / 2, 0);
                const __m256i sc_lo = r16_byte_pair(scj, (2 * j) % 4);
                const __m256i sc_hi = r16_byte_pair(scj, (2 * j + 1) % 4);
                for (int c = 0; c < C; c++)
                    isum[c] = _mm256_add_epi32(isum[c],
                                               _mm256_add_epi32(_mm256_madd_epi16(slo[c], sc_lo),
                                                                _mm256_madd_epi16(shi[c], sc_hi)));
            }
            const __m256 dw =
                _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(p + 16 * h)));
            const __m256 dm =
                _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(p + 32 + 16 * h)));
            const __m256i m[2] = {r16_scales(sp, 0, 1), r16_scales(sp, 1, 1)};
            for (int c = 0; c < C; c++) {
                const mb_q4_k_r16_act *ab = &a[(size_t)c * nb + b];
                /* Pairs of 6-bit mins times bytes: within VPMADDUBSW's range. */
                const __m256i ml =
                    _mm256_add_epi16(_mm256_maddubs_epi16(m[0], _mm256_set1_epi32(ab->ml[0])),
                                     _mm256_maddubs_epi16(m[1], _mm256_set1_epi32(ab->ml[1])));
                const __m256i mh =
                    _mm256_add_epi16(_mm256_maddubs_epi16(m[0], _mm256_set1_epi32(ab->mh[0])),
                                     _mm256_maddubs_epi16(m[1], _mm256_set1_epi32(ab->mh[1])));
                const __m256i msum = _mm256_add_epi32(
                    _mm256_madd_epi16(ml, ones), _mm256_slli_epi32(_mm256_madd_epi16(mh, ones), 8));
                const __m256 dy = _mm256_set1_ps(ab->d);
                acc[c][h] =
                    _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[c]), _mm256_mul_ps(dw, dy), acc[c][h]);
                acc[c][h] =
                    _mm256_fnmadd_ps(_mm256_cvtepi32_ps(msum), _mm256_mul_ps(dm, dy), acc[c][h]);
            }
        }
    }
    for (int c = 0; c < C; c++) {
        _mm256_storeu_ps(out + (size_t)c * out_stride, acc[c][0]);
        _mm256_storeu_ps(out + (size_t)c * out_stride + 8, acc[c][1]);
    }
}

void mb_avx2_q4_k_r16(int64_t n, float *out, size_t out_stride, const void *w, size_t group_stride,
                      int n_groups, const mb_q4_k_r16_act *a, int n_act, int add) {
    const int64_t nb = n / 256;
    const int pf = mb_decode_prefetch();
    for (int g = 0; g < n_groups; g++) {
        const uint8_t *grp = (const uint8_t *)w + (size_t)g * group_stride;
        for (int c0 = 0; c0 < n_act; c0 += R16_ACT) {
            float *o = out + (size_t)c0 * out_stride + (size_t)g * MB_Q4_K_R16_ROWS;
            const mb_q4_k_r16_act *ac = a + (size_t)c0 * (size_t)nb;
            if (n_act - c0 >= 2)
                r16_group(nb, o, out_stride, grp, ac, 2, pf, add);
            else
                r16_group(nb, o, out_stride, grp, ac, 1, pf, add);
        }
    }
}
