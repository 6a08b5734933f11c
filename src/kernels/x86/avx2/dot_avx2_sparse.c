/* The sparse dots (tensor/blocks.h: SQ4, SQ8) at AVX2, which has no expand
 * instruction: each mask byte indexes a table of 8-byte PSHUFB patterns
 * that spread the next popcount(byte) non-zeros to the byte's 8 positions
 * (zero elsewhere). Two bytes' patterns go into one 16-byte PSHUFB, the
 * second's indices raised by the first's popcount (0x80, PSHUFB's zero,
 * stays >= 0x80). The AVX-512 levels use these too on a CPU without VBMI2.
 *
 * SQ4 multiplies unsigned codes by the activation codes (VPMADDUBSW, then
 * VPMADDWD): u = w + 8 everywhere, pruned positions included (the spread
 * signed value plus 8), so a quarter's sum is sum(w a) + 8 sum(a), and
 * sum(a) over the quarter comes from the Q8_K block's bsums: the integer
 * dot stays exact with no sign fix-up per product. SQ8's codes do not fit
 * VPMADDUBSW's unsigned side with an offset (255 * 128 * 2 overflows its
 * int16 pairs), so it multiplies |a| by w carrying a's sign (|w| <= 127).
 * One accumulator per quarter keeps consecutive blocks independent. */
#include <immintrin.h>
#include <string.h>

#include "kernels/prefetch.h"
#include "kernels/sq4_24_via_sq4.h"
#include "kernels/x86/avx2/dot_avx2.h"
#include "tensor/blocks.h"
#include "tensor/sparse.h"

/* pattern[m]: byte j is, for bit j of mask byte m set, the index of its
 * value among the byte's set bits; 0x80 otherwise. raise[k]: k in the high
 * 8 bytes. */
static uint64_t pattern[256];
static uint8_t raise[9][16];

void mb_avx2_sparse_init(void) {
    for (int m = 0; m < 256; m++) {
        int k = 0;
        uint64_t p = 0;
        for (int j = 0; j < 8; j++)
            p |= (uint64_t)((m >> j) & 1 ? (uint8_t)k++ : 0x80) << (8 * j);
        pattern[m] = p;
    }
    for (int k = 0; k <= 8; k++)
        for (int j = 0; j < 16; j++)
            raise[k][j] = j < 8 ? 0 : (uint8_t)k;
}

/* 16 weights from mask bytes M0, M1 and the non-zeros at NZ + *OFF. NZ has
 * 16 readable bytes past any offset reached (the caller pads it). */
static inline __m128i spread16(const int8_t *nz, int *off, uint8_t m0, uint8_t m1) {
    const int c0 = __builtin_popcount(m0);
    const __m128i p =
        _mm_add_epi8(_mm_unpacklo_epi64(_mm_loadl_epi64((const __m128i *)&pattern[m0]),
                                        _mm_loadl_epi64((const __m128i *)&pattern[m1])),
                     _mm_loadu_si128((const __m128i *)raise[c0]));
    const __m128i w = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(nz + *off)), p);
    *off += c0 + __builtin_popcount(m1);
    return w;
}

/* The 64 weights of quarter Q as two registers of signed bytes. */
static inline void spread_quarter(const int8_t *nz, int *off, const uint8_t *mask, __m256i w[2]) {
#pragma GCC unroll 2
    for (int h = 0; h < 2; h++) {
        const uint8_t *m = mask + 4 * h;
        const __m128i w0 = spread16(nz, off, m[0], m[1]);
        const __m128i w1 = spread16(nz, off, m[2], m[3]);
        w[h] = _mm256_set_m128i(w1, w0);
    }
}

/* The activation side of one block. SQ4: -8 sum(a) per quarter (in lane
 * 0). SQ8: |a| and a, to carry the sign. */
typedef struct {
    __m256i corr[4];
} act_sq4;

static inline void prepare_sq4(const mb_block_q8_k *a, act_sq4 *p) {
    for (int q = 0; q < 4; q++) {
        const int16_t *b = a->bsums + 4 * q;
        p->corr[q] = _mm256_setr_epi32(-8 * (b[0] + b[1] + b[2] + b[3]), 0, 0, 0, 0, 0, 0, 0);
    }
}

static inline __m128 block_scales(const uint16_t *d, float ad) {
    return _mm_mul_ps(_mm_cvtph_ps(_mm_loadl_epi64((const __m128i *)d)), _mm_set1_ps(ad));
}

static inline void block_sq4(const int8_t *nz, const uint8_t *mask, const uint16_t *d,
                             const mb_block_q8_k *a, const act_sq4 *p, __m256 acc[4]) {
    const __m256i ones = _mm256_set1_epi16(1), eight = _mm256_set1_epi8(8);
    const __m128 ds = block_scales(d, a->d);
    float dq[4];
    _mm_storeu_ps(dq, ds);
    int off = 0;
#pragma GCC unroll 4
    for (int q = 0; q < 4; q++) {
        __m256i w[2];
        spread_quarter(nz, &off, mask + 8 * q, w);
        __m256i isum = p->corr[q];
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            const __m256i av = _mm256_loadu_si256((const __m256i *)(a->qs + 64 * q + 32 * h));
            const __m256i u = _mm256_add_epi8(w[h], eight);
            isum = _mm256_add_epi32(isum, _mm256_madd_epi16(_mm256_maddubs_epi16(u, av), ones));
        }
        acc[q] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(dq[q]), acc[q]);
    }
}

typedef struct {
    __m256i abs[8];
} act_sq8;

static inline void prepare_sq8(const mb_block_q8_k *a, act_sq8 *p) {
    for (int i = 0; i < 8; i++)
        p->abs[i] = _mm256_abs_epi8(_mm256_loadu_si256((const __m256i *)(a->qs + 32 * i)));
}

static inline void block_sq8(const int8_t *nz, const uint8_t *mask, const uint16_t *d,
                             const mb_block_q8_k *a, const act_sq8 *p, __m256 acc[4]) {
    const __m256i ones = _mm256_set1_epi16(1);
    const __m128 ds = block_scales(d, a->d);
    float dq[4];
    _mm_storeu_ps(dq, ds);
    int off = 0;
#pragma GCC unroll 4
    for (int q = 0; q < 4; q++) {
        __m256i w[2];
        spread_quarter(nz, &off, mask + 8 * q, w);
        __m256i isum = _mm256_setzero_si256();
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            const __m256i av = _mm256_loadu_si256((const __m256i *)(a->qs + 64 * q + 32 * h));
            const __m256i pr = _mm256_maddubs_epi16(p->abs[2 * q + h], _mm256_sign_epi8(w[h], av));
            isum = _mm256_add_epi32(isum, _mm256_madd_epi16(pr, ones));
        }
        acc[q] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(dq[q]), acc[q]);
    }
}

static inline float reduce4(const __m256 acc[4]) {
    const __m256 v = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* NZ (144 bytes) gets the block's non-zeros as signed bytes. */
static inline void nz_sq4(const mb_block_sq4 *b, int8_t *nz) {
    const __m256i raw = _mm256_loadu_si256((const __m256i *)b->qs);
    const __m256i raw1 = _mm256_loadu_si256((const __m256i *)(b->qs + 32));
    const __m256i m4 = _mm256_set1_epi8(15), c8 = _mm256_set1_epi8(8);
    _mm256_storeu_si256((__m256i *)nz, _mm256_sub_epi8(_mm256_and_si256(raw, m4), c8));
    _mm256_storeu_si256((__m256i *)(nz + 32), _mm256_sub_epi8(_mm256_and_si256(raw1, m4), c8));
    _mm256_storeu_si256((__m256i *)(nz + 64),
                        _mm256_sub_epi8(_mm256_and_si256(_mm256_srli_epi16(raw, 4), m4), c8));
    _mm256_storeu_si256((__m256i *)(nz + 96),
                        _mm256_sub_epi8(_mm256_and_si256(_mm256_srli_epi16(raw1, 4), m4), c8));
}

static inline void nz_sq8(const mb_block_sq8 *b, int8_t *nz) {
    memcpy(nz, b->qs, MB_SPARSE_CAP);
}

#define ZERO4(acc)                                                                                 \
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),                \
                     _mm256_setzero_ps()}

/* The non-zeros are written to a small buffer and read back at every mask
 * byte's offset: a load that overlaps two recent stores cannot be forwarded
 * from the store buffer and waits until they reach L1 (decoding just in time
 * was about 1.3x slower on Zen 4). So blocks are decoded AHEAD blocks before their
 * dot, into a ring of buffers, and their stores have left the store buffer
 * by the time they are read. */
enum { AHEAD = 3, RING = 4, NZ_BYTES = MB_SPARSE_CAP + 16 };

/* The activations a weight-rows call prepares once: at most this many
 * values (longer rows go through the one-row dot). */
enum { WROWS_MAX = 16384 };

/* Rows O of N_W weight rows (stride W_STRIDE, NB blocks each) against the
 * prepared activation blocks P: the blocks in one sequence, row by row, so
 * that the decoding runs ahead across rows too. */
#define SPARSE_ROWS(name, block_t)                                                                 \
    static void rows_##name(int64_t nb, float *out, const void *w, size_t w_stride, int n_w,       \
                            const mb_block_q8_k *y, const act_##name *p) {                         \
        int8_t nz[RING][NZ_BYTES];                                                                 \
        memset(nz, 0, sizeof nz);                                                                  \
        const int64_t total = nb * n_w;                                                            \
        for (int64_t l = 0; l < AHEAD && l < total; l++)                                           \
            nz_##name((const block_t *)((const char *)w + (size_t)(l / nb) * w_stride) + l % nb,   \
                      nz[l % RING]);                                                               \
        const int pf = mb_decode_prefetch();                                                       \
        for (int o = 0; o < n_w; o++) {                                                            \
            const block_t *x = (const block_t *)((const char *)w + (size_t)o * w_stride);          \
            ZERO4(acc);                                                                            \
            for (int64_t i = 0; i < nb; i++) {                                                     \
                const int64_t l = o * nb + i, la = l + AHEAD;                                      \
                if (pf) mb_prefetch_ahead(&x[i], sizeof *x);                                       \
                if (la < total)                                                                    \
                    nz_##name((const block_t *)((const char *)w + (size_t)(la / nb) * w_stride) +  \
                                  la % nb,                                                         \
                              nz[la % RING]);                                                      \
                block_##name(nz[l % RING], x[i].mask, x[i].d, &y[i], &p[i], acc);                  \
            }                                                                                      \
            out[o] = reduce4(acc);                                                                 \
        }                                                                                          \
    }

#define SPARSE_KERNELS(name, block_t)                                                              \
    SPARSE_ROWS(name, block_t)                                                                     \
    void mb_avx2_dot_##name(int64_t n, float *out, const void *w, const void *a) {                 \
        const mb_block_q8_k *y = a;                                                                \
        const int64_t nb = n / MB_QK_SPARSE;                                                       \
        act_##name p[64];                                                                          \
        float part = 0.0f;                                                                         \
        /* The activation prepared 64 blocks at a time; one chunk for every                        \
         * row up to 16384 long, so the order of the sums is wrows'. */                            \
        for (int64_t i0 = 0; i0 < nb; i0 += 64) {                                                  \
            const int64_t m = nb - i0 < 64 ? nb - i0 : 64;                                         \
            float r;                                                                               \
            for (int64_t i = 0; i < m; i++)                                                        \
                prepare_##name(&y[i0 + i], &p[i]);                                                 \
            rows_##name(m, &r, (const block_t *)w + i0, 0, 1, y + i0, p);                          \
            part += r;                                                                             \
        }                                                                                          \
        *out = part;                                                                               \
    }                                                                                              \
    void mb_avx2_dot_wrows_##name(int64_t n, float *out, const void *w, size_t w_stride, int n_w,  \
                                  const void *a) {                                                 \
        const mb_block_q8_k *y = a;                                                                \
        const int64_t nb = n / MB_QK_SPARSE;                                                       \
        if (n > WROWS_MAX) {                                                                       \
            for (int o = 0; o < n_w; o++)                                                          \
                mb_avx2_dot_##name(n, out + o, (const char *)w + (size_t)o * w_stride, a);         \
            return;                                                                                \
        }                                                                                          \
        act_##name p[WROWS_MAX / MB_QK_SPARSE];                                                    \
        for (int64_t i = 0; i < nb; i++)                                                           \
            prepare_##name(&y[i], &p[i]);                                                          \
        rows_##name(nb, out, w, w_stride, n_w, y, p);                                              \
    }

SPARSE_KERNELS(sq4, mb_block_sq4)
SPARSE_KERNELS(sq8, mb_block_sq8)

/* mb_sq4_24_to_sq4's bytes: PDEP (BMI2, part of this level) spreads a
 * 48-bit word's eight 6-bit codes to bytes, and four PSHUFB of the 64-entry
 * mask table's quarters, chosen by each code's top two bits, look all 32
 * up at once. The scalar form's lookups took twice the SQ4 dot's time. */
static void rewrite_24(const void *src, void *dst, int64_t n_blocks) {
    const mb_block_sq4_24 *x = src;
    mb_block_sq4 *y = dst;
    __m256i t[4];
    for (int q = 0; q < 4; q++)
        t[q] = _mm256_broadcastsi128_si256(
            _mm_loadu_si128((const __m128i *)(const void *)(mb_sq4_24_pair_mask + 16 * q)));
    const __m256i low4 = _mm256_set1_epi8(15), three = _mm256_set1_epi8(3);
    for (int64_t i = 0; i < n_blocks; i++, x++, y++) {
        uint64_t c[4];
        for (int w = 0; w < 4; w++)
            c[w] = _pdep_u64(mb_sq4_24_word(x, w), 0x3F3F3F3F3F3F3F3Full);
        const __m256i codes =
            _mm256_setr_epi64x((long long)c[0], (long long)c[1], (long long)c[2], (long long)c[3]);
        const __m256i lo = _mm256_and_si256(codes, low4);
        const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(codes, 4), three);
        __m256i m = _mm256_shuffle_epi8(t[0], lo);
        for (int q = 1; q < 4; q++)
            m = _mm256_blendv_epi8(m, _mm256_shuffle_epi8(t[q], lo),
                                   _mm256_cmpeq_epi8(hi, _mm256_set1_epi8((char)q)));
        _mm256_storeu_si256((__m256i *)(void *)y->mask, m);
        memcpy(y->d, x->d, sizeof y->d);
        memcpy(y->qs, x->qs, sizeof y->qs);
    }
}

void mb_avx2_dot_sq4_24(int64_t n, float *out, const void *w, const void *a) {
    mb_sq4_24_dot_via_sq4(mb_avx2_dot_sq4, rewrite_24, n, out, w, a);
}
