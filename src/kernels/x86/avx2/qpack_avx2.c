/* Packed batch products of Q4_0 and Q8_0 weights with Q8_0 activations at
 * the AVX2 level: the panels of panel_avx2.h (lane r of a 256-bit vector
 * holds four consecutive codes of weight row r) for the 32-value block
 * types. VPMADDUBSW needs one unsigned operand, and Q8_0 activations carry
 * no block sums to take an offset off with, so each type puts its signs
 * where the products cannot saturate 16 bits and no sum of activations is
 * needed:
 *
 * Q4_0: the weights are stored signed (code - 8, -8..7) and the activations
 * made unsigned, a + 128 (1..255; the encoder keeps a within -127..127),
 * by a VPXOR on each broadcast (measured 95-108 GMAC/s against 80-87 for
 * one XOR per block into a stack buffer the broadcasts then load from: the
 * 4-byte loads from the 32-byte stores stall). A VPMADDUBSW pair is then at most
 * 2 * 255 * 8 = 4080, and the block's 8 vectors sum to at most 32640 in 16
 * bits. The +128 adds 128 * sum(code - 8) per weight row and block, which
 * the panel holds (c), so:
 *   dot = d_w * d_a * (S - c),  S = sum((code - 8) * (a + 128))  (exact ints)
 *
 * Q8_0: the panel holds the signed weights; VPABSB gives |w| once per
 * vector and VPSIGNB moves w's sign onto the broadcast activations, so a
 * pair is at most 2 * 128 * 127 = 32512 (even for a -128 weight). Pairs
 * cannot be added in 16 bits, so each goes to 32 bits at once.
 *
 * The float steps differ from the row dots' only in order (float
 * rounding); a pair's operations do not depend on the other rows of its
 * panel or tile. */
#include <immintrin.h>
#include <string.h>

#include "kernels/x86/avx2/dot_avx2.h"
#include "kernels/x86/avx2/panel_avx2.h"
#include "kernels/x86/avx2/transpose_avx2.h"
#include "tensor/blocks.h"
#include "tensor/fp16.h"

enum { QP_ROWS = MB_AP_ROWS, QP_VECS = 8 };

/* One 32-value block of a Q4_0 panel (MB_AP_Q4_0_BLOCK_BYTES). */
typedef struct {
    int8_t q[QP_VECS][QP_ROWS * 4]; /* [v][4r + b]: code - 8 of value 4v + b of row r */
    float d[QP_ROWS];               /* [r]: the row's block scale */
    int32_t c[QP_ROWS];             /* [r]: 128 * sum of the row's code - 8 */
} q4p_block;

/* One 32-value block of a Q8_0 panel (MB_AP_Q8_0_BLOCK_BYTES). */
typedef struct {
    int8_t q[QP_VECS][QP_ROWS * 4]; /* [v][4r + b]: value 4v + b of row r */
    float d[QP_ROWS];
} q8p_block;

_Static_assert(sizeof(q4p_block) == MB_AP_Q4_0_BLOCK_BYTES, "packed Q4_0 block size");
_Static_assert(sizeof(q8p_block) == MB_AP_Q8_0_BLOCK_BYTES, "packed Q8_0 block size");
_Static_assert(sizeof(q4p_block) % 32 == 0 && sizeof(q8p_block) % 32 == 0,
               "packed Q blocks stay 32-byte aligned");

/* One block of 8 rows before the transpose; rows past n_w stay zero. */
typedef struct {
    _Alignas(32) int8_t u[QP_ROWS][32];
    float d[QP_ROWS];
    int32_t c[QP_ROWS];
} qp_stage;

static void qp_stage_q4_0(qp_stage *st, int r, const mb_block_q4_0 *x) {
    const __m128i q = _mm_loadu_si128((const __m128i *)(const void *)x->qs);
    const __m128i nib = _mm_set1_epi8(0xF), eight = _mm_set1_epi8(8);
    const __m128i lo = _mm_and_si128(q, nib), hi = _mm_and_si128(_mm_srli_epi16(q, 4), nib);
    _mm_store_si128((__m128i *)(void *)st->u[r], _mm_sub_epi8(lo, eight));
    _mm_store_si128((__m128i *)(void *)(st->u[r] + 16), _mm_sub_epi8(hi, eight));
    const __m128i sad =
        _mm_add_epi64(_mm_sad_epu8(lo, _mm_setzero_si128()), _mm_sad_epu8(hi, _mm_setzero_si128()));
    const int codes = _mm_cvtsi128_si32(sad) + _mm_extract_epi32(sad, 2);
    st->c[r] = 128 * (codes - 8 * 32);
    st->d[r] = mb_half_to_float(x->d);
}

static void qp_stage_q8_0(qp_stage *st, int r, const mb_block_q8_0 *x) {
    memcpy(st->u[r], x->qs, 32);
    st->d[r] = mb_half_to_float(x->d);
}

static void qp_emit_q4_0(q4p_block *b, const qp_stage *st) {
    mbx_transpose_bytes(b->q, st->u, sizeof st->u[0]);
    memcpy(b->d, st->d, sizeof b->d);
    memcpy(b->c, st->c, sizeof b->c);
}

static void qp_emit_q8_0(q8p_block *b, const qp_stage *st) {
    mbx_transpose_bytes(b->q, st->u, sizeof st->u[0]);
    memcpy(b->d, st->d, sizeof b->d);
}

#define QP_PACK(name, BLOCK, PBLOCK)                                                               \
    void mb_avx2_pack_##name(int64_t n, void *panel, const void *w, size_t ws, int n_w) {          \
        PBLOCK *out = panel;                                                                       \
        qp_stage st;                                                                               \
        memset(&st, 0, sizeof st);                                                                 \
        for (int64_t i = 0; i < n / 32; i++) {                                                     \
            for (int r = 0; r < n_w; r++)                                                          \
                qp_stage_##name(                                                                   \
                    &st, r,                                                                        \
                    (const BLOCK *)(const void *)((const uint8_t *)w + (size_t)r * ws) + i);       \
            qp_emit_##name(&out[i], &st);                                                          \
        }                                                                                          \
    }

QP_PACK(q4_0, mb_block_q4_0, q4p_block)
QP_PACK(q8_0, mb_block_q8_0, q8p_block)

/* The d_w * d_a factors of activation block Y for the panel's rows. */
static inline __m256 qp_scale(const float *dw, const mb_block_q8_0 *y) {
    return _mm256_mul_ps(_mm256_load_ps(dw), _mm256_set1_ps(_cvtsh_ss(y->d)));
}

/* Q4_0: A activation rows (a constant after inlining) against one panel. */
static inline __attribute__((always_inline)) void q4p_gemm(int64_t n, float *out, size_t os,
                                                           const q4p_block *pb, const uint8_t *a,
                                                           size_t as, int add, const int A,
                                                           int unused) {
    (void)unused;
    const __m256i flip = _mm256_set1_epi8((char)0x80), ones = _mm256_set1_epi16(1);
    __m256 acc[MB_AP_A];
    MBX_AP_UNROLL
    for (int k = 0; k < A; k++)
        acc[k] = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / 32; i++) {
        const q4p_block *b = &pb[i];
        const mb_block_q8_0 *y[MB_AP_A];
        MBX_AP_UNROLL
        for (int k = 0; k < A; k++)
            y[k] = (const mb_block_q8_0 *)(const void *)(a + (size_t)k * as) + i;
        __m256i h[MB_AP_A];
        MBX_AP_UNROLL
        for (int v = 0; v < QP_VECS; v++) {
            const __m256i wv = _mm256_load_si256((const __m256i *)(const void *)b->q[v]);
            MBX_AP_UNROLL
            for (int k = 0; k < A; k++) {
                const __m256i p = _mm256_maddubs_epi16(
                    _mm256_xor_si256(mbx_ap_bcast4(y[k]->qs + 4 * v), flip), wv);
                h[k] = v == 0 ? p : _mm256_add_epi16(h[k], p);
                MBX_AP_KEEP(h[k]);
            }
        }
        const __m256i c = _mm256_load_si256((const __m256i *)(const void *)b->c);
        MBX_AP_UNROLL
        for (int k = 0; k < A; k++) {
            const __m256i s = _mm256_sub_epi32(_mm256_madd_epi16(h[k], ones), c);
            acc[k] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), qp_scale(b->d, y[k]), acc[k]);
        }
    }
    MBX_AP_UNROLL
    for (int k = 0; k < A; k++)
        mbx_ap_store(out + (size_t)k * os, acc[k], add);
}

/* Q8_0: A activation rows against one panel. */
static inline __attribute__((always_inline)) void q8p_gemm(int64_t n, float *out, size_t os,
                                                           const q8p_block *pb, const uint8_t *a,
                                                           size_t as, int add, const int A,
                                                           int unused) {
    (void)unused;
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc[MB_AP_A];
    MBX_AP_UNROLL
    for (int k = 0; k < A; k++)
        acc[k] = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / 32; i++) {
        const q8p_block *b = &pb[i];
        const mb_block_q8_0 *y[MB_AP_A];
        __m256i s[MB_AP_A];
        MBX_AP_UNROLL
        for (int k = 0; k < A; k++) {
            y[k] = (const mb_block_q8_0 *)(const void *)(a + (size_t)k * as) + i;
            s[k] = _mm256_setzero_si256();
        }
        MBX_AP_UNROLL
        for (int v = 0; v < QP_VECS; v++) {
            const __m256i wv = _mm256_load_si256((const __m256i *)(const void *)b->q[v]);
            const __m256i aw = _mm256_abs_epi8(wv);
            MBX_AP_UNROLL
            for (int k = 0; k < A; k++) {
                const __m256i sa = _mm256_sign_epi8(mbx_ap_bcast4(y[k]->qs + 4 * v), wv);
                s[k] =
                    _mm256_add_epi32(s[k], _mm256_madd_epi16(_mm256_maddubs_epi16(aw, sa), ones));
                MBX_AP_KEEP(s[k]);
            }
        }
        MBX_AP_UNROLL
        for (int k = 0; k < A; k++)
            acc[k] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s[k]), qp_scale(b->d, y[k]), acc[k]);
    }
    MBX_AP_UNROLL
    for (int k = 0; k < A; k++)
        mbx_ap_store(out + (size_t)k * os, acc[k], add);
}

MBX_AP_GEMM(q4_0, q4p_gemm, 0)
MBX_AP_GEMM(q8_0, q8p_gemm, 0)
