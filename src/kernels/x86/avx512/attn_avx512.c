/* AVX-512 attention tile step (body in x86/attn_body.h): sixteen lanes, the
 * exp of avx512/exp_avx512.h. */
#include <immintrin.h>

#include "kernels/x86/avx512/exp_avx512.h"
#include "kernels/x86/avx512/int_avx512.h"
#include "kernels/x86/avx512/transpose_avx512.h"
#include "kernels/x86/x86_kernels.h"

static inline __m512 mbx_round16(__m512 v) {
    return _mm512_cvtph_ps(_mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

/* Scores: 4 rows x 64 keys of accumulators, 16 of the 32 registers. */
#define MBX_KT_ROWS 4
#define MBX_KT_VECS 4
/* GQA groups from which the keys-in-lanes scores beat one dot per key, for
 * a decode step's rows (bench/attention_ops.c with ROWS varied, 4096
 * positions, exact: 4 rows: 74 µs per key, 79 transposed; 5: 97 and 94; 8:
 * 123 and 104). */
#define MBX_KT_MIN_ROWS 5
/* Rows from which the blocked weighted sum is used (both weighted sums give
 * the same bits, so this is speed only). */
#define MBX_PV_MIN_ROWS 5
/* Weighted sum of V: 8 rows share each converted V chunk (16 measured
 * ~7% slower with bench/attention_ops.c on Zen 4: more broadcasts per
 * loaded V, no fewer conversions that matter). */
#define MBX_PV_ROWS 8
/* The blocked weighted sum (V converted once per tile, rows blocked as in
 * the scores): at 4096 positions, 32 rows, exact 287 -> 272 us, online 246
 * -> 228; 5 rows 94 -> 85 (bench/attention_ops.c). */
#define MBX_PV_BLOCKED 1
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
#define MBX_MAX(a, b) _mm512_max_ps(a, b)
#define MBX_HSUM(v) _mm512_reduce_add_ps(v)
#define MBX_HMAX(v) _mm512_reduce_max_ps(v)
#define MBX_EXP(v) mbx_exp16(v)
#define MBX_R16(v) mbx_round16(v)

#include "kernels/x86/attn_body.h"
