/* AVX2 attention tile step (body in x86/attn_body.h). The exp gives 0 below
 * -87 rather than a denormal: such a weight is 0 in F16 and in any float sum
 * with a 1 in it. */
#include <immintrin.h>

#include "kernels/x86/avx2/exp_avx2.h"
#include "kernels/x86/avx2/int_avx2.h"
#include "kernels/x86/avx2/transpose_avx2.h"
#include "kernels/x86/dot_common.h"
#include "kernels/x86/x86_kernels.h"

static inline __m256 mbx_round16(__m256 v) {
    return _mm256_cvtph_ps(_mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

static inline float mbx_hmax(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

/* Scores: 2 rows x 32 keys of accumulators, 8 of the 16 registers. */
#define MBX_KT_ROWS 2
#define MBX_KT_VECS 4
/* GQA groups from which the keys-in-lanes scores beat one dot per key, for
 * a decode step's rows (bench/attention_ops.c with ROWS varied, 4096
 * positions, exact: 4 rows: 111 µs per key, 131 transposed; 6: 165 and 169;
 * 8: 180 and 180; 16: 373 and 294). */
#define MBX_KT_MIN_ROWS 8
/* Rows from which the blocked weighted sum would be used (it is not, see
 * MBX_PV_BLOCKED). */
#define MBX_PV_MIN_ROWS 8
/* Weighted sum of V: 8 rows share each converted V chunk (accumulators in registers). */
#define MBX_PV_ROWS 8
/* Not the blocked weighted sum (V converted once per tile, rows blocked as
 * in the scores): 2 x 32 blocks measured 2-6% slower, 32 rows 529 -> 543
 * us and 8 rows 179 -> 190 at 4096 positions (bench/attention_ops.c). */
#define MBX_PV_BLOCKED 0
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
#define MBX_MAX(a, b) _mm256_max_ps(a, b)
#define MBX_HSUM(v) mbx_hsum(v)
#define MBX_HMAX(v) mbx_hmax(v)
#define MBX_EXP(v) mbx_exp8(v)
#define MBX_R16(v) mbx_round16(v)

#include "kernels/x86/attn_body.h"
