/* AVX2 dots of Q4_0 weights with Q8_0 activations: the single dot, the
 * multi-row dot (one weight row, several activation rows: batches) and the
 * weight-rows dot (several weight rows, one activation row: decode).
 *
 * Why this shape (measured on Zen 4 at the avx2 level, weights in L2): the
 * former kernel unpacked one block per 256-bit register (VPSRLVQ of a
 * broadcast) and built each side's four F16 scales with VPINSRW, about 17
 * instructions per block: 12 GB/s of weights per core, the same as
 * llama.cpp's AVX2 dot, and not enough for two cores to keep up with the
 * memory in decode. Here one register holds two consecutive blocks' 16
 * bytes of codes (low and high nibbles split by one shift and two ANDs),
 * the activation halves of those two blocks are loaded to match, and the
 * scales of eight blocks are converted by one VCVTPH2PS. Decode (the
 * weight-rows dot) prepares the activation once per call: its halves laid
 * out for the products, Q4_0's offset (8 * sum(y) per block) and its scales
 * as floats; then each weight row reads them from L1, about 9 instructions
 * per weight block against 17 before.
 *
 * Every form computes a row the same way: eight blocks at a time, each
 * block's integer sum exact (VPMADDUBSW pairs at most 2 * 15 * 128, plus
 * the offset's 2 * 2 * 8 * 128: below 32767), three VPHADDD fold the eight
 * blocks into eight lanes (blocks 0 2 4 6 | 1 3 5 7), and one FMA per lane
 * adds sum * (d_w * d_y). A row's last 1-7 blocks form a short group whose
 * missing blocks are zero, read from nowhere. So every form's result for a
 * row equals the single dot's bit for bit (batched and one-by-one decode
 * give the same logits). */
#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>

#include "kernels/prefetch.h"
#include "kernels/x86/avx2/dot_avx2.h"
#include "kernels/x86/dot_common.h"
#include "tensor/blocks.h"

#define Q4_INLINE static inline __attribute__((always_inline))

#if defined(__clang__)
#define Q4_UNROLL _Pragma("unroll")
#else
#define Q4_UNROLL _Pragma("GCC unroll 8")
#endif

/* Activation rows that one call of q4_group can take. */
enum { Q4_MAX_A = 4 };

/* Two blocks' codes (NBLK of them, the other zero) as codes 0..15: LO holds
 * each block's values 0..15 (low nibbles), HI its values 16..31. */
typedef struct {
    __m256i lo, hi;
} q4_wpair;

/* The matching activation halves, and C = 8 * the pairs of y per lane, the
 * offset's share: each 128-bit lane's total is 8 * sum(y) of its block. */
typedef struct {
    __m256i lo, hi, c;
} q4_apair;

Q4_INLINE __m128i q4_load16(const void *p, int present) {
    return present ? _mm_loadu_si128((const __m128i *)p) : _mm_setzero_si128();
}

Q4_INLINE q4_wpair q4_wload(const mb_block_q4_0 *x, int nblk) {
    const __m256i nib = _mm256_set1_epi8(0xF);
    const __m256i v = _mm256_inserti128_si256(_mm256_castsi128_si256(q4_load16(x[0].qs, nblk > 0)),
                                              q4_load16(x[1].qs, nblk > 1), 1);
    q4_wpair w = {_mm256_and_si256(v, nib), _mm256_and_si256(_mm256_srli_epi16(v, 4), nib)};
    return w;
}

Q4_INLINE q4_apair q4_aload(const mb_block_q8_0 *y, int nblk) {
    const __m256i eight = _mm256_set1_epi8(8);
    q4_apair a;
    a.lo = _mm256_inserti128_si256(_mm256_castsi128_si256(q4_load16(y[0].qs, nblk > 0)),
                                   q4_load16(y[1].qs, nblk > 1), 1);
    a.hi = _mm256_inserti128_si256(_mm256_castsi128_si256(q4_load16(y[0].qs + 16, nblk > 0)),
                                   q4_load16(y[1].qs + 16, nblk > 1), 1);
    a.c = _mm256_add_epi16(_mm256_maddubs_epi16(eight, a.lo), _mm256_maddubs_epi16(eight, a.hi));
    return a;
}

/* Eight int32 lanes: four per block, each 128-bit lane totalling its
 * block's sum of (code - 8) * y. */
Q4_INLINE __m256i q4_pair_dot(q4_wpair w, q4_apair a) {
    const __m256i p =
        _mm256_add_epi16(_mm256_maddubs_epi16(w.lo, a.lo), _mm256_maddubs_epi16(w.hi, a.hi));
    return _mm256_madd_epi16(_mm256_sub_epi16(p, a.c), _mm256_set1_epi16(1));
}

/* The scale's 4-byte neighbourhood (the scale and the first two codes of
 * its block: in bounds) in the low lane of a vector, or 0. */
Q4_INLINE __m128i q4_h32(const uint8_t *p, size_t stride, int b, int nblk) {
    uint32_t v = 0;
    if (b < nblk) __builtin_memcpy(&v, p + (size_t)b * stride, 4);
    return _mm_cvtsi32_si128((int)v);
}

/* Eight F16 scales, 2-byte fields STRIDE bytes apart at P (NBLK of them, the
 * rest 0), as floats in the lane order of the folded sums: 0 2 4 6 1 3 5 7.
 * Eight 32-bit loads (pure loads) and seven unpacks: fewer instructions than
 * VPINSRW (two operations each) or 64-bit words built in general registers
 * (three instructions per scale), and faster than VPGATHERDD on Zen 4. */
Q4_INLINE __m256 q4_scales(const uint8_t *p, size_t stride, int nblk) {
    __m128i v[8];
    Q4_UNROLL
    for (int b = 0; b < 8; b++)
        v[b] = q4_h32(p, stride, b, nblk);
    const __m128i even =
        _mm_unpacklo_epi32(_mm_unpacklo_epi16(v[0], v[2]), _mm_unpacklo_epi16(v[4], v[6]));
    const __m128i odd =
        _mm_unpacklo_epi32(_mm_unpacklo_epi16(v[1], v[3]), _mm_unpacklo_epi16(v[5], v[7]));
    return _mm256_cvtph_ps(_mm_unpacklo_epi64(even, odd));
}

/* Blocks [I, I + NBLK) (NBLK <= 8) of weight row X against NA activation
 * rows (AS bytes apart): acc[k] += the group against activation row k. */
Q4_INLINE void q4_group(const mb_block_q4_0 *x, const uint8_t *a, size_t as, int na, int64_t i,
                        int nblk, __m256 *acc) {
    __m256i h[2][Q4_MAX_A];
    Q4_UNROLL
    for (int half = 0; half < 2; half++) {
        __m256i m[2][Q4_MAX_A];
        Q4_UNROLL
        for (int p = 0; p < 2; p++) {
            const int b0 = 4 * half + 2 * p, nb = nblk - b0 < 0 ? 0 : nblk - b0;
            const q4_wpair wp = q4_wload(x + i + b0, nb);
            Q4_UNROLL
            for (int k = 0; k < na; k++) {
                const q4_apair ap = q4_aload(
                    (const mb_block_q8_0 *)(const void *)(a + (size_t)k * as) + i + b0, nb);
                m[p][k] = q4_pair_dot(wp, ap);
            }
        }
        Q4_UNROLL
        for (int k = 0; k < na; k++)
            h[half][k] = _mm256_hadd_epi32(m[0][k], m[1][k]);
    }
    const __m256 dx = q4_scales((const uint8_t *)(x + i), sizeof *x, nblk);
    Q4_UNROLL
    for (int k = 0; k < na; k++) {
        const __m256 dy = q4_scales(
            (const uint8_t *)((const mb_block_q8_0 *)(const void *)(a + (size_t)k * as) + i),
            sizeof(mb_block_q8_0), nblk);
        const __m256i s = _mm256_hadd_epi32(h[0][k], h[1][k]);
        acc[k] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_mul_ps(dx, dy), acc[k]);
    }
}

/* out[k] = weight row W . activation row k, for NA <= 4 rows AS bytes apart. */
Q4_INLINE void q4_dots(int64_t n, float *out, const void *w, const uint8_t *a, size_t as, int na) {
    const mb_block_q4_0 *x = w;
    const int64_t nb = n / 32;
    __m256 acc[Q4_MAX_A];
    Q4_UNROLL
    for (int k = 0; k < na; k++)
        acc[k] = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= nb; i += 8)
        q4_group(x, a, as, na, i, 8, acc);
    if (i < nb) q4_group(x, a, as, na, i, (int)(nb - i), acc);
    Q4_UNROLL
    for (int k = 0; k < na; k++)
        out[k] = mbx_hsum(acc[k]);
}

void mb_avx2_dot_q4_0(int64_t n, float *out, const void *w, const void *a) {
    q4_dots(n, out, w, a, 0, 1);
}

void mb_avx2_dot_rows_q4_0(int64_t n, float *out, const void *w, const void *a, size_t stride,
                           int n_rows) {
    const uint8_t *ab = a;
    int r = 0;
    for (; r + 4 <= n_rows; r += 4)
        q4_dots(n, out + r, w, ab + (size_t)r * stride, stride, 4);
    for (; r < n_rows; r++)
        q4_dots(n, out + r, w, ab + (size_t)r * stride, stride, 1);
}

/* Decode's activation, prepared once per call for every weight row: per
 * group of eight blocks, the four block pairs' halves as q4_aload lays them
 * out (so the products read them straight from L1), the offset's folded
 * sums (8 * sum(y) per block, in the folded lane order) and the scales. */
typedef struct {
    __m256i lo[4], hi[4];
    __m256i c;
    __m256 dy;
} q4_aprep;

/* Groups prepared per pass: activation rows up to 8192 values in one. */
enum { Q4_PREP_GROUPS = 32 };

Q4_INLINE void q4_prepare(const mb_block_q8_0 *y, int nblk, q4_aprep *pg) {
    __m256i c[4];
    Q4_UNROLL
    for (int p = 0; p < 4; p++) {
        const int nb = nblk - 2 * p < 0 ? 0 : nblk - 2 * p;
        const q4_apair ap = q4_aload(y + 2 * p, nb);
        pg->lo[p] = ap.lo;
        pg->hi[p] = ap.hi;
        c[p] = _mm256_madd_epi16(ap.c, _mm256_set1_epi16(1));
    }
    pg->c = _mm256_hadd_epi32(_mm256_hadd_epi32(c[0], c[1]), _mm256_hadd_epi32(c[2], c[3]));
    pg->dy = q4_scales((const uint8_t *)y, sizeof *y, nblk);
}

/* q4_group for one weight row against a prepared activation group: the
 * same integer sums (the offset subtracted after folding instead of per
 * pair: exact either way) and the same float operations. One row at a time
 * on purpose: four rows side by side computed 4% faster in L2 but read
 * memory as four short streams, which on Zen 4 (two threads, weights from
 * DRAM) came to 25-29 GB/s against 31-36 for one sequential stream. */
Q4_INLINE __m256 q4_group_prepared(const mb_block_q4_0 *x, const q4_aprep *pg, int nblk,
                                   __m256 acc) {
    __m256i h[2];
    Q4_UNROLL
    for (int half = 0; half < 2; half++) {
        __m256i m[2];
        Q4_UNROLL
        for (int p = 0; p < 2; p++) {
            const int pp = 2 * half + p, nb = nblk - 2 * pp < 0 ? 0 : nblk - 2 * pp;
            const q4_wpair wp = q4_wload(x + 2 * pp, nb);
            const __m256i s = _mm256_add_epi16(_mm256_maddubs_epi16(wp.lo, pg->lo[pp]),
                                               _mm256_maddubs_epi16(wp.hi, pg->hi[pp]));
            m[p] = _mm256_madd_epi16(s, _mm256_set1_epi16(1));
        }
        h[half] = _mm256_hadd_epi32(m[0], m[1]);
    }
    const __m256 dx = q4_scales((const uint8_t *)x, sizeof *x, nblk);
    const __m256i s = _mm256_sub_epi32(_mm256_hadd_epi32(h[0], h[1]), pg->c);
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_mul_ps(dx, pg->dy), acc);
}

void mb_avx2_dot_wrows_q4_0(int64_t n, float *out, const void *w, size_t w_stride, int n_w,
                            const void *a) {
    const uint8_t *wb = w;
    const mb_block_q8_0 *y = a;
    const int64_t nb = n / 32, n_groups = (nb + 7) / 8;
    q4_aprep prep[Q4_PREP_GROUPS];
    const int pf = mb_decode_prefetch();
    /* A row longer than one preparation pass keeps its accumulator across
     * passes: ROWS rows per round, each round preparing every pass again. */
    enum { ROWS = 16 };
    for (int r0 = 0; r0 < n_w; r0 += ROWS) {
        const int nr = n_w - r0 < ROWS ? n_w - r0 : ROWS;
        __m256 acc[ROWS];
        for (int r = 0; r < nr; r++)
            acc[r] = _mm256_setzero_ps();
        for (int64_t g0 = 0; g0 < n_groups; g0 += Q4_PREP_GROUPS) {
            const int ng = n_groups - g0 < Q4_PREP_GROUPS ? (int)(n_groups - g0) : Q4_PREP_GROUPS;
            if (r0 == 0 || n_groups > Q4_PREP_GROUPS)
                for (int g = 0; g < ng; g++) {
                    const int64_t i = (g0 + g) * 8;
                    q4_prepare(y + i, nb - i < 8 ? (int)(nb - i) : 8, &prep[g]);
                }
            for (int r = 0; r < nr; r++) {
                const mb_block_q4_0 *x =
                    (const mb_block_q4_0 *)(const void *)(wb + (size_t)(r0 + r) * w_stride);
                __m256 ar = acc[r];
                int g = 0;
                for (; g < ng && (g0 + g) * 8 + 8 <= nb; g++) {
                    /* The bytes ahead beside each group (kernels/prefetch.h). */
                    if (pf) mb_prefetch_ahead(x + (g0 + g) * 8, 8 * sizeof *x);
                    ar = q4_group_prepared(x + (g0 + g) * 8, &prep[g], 8, ar);
                }
                if (g < ng)
                    ar =
                        q4_group_prepared(x + (g0 + g) * 8, &prep[g], (int)(nb - (g0 + g) * 8), ar);
                acc[r] = ar;
            }
        }
        for (int r = 0; r < nr; r++)
            out[r0 + r] = mbx_hsum(acc[r]);
    }
}
