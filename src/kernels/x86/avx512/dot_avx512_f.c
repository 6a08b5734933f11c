/* AVX-512 dots of F32, F16 and BF16 weights, sixteen lanes wide: each bf16
 * widened to a float (exact), then FMA, at every AVX-512 level (faster than
 * VDPBF16PS's dot here: ../avx512bf16/bf16_avx512.c). */
#include "kernels/x86/avx512/dot_avx512.h"
#include "kernels/x86/avx512/vec_avx512.h"
#include "kernels/x86/avx512/int_avx512.h"

#include <immintrin.h>

#define MBX_VEC __m512
#define MBX_W 16
#define MBX_ZERO() _mm512_setzero_ps()
#define MBX_FMA(a, b, acc) _mm512_fmadd_ps(a, b, acc)
#define MBX_ADD(a, b) _mm512_add_ps(a, b)
#define MBX_HSUM(v) mbx_hsum512(v)

static inline __m512 ld_f32(const void *p, int64_t i) {
    return _mm512_loadu_ps((const float *)p + i);
}
static inline __m512 ld_f16(const void *p, int64_t i) {
    return _mm512_cvtph_ps(
        _mm256_loadu_si256((const __m256i *)(const void *)((const uint16_t *)p + i)));
}

/* A bf16 is the top half of a float: zero-extend to 32 bits and shift. */
static inline __m512 ld_bf16(const void *p, int64_t i) {
    const __m256i h = _mm256_loadu_si256((const __m256i *)(const void *)((const uint16_t *)p + i));
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

#include "kernels/x86/dot_float_body.h"

MBX_DEFINE_FLOAT_DOTS(f32, ld_f32, mbx_sc_f32)
MBX_DEFINE_FLOAT_DOTS(f16, ld_f16, mbx_sc_f16)
MBX_DEFINE_FLOAT_DOTS(bf16, ld_bf16, mbx_sc_bf16)

/* F16 batches: four activation rows per loaded weight vector (16 of the 32
 * registers accumulate), each row with the single dot's four accumulators
 * and final sum, so the results equal mb_avx512_dot_f16's. */
static void f16_rows4(int64_t n, float *out, const void *w, const void *a0, const void *a1,
                      const void *a2, const void *a3) {
    const void *a[4] = {a0, a1, a2, a3};
    __m512 s[4][4];
    for (int r = 0; r < 4; r++)
        for (int k = 0; k < 4; k++)
            s[r][k] = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        const __m512 w0 = ld_f16(w, i), w1 = ld_f16(w, i + 16);
        const __m512 w2 = ld_f16(w, i + 32), w3 = ld_f16(w, i + 48);
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++) {
            s[r][0] = _mm512_fmadd_ps(w0, ld_f16(a[r], i), s[r][0]);
            s[r][1] = _mm512_fmadd_ps(w1, ld_f16(a[r], i + 16), s[r][1]);
            s[r][2] = _mm512_fmadd_ps(w2, ld_f16(a[r], i + 32), s[r][2]);
            s[r][3] = _mm512_fmadd_ps(w3, ld_f16(a[r], i + 48), s[r][3]);
        }
    }
    for (int r = 0; r < 4; r++) {
        float v = mbx_hsum512(
            _mm512_add_ps(_mm512_add_ps(s[r][0], s[r][1]), _mm512_add_ps(s[r][2], s[r][3])));
        for (int64_t t = i; t < n; t++)
            v += mbx_sc_f16(w, t) * mbx_sc_f16(a[r], t);
        out[r] = v;
    }
}

void mb_avx512_dot_rows4_f16(int64_t n, float *out, const void *w, const void *a, size_t stride,
                             int n_rows) {
    const uint8_t *ab = a;
    int r = 0;
    for (; r + 4 <= n_rows; r += 4)
        f16_rows4(n, out + r, w, ab + (size_t)r * stride, ab + (size_t)(r + 1) * stride,
                  ab + (size_t)(r + 2) * stride, ab + (size_t)(r + 3) * stride);
    if (r < n_rows)
        mb_avx512_dot_rows_f16(n, out + r, w, ab + (size_t)r * stride, stride, n_rows - r);
}
