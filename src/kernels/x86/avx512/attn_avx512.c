/* AVX-512 attention tile step (body in x86/attn_body.h): sixteen lanes, the
 * same exp as the AVX2 level (see attn_avx2.c) with scalef for 2^n. */
#include <immintrin.h>

#include "kernels/x86/avx512/int_avx512.h"
#include "kernels/x86/x86_kernels.h"

static inline __m512 mbx_exp16(__m512 x) {
    const __m512 lo = _mm512_set1_ps(-87.0f);
    const __mmask16 ok = _mm512_cmp_ps_mask(x, lo, _CMP_GE_OQ);
    x = _mm512_min_ps(_mm512_max_ps(x, lo), _mm512_set1_ps(88.0f));
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_maskz_scalef_ps(ok, p, n);
}

static inline __m512 mbx_round16(__m512 v) {
    return _mm512_cvtph_ps(_mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

#define MBX_VEC __m512
#define MBX_W 16
#define MBX_ZERO() _mm512_setzero_ps()
#define MBX_SET1(x) _mm512_set1_ps(x)
#define MBX_LD(p) _mm512_loadu_ps(p)
#define MBX_ST(p, v) _mm512_storeu_ps(p, v)
#define MBX_LDF16(p) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)(p)))
#define MBX_FMA(a, b, acc) _mm512_fmadd_ps(a, b, acc)
#define MBX_ADD(a, b) _mm512_add_ps(a, b)
#define MBX_MUL(a, b) _mm512_mul_ps(a, b)
#define MBX_HSUM(v) _mm512_reduce_add_ps(v)
#define MBX_EXP(v) mbx_exp16(v)
#define MBX_R16(v) mbx_round16(v)

#include "kernels/x86/attn_body.h"
