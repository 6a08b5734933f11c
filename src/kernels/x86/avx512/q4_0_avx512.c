/* AVX-512 kernels of Q4_0 weights with Q8_0 activations (VPDPBUSD at
 * avx512-vnni, its VPMADDUBSW form at avx512: int_avx512.h): the single
 * dot and the multi-row dot (one block function, so they agree bit for
 * bit), and the register-blocked batch product
 * (gemm_tile; equal to the dot within float rounding, see below).
 *
 * Why it is faster than the shared 256-bit block kernel (dot_q_body.h):
 * - VPDPBUSD multiplies the unsigned codes (0..15) by the signed
 *   activations directly; the -8 offset is -8 * sum(y), one more VPDPBUSD
 *   per activation block that seeds the accumulator (in a batch, shared
 *   by the block's weight rows), instead of VPABSB/VPSIGNB per pair.
 * - A 512-bit register holds two blocks, and four blocks' fp16 scales are
 *   picked out of the loaded bytes with one VPERMW each side and converted
 *   with one VCVTPH2PS, instead of two scalar conversions per block.
 * - Two accumulators per pair (blocks 4k..4k+1 and 4k+2..4k+3) break the
 *   FMA dependency chain of the single dot.
 * Weights stay in the file's layout (no repacking at load). */
#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>

#include "kernels/prefetch.h"
#include "kernels/x86/avx512/dot_avx512.h"
#include "kernels/x86/avx512/vec_avx512.h"
#include "kernels/x86/avx512/int_avx512.h"
#include "tensor/blocks.h"

/* The multi-row dot's blocks: 1 weight row x up to 4 activation rows. */
#define Q4_MR 1
#define Q4_MC 4

#define QB 32 /* values per block */

/* One step is two blocks in one register: 128-bit lanes [A values 0-15,
 * A 16-31, B 0-15, B 16-31], the order of two activation blocks' codes. */
typedef struct {
    __m512i q; /* weight codes 0..15 */
    __m512 d;  /* the two weight scales, each over its block's 8 lanes */
} q4_wstep;

typedef struct {
    __m512i y; /* activation codes */
    __m512i t; /* -8 * the sum of each 4 activation codes (the lanes of VPDPBUSD) */
    __m512 d;  /* the two activation scales */
} q4_astep;

/* Codes [qA, qA, qB, qB] (128-bit lanes) to the step's values: low nibbles
 * in lanes 0 and 2, high in 1 and 3. A 64-bit shift moves bits between
 * bytes, but the mask keeps only each byte's own high nibble. */
static inline __m512i q4_nibbles(__m512i p) {
    const __m512i shift = _mm512_set_epi64(4, 4, 0, 0, 4, 4, 0, 0);
    return _mm512_and_si512(_mm512_srlv_epi64(p, shift), _mm512_set1_epi8(0xF));
}

/* Scales S (floats in lanes 0..3) spread over two steps' block lanes. */
static inline __m512 q4_spread(__m128 s, int step) {
    const __m512i idx = step ? _mm512_set_epi32(3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2)
                             : _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
    return _mm512_permutexvar_ps(idx, _mm512_zextps128_ps512(s));
}

/* Four weight blocks (72 bytes) from two overlapping 64-byte loads. Every
 * field sits at an even offset (blocks are 18 bytes, codes at 2), so 16-bit
 * permutes pick them: block k's codes are words 9k+1..9k+8, its scale word
 * 9k; the second load starts 8 bytes (4 words) in, past the first's end. */
static inline void q4_wgroup(const uint8_t *x, q4_wstep *s01, q4_wstep *s23) {
    const __m512i l0 = _mm512_loadu_si512((const void *)x);
    const __m512i l1 = _mm512_loadu_si512((const void *)(x + 8));
    const __m512i i01 = _mm512_set_epi16(17, 16, 15, 14, 13, 12, 11, 10, 17, 16, 15, 14, 13, 12, 11,
                                         10, 8, 7, 6, 5, 4, 3, 2, 1, 8, 7, 6, 5, 4, 3, 2, 1);
    const __m512i i23 =
        _mm512_set_epi16(63, 62, 61, 60, 59, 58, 57, 56, 63, 62, 61, 60, 59, 58, 57, 56, 26, 25, 24,
                         23, 22, 21, 20, 19, 26, 25, 24, 23, 22, 21, 20, 19);
    const __m512i id = _mm512_set_epi16(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                        0, 0, 0, 0, 0, 0, 0, 0, 27, 18, 9, 0);
    s01->q = q4_nibbles(_mm512_permutexvar_epi16(i01, l0));
    s23->q = q4_nibbles(_mm512_permutex2var_epi16(l0, i23, l1));
    const __m128 d = _mm_cvtph_ps(_mm512_castsi512_si128(_mm512_permutexvar_epi16(id, l0)));
    s01->d = q4_spread(d, 0);
    s23->d = q4_spread(d, 1);
}

/* The last one or two blocks of a row (N = 1 or 2), without reading past
 * it; a missing block has zero codes and scale, so it adds zero. */
static inline void q4_wtail(const mb_block_q4_0 *x, int nblk, q4_wstep *s) {
    const __m128i qa = _mm_loadu_si128((const __m128i *)(const void *)x[0].qs);
    const __m128i qb =
        nblk > 1 ? _mm_loadu_si128((const __m128i *)(const void *)x[1].qs) : _mm_setzero_si128();
    const __m256i a2 = _mm256_setr_m128i(qa, qa), b2 = _mm256_setr_m128i(qb, qb);
    s->q = q4_nibbles(_mm512_inserti64x4(_mm512_castsi256_si512(a2), b2, 1));
    const __m128 d = _mm_setr_ps(_cvtsh_ss(x[0].d), nblk > 1 ? _cvtsh_ss(x[1].d) : 0.0f, 0, 0);
    s->d = q4_spread(d, 0);
}

static inline __m512i q4_offset(__m512i y) {
    const __m512i z = _mm512_setzero_si512();
    return _mm512_sub_epi32(z, mbx_dpbusd512(z, _mm512_set1_epi8(8), y));
}

static inline __m512i q4_load2(const mb_block_q8_0 *y, int nblk) {
    const __m256i a = _mm256_loadu_si256((const __m256i *)(const void *)y[0].qs);
    const __m256i b = nblk > 1 ? _mm256_loadu_si256((const __m256i *)(const void *)y[1].qs)
                               : _mm256_setzero_si256();
    return _mm512_inserti64x4(_mm512_castsi256_si512(a), b, 1);
}

/* Four activation blocks (136 bytes); their scales are words 0, 17, 34 and
 * 51 of the first 128 bytes. */
static inline void q4_agroup(const mb_block_q8_0 *y, q4_astep *s01, q4_astep *s23) {
    s01->y = q4_load2(y, 2);
    s23->y = q4_load2(y + 2, 2);
    s01->t = q4_offset(s01->y);
    s23->t = q4_offset(s23->y);
    const __m512i l0 = _mm512_loadu_si512((const void *)y);
    const __m512i l1 = _mm512_loadu_si512((const void *)((const uint8_t *)y + 64));
    const __m512i id = _mm512_set_epi16(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                        0, 0, 0, 0, 0, 0, 0, 0, 51, 34, 17, 0);
    const __m128 d = _mm_cvtph_ps(_mm512_castsi512_si128(_mm512_permutex2var_epi16(l0, id, l1)));
    s01->d = q4_spread(d, 0);
    s23->d = q4_spread(d, 1);
}

static inline void q4_atail(const mb_block_q8_0 *y, int nblk, q4_astep *s) {
    s->y = q4_load2(y, nblk);
    s->t = q4_offset(s->y);
    const __m128 d = _mm_setr_ps(_cvtsh_ss(y[0].d), nblk > 1 ? _cvtsh_ss(y[1].d) : 0.0f, 0, 0);
    s->d = q4_spread(d, 0);
}

/* acc + the two blocks' dots, each integer sum (exact) times dx * dy. */
static inline __m512 q4_step(__m512 acc, const q4_wstep *w, const q4_astep *a) {
    const __m512i isum = mbx_dpbusd512(a->t, w->q, a->y);
    return _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(w->d, a->d), acc);
}

/* R weight rows x C activation rows (R = 1 here: the dots).
 * Per pair: groups of four blocks into acc0 (first two) and acc1 (last
 * two); then a remaining pair of blocks into acc0 and a last single block
 * into acc1; the result is the sum of acc0 + acc1's lanes. */
static inline __attribute__((always_inline)) void q4_block(int64_t n, float *out, size_t os,
                                                           const uint8_t *w, size_t ws,
                                                           const uint8_t *a, size_t as, const int R,
                                                           const int C, int add) {
    __m512 acc0[Q4_MR][Q4_MC], acc1[Q4_MR][Q4_MC];
    _Pragma("GCC unroll 8") for (int r = 0; r < R; r++)
        _Pragma("GCC unroll 8") for (int c = 0; c < C; c++) acc0[r][c] = acc1[r][c] =
            _mm512_setzero_ps();
    const int64_t nb = n / QB, ng = nb / 4;
    for (int64_t g = 0; g < ng; g++) {
        q4_wstep w01[Q4_MR], w23[Q4_MR];
        _Pragma("GCC unroll 8") for (int r = 0; r < R; r++)
            q4_wgroup(w + (size_t)r * ws + (size_t)g * 4 * sizeof(mb_block_q4_0), &w01[r], &w23[r]);
        _Pragma("GCC unroll 8") for (int c = 0; c < C; c++) {
            q4_astep a01, a23;
            q4_agroup((const mb_block_q8_0 *)(const void *)(a + (size_t)c * as) + 4 * g, &a01,
                      &a23);
            _Pragma("GCC unroll 8") for (int r = 0; r < R; r++) {
                acc0[r][c] = q4_step(acc0[r][c], &w01[r], &a01);
                acc1[r][c] = q4_step(acc1[r][c], &w23[r], &a23);
            }
        }
    }
    for (int64_t b = ng * 4; b < nb;) {
        const int k = nb - b >= 2 ? 2 : 1;
        q4_wstep wtl[Q4_MR];
        _Pragma("GCC unroll 8") for (int r = 0; r < R; r++)
            q4_wtail((const mb_block_q4_0 *)(const void *)(w + (size_t)r * ws) + b, k, &wtl[r]);
        _Pragma("GCC unroll 8") for (int c = 0; c < C; c++) {
            q4_astep atl;
            q4_atail((const mb_block_q8_0 *)(const void *)(a + (size_t)c * as) + b, k, &atl);
            _Pragma("GCC unroll 8") for (int r = 0; r < R; r++) {
                if (k == 2)
                    acc0[r][c] = q4_step(acc0[r][c], &wtl[r], &atl);
                else
                    acc1[r][c] = q4_step(acc1[r][c], &wtl[r], &atl);
            }
        }
        b += k;
    }
    _Pragma("GCC unroll 8") for (int r = 0; r < R; r++)
        _Pragma("GCC unroll 8") for (int c = 0; c < C; c++) {
        float *o = &out[(size_t)c * os + (size_t)r];
        *o = (add ? *o : 0.0f) + mbx_hsum512(_mm512_add_ps(acc0[r][c], acc1[r][c]));
    }
}

/* The multi-row dot: one weight row, blocks of up to four activation
 * rows, the single dot's operations per row. */
static void q4_rows(int64_t n, float *out, const void *w, const void *a, size_t as, int n_a) {
    for (int c0 = 0; c0 < n_a; c0 += Q4_MC) {
        const uint8_t *ab = (const uint8_t *)a + (size_t)c0 * as;
        switch (n_a - c0 < Q4_MC ? n_a - c0 : Q4_MC) {
        case 1: q4_block(n, out + c0, 1, w, 0, ab, as, 1, 1, 0); break;
        case 2: q4_block(n, out + c0, 1, w, 0, ab, as, 1, 2, 0); break;
        case 3: q4_block(n, out + c0, 1, w, 0, ab, as, 1, 3, 0); break;
        default: q4_block(n, out + c0, 1, w, 0, ab, as, 1, 4, 0); break;
        }
    }
}

/* ---- the batch product (gemm_tile) ------------------------------------
 * Per pair and step the block above spends four operations on the FMA
 * pipes (VPDPBUSD, convert, scale, FMA) over 16 lanes that only need two
 * sums. The batch kernel halves the float work: the integer sums of two
 * weight rows (P, Q) against one activation row are folded into one
 * register, P in the even lanes and Q in the odd ones (two unpacks and an
 * integer add), then converted, scaled and accumulated once. A row without
 * a partner (odd R) gets zeros there, so each row's lanes see the same
 * operations wherever it sits; only the summation order differs from the
 * single dot (float rounding). Q4G_P pairs of weight rows x Q4G_C
 * activation rows, two accumulators each. On a 2048 x 2048 matrix x 128
 * rows (one core, CPU time, best of 40): 2 x 6 125 GMAC/s, 3 x 4 122,
 * 2 x 4 119, 3 x 3 114; the unfolded 3 x 4 blocks of q4_block 103. */
#define Q4G_P 2
#define Q4G_C 6

static inline __m512i q4_fold(__m512i p, __m512i q) {
    return _mm512_add_epi32(_mm512_unpacklo_epi32(p, q), _mm512_unpackhi_epi32(p, q));
}

/* The even (P) and odd (Q) lanes' sums of ACC. */
static inline void q4_hsum2(__m512 v, float *p, float *q) {
    const __m256 h = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    *p = _mm_cvtss_f32(s);
    *q = _mm_cvtss_f32(_mm_movehdup_ps(s));
}

static inline __m512 q4_step2(__m512 acc, const q4_wstep *wp, const q4_wstep *wq, __m512 dpq,
                              const q4_astep *a) {
    const __m512i ip = mbx_dpbusd512(a->t, wp->q, a->y);
    const __m512i iq = wq ? mbx_dpbusd512(a->t, wq->q, a->y) : _mm512_setzero_si512();
    return _mm512_fmadd_ps(_mm512_cvtepi32_ps(q4_fold(ip, iq)), _mm512_mul_ps(dpq, a->d), acc);
}

/* Weight scales of a pair of rows in the folded lanes' order. */
static inline __m512 q4_dpair(const q4_wstep *wp, const q4_wstep *wq, int has_q) {
    return _mm512_unpacklo_ps(wp->d, has_q ? wq->d : _mm512_setzero_ps());
}

/* R weight rows (pairs 2p, 2p + 1) x C activation rows. */
static inline __attribute__((always_inline)) void q4_gblock(int64_t n, float *out, size_t os,
                                                            const uint8_t *w, size_t ws,
                                                            const uint8_t *a, size_t as,
                                                            const int R, const int C) {
    const int P = (R + 1) / 2;
    __m512 acc0[Q4G_P][Q4G_C], acc1[Q4G_P][Q4G_C];
    _Pragma("GCC unroll 8") for (int p = 0; p < P; p++)
        _Pragma("GCC unroll 8") for (int c = 0; c < C; c++) acc0[p][c] = acc1[p][c] =
            _mm512_setzero_ps();
    const int64_t nb = n / QB, ng = nb / 4;
    for (int64_t g = 0; g < ng; g++) {
        q4_wstep w01[2 * Q4G_P], w23[2 * Q4G_P];
        __m512 d01[Q4G_P], d23[Q4G_P];
        _Pragma("GCC unroll 8") for (int r = 0; r < R; r++)
            q4_wgroup(w + (size_t)r * ws + (size_t)g * 4 * sizeof(mb_block_q4_0), &w01[r], &w23[r]);
        _Pragma("GCC unroll 8") for (int p = 0; p < P; p++) {
            d01[p] = q4_dpair(&w01[2 * p], &w01[2 * p + 1], 2 * p + 1 < R);
            d23[p] = q4_dpair(&w23[2 * p], &w23[2 * p + 1], 2 * p + 1 < R);
        }
        _Pragma("GCC unroll 8") for (int c = 0; c < C; c++) {
            q4_astep a01, a23;
            q4_agroup((const mb_block_q8_0 *)(const void *)(a + (size_t)c * as) + 4 * g, &a01,
                      &a23);
            _Pragma("GCC unroll 8") for (int p = 0; p < P; p++) {
                const int hq = 2 * p + 1 < R;
                acc0[p][c] =
                    q4_step2(acc0[p][c], &w01[2 * p], hq ? &w01[2 * p + 1] : NULL, d01[p], &a01);
                acc1[p][c] =
                    q4_step2(acc1[p][c], &w23[2 * p], hq ? &w23[2 * p + 1] : NULL, d23[p], &a23);
            }
        }
    }
    for (int64_t b = ng * 4; b < nb;) {
        const int k = nb - b >= 2 ? 2 : 1;
        q4_wstep wtl[2 * Q4G_P];
        __m512 dtl[Q4G_P];
        _Pragma("GCC unroll 8") for (int r = 0; r < R; r++)
            q4_wtail((const mb_block_q4_0 *)(const void *)(w + (size_t)r * ws) + b, k, &wtl[r]);
        _Pragma("GCC unroll 8") for (int p = 0; p < P; p++) dtl[p] =
            q4_dpair(&wtl[2 * p], &wtl[2 * p + 1], 2 * p + 1 < R);
        _Pragma("GCC unroll 8") for (int c = 0; c < C; c++) {
            q4_astep atl;
            q4_atail((const mb_block_q8_0 *)(const void *)(a + (size_t)c * as) + b, k, &atl);
            _Pragma("GCC unroll 8") for (int p = 0; p < P; p++) {
                const q4_wstep *wq = 2 * p + 1 < R ? &wtl[2 * p + 1] : NULL;
                if (k == 2)
                    acc0[p][c] = q4_step2(acc0[p][c], &wtl[2 * p], wq, dtl[p], &atl);
                else
                    acc1[p][c] = q4_step2(acc1[p][c], &wtl[2 * p], wq, dtl[p], &atl);
            }
        }
        b += k;
    }
    _Pragma("GCC unroll 8") for (int p = 0; p < P; p++)
        _Pragma("GCC unroll 8") for (int c = 0; c < C; c++) {
        float vp, vq;
        q4_hsum2(_mm512_add_ps(acc0[p][c], acc1[p][c]), &vp, &vq);
        out[(size_t)c * os + (size_t)(2 * p)] = vp;
        if (2 * p + 1 < R) out[(size_t)c * os + (size_t)(2 * p + 1)] = vq;
    }
}

/* Shapes beyond 2 Q4G_P x Q4G_C are never reached (the driver caps them). */
#define Q4G_CASE(R, C)                                                                             \
    case (R)*8 + (C):                                                                              \
        if ((R) <= 2 * Q4G_P && (C) <= Q4G_C)                                                      \
            q4_gblock(n, ob, os, wb, ws, ab, as, (R) <= 2 * Q4G_P ? (R) : 1,                       \
                      (C) <= Q4G_C ? (C) : 1);                                                     \
        break;
#define Q4G_CASES(R)                                                                               \
    Q4G_CASE(R, 1) Q4G_CASE(R, 2) Q4G_CASE(R, 3) Q4G_CASE(R, 4) Q4G_CASE(R, 5) Q4G_CASE(R, 6)

void MBX_NAME(gemm_q4_0)(int64_t n, float *out, size_t os, const void *w, size_t ws, int n_w,
                         const void *a, size_t as, int n_a) {
    for (int c0 = 0; c0 < n_a; c0 += Q4G_C) {
        const int C = n_a - c0 < Q4G_C ? n_a - c0 : Q4G_C;
        const uint8_t *ab = (const uint8_t *)a + (size_t)c0 * as;
        for (int r0 = 0; r0 < n_w; r0 += 2 * Q4G_P) {
            const int R = n_w - r0 < 2 * Q4G_P ? n_w - r0 : 2 * Q4G_P;
            const uint8_t *wb = (const uint8_t *)w + (size_t)r0 * ws;
            float *ob = out + (size_t)c0 * os + (size_t)r0;
            switch (R * 8 + C) {
                Q4G_CASES(1) Q4G_CASES(2) Q4G_CASES(3) Q4G_CASES(4) Q4G_CASES(5) Q4G_CASES(6)
            }
        }
    }
}

void MBX_NAME(dot_q4_0)(int64_t n, float *out, const void *w, const void *a) {
    q4_block(n, out, 1, w, 0, a, 0, 1, 1, 0);
}

/* Decode's weight rows against one activation row: the activation's steps
 * (codes, their -8 offset sums, scales) prepared once per call instead of
 * once per row, then each row the single dot's operations in its order, so
 * the results are its bits. On a Sapphire Rapids-class core the per-row
 * preparation (VPERMT2W of the scales, VPDPBUSD of the offsets) made the
 * single dot run at 11.5 GB/s of weights in L2 (docs/PERFORMANCE.md,
 * "Decode prefetch"). Rows longer than WR_BLOCKS blocks take the single
 * dot. */
enum { WR_BLOCKS = 8192 / QB };

void MBX_NAME(dot_wrows_q4_0)(int64_t n, float *out, const void *w, size_t ws, int n_w,
                              const void *a) {
    const int64_t nb = n / QB, ng = nb / 4;
    if (nb > WR_BLOCKS) {
        for (int r = 0; r < n_w; r++)
            MBX_NAME(dot_q4_0)(n, out + r, (const uint8_t *)w + (size_t)r * ws, a);
        return;
    }
    const mb_block_q8_0 *y = a;
    q4_astep as[WR_BLOCKS / 2], tail[2];
    for (int64_t g = 0; g < ng; g++)
        q4_agroup(y + 4 * g, &as[2 * g], &as[2 * g + 1]);
    /* The tail as q4_block takes it: a pair into acc0, a last single block
     * into acc1. */
    int n_tail = 0, tail_k[2];
    for (int64_t b = ng * 4; b < nb; n_tail++) {
        tail_k[n_tail] = nb - b >= 2 ? 2 : 1;
        q4_atail(y + b, tail_k[n_tail], &tail[n_tail]);
        b += tail_k[n_tail];
    }
    const int pf = mb_decode_prefetch();
    for (int r = 0; r < n_w; r++) {
        const uint8_t *x = (const uint8_t *)w + (size_t)r * ws;
        __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
        for (int64_t g = 0; g < ng; g++) {
            q4_wstep w01, w23;
            if (pf)
                mb_prefetch_ahead(x + (size_t)g * 4 * sizeof(mb_block_q4_0),
                                  4 * sizeof(mb_block_q4_0));
            q4_wgroup(x + (size_t)g * 4 * sizeof(mb_block_q4_0), &w01, &w23);
            acc0 = q4_step(acc0, &w01, &as[2 * g]);
            acc1 = q4_step(acc1, &w23, &as[2 * g + 1]);
        }
        int64_t b = ng * 4;
        for (int t = 0; t < n_tail; t++) {
            q4_wstep wtl;
            q4_wtail((const mb_block_q4_0 *)(const void *)x + b, tail_k[t], &wtl);
            if (tail_k[t] == 2)
                acc0 = q4_step(acc0, &wtl, &tail[t]);
            else
                acc1 = q4_step(acc1, &wtl, &tail[t]);
            b += tail_k[t];
        }
        out[r] = mbx_hsum512(_mm512_add_ps(acc0, acc1));
    }
}

void MBX_NAME(dot_rows_q4_0)(int64_t n, float *out, const void *w, const void *a, size_t stride,
                             int n_rows) {
    q4_rows(n, out, w, a, stride, n_rows);
}
