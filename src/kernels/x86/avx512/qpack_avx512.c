/* Packed batch products of Q4_0 and Q8_0 weights with Q8_0 activations at
 * the AVX-512 level: the panels of kpack_avx512.c (lane r of a 512-bit
 * vector holds four consecutive codes of weight row r, one VPDPBUSD with
 * four broadcast activation bytes adds 64 products) for the 32-value block
 * types.
 *
 * Both types carry an offset: Q4_0 codes are q in 0..15 for q - 8, and
 * Q8_0's signed values enter VPDPBUSD's unsigned operand as w + 128. The
 * offset times the activation block's sum has to come off, and Q8_0
 * activations carry no sums (Q8_K's bsums play that part for the K-quants).
 * So a panel holds 15 weight rows, and lane 15 holds ones: the same
 * VPDPBUSD sums the activation block there, and one permute broadcasts it.
 * Per block and activation row:
 *   dot = d_w * d_a * (S - off * sum(a)),  S = sum(code * a)  (exact ints)
 * The float steps differ from the row dots' only in order (float rounding);
 * a pair's operations do not depend on the other rows of its panel. */
#include <immintrin.h>
#include <string.h>

#include "kernels/x86/avx512/dot_avx512.h"
#include "kernels/x86/avx512/int_avx512.h"
#include "kernels/x86/avx512/panel_avx512.h"
#include "kernels/x86/avx512/transpose_avx512.h"
#include "tensor/blocks.h"
#include "tensor/fp16.h"

enum { QP_LANES = 16, QP_ROWS = MB_QP_ROWS, QP_VECS = 8 };

/* One 32-value block of a panel (MB_QP_BLOCK_BYTES). */
typedef struct {
    uint8_t q[QP_VECS][QP_LANES * 4]; /* [v][4r + b]: code of value 4v + b of row r */
    float d[QP_LANES];                /* [r]: the row's block scale; 0 in lane 15 */
} qp_block;

_Static_assert(sizeof(qp_block) == MB_QP_BLOCK_BYTES, "packed Q block size");
_Static_assert(sizeof(qp_block) % 64 == 0, "packed Q blocks stay 64-byte aligned");
_Static_assert(QP_ROWS == QP_LANES - 1, "lane 15 sums the activations");

/* Two blocks of 16 lanes before the transpose: codes in value order. */
typedef struct {
    uint8_t u[QP_LANES][64];
    float d[2][QP_LANES];
} qp_stage;

static void qp_stage_q4_0(qp_stage *st, int r, int half, const mb_block_q4_0 *x) {
    const __m128i q = _mm_loadu_si128((const __m128i *)(const void *)x->qs);
    const __m128i nib = _mm_set1_epi8(0xF);
    uint8_t *u = st->u[r] + 32 * half;
    _mm_storeu_si128((__m128i *)(void *)u, _mm_and_si128(q, nib));
    _mm_storeu_si128((__m128i *)(void *)(u + 16), _mm_and_si128(_mm_srli_epi16(q, 4), nib));
    st->d[half][r] = mb_half_to_float(x->d);
}

static void qp_stage_q8_0(qp_stage *st, int r, int half, const mb_block_q8_0 *x) {
    const __m256i q = _mm256_loadu_si256((const __m256i *)(const void *)x->qs);
    _mm256_storeu_si256((__m256i *)(void *)(st->u[r] + 32 * half),
                        _mm256_xor_si256(q, _mm256_set1_epi8((char)0x80)));
    st->d[half][r] = mb_half_to_float(x->d);
}

/* Blocks 2i and 2i + 1 (if there) from the stage. */
static void qp_emit(qp_block *b, qp_stage *st, int two) {
    __m512 r[16];
    for (int i = 0; i < 16; i++)
        r[i] = _mm512_loadu_ps((const void *)st->u[i]);
    mbx_transpose(r);
    for (int h = 0; h < 1 + two; h++) {
        for (int v = 0; v < QP_VECS; v++)
            _mm512_store_ps((void *)b[h].q[v], r[QP_VECS * h + v]);
        memcpy(b[h].d, st->d[h], sizeof b[h].d);
    }
}

#define QP_PACK(name, BLOCK, STAGE)                                                                \
    void MBX_NAME(pack_##name)(int64_t n, void *panel, const void *w, size_t ws, int n_w) {        \
        qp_block *out = panel;                                                                     \
        qp_stage st;                                                                               \
        memset(&st, 0, sizeof st);                                                                 \
        memset(st.u[QP_ROWS], 1, sizeof st.u[QP_ROWS]); /* the summing lane */                     \
        const int64_t nb = n / 32;                                                                 \
        for (int64_t i = 0; i < nb; i += 2) {                                                      \
            const int two = i + 1 < nb;                                                            \
            for (int h = 0; h < 1 + two; h++)                                                      \
                for (int r = 0; r < n_w; r++) {                                                    \
                    const BLOCK *x =                                                               \
                        (const BLOCK *)(const void *)((const uint8_t *)w + (size_t)r * ws) + i +   \
                        h;                                                                         \
                    STAGE(&st, r, h, x);                                                           \
                }                                                                                  \
            qp_emit(&out[i], &st, two);                                                            \
        }                                                                                          \
    }

QP_PACK(q4_0, mb_block_q4_0, qp_stage_q4_0)
QP_PACK(q8_0, mb_block_q8_0, qp_stage_q8_0)

/* A activation rows (a constant after inlining) against one panel; SHIFT:
 * log2 of the offset (3 for Q4_0's 8, 7 for Q8_0's 128). */
static inline __attribute__((always_inline)) void qp_gemm(int64_t n, float *out, size_t os,
                                                          const qp_block *pb, const uint8_t *a,
                                                          size_t as, int add, const int A,
                                                          const int SHIFT) {
    const __m512i lane15 = _mm512_set1_epi32(15);
    const __mmask16 rows = (__mmask16)((1u << QP_ROWS) - 1u);
    __m512 acc[MB_KP_A];
    MBX_PANEL_UNROLL
    for (int k = 0; k < A; k++)
        acc[k] = _mm512_setzero_ps();
    for (int64_t i = 0; i < n / 32; i++) {
        const qp_block *b = &pb[i];
        const mb_block_q8_0 *y[MB_KP_A];
        __m512i S[MB_KP_A];
        MBX_PANEL_UNROLL
        for (int k = 0; k < A; k++) {
            y[k] = (const mb_block_q8_0 *)(const void *)(a + (size_t)k * as) + i;
            S[k] = _mm512_setzero_si512();
        }
#if !MBX_VNNI
        if (SHIFT == 3) {
            /* Without VNNI, Q4_0's VPMADDUBSW pair sums (at most 2 * 15 *
             * 127) add up over the block's 8 vectors in 16 bits before one
             * VPMADDWD: exact, as VPDPBUSD. */
            __m512i T[MB_KP_A];
            MBX_PANEL_UNROLL
            for (int v = 0; v < QP_VECS; v++) {
                const __m512i wv = _mm512_load_si512((const void *)b->q[v]);
                MBX_PANEL_UNROLL
                for (int k = 0; k < A; k++) {
                    const __m512i p = _mm512_maddubs_epi16(wv, mbx_bcast4(y[k]->qs + 4 * v));
                    T[k] = v == 0 ? p : _mm512_add_epi16(T[k], p);
                }
            }
            MBX_PANEL_UNROLL
            for (int k = 0; k < A; k++)
                S[k] = _mm512_madd_epi16(T[k], _mm512_set1_epi16(1));
        } else
#endif
        {
            MBX_PANEL_UNROLL
            for (int v = 0; v < QP_VECS; v++) {
                const __m512i wv = _mm512_load_si512((const void *)b->q[v]);
                MBX_PANEL_UNROLL
                for (int k = 0; k < A; k++)
                    S[k] = SHIFT == 7 ? mbx_dpbusd512_u8(S[k], wv, mbx_bcast4(y[k]->qs + 4 * v))
                                      : mbx_dpbusd512(S[k], wv, mbx_bcast4(y[k]->qs + 4 * v));
            }
        }
        const __m512 dw = _mm512_load_ps(b->d);
        MBX_PANEL_UNROLL
        for (int k = 0; k < A; k++) {
            const __m512i sum = _mm512_permutexvar_epi32(lane15, S[k]);
            const __m512i s = _mm512_sub_epi32(S[k], _mm512_slli_epi32(sum, SHIFT));
            const __m512 d = _mm512_mul_ps(dw, _mm512_set1_ps(_cvtsh_ss(y[k]->d)));
            acc[k] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), d, acc[k]);
        }
    }
    MBX_PANEL_UNROLL
    for (int k = 0; k < A; k++)
        mbx_panel_store(out + (size_t)k * os, acc[k], add, rows);
}

MBX_PANEL_GEMM(q4_0, qp_gemm, 3)
MBX_PANEL_GEMM(q8_0, qp_gemm, 7)
