/* Register-blocked batch products of float-type weights (prefill): blocks
 * of up to 4 weight rows x 4 activation rows keep 16 accumulators of 16
 * lanes in registers, so each weight vector is loaded and converted once
 * for four activation rows and each activation vector once for four weight
 * rows (the single dots convert both once per pair). Every pair runs the
 * same operations whatever the block's shape: one accumulator over the row
 * in order, a masked step for the tail, one horizontal sum, so a pair's
 * result does not depend on where it sits in the batch. */
#include "kernels/x86/avx512/dot_avx512.h"

#include <immintrin.h>

static inline float hsum(__m512 v) {
    const __m256 h = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline __m512 ld_f16(const uint8_t *p, int64_t i) {
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)(p + 2 * i)));
}
static inline __m512 ld_f16_tail(const uint8_t *p, int64_t i, __mmask16 m) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p + 2 * i));
}
static inline __m512 ld_f32(const uint8_t *p, int64_t i) {
    return _mm512_loadu_ps((const float *)(const void *)p + i);
}
static inline __m512 ld_f32_tail(const uint8_t *p, int64_t i, __mmask16 m) {
    return _mm512_maskz_loadu_ps(m, (const float *)(const void *)p + i);
}

/* R weight rows x C activation rows: compile-time after inlining, and the
 * loops over them unrolled so the accumulators live in registers. */
#define MBX_GEMM_BLOCK(name, LD, LD_TAIL)                                                          \
    static inline __attribute__((always_inline)) void name##_block(                                \
        int64_t n, float *out, size_t os, const uint8_t *w, size_t ws, const uint8_t *a,           \
        size_t as, const int R, const int C) {                                                     \
        __m512 acc[4][4];                                                                          \
        _Pragma("GCC unroll 4") for (int r = 0; r < R; r++)                                        \
            _Pragma("GCC unroll 4") for (int c = 0; c < C; c++) acc[r][c] = _mm512_setzero_ps();   \
        int64_t i = 0;                                                                             \
        for (; i + 16 <= n; i += 16) {                                                             \
            __m512 wv[4];                                                                          \
            _Pragma("GCC unroll 4") for (int r = 0; r < R; r++) wv[r] = LD(w + (size_t)r * ws, i); \
            _Pragma("GCC unroll 4") for (int c = 0; c < C; c++) {                                  \
                const __m512 av = LD(a + (size_t)c * as, i);                                       \
                _Pragma("GCC unroll 4") for (int r = 0; r < R; r++) acc[r][c] =                    \
                    _mm512_fmadd_ps(wv[r], av, acc[r][c]);                                         \
            }                                                                                      \
        }                                                                                          \
        if (i < n) {                                                                               \
            const __mmask16 m = (__mmask16)((1u << (n - i)) - 1u);                                 \
            __m512 wv[4];                                                                          \
            _Pragma("GCC unroll 4") for (int r = 0; r < R; r++) wv[r] =                            \
                LD_TAIL(w + (size_t)r * ws, i, m);                                                 \
            _Pragma("GCC unroll 4") for (int c = 0; c < C; c++) {                                  \
                const __m512 av = LD_TAIL(a + (size_t)c * as, i, m);                               \
                _Pragma("GCC unroll 4") for (int r = 0; r < R; r++) acc[r][c] =                    \
                    _mm512_fmadd_ps(wv[r], av, acc[r][c]);                                         \
            }                                                                                      \
        }                                                                                          \
        _Pragma("GCC unroll 4") for (int r = 0; r < R; r++)                                        \
            _Pragma("GCC unroll 4") for (int c = 0; c < C; c++) out[(size_t)c * os + (size_t)r] =  \
                hsum(acc[r][c]);                                                                   \
    }                                                                                              \
    void mb_avx512_gemm_##name(int64_t n, float *out, size_t os, const void *w, size_t ws,         \
                               int n_w, const void *a, size_t as, int n_a) {                       \
        for (int c0 = 0; c0 < n_a; c0 += 4) {                                                      \
            const int C = n_a - c0 < 4 ? n_a - c0 : 4;                                             \
            const uint8_t *ab = (const uint8_t *)a + (size_t)c0 * as;                              \
            for (int r0 = 0; r0 < n_w; r0 += 4) {                                                  \
                const int R = n_w - r0 < 4 ? n_w - r0 : 4;                                         \
                const uint8_t *wb = (const uint8_t *)w + (size_t)r0 * ws;                          \
                float *ob = out + (size_t)c0 * os + (size_t)r0;                                    \
                switch (R * 8 + C) { MBX_GEMM_CASES(name) }                                        \
            }                                                                                      \
        }                                                                                          \
    }

#define MBX_GEMM_CASE(name, R, C)                                                                  \
    case (R)*8 + (C):                                                                              \
        name##_block(n, ob, os, wb, ws, ab, as, R, C);                                             \
        break;
#define MBX_GEMM_CASES(name)                                                                       \
    MBX_GEMM_CASE(name, 1, 1)                                                                      \
    MBX_GEMM_CASE(name, 1, 2)                                                                      \
    MBX_GEMM_CASE(name, 1, 3)                                                                      \
    MBX_GEMM_CASE(name, 1, 4)                                                                      \
    MBX_GEMM_CASE(name, 2, 1)                                                                      \
    MBX_GEMM_CASE(name, 2, 2)                                                                      \
    MBX_GEMM_CASE(name, 2, 3)                                                                      \
    MBX_GEMM_CASE(name, 2, 4)                                                                      \
    MBX_GEMM_CASE(name, 3, 1)                                                                      \
    MBX_GEMM_CASE(name, 3, 2)                                                                      \
    MBX_GEMM_CASE(name, 3, 3)                                                                      \
    MBX_GEMM_CASE(name, 3, 4)                                                                      \
    MBX_GEMM_CASE(name, 4, 1)                                                                      \
    MBX_GEMM_CASE(name, 4, 2)                                                                      \
    MBX_GEMM_CASE(name, 4, 3)                                                                      \
    MBX_GEMM_CASE(name, 4, 4)

MBX_GEMM_BLOCK(f16, ld_f16, ld_f16_tail)
MBX_GEMM_BLOCK(f32, ld_f32, ld_f32_tail)
