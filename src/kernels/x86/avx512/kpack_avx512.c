/* Packed batch products of the K-quants (Q4_K, Q5_K, Q6_K) at the AVX-512
 * level: the prefill path of mb_matmul (mb_pack_fn / mb_gemm_packed_fn in
 * kernels.h).
 *
 * Why a packed panel. The row dots (dot_k_body.h) unpack a weight block and
 * then, per activation row, multiply 16-bit pair sums by the sub-block
 * scales (VPMADDUBSW + VPDPWSSD per 32 values), convert, scale and reduce:
 * about 28 vector operations per 256 products, and the per-block float work
 * is paid for every (weight row, activation row) pair. Here 16 weight rows
 * are rearranged once per batch so that lane r of a 512-bit vector holds
 * four consecutive codes of row r: one VPDPBUSD with four activation bytes
 * broadcast from memory then adds 64 products for 16 rows at once, with no
 * unpacking and no 16-bit stage, and the per-sub-block float step (convert,
 * multiply-add with d * scale) serves 16 rows. The codes are stored as bytes
 * (0..15, 0..31 or 0..63), twice the nibbles' size, because the panel lives
 * in L2 for the whole batch while unpacking would cost two operations per
 * VPDPBUSD. Each loaded weight vector meets MB_KP_A activation rows while in
 * a register.
 *
 * Per super-block, with S_k the integer sum of sub-block k (codes times
 * activation codes), bs the activation's 16-value sums:
 *   dot = d_a * ( sum_k c_k S_k - dm * sum_i (p_i . bs[2i..2i+1]) )
 * Q4_K/Q5_K: c_k = d * sc_k (8 sub-blocks of 32), p_i = (m_i, m_i), dm = dmin.
 * Q6_K: c_k = d * sc_k (16 sub-blocks of 16, codes 0..63 unsigned),
 *       p_i = (sc_2i, sc_2i+1), dm = 32 d  (the format's -32 offset).
 * The integer sums are exact; the float steps differ from the row dots'
 * only in order (float rounding), and a pair's operations do not depend on
 * the other rows of its panel or tile. */
#include <immintrin.h>
#include <string.h>

#include "kernels/x86/avx512/dot_avx512.h"
#include "kernels/x86/avx512/int_avx512.h"
#include "kernels/x86/avx512/panel_avx512.h"
#include "kernels/x86/avx512/transpose_avx512.h"
#include "kernels/x86/k4_scales.h"
#include "kernels/x86/kstage.h"
#include "tensor/blocks.h"
#include "tensor/fp16.h"

enum { KP_ROWS = MB_KP_ROWS, KP_VECS = MB_QK_K / 4 };

/* One super-block of a 16-row panel (MB_KP_BLOCK_BYTES, a multiple of 64). */
typedef struct {
    uint8_t q[KP_VECS][KP_ROWS * 4]; /* [v][4r + b]: code of value 4v + b of row r */
    float c[16][KP_ROWS];            /* [k][r]: d * scale of sub-block k */
    int16_t p[8][KP_ROWS][2];        /* [i][r]: multipliers of bsums 2i, 2i + 1 */
    float dm[KP_ROWS];               /* [r] */
} kp_block;

_Static_assert(sizeof(kp_block) == MB_KP_BLOCK_BYTES, "packed K block size");
_Static_assert(sizeof(kp_block) % 64 == 0, "packed K blocks stay 64-byte aligned");

/* One super-block of 16 rows before the transpose: codes in value order,
 * the sub-block scales (Q4_K/Q5_K: 8 scales then 8 mins, 6-bit; Q6_K: 16
 * signed scales), d and dm. Rows past n_w stay zero, so they give 0. */
typedef struct {
    uint8_t u[KP_ROWS][MB_QK_K];
    int8_t s[KP_ROWS][16];
    float d[KP_ROWS], dm[KP_ROWS];
} kp_stage;

/* The staging of one row's super-block is x86/kstage.h's, shared with
 * the AVX2 panels. */
static void kp_stage_k4(kp_stage *st, int r, uint16_t d16, uint16_t dmin16, const uint8_t *scales,
                        const uint8_t *qs, const uint8_t *qh) {
    mbx_kstage_k4(st->u[r], st->s[r], &st->d[r], &st->dm[r], d16, dmin16, scales, qs, qh);
}

static void kp_stage_q6(kp_stage *st, int r, const mb_block_q6_k *x) {
    mbx_kstage_q6(st->u[r], st->s[r], &st->d[r], &st->dm[r], x);
}

/* Signed bytes at byte offset OFF of each row's scale entry, as int32. */
static inline __m512i kp_gather_s8(const kp_stage *st, int off, int shift) {
    const __m512i idx =
        _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                           _mm512_set1_epi32((int)sizeof st->s[0]));
    const __m512i x = _mm512_i32gather_epi32(idx, (const void *)&st->s[0][off], 1);
    return _mm512_srai_epi32(_mm512_slli_epi32(x, 24 - shift), 24);
}

/* The stage transposed into a panel block: output vector v takes dword v
 * of every row, and the scales go to lanes the same way (by gathers: 24
 * against the codes' 64 vectors). NSUB: 8 sub-blocks with mins (Q4_K,
 * Q5_K) or 16 without (Q6_K). */
static void kp_emit(kp_block *b, const kp_stage *st, int nsub) {
    for (int ch = 0; ch < KP_VECS / 16; ch++) {
        /* Dword c of the 16 rows' chunk ch becomes vector 16 ch + c. */
        __m512 r[16];
        for (int i = 0; i < 16; i++)
            r[i] = _mm512_load_ps((const void *)(st->u[i] + 64 * ch));
        mbx_transpose(r);
        for (int c = 0; c < 16; c++)
            _mm512_store_ps((void *)b->q[16 * ch + c], r[c]);
    }
    const __m512 d = _mm512_loadu_ps(st->d);
    for (int k = 0; k < 16; k++)
        _mm512_store_ps(b->c[k], k < nsub
                                     ? _mm512_mul_ps(d, _mm512_cvtepi32_ps(kp_gather_s8(st, k, 0)))
                                     : _mm512_setzero_ps());
    const __m512i lo16 = _mm512_set1_epi32(0xFFFF);
    for (int i = 0; i < 8; i++) {
        /* Pair (first, second) as two int16 in one lane. */
        const __m512i first = nsub == 8 ? kp_gather_s8(st, 8 + i, 0) : kp_gather_s8(st, 2 * i, 0);
        const __m512i second = nsub == 8 ? first : kp_gather_s8(st, 2 * i, 8);
        _mm512_store_si512((void *)b->p[i], _mm512_or_si512(_mm512_and_si512(first, lo16),
                                                            _mm512_slli_epi32(second, 16)));
    }
    _mm512_store_ps(b->dm, _mm512_loadu_ps(st->dm));
}

#define KP_PACK(name, BLOCK, STAGE, NSUB)                                                          \
    void MBX_NAME(pack_##name)(int64_t n, void *panel, const void *w, size_t ws, int n_w) {        \
        kp_block *out = panel;                                                                     \
        _Alignas(64) kp_stage st;                                                                  \
        memset(&st, 0, sizeof st);                                                                 \
        for (int64_t s = 0; s < n / MB_QK_K; s++) {                                                \
            for (int r = 0; r < n_w; r++) {                                                        \
                const BLOCK *x =                                                                   \
                    (const BLOCK *)(const void *)((const uint8_t *)w + (size_t)r * ws) + s;        \
                STAGE;                                                                             \
            }                                                                                      \
            kp_emit(&out[s], &st, NSUB);                                                           \
        }                                                                                          \
    }

KP_PACK(q4_k, mb_block_q4_k, kp_stage_k4(&st, r, x->d, x->dmin, x->scales, x->qs, NULL), 8)
KP_PACK(q5_k, mb_block_q5_k, kp_stage_k4(&st, r, x->d, x->dmin, x->scales, x->qs, x->qh), 8)
KP_PACK(q6_k, mb_block_q6_k, kp_stage_q6(&st, r, x), 16)

/* A activation rows (a constant after inlining) against one panel; NSUB
 * sub-blocks per super-block (8 of 32 values, or 16 of 16). */
static inline __attribute__((always_inline)) void kp_gemm(int64_t n, float *out, size_t os,
                                                          const kp_block *pb, const uint8_t *a,
                                                          size_t as, int add, const int A,
                                                          const int NSUB) {
    const int vps = KP_VECS / NSUB; /* vectors per sub-block */
    __m512 acc[MB_KP_A];
    MBX_PANEL_UNROLL
    for (int k = 0; k < A; k++)
        acc[k] = _mm512_setzero_ps();
    for (int64_t s = 0; s < n / MB_QK_K; s++) {
        const kp_block *b = &pb[s];
        const mb_block_q8_k *y[MB_KP_A];
        __m512 fs[MB_KP_A];
        MBX_PANEL_UNROLL
        for (int k = 0; k < A; k++) {
            y[k] = (const mb_block_q8_k *)(const void *)(a + (size_t)k * as) + s;
            fs[k] = _mm512_setzero_ps();
        }
        MBX_PANEL_UNROLL
        for (int sb = 0; sb < NSUB; sb++) {
            __m512i S[MB_KP_A];
            MBX_PANEL_UNROLL
            for (int k = 0; k < A; k++)
                S[k] = _mm512_setzero_si512();
#if MBX_VNNI
            MBX_PANEL_UNROLL
            for (int v = sb * vps; v < (sb + 1) * vps; v++) {
                const __m512i wv = _mm512_load_si512((const void *)b->q[v]);
                MBX_PANEL_UNROLL
                for (int k = 0; k < A; k++)
                    S[k] = mbx_dpbusd512(S[k], wv, mbx_bcast4(y[k]->qs + 4 * v));
            }
#else
            /* Without VNNI, G vectors' VPMADDUBSW pair sums add up in 16
             * bits before one VPMADDWD: a pair is at most 2 * 31 * 128 in
             * magnitude (Q4_K, Q5_K: G = 4) or 2 * 63 * 128 (Q6_K: G = 2),
             * so G of them stay within int16 (exact, as VPDPBUSD). */
            const int G = NSUB == 16 ? 2 : 4;
            MBX_PANEL_UNROLL
            for (int v0 = sb * vps; v0 < (sb + 1) * vps; v0 += G) {
                __m512i T[MB_KP_A];
                MBX_PANEL_UNROLL
                for (int v = v0; v < v0 + G; v++) {
                    const __m512i wv = _mm512_load_si512((const void *)b->q[v]);
                    MBX_PANEL_UNROLL
                    for (int k = 0; k < A; k++) {
                        const __m512i p = _mm512_maddubs_epi16(wv, mbx_bcast4(y[k]->qs + 4 * v));
                        T[k] = v == v0 ? p : _mm512_add_epi16(T[k], p);
                    }
                }
                MBX_PANEL_UNROLL
                for (int k = 0; k < A; k++)
                    S[k] = _mm512_add_epi32(S[k], _mm512_madd_epi16(T[k], _mm512_set1_epi16(1)));
            }
#endif
            const __m512 c = _mm512_load_ps(b->c[sb]);
            MBX_PANEL_UNROLL
            for (int k = 0; k < A; k++)
                fs[k] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(S[k]), c, fs[k]);
        }
        const __m512 dm = _mm512_load_ps(b->dm);
        MBX_PANEL_UNROLL
        for (int k = 0; k < A; k++) {
            __m512i m = _mm512_setzero_si512();
            MBX_PANEL_UNROLL
            for (int i = 0; i < 8; i++)
                m = mbx_dpwssd512(m, _mm512_load_si512((const void *)b->p[i]),
                                  mbx_bcast4(y[k]->bsums + 2 * i));
            const __m512 t = _mm512_fnmadd_ps(dm, _mm512_cvtepi32_ps(m), fs[k]);
            acc[k] = _mm512_fmadd_ps(_mm512_set1_ps(y[k]->d), t, acc[k]);
        }
    }
    MBX_PANEL_UNROLL
    for (int k = 0; k < A; k++)
        mbx_panel_store(out + (size_t)k * os, acc[k], add, 0xFFFF);
}

MBX_PANEL_GEMM(q4_k, kp_gemm, 8)
MBX_PANEL_GEMM(q5_k, kp_gemm, 8)
MBX_PANEL_GEMM(q6_k, kp_gemm, 16)
