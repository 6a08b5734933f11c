/* AVX-512 attention tile step (body in x86/attn_body.h): sixteen lanes, the
 * exp of avx512/exp_avx512.h. */
#include <immintrin.h>

#include "kernels/x86/avx512/exp_avx512.h"
#include "kernels/x86/avx512/int_avx512.h"
#include "kernels/x86/x86_kernels.h"

static inline __m512 mbx_round16(__m512 v) {
    return _mm512_cvtph_ps(_mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

/* 16 x 16 floats in place: pairs of rows interleaved by float, then by
 * float pair, then 128-bit lanes gathered in two steps. */
static inline void mbx_transpose(__m512 r[16]) {
    __m512 t[16], u[16];
    for (int k = 0; k < 8; k++) {
        t[2 * k] = _mm512_unpacklo_ps(r[2 * k], r[2 * k + 1]);
        t[2 * k + 1] = _mm512_unpackhi_ps(r[2 * k], r[2 * k + 1]);
    }
    /* u[4k + m], 128-bit lane L: column 4L + m of rows 4k..4k+3. */
    for (int k = 0; k < 4; k++) {
        const __m512d a = _mm512_castps_pd(t[4 * k]), b = _mm512_castps_pd(t[4 * k + 1]);
        const __m512d c = _mm512_castps_pd(t[4 * k + 2]), d = _mm512_castps_pd(t[4 * k + 3]);
        u[4 * k] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
        u[4 * k + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
        u[4 * k + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
        u[4 * k + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
    }
    for (int m = 0; m < 4; m++) {
        const __m512 v = _mm512_shuffle_f32x4(u[m], u[4 + m], 0x88);
        const __m512 w = _mm512_shuffle_f32x4(u[m], u[4 + m], 0xdd);
        const __m512 v2 = _mm512_shuffle_f32x4(u[8 + m], u[12 + m], 0x88);
        const __m512 w2 = _mm512_shuffle_f32x4(u[8 + m], u[12 + m], 0xdd);
        r[m] = _mm512_shuffle_f32x4(v, v2, 0x88);
        r[4 + m] = _mm512_shuffle_f32x4(w, w2, 0x88);
        r[8 + m] = _mm512_shuffle_f32x4(v, v2, 0xdd);
        r[12 + m] = _mm512_shuffle_f32x4(w, w2, 0xdd);
    }
}

/* Scores: 4 rows x 64 keys of accumulators, 16 of the 32 registers. */
#define MBX_KT_ROWS 4
#define MBX_KT_VECS 4
/* Rows from which the keys-in-lanes scores beat one dot per key
 * (bench/attention_ops.c with ROWS varied, 4096 positions, exact: 4 rows: 74 µs per key, 79
 * transposed; 5: 97 and 94; 8: 123 and 104). */
#define MBX_KT_MIN_ROWS 5
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
