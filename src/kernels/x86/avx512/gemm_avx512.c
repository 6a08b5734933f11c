/* AVX-512 register-blocked batch products (x86/gemm_body.h): 6 weight rows
 * x 4 activation rows, 24 accumulators of 16 lanes next to the 6 weight
 * vectors (measured on the 1.1B F16 shape: 6 x 4 a little ahead of 4 x 4
 * and 4 x 6). F16 converts with VCVTPH2PS (exact). Row tails take one
 * masked step. BF16's (VDPBF16PS) is in ../avx512bf16/bf16_avx512.c. */
#include "kernels/x86/avx512/dot_avx512.h"
#include "kernels/x86/avx512/vec_avx512.h"

#include <immintrin.h>

#define MBX_GEMM_MR 6
#define MBX_GEMM_MC 4
#include "kernels/x86/gemm_body.h"

static inline __m512 ld_f16(const uint8_t *p, int64_t i) {
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)(p + 2 * i)));
}
static inline float fin_f16(__m512 acc, const uint8_t *w, const uint8_t *a, int64_t i, int64_t n) {
    if (i < n) {
        const __mmask16 m = (__mmask16)mbx_tail_mask32(i, n);
        acc = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, w + 2 * i)),
                              _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, a + 2 * i)), acc);
    }
    return mbx_hsum512(acc);
}

static inline __m512 ld_f32(const uint8_t *p, int64_t i) {
    return _mm512_loadu_ps((const float *)(const void *)p + i);
}
static inline float fin_f32(__m512 acc, const uint8_t *w, const uint8_t *a, int64_t i, int64_t n) {
    if (i < n) {
        const __mmask16 m = (__mmask16)mbx_tail_mask32(i, n);
        acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, (const float *)(const void *)w + i),
                              _mm512_maskz_loadu_ps(m, (const float *)(const void *)a + i), acc);
    }
    return mbx_hsum512(acc);
}

#define FMA_PS(acc, x, y) _mm512_fmadd_ps(x, y, acc)

MBX_GEMM_BLOCK(f32_block, __m512, 16, ld_f32, ld_f32, FMA_PS, fin_f32, __m512, _mm512_setzero_ps)
MBX_GEMM_DRIVER(mb_avx512_gemm_f32, f32_block)

/* F16 converts both sides inside the loop. Widening each block of
 * activation rows to float first (64 KB or 16 KB chunks on the stack) was
 * measured slower on the 1.1B F16 shape (80 against 90 tok/s prefill at one
 * thread): float activations double the bytes loaded per step, and the
 * conversions are not what limits this loop. */
MBX_GEMM_BLOCK(f16_block, __m512, 16, ld_f16, ld_f16, FMA_PS, fin_f16, __m512, _mm512_setzero_ps)
MBX_GEMM_DRIVER(mb_avx512_gemm_f16, f16_block)

/* BF16 without AVX512-BF16 (the avx512 and avx512-vnni levels): each bf16
 * widened to a float (exact: it is a float's top half), then as F32. */
static inline __m512 ld_bf16(const uint8_t *p, int64_t i) {
    const __m256i h = _mm256_loadu_si256((const __m256i *)(const void *)(p + 2 * i));
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}
static inline float fin_bf16(__m512 acc, const uint8_t *w, const uint8_t *a, int64_t i, int64_t n) {
    if (i < n) {
        const __mmask16 m = (__mmask16)mbx_tail_mask32(i, n);
        const __m512i wv = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, w + 2 * i));
        const __m512i av = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, a + 2 * i));
        acc = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_slli_epi32(wv, 16)),
                              _mm512_castsi512_ps(_mm512_slli_epi32(av, 16)), acc);
    }
    return mbx_hsum512(acc);
}
MBX_GEMM_BLOCK(bf16_block, __m512, 16, ld_bf16, ld_bf16, FMA_PS, fin_bf16, __m512,
               _mm512_setzero_ps)
MBX_GEMM_DRIVER(mb_avx512_gemm_bf16_cvt, bf16_block)
