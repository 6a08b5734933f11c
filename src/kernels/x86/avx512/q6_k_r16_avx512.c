/* Q6_K's 16-row groups (kernels/q6_k_r16.h) at the AVX-512 levels: the 16
 * lanes of a register are the group's rows. Each step (h, i) reads its
 * three chunks (two of low bits, one of top bits) and builds the four
 * registers of 6-bit codes, values 128h + 32k + 4i.. for k = 0..3, by
 * byte operations (16-bit shifts whose stray bits the masks drop), then one
 * VPDPBUSD each against four activation codes broadcast from memory. A
 * quarter of a block (h, and i in 0..3 or 4..7) feeds four sub-blocks,
 * one per k, so that one to four activation rows keep their sums in
 * registers; after it each sum less 32 times the activation's sub-block
 * sum is multiplied by the rows' signed scale (VPMULLD) into the block's
 * isum, and one FMA per block adds it. Without VNNI (the "avx512" level)
 * the codes stay within VPMADDUBSW's range (63 * 128 * 2). */
#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>

#include "kernels/prefetch.h"
#include "kernels/q6_k_r16.h"
#include "kernels/x86/avx512/dot_avx512.h"
#include "kernels/x86/avx512/int_avx512.h"

enum { R16_ACT = 4 };

#define R16_INLINE static inline __attribute__((always_inline))
#if defined(__clang__)
#define R16_UNROLL _Pragma("unroll")
#else
#define R16_UNROLL _Pragma("GCC unroll 16")
#endif

/* Signed byte S (0..3) of every 32-bit lane of V as an int32. */
R16_INLINE __m512i r16_sbyte(__m512i v, int s) {
    return _mm512_srai_epi32(s == 3 ? v : _mm512_slli_epi32(v, 24 - 8 * s), 24);
}

R16_INLINE void r16_group(int64_t nb, float *out, size_t out_stride, const uint8_t *grp,
                          const mb_q6_k_r16_act *a, const int C, int pf, int add) {
    const __m512i low4 = _mm512_set1_epi8(0x0F), top2 = _mm512_set1_epi8(0x30);
    __m512 acc[R16_ACT];
    for (int c = 0; c < C; c++)
        acc[c] = add ? _mm512_loadu_ps(out + (size_t)c * out_stride) : _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *p = grp + (size_t)b * MB_Q6_K_R16_BLOCK_BYTES;
        /* Without a branch between the unrolled steps (GCC spilled the
         * sums around one): with the prefetch off, lines of this block. */
        const uint8_t *pfp = pf ? p + MB_Q6_K_R16_PREFETCH_AHEAD : p;
        __m512i isum[R16_ACT];
        for (int c = 0; c < C; c++)
            isum[c] = _mm512_setzero_si512();
        R16_UNROLL
        for (int quarter = 0; quarter < 4; quarter++) {
            const int h = quarter / 2, i0 = 4 * (quarter % 2);
            mb_prefetch_row(pfp + quarter * (MB_Q6_K_R16_BLOCK_BYTES / 4),
                            MB_Q6_K_R16_BLOCK_BYTES / 4);
            __m512i sub[R16_ACT][4];
            R16_UNROLL
            for (int c = 0; c < C; c++)
                R16_UNROLL
            for (int k = 0; k < 4; k++)
                sub[c][k] = _mm512_setzero_si512();
            R16_UNROLL
            for (int i = i0; i < i0 + 4; i++) {
                const uint8_t *ch = p + MB_Q6_K_R16_CODES + 64 * 3 * (8 * h + i);
                const __m512i A = _mm512_loadu_si512((const void *)ch);
                const __m512i B = _mm512_loadu_si512((const void *)(ch + 64));
                const __m512i Q = _mm512_loadu_si512((const void *)(ch + 128));
                /* (low bits) | (top bits & 0x30), 0xF8: A | (B & C). */
                const __m512i q[4] = {
                    _mm512_ternarylogic_epi32(_mm512_and_si512(A, low4), _mm512_slli_epi16(Q, 4),
                                              top2, 0xF8),
                    _mm512_ternarylogic_epi32(_mm512_and_si512(B, low4), _mm512_slli_epi16(Q, 2),
                                              top2, 0xF8),
                    _mm512_ternarylogic_epi32(_mm512_and_si512(_mm512_srli_epi16(A, 4), low4), Q,
                                              top2, 0xF8),
                    _mm512_ternarylogic_epi32(_mm512_and_si512(_mm512_srli_epi16(B, 4), low4),
                                              _mm512_srli_epi16(Q, 2), top2, 0xF8)};
                R16_UNROLL
                for (int c = 0; c < C; c++) {
                    const int32_t *y = a[(size_t)c * nb + b].y + 32 * h + i;
                    R16_UNROLL
                    for (int k = 0; k < 4; k++)
                        sub[c][k] = mbx_dpbusd512(sub[c][k], q[k], _mm512_set1_epi32(y[8 * k]));
                }
            }
            /* Sub-block 8h + 2k + quarter % 2 for each k; its scale is byte
             * s % 4 of scale chunk s / 4. */
            R16_UNROLL
            for (int k = 0; k < 4; k++) {
                const int s = 8 * h + 2 * k + quarter % 2;
                const __m512i sc = r16_sbyte(
                    _mm512_loadu_si512((const void *)(p + MB_Q6_K_R16_SCALES + 64 * (s / 4))),
                    s % 4);
                R16_UNROLL
                for (int c = 0; c < C; c++) {
                    const __m512i v = _mm512_sub_epi32(
                        sub[c][k], _mm512_set1_epi32(a[(size_t)c * nb + b].off[s]));
                    isum[c] = _mm512_add_epi32(isum[c], _mm512_mullo_epi32(v, sc));
                }
            }
        }
        const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)p));
        for (int c = 0; c < C; c++)
            acc[c] =
                _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[c]),
                                _mm512_mul_ps(dw, _mm512_set1_ps(a[(size_t)c * nb + b].d)), acc[c]);
    }
    for (int c = 0; c < C; c++)
        _mm512_storeu_ps(out + (size_t)c * out_stride, acc[c]);
}

void MBX_NAME(q6_k_r16)(int64_t n, float *out, size_t out_stride, const void *w,
                        size_t group_stride, int n_groups, const mb_q6_k_r16_act *a, int n_act,
                        int add) {
    const int64_t nb = n / 256;
    const int pf = mb_decode_prefetch();
    for (int g = 0; g < n_groups; g++) {
        const uint8_t *grp = (const uint8_t *)w + (size_t)g * group_stride;
        for (int c0 = 0; c0 < n_act; c0 += R16_ACT) {
            float *o = out + (size_t)c0 * out_stride + (size_t)g * MB_Q6_K_R16_ROWS;
            const mb_q6_k_r16_act *ac = a + (size_t)c0 * (size_t)nb;
            switch (n_act - c0 < R16_ACT ? n_act - c0 : R16_ACT) {
            case 1: r16_group(nb, o, out_stride, grp, ac, 1, pf, add); break;
            case 2: r16_group(nb, o, out_stride, grp, ac, 2, pf, add); break;
            case 3: r16_group(nb, o, out_stride, grp, ac, 3, pf, add); break;
            default: r16_group(nb, o, out_stride, grp, ac, 4, pf, add); break;
            }
        }
    }
}
