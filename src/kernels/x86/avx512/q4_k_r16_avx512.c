/* Q4_K's 16-row groups (kernels/q4_k_r16.h) at the AVX-512 levels: the 16
 * lanes of a register are the group's rows. Per block, each of the 32
 * code chunks gives its low nibbles to sub-block 2j's sum and its high
 * nibbles to 2j + 1's, one VPDPBUSD each against four activation codes
 * broadcast from memory. Decode takes the chunks in address order, which
 * feeds the eight sums in turn instead of one chain of 5-cycle latencies;
 * two to four activation rows take a sub-block pair at a time (their sums
 * would not fit in the registers otherwise) and share each chunk's
 * nibbles. With VNNI the high nibbles are multiplied in place (the byte
 * AND 0xF0: 16 times the code, within VPDPBUSD's unsigned bytes) and the
 * sum shifted back once per sub-block, exactly; without it (VPMADDUBSW's
 * pairs would saturate) they are shifted down per chunk. The rows' scales
 * and mins are unpacked from the three scale chunks by byte operations, 16
 * rows at once; each sub-block sum is multiplied by its scale (VPMULLD)
 * into the block's isum, the mins by the activation's sub-block sums (two
 * VPDPBUSD pairs: low and high bytes) into msum; then two FMAs.
 *
 * The same source builds Q5_K's product (kernels/q5_k_r16.h): its codes
 * take their fifth bits from the qh chunk of their step, moved to bit 4
 * (no multiplication in place there: a 5-bit code fills the nibble's
 * room).
 *
 * In L2 (build/bench/quant_kernels Q4_K, Sapphire Rapids-class VM) the
 * decode form reads 50-56 GB/s of weights, the row dot 22; Q5_K 36.5
 * against 21.1. */
#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>

#include "kernels/prefetch.h"
#include "kernels/q4_k_r16.h"
#include "kernels/q5_k_r16.h"
#include "kernels/x86/avx512/dot_avx512.h"
#include "kernels/x86/avx512/int_avx512.h"

/* Activation rows per pass: R16_ACT in decode's form, every sub-block's
 * sum in a register; up to R16_WIDE a sub-block pair at a time. */
enum { R16_ACT = 1, R16_WIDE = 4 };

#define R16_INLINE static inline __attribute__((always_inline))
/* Every loop over sub-blocks and chunks unrolled: the sums must stay in
 * registers (indexed by a loop counter, GCC kept them on the stack). */
#if defined(__clang__)
#define R16_UNROLL _Pragma("unroll")
#else
#define R16_UNROLL _Pragma("GCC unroll 32")
#endif

/* The 16 rows' scales (SC) and mins (M) of sub-blocks 0..3 (index 0) and
 * 4..7 (index 1), byte s % 4 of each row's lane (mb_k4_scale_min). */
typedef struct {
    __m512i sc[2], m[2];
} r16_scales;

R16_INLINE r16_scales r16_unpack_scales(const uint8_t *p) {
    const __m512i c0 = _mm512_loadu_si512((const void *)(p + MB_Q4_K_R16_SCALES));
    const __m512i c1 = _mm512_loadu_si512((const void *)(p + MB_Q4_K_R16_SCALES + 64));
    const __m512i c2 = _mm512_loadu_si512((const void *)(p + MB_Q4_K_R16_SCALES + 128));
    const __m512i low6 = _mm512_set1_epi8(0x3F), low4 = _mm512_set1_epi8(0x0F),
                  top2 = _mm512_set1_epi8(0x30);
    r16_scales s;
    s.sc[0] = _mm512_and_si512(c0, low6);
    s.m[0] = _mm512_and_si512(c1, low6);
    /* (c2 & 0x0F) | ((c0 >> 6) << 4), per byte: the 16-bit shift's stray
     * bits fall outside 0x30. 0xF8: A | (B & C). */
    s.sc[1] =
        _mm512_ternarylogic_epi32(_mm512_and_si512(c2, low4), _mm512_srli_epi16(c0, 2), top2, 0xF8);
    s.m[1] = _mm512_ternarylogic_epi32(_mm512_and_si512(_mm512_srli_epi16(c2, 4), low4),
                                       _mm512_srli_epi16(c1, 2), top2, 0xF8);
    return s;
}

/* Byte S (0..3) of every lane of V as an int32. */
R16_INLINE __m512i r16_byte(__m512i v, int s) {
    const __m512i ff = _mm512_set1_epi32(0xFF);
    switch (s) {
    case 0: return _mm512_and_si512(v, ff);
    case 3: return _mm512_srli_epi32(v, 24);
    default: return _mm512_and_si512(_mm512_srli_epi32(v, 8 * s), ff);
    }
}

/* The block's msum from the mins, then both FMAs, for each of the C
 * activation rows (prepared blocks NB apart from A). */
/* The block's bytes and where its codes start: Q4_K's or (Q5) Q5_K's. */
#define R16_BLOCK(Q5) ((Q5) ? MB_Q5_K_R16_BLOCK_BYTES : MB_Q4_K_R16_BLOCK_BYTES)
#define R16_CODES(Q5) ((Q5) ? MB_Q5_K_R16_CODES : MB_Q4_K_R16_CODES)
/* Whether the high nibbles are multiplied in place (16 times the code):
 * Q4_K's with VNNI. */
#if MBX_VNNI
#define R16_HI16(Q5) (!(Q5))
#else
#define R16_HI16(Q5) 0
#endif

/* Bit B (0..7) of each byte of H moved to bit 4, the rest of the byte
 * cleared (16-bit shifts: the stray bits fall outside 0x10). */
R16_INLINE __m512i r16_bit4(__m512i h, int b) {
    const __m512i at = b < 4   ? _mm512_slli_epi16(h, 4 - b)
                       : b > 4 ? _mm512_srli_epi16(h, b - 4)
                               : h;
    return _mm512_and_si512(at, _mm512_set1_epi8(0x10));
}

/* The codes of chunk 4i + j of block P: LO sub-block 2j's, HI 2j + 1's;
 * Q5_K's with their fifth bits from qh chunk i. */
R16_INLINE void r16_codes(const uint8_t *p, int i, int j, const int Q5, __m512i *lo, __m512i *hi) {
    const __m512i nib = _mm512_set1_epi8(0x0F);
    const __m512i q = _mm512_loadu_si512((const void *)(p + R16_CODES(Q5) + 64 * (4 * i + j)));
    *lo = _mm512_and_si512(q, nib);
    *hi = R16_HI16(Q5) ? _mm512_andnot_si512(nib, q) /* 16 * code */
                       : _mm512_and_si512(_mm512_srli_epi16(q, 4), nib);
    if (Q5) {
        const __m512i h = _mm512_loadu_si512((const void *)(p + MB_Q5_K_R16_QH + 64 * i));
        *lo = _mm512_or_si512(*lo, r16_bit4(h, 2 * j));
        *hi = _mm512_or_si512(*hi, r16_bit4(h, 2 * j + 1));
    }
}

R16_INLINE void r16_finish(const uint8_t *p, const r16_scales *sm, const mb_q4_k_r16_act *a,
                           size_t nb, const __m512i *isum, __m512 *acc, const int C) {
    const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)p));
    const __m512 dm = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)(p + 32)));
    R16_UNROLL
    for (int c = 0; c < C; c++) {
        const mb_q4_k_r16_act *ab = &a[(size_t)c * nb];
        __m512i ml = _mm512_setzero_si512(), mh = _mm512_setzero_si512();
        R16_UNROLL
        for (int h = 0; h < 2; h++) {
            ml = mbx_dpbusd512(ml, sm->m[h], _mm512_set1_epi32(ab->ml[h]));
            mh = mbx_dpbusd512(mh, sm->m[h], _mm512_set1_epi32(ab->mh[h]));
        }
        const __m512i msum = _mm512_add_epi32(ml, _mm512_slli_epi32(mh, 8));
        const __m512 dy = _mm512_set1_ps(ab->d);
        acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[c]), _mm512_mul_ps(dw, dy), acc[c]);
        acc[c] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(msum), _mm512_mul_ps(dm, dy), acc[c]);
    }
}

R16_INLINE void r16_group(int64_t nb, float *out, size_t out_stride, const uint8_t *grp,
                          const mb_q4_k_r16_act *a, const int C, int pf, int add, const int Q5) {
    __m512 acc[R16_ACT];
    for (int c = 0; c < C; c++)
        acc[c] = add ? _mm512_loadu_ps(out + (size_t)c * out_stride) : _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *p = grp + (size_t)b * R16_BLOCK(Q5);
        __m512i sub[R16_ACT][8];
        R16_UNROLL
        for (int c = 0; c < C; c++)
            R16_UNROLL
        for (int s = 0; s < 8; s++)
            sub[c][s] = _mm512_setzero_si512();
        R16_UNROLL
        for (int i = 0; i < 8; i++) {
            /* An eighth of a block per step: one burst of 36 lines per
             * block ran decode 15% slower. */
            if (pf)
                mb_prefetch_row(p + MB_Q4_K_R16_PREFETCH_AHEAD + i * (R16_BLOCK(Q5) / 8),
                                R16_BLOCK(Q5) / 8);
            R16_UNROLL
            for (int j = 0; j < 4; j++) {
                __m512i lo, hi;
                r16_codes(p, i, j, Q5, &lo, &hi);
                R16_UNROLL
                for (int c = 0; c < C; c++) {
                    const int32_t *y = a[(size_t)c * nb + b].y + 16 * j + i;
                    sub[c][2 * j] = mbx_dpbusd512(sub[c][2 * j], lo, _mm512_set1_epi32(y[0]));
                    sub[c][2 * j + 1] =
                        mbx_dpbusd512(sub[c][2 * j + 1], hi, _mm512_set1_epi32(y[8]));
                }
            }
        }
        const r16_scales sm = r16_unpack_scales(p);
        __m512i isum[R16_ACT];
        R16_UNROLL
        for (int c = 0; c < C; c++) {
            isum[c] = _mm512_setzero_si512();
            R16_UNROLL
            for (int s = 0; s < 8; s++) {
                __m512i v = sub[c][s];
                if (R16_HI16(Q5) && s % 2) v = _mm512_srai_epi32(v, 4); /* exact: 16 * the sum */
                isum[c] =
                    _mm512_add_epi32(isum[c], _mm512_mullo_epi32(v, r16_byte(sm.sc[s / 4], s % 4)));
            }
        }
        r16_finish(p, &sm, a + b, (size_t)nb, isum, acc, C);
    }
    for (int c = 0; c < C; c++)
        _mm512_storeu_ps(out + (size_t)c * out_stride, acc[c]);
}

/* Three or four activation rows: a sub-block pair at a time (chunks j, 4 +
 * j, ... of each block), so that the rows' sums take 8 registers instead
 * of 32; their chains are as many as the rows times two. */
R16_INLINE void r16_group_wide(int64_t nb, float *out, size_t out_stride, const uint8_t *grp,
                               const mb_q4_k_r16_act *a, const int C, const int pf, int add,
                               const int Q5) {
    __m512 acc[R16_WIDE];
    for (int c = 0; c < C; c++)
        acc[c] = add ? _mm512_loadu_ps(out + (size_t)c * out_stride) : _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *p = grp + (size_t)b * R16_BLOCK(Q5);
        const r16_scales sm = r16_unpack_scales(p);
        __m512i isum[R16_WIDE];
        R16_UNROLL
        for (int c = 0; c < C; c++)
            isum[c] = _mm512_setzero_si512();
        R16_UNROLL
        for (int j = 0; j < 4; j++) {
            if (pf)
                mb_prefetch_row(p + MB_Q4_K_R16_PREFETCH_AHEAD + j * (R16_BLOCK(Q5) / 4),
                                R16_BLOCK(Q5) / 4);
            __m512i lo_sum[R16_WIDE], hi_sum[R16_WIDE];
            R16_UNROLL
            for (int c = 0; c < C; c++)
                lo_sum[c] = hi_sum[c] = _mm512_setzero_si512();
            R16_UNROLL
            for (int i = 0; i < 8; i++) {
                __m512i lo, hi;
                r16_codes(p, i, j, Q5, &lo, &hi);
                R16_UNROLL
                for (int c = 0; c < C; c++) {
                    const int32_t *y = a[(size_t)c * nb + b].y + 16 * j + i;
                    lo_sum[c] = mbx_dpbusd512(lo_sum[c], lo, _mm512_set1_epi32(y[0]));
                    hi_sum[c] = mbx_dpbusd512(hi_sum[c], hi, _mm512_set1_epi32(y[8]));
                }
            }
            const __m512i sc_lo = r16_byte(sm.sc[j / 2], (2 * j) % 4);
            const __m512i sc_hi = r16_byte(sm.sc[j / 2], (2 * j + 1) % 4);
            R16_UNROLL
            for (int c = 0; c < C; c++) {
                __m512i h = hi_sum[c];
                if (R16_HI16(Q5)) h = _mm512_srai_epi32(h, 4);
                isum[c] = _mm512_add_epi32(isum[c], _mm512_mullo_epi32(lo_sum[c], sc_lo));
                isum[c] = _mm512_add_epi32(isum[c], _mm512_mullo_epi32(h, sc_hi));
            }
        }
        r16_finish(p, &sm, a + b, (size_t)nb, isum, acc, C);
    }
    for (int c = 0; c < C; c++)
        _mm512_storeu_ps(out + (size_t)c * out_stride, acc[c]);
}

R16_INLINE void r16_product(int64_t n, float *out, size_t out_stride, const void *w,
                            size_t group_stride, int n_groups, const mb_q4_k_r16_act *a, int n_act,
                            int add, const int Q5) {
    const int64_t nb = n / 256;
    const int pf = mb_decode_prefetch();
    for (int g = 0; g < n_groups; g++) {
        const uint8_t *grp = (const uint8_t *)w + (size_t)g * group_stride;
        for (int c0 = 0; c0 < n_act; c0 += R16_WIDE) {
            float *o = out + (size_t)c0 * out_stride + (size_t)g * MB_Q4_K_R16_ROWS;
            const mb_q4_k_r16_act *ac = a + (size_t)c0 * (size_t)nb;
            /* The wide forms with the prefetch's test resolved at compile
             * time: a branch between their unrolled steps made GCC spill
             * the sums. Decode's form keeps it a branch: resolved, GCC
             * moved the prefetches away from their loads, and decode lost
             * 9% (1.1B Q4_K_M, 37.5 against 41.5 tok/s). */
            switch ((n_act - c0 < R16_WIDE ? n_act - c0 : R16_WIDE) + (pf ? 4 : 0)) {
            case 1:
            case 5: r16_group(nb, o, out_stride, grp, ac, 1, pf, add, Q5); break;
            case 2: r16_group_wide(nb, o, out_stride, grp, ac, 2, 0, add, Q5); break;
            case 6: r16_group_wide(nb, o, out_stride, grp, ac, 2, 1, add, Q5); break;
            case 3: r16_group_wide(nb, o, out_stride, grp, ac, 3, 0, add, Q5); break;
            case 7: r16_group_wide(nb, o, out_stride, grp, ac, 3, 1, add, Q5); break;
            case 4: r16_group_wide(nb, o, out_stride, grp, ac, 4, 0, add, Q5); break;
            default: r16_group_wide(nb, o, out_stride, grp, ac, 4, 1, add, Q5); break;
            }
        }
    }
}

void MBX_NAME(q4_k_r16)(int64_t n, float *out, size_t out_stride, const void *w,
                        size_t group_stride, int n_groups, const mb_q4_k_r16_act *a, int n_act,
                        int add) {
    r16_product(n, out, out_stride, w, group_stride, n_groups, a, n_act, add, 0);
}

void MBX_NAME(q5_k_r16)(int64_t n, float *out, size_t out_stride, const void *w,
                        size_t group_stride, int n_groups, const mb_q4_k_r16_act *a, int n_act,
                        int add) {
    r16_product(n, out, out_stride, w, group_stride, n_groups, a, n_act, add, 1);
}
