/* AVX2 register-blocked batch products (x86/gemm_body.h): 2 weight rows x 4
 * activation rows, 8 accumulators of 8 lanes. 3 x 4 would fill all 16
 * registers and spill one accumulator inside the loop, which chains every
 * step through memory (measured: slower than the multi-row dots). F16
 * converts with F16C (exact), BF16 by widening; row tails are scalar after
 * the sum. */
#include "kernels/x86/avx2/dot_avx2.h"
#include "kernels/x86/dot_common.h"
#include "tensor/fp16.h"

#define MBX_GEMM_MR 2
#define MBX_GEMM_MC 4
#include "kernels/x86/gemm_body.h"

static inline __m256 ld_f16(const uint8_t *p, int64_t i) {
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(p + 2 * i)));
}
static inline __m256 ld_bf16(const uint8_t *p, int64_t i) {
    const __m128i h = _mm_loadu_si128((const __m128i *)(const void *)(p + 2 * i));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}
static inline __m256 ld_f32(const uint8_t *p, int64_t i) {
    return _mm256_loadu_ps((const float *)(const void *)p + i);
}

static inline float fin_f16(__m256 acc, const uint8_t *w, const uint8_t *a, int64_t i, int64_t n) {
    float v = mbx_hsum(acc);
    for (; i < n; i++)
        v += mb_half_to_float(((const uint16_t *)(const void *)w)[i]) *
             mb_half_to_float(((const uint16_t *)(const void *)a)[i]);
    return v;
}
static inline float fin_bf16(__m256 acc, const uint8_t *w, const uint8_t *a, int64_t i, int64_t n) {
    float v = mbx_hsum(acc);
    for (; i < n; i++)
        v += mb_bfloat_to_float(((const uint16_t *)(const void *)w)[i]) *
             mb_bfloat_to_float(((const uint16_t *)(const void *)a)[i]);
    return v;
}
static inline float fin_f32(__m256 acc, const uint8_t *w, const uint8_t *a, int64_t i, int64_t n) {
    float v = mbx_hsum(acc);
    for (; i < n; i++)
        v += ((const float *)(const void *)w)[i] * ((const float *)(const void *)a)[i];
    return v;
}

#define FMA_PS(acc, x, y) _mm256_fmadd_ps(x, y, acc)

MBX_GEMM_BLOCK(f16_block, __m256, 8, ld_f16, ld_f16, FMA_PS, fin_f16, __m256, _mm256_setzero_ps)
MBX_GEMM_BLOCK(bf16_block, __m256, 8, ld_bf16, ld_bf16, FMA_PS, fin_bf16, __m256, _mm256_setzero_ps)
MBX_GEMM_BLOCK(f32_block, __m256, 8, ld_f32, ld_f32, FMA_PS, fin_f32, __m256, _mm256_setzero_ps)
MBX_GEMM_DRIVER(mb_avx2_gemm_f16, f16_block)
MBX_GEMM_DRIVER(mb_avx2_gemm_bf16, bf16_block)
MBX_GEMM_DRIVER(mb_avx2_gemm_f32, f32_block)
