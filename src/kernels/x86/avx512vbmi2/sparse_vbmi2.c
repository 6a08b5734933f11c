/* The sparse dots at AVX-512 with VBMI2 and VNNI (Ice Lake, Zen 4): each
 * quarter's non-zeros are spread to their positions by one VPEXPANDB under
 * the quarter's 64-bit mask, then multiplied with the activation codes by
 * VPDPBUSD. Products are signed x signed: |a| (unsigned) times w with a's
 * sign moved onto it (w is at most 127 in magnitude, so negating it is
 * exact; a may be -128). */
#include <immintrin.h>

#include "kernels/x86/avx512vbmi2/sparse_vbmi2.h"
#include <string.h>

#include "tensor/blocks.h"
#include "tensor/fp16.h"

/* The block's non-zeros as signed bytes in order: NZ0 holds the first 64,
 * NZ1 the next 64. */
static inline void nz_sq4(const void *blk, __m512i *nz0, __m512i *nz1) {
    const mb_block_sq4 *b = blk;
    const __m512i raw = _mm512_loadu_si512(b->qs);
    const __m512i m4 = _mm512_set1_epi8(15), c8 = _mm512_set1_epi8(8);
    *nz0 = _mm512_sub_epi8(_mm512_and_si512(raw, m4), c8);
    *nz1 = _mm512_sub_epi8(_mm512_and_si512(_mm512_srli_epi16(raw, 4), m4), c8);
}

static inline void nz_sq8(const void *blk, __m512i *nz0, __m512i *nz1) {
    const mb_block_sq8 *b = blk;
    *nz0 = _mm512_loadu_si512(b->qs);
    *nz1 = _mm512_loadu_si512(b->qs + 64);
}

/* The four quarters' weights spread to their 64 positions each. */
static inline void expand_block(const uint8_t *mask, __m512i nz0, __m512i nz1, __m512i w[4]) {
    uint64_t m[4]; /* bit i of m[q]: weight 64q + i */
    memcpy(m, mask, sizeof m);
    const __m512i iota = _mm512_set_epi8(
        63, 62, 61, 60, 59, 58, 57, 56, 55, 54, 53, 52, 51, 50, 49, 48, 47, 46, 45, 44, 43, 42, 41,
        40, 39, 38, 37, 36, 35, 34, 33, 32, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18,
        17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    int off = 0;
    for (int q = 0; q < 4; q++) {
        /* Bytes off.. of nz0:nz1 to the bottom (indices past 127 wrap, but
         * only the first popcount bytes are expanded). */
        const __m512i src = off ? _mm512_permutex2var_epi8(
                                      nz0, _mm512_add_epi8(iota, _mm512_set1_epi8((char)off)), nz1)
                                : nz0;
        w[q] = _mm512_maskz_expand_epi8(m[q], src);
        off += __builtin_popcountll(m[q]);
    }
}

/* sum over the quarters of d[q] * (w[q] . a[64q..]) times the activation's d. */
static inline __m512 block_dot(const __m512i w[4], const uint16_t d[4], const mb_block_q8_k *a,
                               __m512 acc) {
    for (int q = 0; q < 4; q++) {
        const __m512i av = _mm512_loadu_si512(a->qs + 64 * q);
        const __mmask64 neg = _mm512_movepi8_mask(av);
        const __m512i ws = _mm512_mask_sub_epi8(w[q], neg, _mm512_setzero_si512(), w[q]);
        const __m512i s = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_abs_epi8(av), ws);
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_set1_ps(mb_half_to_float(d[q]) * a->d),
                              acc);
    }
    return acc;
}

#define SPARSE_KERNELS(name, block_t, nz)                                                          \
    void mb_vbmi2_dot_##name(int64_t n, float *out, const void *w, const void *a) {                \
        const block_t *x = w;                                                                      \
        const mb_block_q8_k *y = a;                                                                \
        __m512 acc = _mm512_setzero_ps();                                                          \
        for (int64_t i = 0; i < n / MB_QK_SPARSE; i++) {                                           \
            __m512i nz0, nz1, wq[4];                                                               \
            nz(&x[i], &nz0, &nz1);                                                                 \
            expand_block(x[i].mask, nz0, nz1, wq);                                                 \
            acc = block_dot(wq, x[i].d, &y[i], acc);                                               \
        }                                                                                          \
        *out = _mm512_reduce_add_ps(acc);                                                          \
    }                                                                                              \
    /* Several activation rows: each block is expanded once for all of them. */                    \
    void mb_vbmi2_dot_rows_##name(int64_t n, float *out, const void *w, const void *a,             \
                                  size_t a_stride, int n_rows) {                                   \
        const block_t *x = w;                                                                      \
        for (int r0 = 0; r0 < n_rows; r0 += 8) {                                                   \
            const int nr = n_rows - r0 < 8 ? n_rows - r0 : 8;                                      \
            __m512 acc[8];                                                                         \
            for (int r = 0; r < nr; r++)                                                           \
                acc[r] = _mm512_setzero_ps();                                                      \
            for (int64_t i = 0; i < n / MB_QK_SPARSE; i++) {                                       \
                __m512i nz0, nz1, wq[4];                                                           \
                nz(&x[i], &nz0, &nz1);                                                             \
                expand_block(x[i].mask, nz0, nz1, wq);                                             \
                for (int r = 0; r < nr; r++) {                                                     \
                    const mb_block_q8_k *y =                                                       \
                        (const mb_block_q8_k *)((const char *)a + (size_t)(r0 + r) * a_stride);    \
                    acc[r] = block_dot(wq, x[i].d, &y[i], acc[r]);                                 \
                }                                                                                  \
            }                                                                                      \
            for (int r = 0; r < nr; r++)                                                           \
                out[r0 + r] = _mm512_reduce_add_ps(acc[r]);                                        \
        }                                                                                          \
    }

SPARSE_KERNELS(sq4, mb_block_sq4, nz_sq4)
SPARSE_KERNELS(sq8, mb_block_sq8, nz_sq8)
