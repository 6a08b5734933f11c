/* Q4_0's 16-row groups (kernels/q4_0_r16.h) at the AVX-512 levels: the 16
 * lanes of a register are the group's rows. Per block, each of the four
 * 64-byte chunks gives its low and high nibbles (one AND, a shift and an
 * AND) and two VPDPBUSD against four activation codes broadcast from
 * memory, seeded with the block's -8 * sum(y); the 16 sums are converted
 * and added by one FMA with the rows' scales (one VCVTPH2PS) times the
 * activation's. No shuffle at all. Up to R16_ACT activation rows share
 * each chunk's nibbles. */
#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>

#include "kernels/prefetch.h"
#include "kernels/q4_0_r16.h"
#include "kernels/x86/avx512/dot_avx512.h"
#include "kernels/x86/avx512/int_avx512.h"

enum { R16_ACT = 4 };

static inline __attribute__((always_inline)) void r16_group(int64_t nb, float *out,
                                                            size_t out_stride, const uint8_t *grp,
                                                            const mb_q4_0_r16_act *a, const int C,
                                                            int pf, int add) {
    const __m512i nib = _mm512_set1_epi8(0xF);
    __m512 acc[R16_ACT];
    for (int c = 0; c < C; c++)
        acc[c] = add ? _mm512_loadu_ps(out + (size_t)c * out_stride) : _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *p = grp + (size_t)b * MB_Q4_0_R16_BLOCK_BYTES;
        if (pf) mb_prefetch_row(p + MB_Q4_0_R16_PREFETCH_AHEAD, MB_Q4_0_R16_BLOCK_BYTES);
        /* Two chains per activation row (low and high nibbles): VPDPBUSD's
         * latency is 5 cycles, and eight in one chain held decode back. */
        __m512i s[R16_ACT], t[R16_ACT];
        for (int c = 0; c < C; c++) {
            s[c] = _mm512_set1_epi32(a[(size_t)c * nb + b].seed);
            t[c] = _mm512_setzero_si512();
        }
        for (int k = 0; k < 4; k++) {
            const __m512i q = _mm512_loadu_si512((const void *)(p + 32 + 64 * k));
            const __m512i lo = _mm512_and_si512(q, nib);
            const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), nib);
            for (int c = 0; c < C; c++) {
                const mb_q4_0_r16_act *ab = &a[(size_t)c * nb + b];
                s[c] = mbx_dpbusd512(s[c], lo, _mm512_set1_epi32(ab->y[k]));
                t[c] = mbx_dpbusd512(t[c], hi, _mm512_set1_epi32(ab->y[4 + k]));
            }
        }
        for (int c = 0; c < C; c++)
            s[c] = _mm512_add_epi32(s[c], t[c]);
        const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)p));
        for (int c = 0; c < C; c++)
            acc[c] =
                _mm512_fmadd_ps(_mm512_cvtepi32_ps(s[c]),
                                _mm512_mul_ps(dw, _mm512_set1_ps(a[(size_t)c * nb + b].d)), acc[c]);
    }
    for (int c = 0; c < C; c++)
        _mm512_storeu_ps(out + (size_t)c * out_stride, acc[c]);
}

void MBX_NAME(q4_0_r16)(int64_t n, float *out, size_t out_stride, const void *w,
                        size_t group_stride, int n_groups, const mb_q4_0_r16_act *a, int n_act,
                        int add) {
    const int64_t nb = n / 32;
    const int pf = mb_decode_prefetch();
    for (int g = 0; g < n_groups; g++) {
        const uint8_t *grp = (const uint8_t *)w + (size_t)g * group_stride;
        for (int c0 = 0; c0 < n_act; c0 += R16_ACT) {
            float *o = out + (size_t)c0 * out_stride + (size_t)g * MB_Q4_0_R16_ROWS;
            const mb_q4_0_r16_act *ac = a + (size_t)c0 * (size_t)nb;
            switch (n_act - c0 < R16_ACT ? n_act - c0 : R16_ACT) {
            case 1: r16_group(nb, o, out_stride, grp, ac, 1, pf, add); break;
            case 2: r16_group(nb, o, out_stride, grp, ac, 2, pf, add); break;
            case 3: r16_group(nb, o, out_stride, grp, ac, 3, pf, add); break;
            default: r16_group(nb, o, out_stride, grp, ac, 4, pf, add); break;
            }
        }
    }
}
