/* The sparse dots at AVX-512 with VBMI/VBMI2 and VNNI (Ice Lake, Zen 4):
 * each quarter's non-zeros are brought to the bottom of a register by
 * VPERMT2B and spread to their positions by one VPEXPANDB under the
 * quarter's 64-bit mask, then multiplied with the activation codes by
 * VPDPBUSD. VPDPBUSD wants one unsigned operand, so the weights go in as
 * unsigned codes u = w + OFF (SQ4: the stored nibble, OFF 8; SQ8: OFF
 * 128), the expansion filling pruned positions with OFF itself: the sum is
 * then sum(w a) + OFF sum(a) over the whole quarter, and the accumulator
 * starts at -OFF sum(a) (per 4-byte lane, computed once per activation),
 * so each quarter's integer dot is exact, as the reference's. */
#include <immintrin.h>
#include <string.h>

#include "kernels/prefetch.h"
#include "kernels/x86/avx512vbmi2/sparse_vbmi2.h"
#include "kernels/x86/avx512vbmi2/sparse_vbmi2_blocks.h"
#include "tensor/blocks.h"

/* The activation side of one block: per quarter, -OFF times the sum of
 * each 4-byte group of codes (VPDPBUSD's lanes). */
typedef struct {
    __m512i neg_off_sum[4];
} act_block;

static inline void prepare_act(const mb_block_q8_k *a, int off, act_block *p) {
    const __m512i o = _mm512_set1_epi8((char)off);
    for (int q = 0; q < 4; q++) {
        const __m512i s =
            _mm512_dpbusd_epi32(_mm512_setzero_si512(), o, _mm512_loadu_si512(a->qs + 64 * q));
        p->neg_off_sum[q] = _mm512_sub_epi32(_mm512_setzero_si512(), s);
    }
}

/* Quarter Q's exact integer dot as floats: codes spread by mask M with
 * OFF in the pruned positions, times the activation's codes, less OFF
 * times their sum. */
static inline __m512 quarter(__mmask64 m, __m512i src, __m512i fill, const mb_block_q8_k *a,
                             const act_block *p, int q) {
    const __m512i w = _mm512_mask_expand_epi8(fill, m, src);
    return _mm512_cvtepi32_ps(
        _mm512_dpbusd_epi32(p->neg_off_sum[q], w, _mm512_loadu_si512(a->qs + 64 * q)));
}

/* acc[q] += d[q] * a.d * (w[q] . a[64q..]): one accumulator per quarter,
 * so consecutive blocks' products do not wait on each other. */
static inline void block_dot(const uint8_t *mask, const uint16_t *d, __m512i u0, __m512i u1,
                             __m512i fill, const mb_block_q8_k *a, const act_block *p,
                             __m512 acc[4]) {
    uint64_t m[4]; /* bit i of m[q]: weight 64q + i */
    memcpy(m, mask, sizeof m);
    const int o1 = (int)_mm_popcnt_u64(m[0]), o2 = o1 + (int)_mm_popcnt_u64(m[1]),
              o3 = o2 + (int)_mm_popcnt_u64(m[2]);
    const __mmask64 k0 = mbx_mask_word(mask, 0), k1 = mbx_mask_word(mask, 1),
                    k2 = mbx_mask_word(mask, 2), k3 = mbx_mask_word(mask, 3);
    /* The four scales go through memory: broadcast loads take no shuffle
     * port, which the expansions keep busy. */
    float ds[4];
    _mm_storeu_ps(ds,
                  _mm_mul_ps(_mm_cvtph_ps(_mm_loadl_epi64((const __m128i *)d)), _mm_set1_ps(a->d)));
    __asm__("" : "+m"(ds)); /* (else GCC broadcasts from a register, a shuffle) */
    acc[0] = _mm512_fmadd_ps(quarter(k0, u0, fill, a, p, 0), _mm512_set1_ps(ds[0]), acc[0]);
    acc[1] = _mm512_fmadd_ps(quarter(k1, mbx_nz_from(u0, u1, o1), fill, a, p, 1),
                             _mm512_set1_ps(ds[1]), acc[1]);
    acc[2] = _mm512_fmadd_ps(quarter(k2, mbx_nz_from(u0, u1, o2), fill, a, p, 2),
                             _mm512_set1_ps(ds[2]), acc[2]);
    acc[3] = _mm512_fmadd_ps(quarter(k3, mbx_nz_from(u0, u1, o3), fill, a, p, 3),
                             _mm512_set1_ps(ds[3]), acc[3]);
}

static inline float reduce4(const __m512 acc[4]) {
    return _mm512_reduce_add_ps(
        _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3])));
}

#define ZERO4(acc)                                                                                 \
    __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(),                \
                     _mm512_setzero_ps()}

/* The activations a weight-rows call shares: at most this many values
 * (larger rows go through the one-row dot). */
enum { WROWS_MAX = 16384 };

#define SPARSE_KERNELS(name, block_t, nz, OFF)                                                     \
    void mb_vbmi2_dot_##name(int64_t n, float *out, const void *w, const void *a) {                \
        const block_t *x = w;                                                                      \
        const mb_block_q8_k *y = a;                                                                \
        const __m512i fill = _mm512_set1_epi8((char)(OFF));                                        \
        ZERO4(acc);                                                                                \
        for (int64_t i = 0; i < n / MB_QK_SPARSE; i++) {                                           \
            __m512i u0, u1;                                                                        \
            act_block p;                                                                           \
            prepare_act(&y[i], OFF, &p);                                                           \
            nz(&x[i], &u0, &u1);                                                                   \
            block_dot(x[i].mask, x[i].d, u0, u1, fill, &y[i], &p, acc);                            \
        }                                                                                          \
        *out = reduce4(acc);                                                                       \
    }                                                                                              \
    void mb_vbmi2_dot_wrows_##name(int64_t n, float *out, const void *w, size_t w_stride, int n_w, \
                                   const void *a) {                                                \
        const mb_block_q8_k *y = a;                                                                \
        const int64_t nb = n / MB_QK_SPARSE;                                                       \
        if (n > WROWS_MAX) {                                                                       \
            for (int o = 0; o < n_w; o++)                                                          \
                mb_vbmi2_dot_##name(n, out + o, (const char *)w + (size_t)o * w_stride, a);        \
            return;                                                                                \
        }                                                                                          \
        const __m512i fill = _mm512_set1_epi8((char)(OFF));                                        \
        act_block p[WROWS_MAX / MB_QK_SPARSE];                                                     \
        for (int64_t i = 0; i < nb; i++)                                                           \
            prepare_act(&y[i], OFF, &p[i]);                                                        \
        const int pf = mb_decode_prefetch();                                                       \
        for (int o = 0; o < n_w; o++) {                                                            \
            const block_t *x = (const block_t *)((const char *)w + (size_t)o * w_stride);          \
            ZERO4(acc);                                                                            \
            for (int64_t i = 0; i < nb; i++) {                                                     \
                __m512i u0, u1;                                                                    \
                if (pf) mb_prefetch_ahead(&x[i], sizeof *x);                                       \
                nz(&x[i], &u0, &u1);                                                               \
                block_dot(x[i].mask, x[i].d, u0, u1, fill, &y[i], &p[i], acc);                     \
            }                                                                                      \
            out[o] = reduce4(acc);                                                                 \
        }                                                                                          \
    }                                                                                              \
    /* Several activation rows: each block is decoded once for all of them. */                     \
    void mb_vbmi2_dot_rows_##name(int64_t n, float *out, const void *w, const void *a,             \
                                  size_t a_stride, int n_rows) {                                   \
        const block_t *x = w;                                                                      \
        const __m512i fill = _mm512_set1_epi8((char)(OFF));                                        \
        for (int r0 = 0; r0 < n_rows; r0 += 8) {                                                   \
            const int nr = n_rows - r0 < 8 ? n_rows - r0 : 8;                                      \
            __m512 acc[8][4];                                                                      \
            for (int r = 0; r < nr; r++)                                                           \
                for (int q = 0; q < 4; q++)                                                        \
                    acc[r][q] = _mm512_setzero_ps();                                               \
            for (int64_t i = 0; i < n / MB_QK_SPARSE; i++) {                                       \
                __m512i u0, u1;                                                                    \
                nz(&x[i], &u0, &u1);                                                               \
                for (int r = 0; r < nr; r++) {                                                     \
                    const mb_block_q8_k *y =                                                       \
                        (const mb_block_q8_k *)((const char *)a + (size_t)(r0 + r) * a_stride);    \
                    act_block p;                                                                   \
                    prepare_act(&y[i], OFF, &p);                                                   \
                    block_dot(x[i].mask, x[i].d, u0, u1, fill, &y[i], &p, acc[r]);                 \
                }                                                                                  \
            }                                                                                      \
            for (int r = 0; r < nr; r++)                                                           \
                out[r0 + r] = reduce4(acc[r]);                                                     \
        }                                                                                          \
    }

SPARSE_KERNELS(sq4, mb_block_sq4, mbx_nz_sq4, 8)
SPARSE_KERNELS(sq8, mb_block_sq8, mbx_nz_sq8, 128)

/* ---- SQ4_24: the activations gathered instead ---------------------------
 * Half h of a block (positions 128h.., non-zeros 64h..) at once: the 2-bit
 * indices of its 64 non-zeros become byte positions 4 (k / 2) + idx by
 * VPMULTISHIFTQB, VPERMT2B gathers those activation codes, and VPDPBUSD
 * multiplies them with the unsigned codes (less 8 times their sum by a
 * second VPDPBUSD). Lanes 0-7 hold the half's first 32 non-zeros (scale
 * d[2h]), lanes 8-15 the next 32 (d[2h + 1]). */

/* The half's exact integer dot scaled: the activation codes at POS
 * gathered from Q (the half's 128 codes), times the unsigned codes U, less
 * 8 times their sum. */
static inline __m512 half_24(__m512i u, __m512i pos, const int8_t *q, __m512 scale, __m512 acc) {
    const __m512i a =
        _mm512_permutex2var_epi8(_mm512_loadu_si512(q), pos, _mm512_loadu_si512(q + 64));
    const __m512i s = _mm512_dpbusd_epi32(_mm512_setzero_si512(), u, a);
    const __m512i c = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8(8), a);
    return _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(s, c)), scale, acc);
}

/* What a block gives every activation row: codes, positions, the scales'
 * floats (times the activation's d per row). */
typedef struct {
    __m512i u[2], pos[2];
    __m128 d;
} block_24;

static inline void decode_24(const mb_block_sq4_24 *x, block_24 *b) {
    mbx_nibbles(x->qs, &b->u[0], &b->u[1]);
    mbx_positions_24(x, b->pos);
    b->d = _mm_cvtph_ps(_mm_loadl_epi64((const __m128i *)x->d));
}

/* The block against activation codes Q (256) of scale YD. */
static inline void dot_24(const block_24 *b, const int8_t *q, float yd, __m512 acc[2]) {
    const __m512 ds = _mm512_castps128_ps512(_mm_mul_ps(b->d, _mm_set1_ps(yd)));
    const __m512i lo = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m512i hi = _mm512_set_epi32(3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2);
    acc[0] = half_24(b->u[0], b->pos[0], q, _mm512_permutexvar_ps(lo, ds), acc[0]);
    acc[1] = half_24(b->u[1], b->pos[1], q + 128, _mm512_permutexvar_ps(hi, ds), acc[1]);
}

void mb_vbmi2_dot_sq4_24(int64_t n, float *out, const void *w, const void *a) {
    const mb_block_sq4_24 *x = w;
    const mb_block_q8_k *y = a;
    __m512 acc[2] = {_mm512_setzero_ps(), _mm512_setzero_ps()};
    for (int64_t i = 0; i < n / MB_QK_SPARSE; i++) {
        block_24 b;
        decode_24(&x[i], &b);
        dot_24(&b, y[i].qs, y[i].d, acc);
    }
    *out = _mm512_reduce_add_ps(_mm512_add_ps(acc[0], acc[1]));
}

/* Decode's weight rows: the single dot per row, with the bytes ahead
 * prefetched one block at a time beside it (kernels/prefetch.h). */
void mb_vbmi2_dot_wrows_sq4_24(int64_t n, float *out, const void *w, size_t w_stride, int n_w,
                               const void *a) {
    const mb_block_q8_k *y = a;
    const int64_t nb = n / MB_QK_SPARSE;
    if (n > WROWS_MAX) {
        for (int o = 0; o < n_w; o++)
            mb_vbmi2_dot_sq4_24(n, out + o, (const char *)w + (size_t)o * w_stride, a);
        return;
    }
    /* The activation codes copied to 64-byte alignment once per call: in
     * Q8_K's 292-byte blocks every 64-byte load of them splits a cache line. */
    _Alignas(64) int8_t q[WROWS_MAX];
    for (int64_t i = 0; i < nb; i++)
        memcpy(q + i * MB_QK_SPARSE, y[i].qs, MB_QK_SPARSE);
    const int pf = mb_decode_prefetch();
    for (int o = 0; o < n_w; o++) {
        const mb_block_sq4_24 *x =
            (const mb_block_sq4_24 *)(const void *)((const char *)w + (size_t)o * w_stride);
        __m512 acc[2] = {_mm512_setzero_ps(), _mm512_setzero_ps()};
        for (int64_t i = 0; i < nb; i++) {
            block_24 b;
            if (pf) mb_prefetch_ahead(&x[i], sizeof *x);
            decode_24(&x[i], &b);
            dot_24(&b, q + i * MB_QK_SPARSE, y[i].d, acc);
        }
        out[o] = _mm512_reduce_add_ps(_mm512_add_ps(acc[0], acc[1]));
    }
}

/* Several activation rows: each block's codes and positions decoded once. */
void mb_vbmi2_dot_rows_sq4_24(int64_t n, float *out, const void *w, const void *a, size_t a_stride,
                              int n_rows) {
    const mb_block_sq4_24 *x = w;
    for (int r0 = 0; r0 < n_rows; r0 += 8) {
        const int nr = n_rows - r0 < 8 ? n_rows - r0 : 8;
        __m512 acc[8][2];
        for (int r = 0; r < nr; r++)
            acc[r][0] = acc[r][1] = _mm512_setzero_ps();
        for (int64_t i = 0; i < n / MB_QK_SPARSE; i++) {
            block_24 b;
            decode_24(&x[i], &b);
            for (int r = 0; r < nr; r++) {
                const mb_block_q8_k *y =
                    (const mb_block_q8_k *)((const char *)a + (size_t)(r0 + r) * a_stride) + i;
                dot_24(&b, y->qs, y->d, acc[r]);
            }
        }
        for (int r = 0; r < nr; r++)
            out[r0 + r] = _mm512_reduce_add_ps(_mm512_add_ps(acc[r][0], acc[r][1]));
    }
}
