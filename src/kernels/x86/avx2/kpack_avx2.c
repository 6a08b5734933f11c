/* Packed batch products of the K-quants (Q4_K, Q5_K, Q6_K, Q3_K, Q2_K) at the AVX2
 * level: the prefill path of mb_matmul (mb_pack_fn / mb_gemm_packed_fn in
 * kernels.h; the panel's lane layout in panel_avx2.h).
 *
 * Why a packed panel. The multi-row dots (dot_k_body.h) unpack a weight
 * block per weight row and then, per activation row, pay VPMADDUBSW +
 * VPMADDWD (scale) + VPADDD per 32 values and a float step per block with a
 * horizontal sum at the end. Here 8 weight rows are rearranged once per
 * batch, codes one per byte, so the inner step is a broadcast load,
 * VPMADDUBSW and VPADDW per 32 products of 8 rows: the 16-bit pair sums
 * stay in 16 bits over a group of G vectors, and one VPMADDWD with the
 * rows' sub-block scales (int16 pairs) takes each group to 32 bits. The
 * whole super-block stays in integers; its float step (two conversions,
 * the d and dmin factors, the activation's d) serves 8 rows, with no
 * horizontal sum.
 *
 * Why the 16-bit sums cannot saturate: codes are unsigned, Q8_K activation
 * codes at most 128 in size (the encoder rounds within -128..127), so a
 * VPMADDUBSW pair is at most 2 * 15 * 128 = 3840 for Q4_K (G = 8 vectors:
 * 30720), 2 * 31 * 128 = 7936 for Q5_K (G = 4: 31744) and 2 * 63 * 128 =
 * 16128 for Q6_K (G = 2: 32256), 2 * 7 * 128 = 1792 for Q3_K and 768 for
 * Q2_K (G = 4, a whole 16-value sub-block), all below 32767. The 32-bit sums stay
 * below 2^31 (Q6_K, the largest: 16 sub-blocks * 128 * 16 * 63 * 128).
 *
 * Per super-block, with S_k the integer sum of sub-block k (codes times
 * activation codes), bs the activation's 16-value sums:
 *   dot = d_a * ( d * sum_k sc_k S_k - dm * sum_i (p_i . bs[2i..2i+1]) )
 * Q4_K/Q5_K: sc_k 6-bit (8 sub-blocks of 32), p_i = (m_i, m_i), dm = dmin.
 * Q6_K: sc_k int8 (16 sub-blocks of 16, codes 0..63 unsigned),
 *       p_i = (sc_2i, sc_2i+1), dm = 32 d  (the format's -32 offset).
 * Q3_K: the same with codes 0..7 (value + 4), sc_k -32..31 and dm = 4 d.
 * Q2_K: sc_k 4-bit (16 sub-blocks of 16), p_i = (m_2i, m_2i+1), dm = dmin.
 * The integer sums are exact; the float steps differ from the row dots'
 * only in order (float rounding), and a pair's operations do not depend on
 * the other rows of its panel or tile. */
#include <immintrin.h>
#include <string.h>

#include "kernels/x86/avx2/dot_avx2.h"
#include "kernels/x86/avx2/panel_avx2.h"
#include "kernels/x86/avx2/transpose_avx2.h"
#include "kernels/x86/kstage.h"
#include "tensor/blocks.h"

enum { KP_ROWS = MB_AP_ROWS, KP_VECS = MB_QK_K / 4 };

/* One super-block of an 8-row panel (MB_AP_K_BLOCK_BYTES, a multiple of 32). */
typedef struct {
    uint8_t q[KP_VECS][KP_ROWS * 4]; /* [v][4r + b]: code of value 4v + b of row r */
    int32_t sc[16][KP_ROWS];         /* [k][r]: (scale k, scale k) as int16: VPMADDWD's */
    int32_t p[8][KP_ROWS];           /* [i][r]: multipliers of bsums 2i, 2i + 1 as int16 */
    float d[KP_ROWS], dm[KP_ROWS];
} kp_block;

_Static_assert(sizeof(kp_block) == MB_AP_K_BLOCK_BYTES, "packed K block size");
_Static_assert(sizeof(kp_block) % 32 == 0, "packed K blocks stay 32-byte aligned");

/* One super-block of 8 rows before the transpose. Rows past n_w stay zero,
 * so they give 0. */
typedef struct {
    _Alignas(32) uint8_t u[KP_ROWS][MB_QK_K];
    int8_t s[KP_ROWS][32]; /* scales, then (Q2_K) mins */
    float d[KP_ROWS], dm[KP_ROWS];
} kp_stage;

/* Eight scales from S as (scale, scale) int16 pairs in eight 32-bit lanes. */
static inline __m256 kp_pairs8(const int8_t *s) {
    int64_t v;
    memcpy(&v, s, 8);
    const __m128i a = _mm_cvtepi8_epi16(_mm_cvtsi64_si128(v));
    return _mm256_castsi256_ps(
        _mm256_setr_m128i(_mm_unpacklo_epi16(a, a), _mm_unpackhi_epi16(a, a)));
}

/* Eight rows' 32-bit lanes R[r] stored transposed: vector k of OUT (32
 * bytes apart) takes lane k of every row. */
static inline void kp_store_t(int32_t (*out)[KP_ROWS], __m256 r[8]) {
    mbx_transpose(r);
    for (int k = 0; k < 8; k++)
        _mm256_store_ps((float *)(void *)out[k], r[k]);
}

/* NSUB: 8 sub-blocks with mins (Q4_K, Q5_K) or 16 (Q6_K, Q3_K; Q2_K with
 * MIN16, its mins). The scale pairs and bsum multipliers are built per row
 * and transposed to rows-in-lanes like the codes. */
static void kp_emit(kp_block *b, const kp_stage *st, int nsub, int min16) {
    for (int ch = 0; ch < KP_VECS / 8; ch++)
        mbx_transpose_bytes(b->q[8 * ch], st->u[0] + 32 * ch, sizeof st->u[0]);
    __m256 lo[8], hi[8];
    for (int r = 0; r < KP_ROWS; r++) {
        lo[r] = kp_pairs8(st->s[r]);
        hi[r] = kp_pairs8(st->s[r] + 8);
    }
    kp_store_t(b->sc, lo);
    if (nsub == 8) {
        /* Scales 8..15 unused; the mins (bytes 8..15), each for its two
         * 16-value sums, are the bsum multipliers. */
        kp_store_t(b->p, hi);
        memset(b->sc[8], 0, sizeof b->sc[8] * 8);
    } else {
        kp_store_t(b->sc + 8, hi);
        /* Pair i: bytes 2i, 2i + 1 of the scales (or Q2_K's mins) as int16. */
        __m256 pr[8];
        for (int r = 0; r < KP_ROWS; r++)
            pr[r] = _mm256_castsi256_ps(_mm256_cvtepi8_epi16(
                _mm_loadu_si128((const __m128i *)(const void *)(st->s[r] + (min16 ? 16 : 0)))));
        kp_store_t(b->p, pr);
    }
    memcpy(b->d, st->d, sizeof b->d);
    memcpy(b->dm, st->dm, sizeof b->dm);
}

#define KP_PACK(name, BLOCK, STAGE, NSUB, MIN16)                                                   \
    void mb_avx2_pack_##name(int64_t n, void *panel, const void *w, size_t ws, int n_w) {          \
        kp_block *out = panel;                                                                     \
        kp_stage st;                                                                               \
        memset(&st, 0, sizeof st);                                                                 \
        for (int64_t s = 0; s < n / MB_QK_K; s++) {                                                \
            for (int r = 0; r < n_w; r++) {                                                        \
                const BLOCK *x =                                                                   \
                    (const BLOCK *)(const void *)((const uint8_t *)w + (size_t)r * ws) + s;        \
                STAGE;                                                                             \
            }                                                                                      \
            kp_emit(&out[s], &st, NSUB, MIN16);                                                    \
        }                                                                                          \
    }

KP_PACK(q4_k, mb_block_q4_k,
        mbx_kstage_k4(st.u[r], st.s[r], &st.d[r], &st.dm[r], x->d, x->dmin, x->scales, x->qs, NULL),
        8, 0)
KP_PACK(q5_k, mb_block_q5_k,
        mbx_kstage_k4(st.u[r], st.s[r], &st.d[r], &st.dm[r], x->d, x->dmin, x->scales, x->qs,
                      x->qh),
        8, 0)
KP_PACK(q6_k, mb_block_q6_k, mbx_kstage_q6(st.u[r], st.s[r], &st.d[r], &st.dm[r], x), 16, 0)
KP_PACK(q3_k, mb_block_q3_k, mbx_kstage_q3(st.u[r], st.s[r], &st.d[r], &st.dm[r], x), 16, 0)
KP_PACK(q2_k, mb_block_q2_k, mbx_kstage_q2(st.u[r], st.s[r], &st.d[r], &st.dm[r], x), 16, 1)

/* A activation rows (a constant after inlining) against one panel. NSUB
 * sub-blocks per super-block (8 of 32 values, or 16 of 16); G vectors per
 * 16-bit group (the saturation bound above). */
static inline __attribute__((always_inline)) void kp_gemm(int64_t n, float *out, size_t os,
                                                          const kp_block *pb, const uint8_t *a,
                                                          size_t as, int add, const int A,
                                                          const int NSUB, const int G) {
    const int vps = KP_VECS / NSUB; /* vectors per sub-block */
    __m256 acc[MB_AP_A];
    MBX_AP_UNROLL
    for (int k = 0; k < A; k++)
        acc[k] = _mm256_setzero_ps();
    for (int64_t s = 0; s < n / MB_QK_K; s++) {
        const kp_block *b = &pb[s];
        const mb_block_q8_k *y[MB_AP_A];
        __m256i is[MB_AP_A];
        MBX_AP_UNROLL
        for (int k = 0; k < A; k++) {
            y[k] = (const mb_block_q8_k *)(const void *)(a + (size_t)k * as) + s;
            is[k] = _mm256_setzero_si256();
        }
        MBX_AP_UNROLL
        for (int sb = 0; sb < NSUB; sb++) {
            const __m256i sc = _mm256_load_si256((const __m256i *)(const void *)b->sc[sb]);
            MBX_AP_UNROLL
            for (int g = sb * vps; g < (sb + 1) * vps; g += G) {
                __m256i h[MB_AP_A];
                MBX_AP_UNROLL
                for (int v = g; v < g + G; v++) {
                    const __m256i wv = _mm256_load_si256((const __m256i *)(const void *)b->q[v]);
                    MBX_AP_UNROLL
                    for (int k = 0; k < A; k++) {
                        const __m256i p = _mm256_maddubs_epi16(wv, mbx_ap_bcast4(y[k]->qs + 4 * v));
                        h[k] = v == g ? p : _mm256_add_epi16(h[k], p);
                        MBX_AP_KEEP(h[k]);
                    }
                }
                MBX_AP_UNROLL
                for (int k = 0; k < A; k++) {
                    is[k] = _mm256_add_epi32(is[k], _mm256_madd_epi16(h[k], sc));
                    MBX_AP_KEEP(is[k]);
                }
            }
        }
        const __m256 d = _mm256_load_ps(b->d), dm = _mm256_load_ps(b->dm);
        MBX_AP_UNROLL
        for (int k = 0; k < A; k++) {
            __m256i m = _mm256_setzero_si256();
            MBX_AP_UNROLL
            for (int i = 0; i < 8; i++)
                m = _mm256_add_epi32(
                    m, _mm256_madd_epi16(_mm256_load_si256((const __m256i *)(const void *)b->p[i]),
                                         mbx_ap_bcast4(y[k]->bsums + 2 * i)));
            const __m256 t = _mm256_fmsub_ps(d, _mm256_cvtepi32_ps(is[k]),
                                             _mm256_mul_ps(dm, _mm256_cvtepi32_ps(m)));
            acc[k] = _mm256_fmadd_ps(_mm256_set1_ps(y[k]->d), t, acc[k]);
        }
    }
    MBX_AP_UNROLL
    for (int k = 0; k < A; k++)
        mbx_ap_store(out + (size_t)k * os, acc[k], add);
}

#define KP_Q4(n, out, os, pb, a, as, add, A, G) kp_gemm(n, out, os, pb, a, as, add, A, 8, G)
#define KP_Q6(n, out, os, pb, a, as, add, A, G) kp_gemm(n, out, os, pb, a, as, add, A, 16, G)
MBX_AP_GEMM(q4_k, KP_Q4, 8)
MBX_AP_GEMM(q5_k, KP_Q4, 4)
MBX_AP_GEMM(q6_k, KP_Q6, 2)
MBX_AP_GEMM(q3_k, KP_Q6, 4)
MBX_AP_GEMM(q2_k, KP_Q6, 4)
