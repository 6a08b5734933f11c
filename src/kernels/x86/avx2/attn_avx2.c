/* AVX2 attention tile step (body in x86/attn_body.h), with an exp for eight
 * lanes: Cody-Waite reduction by ln 2 and Cephes' degree-6 polynomial for
 * exp(r) on [-ln2/2, ln2/2] (within 2 ulp of expf), 2^n through the exponent
 * bits. Inputs below -87 give 0 rather than a denormal: such a weight is 0
 * in F16 and in any float sum with a 1 in it. */
#include <immintrin.h>

#include "kernels/x86/avx2/int_avx2.h"
#include "kernels/x86/dot_common.h"
#include "kernels/x86/x86_kernels.h"

static inline __m256 mbx_exp8(__m256 x) {
    const __m256 lo = _mm256_set1_ps(-87.0f);
    const __m256 under = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
    x = _mm256_min_ps(_mm256_max_ps(x, lo), _mm256_set1_ps(88.0f));
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    const __m256i e =
        _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_andnot_ps(under, _mm256_mul_ps(p, _mm256_castsi256_ps(e)));
}

static inline __m256 mbx_round16(__m256 v) {
    return _mm256_cvtph_ps(_mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

#define MBX_VEC __m256
#define MBX_W 8
#define MBX_ZERO() _mm256_setzero_ps()
#define MBX_SET1(x) _mm256_set1_ps(x)
#define MBX_LD(p) _mm256_loadu_ps(p)
#define MBX_ST(p, v) _mm256_storeu_ps(p, v)
#define MBX_LDF16(p) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(p)))
#define MBX_FMA(a, b, acc) _mm256_fmadd_ps(a, b, acc)
#define MBX_ADD(a, b) _mm256_add_ps(a, b)
#define MBX_MUL(a, b) _mm256_mul_ps(a, b)
#define MBX_HSUM(v) mbx_hsum(v)
#define MBX_EXP(v) mbx_exp8(v)
#define MBX_R16(v) mbx_round16(v)

#include "kernels/x86/attn_body.h"
