/* AVX2 attention tile step (body in x86/attn_body.h). The exp gives 0 below
 * -87 rather than a denormal: such a weight is 0 in F16 and in any float sum
 * with a 1 in it. */
#include <immintrin.h>

#include "kernels/x86/avx2/exp_avx2.h"
#include "kernels/x86/avx2/int_avx2.h"
#include "kernels/x86/dot_common.h"
#include "kernels/x86/x86_kernels.h"

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
