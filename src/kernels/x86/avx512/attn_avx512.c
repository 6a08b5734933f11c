/* AVX-512 attention tile step (body in x86/attn_body.h): sixteen lanes, the
 * exp of avx512/exp_avx512.h. */
#include <immintrin.h>

#include "kernels/x86/avx512/exp_avx512.h"
#include "kernels/x86/avx512/int_avx512.h"
#include "kernels/x86/x86_kernels.h"

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
