/* The BF16 kernels of the "avx512-bf16" level (the only ones that need
 * AVX512-BF16, so the only file built with -mavx512bf16): AVX512-BF16's
 * VDPBF16PS multiplies bf16 pairs and accumulates in float in one
 * instruction, 32 values at a time, in the single and multi-row dots and in
 * the register-blocked batch product (x86/gemm_body.h, 6 weight rows x 4
 * activation rows as gemm_avx512.c's). (VDPBF16PS treats subnormal inputs
 * as zero: a difference from the reference only for values below 1e-38,
 * far under any weight's or activation's scale.) The "avx512" and
 * "avx512-vnni" levels widen bf16 to floats instead (dot_avx512_f.c,
 * gemm_avx512.c: bf16_cvt). */
#include <immintrin.h>

#include "kernels/x86/avx512/dot_avx512.h"
#include "kernels/x86/dot_float_body.h"

#define MBX_GEMM_MR 6
#define MBX_GEMM_MC 4
#include "kernels/x86/gemm_body.h"

static inline float hsum512(__m512 v) {
    const __m256 h = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline __m512bh ld_bh(const void *p, int64_t i) {
    return (__m512bh)_mm512_loadu_si512((const void *)((const uint16_t *)p + i));
}

/* As the macro's kernels: two accumulators of 32 products per row, the same
 * operations per row whether one or two rows run. */
static inline __attribute__((always_inline)) void
bf16_kern(int64_t n, float *out, const void *w, const void *a0, const void *a1, int two) {
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, t0 = s0, t1 = s0;
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        const __m512bh w0 = ld_bh(w, i), w1 = ld_bh(w, i + 32);
        s0 = _mm512_dpbf16_ps(s0, w0, ld_bh(a0, i));
        s1 = _mm512_dpbf16_ps(s1, w1, ld_bh(a0, i + 32));
        if (two) {
            t0 = _mm512_dpbf16_ps(t0, w0, ld_bh(a1, i));
            t1 = _mm512_dpbf16_ps(t1, w1, ld_bh(a1, i + 32));
        }
    }
    float v0 = hsum512(_mm512_add_ps(s0, s1));
    float v1 = two ? hsum512(_mm512_add_ps(t0, t1)) : 0.0f;
    for (; i < n; i++) {
        v0 += mbx_sc_bf16(w, i) * mbx_sc_bf16(a0, i);
        if (two) v1 += mbx_sc_bf16(w, i) * mbx_sc_bf16(a1, i);
    }
    out[0] = v0;
    if (two) out[1] = v1;
}

void mb_avx512_dot_bf16(int64_t n, float *out, const void *w, const void *a) {
    bf16_kern(n, out, w, a, a, 0);
}

void mb_avx512_dot_rows_bf16(int64_t n, float *out, const void *w, const void *a, size_t stride,
                             int n_rows) {
    const uint8_t *ab = a;
    int r = 0;
    for (; r + 2 <= n_rows; r += 2)
        bf16_kern(n, out + r, w, ab + (size_t)r * stride, ab + (size_t)(r + 1) * stride, 1);
    if (r < n_rows) bf16_kern(n, out + r, w, ab + (size_t)r * stride, NULL, 0);
}

/* The batch product's pieces (gemm_body.h). */
static inline __mmask32 tail_mask(int64_t i, int64_t n) {
    return (__mmask32)((1ull << (n - i)) - 1u);
}

static inline __m512bh ld_bf16(const uint8_t *p, int64_t i) {
    return (__m512bh)_mm512_loadu_si512((const void *)(p + 2 * i));
}
static inline float fin_bf16(__m512 acc, const uint8_t *w, const uint8_t *a, int64_t i, int64_t n) {
    if (i < n) {
        const __mmask32 m = tail_mask(i, n);
        acc = _mm512_dpbf16_ps(acc, (__m512bh)_mm512_maskz_loadu_epi16(m, w + 2 * i),
                               (__m512bh)_mm512_maskz_loadu_epi16(m, a + 2 * i));
    }
    return hsum512(acc);
}

#define DP_BF16(acc, x, y) _mm512_dpbf16_ps(acc, x, y)

MBX_GEMM_BLOCK(bf16_block, __m512bh, 32, ld_bf16, ld_bf16, DP_BF16, fin_bf16, __m512,
               _mm512_setzero_ps)
MBX_GEMM_DRIVER(mb_avx512_gemm_bf16, bf16_block)
