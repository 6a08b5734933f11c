/* The sparse dots (tensor/blocks.h: SQ4, SQ8) at AVX2, which has no expand
 * instruction: each mask byte indexes a table of 8-byte PSHUFB patterns
 * that spread the next popcount(byte) non-zeros to the byte's 8 positions
 * (zero elsewhere). Products are signed x signed through VPMADDUBSW:
 * |a| (unsigned) times w with a's sign moved onto it (PSIGNB; w is at most
 * 127 in magnitude, a may be -128). The AVX-512 levels use these too on a
 * CPU without VBMI2. */
#include <immintrin.h>
#include <string.h>

#include "kernels/x86/avx2/dot_avx2.h"
#include "tensor/blocks.h"
#include "tensor/fp16.h"

/* pattern[m][j]: for bit j of mask byte m set, the index of its value
 * among the byte's set bits; 0x80 (PSHUFB's zero) otherwise. */
static uint8_t pattern[256][8];

void mb_avx2_sparse_init(void) {
    for (int m = 0; m < 256; m++) {
        int k = 0;
        for (int j = 0; j < 8; j++)
            pattern[m][j] = (m >> j) & 1 ? (uint8_t)k++ : 0x80;
    }
}

/* 16 weights from mask bytes M0, M1 and the non-zeros at NZ + *OFF. NZ has
 * 16 readable bytes past any offset reached (the caller pads it). */
static inline __m128i spread16(const int8_t *nz, int *off, uint8_t m0, uint8_t m1) {
    __m128i lo = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(nz + *off)),
                                  _mm_loadl_epi64((const __m128i *)pattern[m0]));
    *off += __builtin_popcount(m0);
    __m128i hi = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(nz + *off)),
                                  _mm_loadl_epi64((const __m128i *)pattern[m1]));
    *off += __builtin_popcount(m1);
    return _mm_unpacklo_epi64(lo, hi);
}

/* The block's dot: NZ the non-zeros in order (signed bytes, padded to 144),
 * MASK its 32 mask bytes, D its quarter scales. */
static inline __m256 block_dot(const int8_t *nz, const uint8_t *mask, const uint16_t *d,
                               const mb_block_q8_k *a, __m256 acc) {
    const __m256i ones = _mm256_set1_epi16(1);
    int off = 0;
    for (int q = 0; q < 4; q++) {
        __m256i isum = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            const uint8_t *m = mask + 8 * q + 4 * h;
            const __m128i w0 = spread16(nz, &off, m[0], m[1]);
            const __m128i w1 = spread16(nz, &off, m[2], m[3]);
            const __m256i w = _mm256_set_m128i(w1, w0);
            const __m256i av = _mm256_loadu_si256((const __m256i *)(a->qs + 64 * q + 32 * h));
            const __m256i p = _mm256_maddubs_epi16(_mm256_abs_epi8(av), _mm256_sign_epi8(w, av));
            isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p, ones));
        }
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum),
                              _mm256_set1_ps(mb_half_to_float(d[q]) * a->d), acc);
    }
    return acc;
}

static inline float hsum(__m256 v) {
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

#define SPARSE_KERNELS(name, block_t)                                                              \
    void mb_avx2_dot_##name(int64_t n, float *out, const void *w, const void *a) {                 \
        const block_t *x = w;                                                                      \
        const mb_block_q8_k *y = a;                                                                \
        int8_t nz[MB_SPARSE_CAP + 16] = {0};                                                       \
        __m256 acc = _mm256_setzero_ps();                                                          \
        for (int64_t i = 0; i < n / MB_QK_SPARSE; i++) {                                           \
            nz_##name(&x[i], nz);                                                                  \
            acc = block_dot(nz, x[i].mask, x[i].d, &y[i], acc);                                    \
        }                                                                                          \
        *out = hsum(acc);                                                                          \
    }

SPARSE_KERNELS(sq4, mb_block_sq4)
SPARSE_KERNELS(sq8, mb_block_sq8)
