/* AVX2 dots of Q8_0 weights with Q8_0 activations (one weight row against
 * one activation row, or several activation rows), four blocks per step.
 * (Q4_0's dots are in dot_avx2_q4_0.c.)
 *
 * Why not one block per step (the shared x86/dot_q_body.h, which the
 * AVX-512 level keeps for Q8_0): that adds each block into one float
 * accumulator with an FMA whose scale is two scalar F16 conversions, a
 * multiply and a broadcast, so every block waits for the previous block's
 * FMA (4-5 cycles) and pays six scalar-ish operations for its scale. Here four blocks' 32-bit
 * sums are folded by three VPHADDD into one vector whose lane j (mod 4)
 * belongs to block j, the four scale products come from one conversion of
 * each side's four F16 scales, and one FMA per four blocks adds them.
 *
 * Each block's integer sum is exact (signed times signed through VPABSB /
 * VPSIGNB and VPMADDUBSW: pairs at most 2 * 128 * 127, below 32767); the
 * multi-row dot applies the same operations in the same order to each
 * activation row, so its results equal the single dot's bit for bit. A
 * row's last 1-3 blocks form a short group whose missing blocks are zero
 * (codes, activations and scales), read from nowhere. */
#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>

#include "kernels/x86/avx2/dot_avx2.h"
#include "kernels/x86/dot_common.h"
#include "tensor/blocks.h"

/* The four blocks' values stay in registers only if their loops unroll. */
#if defined(__clang__)
#define QG_UNROLL _Pragma("unroll")
#else
#define QG_UNROLL _Pragma("GCC unroll 4")
#endif

/* Four weight blocks, unpacked: Q8_0's signed values and their
 * magnitudes; the four scales as floats. */
typedef struct {
    __m256i q[4], aq[4];
    __m128 d;
} qg_w;

/* Four F16 scales, 2-byte fields STRIDE bytes apart at P (NBLK of them;
 * the rest 0), as floats. Built in a register (scalar loads, VPINSRW):
 * through a small array the 8-byte load would wait for four 2-byte
 * stores that cannot be forwarded. */
static inline __attribute__((always_inline)) uint16_t qg_h(const uint8_t *p, size_t stride, int b,
                                                           int nblk) {
    uint16_t h = 0;
    if (b < nblk) __builtin_memcpy(&h, p + (size_t)b * stride, 2);
    return h;
}

static inline __attribute__((always_inline)) __m128 qg_scales(const uint8_t *p, size_t stride,
                                                              int nblk) {
    const __m128i h = _mm_setr_epi16(
        (short)qg_h(p, stride, 0, nblk), (short)qg_h(p, stride, 1, nblk),
        (short)qg_h(p, stride, 2, nblk), (short)qg_h(p, stride, 3, nblk), 0, 0, 0, 0);
    return _mm_cvtph_ps(h);
}

static inline __attribute__((always_inline)) void qg_w_q8_0(const mb_block_q8_0 *x, int nblk,
                                                            qg_w *g) {
    QG_UNROLL
    for (int b = 0; b < 4; b++) {
        g->q[b] = b < nblk ? _mm256_loadu_si256((const __m256i *)(const void *)x[b].qs)
                           : _mm256_setzero_si256();
        g->aq[b] = _mm256_abs_epi8(g->q[b]);
    }
    g->d = qg_scales((const uint8_t *)&x->d, sizeof *x, nblk);
}

/* acc + the four weight blocks of G against activation blocks Y. */
static inline __attribute__((always_inline)) __m256 qg_apply(const qg_w *g, const mb_block_q8_0 *y,
                                                             int nblk, __m256 acc) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i m[4];
    QG_UNROLL
    for (int b = 0; b < 4; b++) {
        const __m256i yq = b < nblk ? _mm256_loadu_si256((const __m256i *)(const void *)y[b].qs)
                                    : _mm256_setzero_si256();
        const __m256i p = _mm256_maddubs_epi16(g->aq[b], _mm256_sign_epi8(yq, g->q[b]));
        m[b] = _mm256_madd_epi16(p, ones);
    }
    const __m256i s =
        _mm256_hadd_epi32(_mm256_hadd_epi32(m[0], m[1]), _mm256_hadd_epi32(m[2], m[3]));
    const __m128 d = _mm_mul_ps(g->d, qg_scales((const uint8_t *)&y->d, sizeof *y, nblk));
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_setr_m128(d, d), acc);
}

#define QG_DOTS(name, WBLOCK, WGROUP)                                                              \
    void mb_avx2_dot_##name(int64_t n, float *out, const void *w, const void *a) {                 \
        const WBLOCK *x = w;                                                                       \
        const mb_block_q8_0 *y = a;                                                                \
        const int64_t nb = n / 32;                                                                 \
        __m256 acc = _mm256_setzero_ps();                                                          \
        int64_t i = 0;                                                                             \
        for (; i + 4 <= nb; i += 4) {                                                              \
            qg_w g;                                                                                \
            WGROUP(x + i, 4, &g);                                                                  \
            acc = qg_apply(&g, y + i, 4, acc);                                                     \
        }                                                                                          \
        if (i < nb) {                                                                              \
            qg_w g;                                                                                \
            WGROUP(x + i, (int)(nb - i), &g);                                                      \
            acc = qg_apply(&g, y + i, (int)(nb - i), acc);                                         \
        }                                                                                          \
        *out = mbx_hsum(acc);                                                                      \
    }                                                                                              \
    void mb_avx2_dot_rows_##name(int64_t n, float *out, const void *w, const void *a,              \
                                 size_t stride, int n_rows) {                                      \
        const WBLOCK *x = w;                                                                       \
        const uint8_t *ab = a;                                                                     \
        const int64_t nb = n / 32;                                                                 \
        int r = 0;                                                                                 \
        for (; r + 4 <= n_rows; r += 4) {                                                          \
            const mb_block_q8_0 *y[4];                                                             \
            __m256 acc[4];                                                                         \
            for (int k = 0; k < 4; k++) {                                                          \
                y[k] = (const mb_block_q8_0 *)(const void *)(ab + (size_t)(r + k) * stride);       \
                acc[k] = _mm256_setzero_ps();                                                      \
            }                                                                                      \
            int64_t i = 0;                                                                         \
            for (; i + 4 <= nb; i += 4) {                                                          \
                qg_w g;                                                                            \
                WGROUP(x + i, 4, &g);                                                              \
                for (int k = 0; k < 4; k++)                                                        \
                    acc[k] = qg_apply(&g, y[k] + i, 4, acc[k]);                                    \
            }                                                                                      \
            if (i < nb) {                                                                          \
                qg_w g;                                                                            \
                WGROUP(x + i, (int)(nb - i), &g);                                                  \
                for (int k = 0; k < 4; k++)                                                        \
                    acc[k] = qg_apply(&g, y[k] + i, (int)(nb - i), acc[k]);                        \
            }                                                                                      \
            for (int k = 0; k < 4; k++)                                                            \
                out[r + k] = mbx_hsum(acc[k]);                                                     \
        }                                                                                          \
        for (; r < n_rows; r++)                                                                    \
            mb_avx2_dot_##name(n, &out[r], w, ab + (size_t)r * stride);                            \
    }

QG_DOTS(q8_0, mb_block_q8_0, qg_w_q8_0)
