/* AVX2 dots of the float weight types: F16 through F16C's exact
 * half-to-float conversion, BF16 by widening (a bf16 is a float's top half). */
#include "kernels/x86/avx2/dot_avx2.h"
#include "kernels/x86/avx2/int_avx2.h"
#include "kernels/x86/dot_common.h"
#include "kernels/x86/x86_kernels.h"

#define MBX_VEC __m256
#define MBX_W 8
#define MBX_ZERO() _mm256_setzero_ps()
#define MBX_FMA(a, b, acc) _mm256_fmadd_ps(a, b, acc)
#define MBX_ADD(a, b) _mm256_add_ps(a, b)
#define MBX_HSUM(v) mbx_hsum(v)

static inline __m256 ld_f32(const void *p, int64_t i) {
    return _mm256_loadu_ps((const float *)p + i);
}
static inline __m256 ld_f16(const void *p, int64_t i) {
    return _mm256_cvtph_ps(
        _mm_loadu_si128((const __m128i *)(const void *)((const uint16_t *)p + i)));
}
static inline __m256 ld_bf16(const void *p, int64_t i) {
    const __m128i h = _mm_loadu_si128((const __m128i *)(const void *)((const uint16_t *)p + i));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

#include "kernels/x86/dot_float_body.h"

MBX_DEFINE_FLOAT_DOTS(f32, ld_f32, mbx_sc_f32)
MBX_DEFINE_FLOAT_DOTS(f16, ld_f16, mbx_sc_f16)
MBX_DEFINE_FLOAT_DOTS(bf16, ld_bf16, mbx_sc_bf16)

void mb_avx2_axpy_f16(int64_t n, float *y, float a, const uint16_t *x) {
    const __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, ld_f16(x, i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++)
        y[i] += a * mb_half_to_float(x[i]);
}
