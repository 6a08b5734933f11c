/* Block kernels of the 32-value types with Q8_0 activations, shared by the
 * x86 levels (each includes its int_*.h first, then this, and compiles it
 * with its own flags). Within a block the integer sum is exact; the block's
 * scales multiply it in float lanes. */
#include "kernels/x86/dot_common.h"
#include "tensor/blocks.h"

static inline __m256 mbx_scale_add(float d, __m256i isum, __m256 acc) {
    return _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(isum), acc);
}

/* Signed times signed through the unsigned-by-signed primitive:
 * |x| * (y with x's sign) = x * y. */
static inline __m256i mbx_dot_ss8(__m256i x, __m256i y) {
    return mbx_dot_us8(_mm256_abs_epi8(x), _mm256_sign_epi8(y, x));
}

static inline __m256 mbx_block_q8_0(const mb_block_q8_0 *x, const mb_block_q8_0 *y, __m256 acc) {
    const __m256i xq = _mm256_loadu_si256((const __m256i *)(const void *)x->qs);
    const __m256i yq = _mm256_loadu_si256((const __m256i *)(const void *)y->qs);
    return mbx_scale_add(_cvtsh_ss(x->d) * _cvtsh_ss(y->d), mbx_dot_ss8(xq, yq), acc);
}

/* Value j in the low nibble of qs[j], value j + 16 in the high one. A level
 * with its own Q4_0 kernels (AVX-512: avx512/q4_0_avx512.c) defines
 * MBX_OWN_Q4_0 and skips these. */
#ifndef MBX_OWN_Q4_0
static inline __m256 mbx_block_q4_0(const mb_block_q4_0 *x, const mb_block_q8_0 *y, __m256 acc) {
    const __m128i q = _mm_loadu_si128((const __m128i *)(const void *)x->qs);
    const __m256i both = _mm256_setr_m128i(q, _mm_srli_epi16(q, 4));
    const __m256i codes = _mm256_and_si256(both, _mm256_set1_epi8(0xF));
    const __m256i xq = _mm256_sub_epi8(codes, _mm256_set1_epi8(8));
    const __m256i yq = _mm256_loadu_si256((const __m256i *)(const void *)y->qs);
    return mbx_scale_add(_cvtsh_ss(x->d) * _cvtsh_ss(y->d), mbx_dot_ss8(xq, yq), acc);
}

MBX_DEFINE_DOTS(q4_0, mb_block_q4_0, mb_block_q8_0, MB_QK4_0, mbx_block_q4_0)
#endif

MBX_DEFINE_DOTS(q8_0, mb_block_q8_0, mb_block_q8_0, MB_QK8_0, mbx_block_q8_0)
