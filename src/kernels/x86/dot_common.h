/* Pieces shared by the block kernels of every x86 level: the horizontal sum
 * and the macro that turns a per-block kernel into the table's vec_dot and
 * vec_dot_rows. Included after the level's int_*.h (which names the
 * functions through MBX_NAME), from files compiled with that level's flags. */
#ifndef MB_KERNELS_X86_DOT_COMMON_H
#define MB_KERNELS_X86_DOT_COMMON_H

#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>

#include "kernels/prefetch.h"

static inline float mbx_hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* vec_dot and vec_dot_rows of a block type from BLOCK(x, y, acc), which
 * adds block x . block y into the eight float lanes of acc. Where decode
 * prefetches (kernels/prefetch.h), the single dot asks for the bytes a
 * fixed distance ahead beside each block it reads: decode's matrices are
 * row-contiguous, so those run on into the next rows (after a matrix's
 * last row the prefetch reads past it, which a prefetch may: it never
 * faults). Spread this way rather than a whole row at once, Q8_0 decode of
 * the 1.1B shape ran at 21 tok/s against 18 (docs/PERFORMANCE.md, "Decode
 * prefetch"). The rows form
 * walks the weight blocks once, applying each to four activation rows while
 * it is in L1; each row's lanes see the same operations in the same order as
 * in the single dot, so the results are identical. */
#define MBX_DEFINE_DOTS(name, WBLOCK, ABLOCK, QK, BLOCK)                                           \
    void MBX_NAME(dot_##name)(int64_t n, float *out, const void *w, const void *a) {               \
        const WBLOCK *x = w;                                                                       \
        const ABLOCK *y = a;                                                                       \
        const int64_t nb = n / (QK);                                                               \
        const int pf = mb_decode_prefetch();                                                       \
        __m256 acc = _mm256_setzero_ps();                                                          \
        for (int64_t i = 0; i < nb; i++) {                                                         \
            if (pf) mb_prefetch_ahead(&x[i], sizeof(WBLOCK));                                      \
            acc = BLOCK(&x[i], &y[i], acc);                                                        \
        }                                                                                          \
        *out = mbx_hsum(acc);                                                                      \
    }                                                                                              \
    void MBX_NAME(dot_rows_##name)(int64_t n, float *out, const void *w, const void *a,            \
                                   size_t stride, int n_rows) {                                    \
        const WBLOCK *x = w;                                                                       \
        const uint8_t *ab = a;                                                                     \
        const int pf = mb_decode_prefetch();                                                       \
        int r = 0;                                                                                 \
        for (; r + 4 <= n_rows; r += 4) {                                                          \
            const ABLOCK *y0 = (const ABLOCK *)(ab + (size_t)r * stride);                          \
            const ABLOCK *y1 = (const ABLOCK *)(ab + (size_t)(r + 1) * stride);                    \
            const ABLOCK *y2 = (const ABLOCK *)(ab + (size_t)(r + 2) * stride);                    \
            const ABLOCK *y3 = (const ABLOCK *)(ab + (size_t)(r + 3) * stride);                    \
            __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;                            \
            for (int64_t i = 0; i < n / (QK); i++) {                                               \
                if (pf) mb_prefetch_ahead(&x[i], sizeof(WBLOCK));                                  \
                a0 = BLOCK(&x[i], &y0[i], a0);                                                     \
                a1 = BLOCK(&x[i], &y1[i], a1);                                                     \
                a2 = BLOCK(&x[i], &y2[i], a2);                                                     \
                a3 = BLOCK(&x[i], &y3[i], a3);                                                     \
            }                                                                                      \
            out[r] = mbx_hsum(a0);                                                                 \
            out[r + 1] = mbx_hsum(a1);                                                             \
            out[r + 2] = mbx_hsum(a2);                                                             \
            out[r + 3] = mbx_hsum(a3);                                                             \
        }                                                                                          \
        for (; r < n_rows; r++)                                                                    \
            MBX_NAME(dot_##name)(n, &out[r], w, ab + (size_t)r * stride);                          \
    }

/* As MBX_DEFINE_DOTS, with the rows form split in PREP(x, &prepared), which
 * unpacks a weight block, and APPLY(&prepared, y, acc), so each weight block
 * is unpacked once for up to MBX_PREP_ROWS activation rows (2 and 3 rows
 * too: speculative decoding verifies a draft of K tokens as K + 1 rows; a
 * lone row takes the fused single dot). APPLY must perform the same
 * float operations as BLOCK (the integer parts may be grouped differently:
 * they are exact), which keeps the rows form equal to the single dot. */
enum { MBX_PREP_ROWS = 8 };
#define MBX_DEFINE_PREP_DOTS(name, WBLOCK, ABLOCK, QK, BLOCK, PREP_T, PREP, APPLY)                 \
    void MBX_NAME(dot_##name)(int64_t n, float *out, const void *w, const void *a) {               \
        const WBLOCK *x = w;                                                                       \
        const ABLOCK *y = a;                                                                       \
        const int64_t nb = n / (QK);                                                               \
        const int pf = mb_decode_prefetch();                                                       \
        __m256 acc = _mm256_setzero_ps();                                                          \
        for (int64_t i = 0; i < nb; i++) {                                                         \
            if (pf) mb_prefetch_ahead(&x[i], sizeof(WBLOCK));                                      \
            acc = BLOCK(&x[i], &y[i], acc);                                                        \
        }                                                                                          \
        *out = mbx_hsum(acc);                                                                      \
    }                                                                                              \
    /* The M activation rows at AB (stride STRIDE) into OUT: M a constant at                       \
     * each call below, so the accumulators stay in registers. */                                  \
    static inline __attribute__((always_inline)) void MBX_NAME(rows_pass_##name)(                  \
        int64_t n, float *out, const WBLOCK *x, const uint8_t *ab, size_t stride, int pf,          \
        const int M) {                                                                             \
        __m256 acc[MBX_PREP_ROWS];                                                                 \
        _Pragma("GCC unroll 8") for (int k = 0; k < M; k++) acc[k] = _mm256_setzero_ps();          \
        for (int64_t i = 0; i < n / (QK); i++) {                                                   \
            PREP_T b;                                                                              \
            if (pf) mb_prefetch_ahead(&x[i], sizeof(WBLOCK));                                      \
            PREP(&x[i], &b);                                                                       \
            _Pragma("GCC unroll 8") for (int k = 0; k < M; k++) acc[k] =                           \
                APPLY(&b, (const ABLOCK *)(ab + (size_t)k * stride) + i, acc[k]);                  \
        }                                                                                          \
        _Pragma("GCC unroll 8") for (int k = 0; k < M; k++) out[k] = mbx_hsum(acc[k]);             \
    }                                                                                              \
    void MBX_NAME(dot_rows_##name)(int64_t n, float *out, const void *w, const void *a,            \
                                   size_t stride, int n_rows) {                                    \
        const WBLOCK *x = w;                                                                       \
        const uint8_t *ab = a;                                                                     \
        const int pf = mb_decode_prefetch();                                                       \
        int r = 0;                                                                                 \
        while (n_rows - r >= 2) {                                                                  \
            const int m = n_rows - r < MBX_PREP_ROWS ? n_rows - r : MBX_PREP_ROWS;                 \
            const uint8_t *ar = ab + (size_t)r * stride;                                           \
            switch (m) {                                                                           \
            case 2: MBX_NAME(rows_pass_##name)(n, out + r, x, ar, stride, pf, 2); break;           \
            case 3: MBX_NAME(rows_pass_##name)(n, out + r, x, ar, stride, pf, 3); break;           \
            case 4: MBX_NAME(rows_pass_##name)(n, out + r, x, ar, stride, pf, 4); break;           \
            case 5: MBX_NAME(rows_pass_##name)(n, out + r, x, ar, stride, pf, 5); break;           \
            case 6: MBX_NAME(rows_pass_##name)(n, out + r, x, ar, stride, pf, 6); break;           \
            case 7: MBX_NAME(rows_pass_##name)(n, out + r, x, ar, stride, pf, 7); break;           \
            default: MBX_NAME(rows_pass_##name)(n, out + r, x, ar, stride, pf, 8); break;          \
            }                                                                                      \
            r += m;                                                                                \
        }                                                                                          \
        if (r < n_rows) MBX_NAME(dot_##name)(n, &out[r], w, ab + (size_t)r * stride);              \
    }

#endif
