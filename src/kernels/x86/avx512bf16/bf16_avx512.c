/* The BF16 batch product of the "avx512-bf16" level (the only code that
 * needs AVX512-BF16, so the only file built with -mavx512bf16): VDPBF16PS
 * multiplies bf16 pairs and accumulates in float in one instruction, 32
 * values at a time, in the register-blocked tile (x86/gemm_body.h, 6 weight
 * rows x 4 activation rows as gemm_avx512.c's): 117-128 GMAC/s against 84-91
 * widening bf16 to floats (bench/quant_kernels BF16, Zen 4). (VDPBF16PS
 * treats subnormal inputs as zero: a difference from the reference only for
 * values below 1e-38, far under any weight's or activation's scale.) The
 * single and multi-row dots widen to floats at every AVX-512 level
 * (dot_avx512_f.c): with weights in L2 they ran at 57-65 GB/s, VDPBF16PS's
 * at 39-42; the lower levels' tile widens too (gemm_avx512.c). */
#include <immintrin.h>

#include "kernels/x86/avx512/dot_avx512.h"

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
