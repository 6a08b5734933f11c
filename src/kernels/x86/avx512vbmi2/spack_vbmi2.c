/* Packed batch products of the sparse types (SQ4, SQ8, SQ4_24) at the
 * VBMI2 level: the prefill path of mb_matmul (mb_pack_fn /
 * mb_gemm_packed_fn in kernels.h), as kpack_avx512.c is for the K-quants.
 *
 * The row dots (sparse_vbmi2.c) spread a block's non-zeros to their
 * positions for every (weight row, activation row) pair: a VPEXPANDB and a
 * VPERMT2B per quarter, per pair. Prefill meets each weight row with
 * hundreds of activation rows, so here the spreading is done once per
 * batch: PACK expands 16 rows' blocks to one unsigned code per weight
 * (pruned weights get the offset, whose value is 0) and lays them out as
 * the K-quant panels do, lane r of a vector holding four consecutive codes
 * of row r. One VPDPBUSD with four activation bytes broadcast then adds 64
 * products for 16 rows at once, and the float step (one per 64-weight
 * quarter, with that quarter's scale) serves the 16 rows.
 *
 * Per block, with S_q the integer sum of quarter q (codes times activation
 * codes) and A_q the activation's sum over the quarter (its four 16-value
 * bsums), exactly as the row dots:
 *   dot = d_a * sum_q d_q * (S_q - OFF * A_q)
 * OFF is 8 for the 4-bit codes, 128 for SQ8's (stored signed, packed as
 * q + 128). The integer sums are exact; the float steps differ from the row
 * dots' only in order (float rounding), and a pair's operations do not
 * depend on the other rows of its panel or tile. */
#include <immintrin.h>
#include <string.h>

#include "kernels/x86/avx512/transpose_avx512.h"
#include "kernels/x86/avx512vbmi2/sparse_vbmi2.h"
#include "kernels/x86/avx512vbmi2/sparse_vbmi2_blocks.h"
#include "tensor/blocks.h"
#include "tensor/fp16.h"

enum { SP_ROWS = MB_SP_ROWS, SP_VECS = MB_QK_SPARSE / 4, SP_A = 8 };

/* One block of a 16-row panel (MB_SP_BLOCK_BYTES, a multiple of 64). */
typedef struct {
    uint8_t q[SP_VECS][SP_ROWS * 4]; /* [v][4r + b]: code of weight 4v + b of row r */
    float d[4][SP_ROWS];             /* [q][r]: the scale of quarter q */
} sp_block;

_Static_assert(sizeof(sp_block) == MB_SP_BLOCK_BYTES, "packed sparse block size");
_Static_assert(sizeof(sp_block) % 64 == 0, "packed sparse blocks stay 64-byte aligned");

/* One block of 16 rows before the transpose: a code per weight, the
 * quarter scales. Rows past n_w stay zero (scales 0), so they give 0. */
typedef struct {
    uint8_t u[SP_ROWS][MB_QK_SPARSE];
    float d[SP_ROWS][4];
} sp_stage;

static inline void stage_scales(float *out, const uint16_t *d) {
    _mm_storeu_ps(out, _mm_cvtph_ps(_mm_loadl_epi64((const __m128i *)(const void *)d)));
}

/* SQ4 and SQ8: each quarter's non-zeros spread under its mask, as the row
 * dots do. */
static inline void stage_masked(uint8_t *u, const uint8_t *mask, __m512i u0, __m512i u1, int off) {
    __m512i q[4];
    mbx_spread_file(mask, u0, u1, _mm512_set1_epi8((char)off), q);
    for (int i = 0; i < 4; i++)
        _mm512_store_si512((void *)(u + 64 * i), q[i]);
}

static void stage_sq4(sp_stage *st, int r, const void *blk) {
    const mb_block_sq4 *x = blk;
    __m512i u0, u1;
    mbx_nz_sq4(x, &u0, &u1);
    stage_masked(st->u[r], x->mask, u0, u1, 8);
    stage_scales(st->d[r], x->d);
}

/* A block in lanes: spread in its own order, then each code moved to its
 * weight's byte. */
static void stage_sq4_lanes(sp_stage *st, int r, const void *blk) {
    const mb_block_sq4 *x = blk;
    __m512i lanes[4], file[4];
    mbx_spread_lanes(x, _mm512_set1_epi8(8), lanes);
    mbx_gather256(lanes, mb_sq4_lanes_to_file(), file);
    for (int q = 0; q < 4; q++)
        _mm512_store_si512((void *)(st->u[r] + 64 * q), file[q]);
    stage_scales(st->d[r], x->d);
}

static void stage_sq8(sp_stage *st, int r, const void *blk) {
    const mb_block_sq8 *x = blk;
    __m512i u0, u1;
    mbx_nz_sq8(x, &u0, &u1);
    stage_masked(st->u[r], x->mask, u0, u1, 128);
    stage_scales(st->d[r], x->d);
}

/* SQ4_24: weight j of a quarter is in group g = j / 4, whose slots are
 * non-zeros 2g and 2g + 1 of the quarter: it takes the first slot's code
 * if that slot's position is j, the second's if that one's is, else 8 (a
 * zero). Each of a group's six choices names two different weights, so
 * no weight needs both. */
static void stage_sq4_24(sp_stage *st, int r, const void *blk) {
    const mb_block_sq4_24 *x = blk;
    __m512i codes[2];
    mbx_nibbles(x->qs, &codes[0], &codes[1]);
    const __m512i iota = mbx_iota();
    /* 2 (j / 4): the first slot of weight j's group, within 32 non-zeros. */
    const __m512i first =
        _mm512_slli_epi16(_mm512_and_si512(_mm512_srli_epi16(iota, 2), _mm512_set1_epi8(15)), 1);
    const __m512i fill = _mm512_set1_epi8(8);
    __m512i positions[2];
    mbx_positions_24(x, positions);
    for (int h = 0; h < 2; h++) {
        /* Half h: non-zeros 64h.., positions within the half (0..127). */
        const __m512i pos = positions[h];
        for (int s = 0; s < 2; s++) { /* quarter 2h + s: this half's non-zeros 32s.. */
            const __m512i i0 = _mm512_add_epi8(first, _mm512_set1_epi8((char)(32 * s)));
            const __m512i i1 = _mm512_add_epi8(i0, _mm512_set1_epi8(1));
            const __m512i here = _mm512_add_epi8(iota, _mm512_set1_epi8((char)(64 * s)));
            const __mmask64 at0 = _mm512_cmpeq_epi8_mask(_mm512_permutexvar_epi8(i0, pos), here);
            const __mmask64 at1 = _mm512_cmpeq_epi8_mask(_mm512_permutexvar_epi8(i1, pos), here);
            __m512i q = _mm512_mask_blend_epi8(at0, fill, _mm512_permutexvar_epi8(i0, codes[h]));
            q = _mm512_mask_blend_epi8(at1, q, _mm512_permutexvar_epi8(i1, codes[h]));
            _mm512_store_si512((void *)(st->u[r] + 64 * (2 * h + s)), q);
        }
    }
    stage_scales(st->d[r], x->d);
}

/* The stage transposed into a panel block: output vector v takes dword v
 * of every row. */
static void sp_emit(sp_block *b, const sp_stage *st) {
    for (int ch = 0; ch < SP_VECS / 16; ch++) {
        __m512 t[16];
        for (int i = 0; i < 16; i++)
            t[i] = _mm512_load_ps((const void *)(st->u[i] + 64 * ch));
        mbx_transpose(t);
        for (int c = 0; c < 16; c++)
            _mm512_store_ps((void *)b->q[16 * ch + c], t[c]);
    }
    for (int q = 0; q < 4; q++)
        for (int r = 0; r < SP_ROWS; r++)
            b->d[q][r] = st->d[r][q];
}

#define SP_PACK(name, BLOCK, STAGE)                                                                \
    void mb_vbmi2_pack_##name(int64_t n, void *panel, const void *w, size_t ws, int n_w) {         \
        sp_block *out = panel;                                                                     \
        _Alignas(64) sp_stage st;                                                                  \
        memset(&st, 0, sizeof st);                                                                 \
        for (int64_t s = 0; s < n / MB_QK_SPARSE; s++) {                                           \
            for (int r = 0; r < n_w; r++)                                                          \
                STAGE(&st, r,                                                                      \
                      (const BLOCK *)(const void *)((const uint8_t *)w + (size_t)r * ws) + s);     \
            sp_emit(&out[s], &st);                                                                 \
        }                                                                                          \
    }

SP_PACK(sq4, mb_block_sq4, stage_sq4)
SP_PACK(sq4_lanes, mb_block_sq4, stage_sq4_lanes)
SP_PACK(sq8, mb_block_sq8, stage_sq8)
SP_PACK(sq4_24, mb_block_sq4_24, stage_sq4_24)

static inline __m512i bcast4(const void *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

/* A activation rows (a constant after inlining) against one panel. */
static inline __attribute__((always_inline)) void sp_gemm(int64_t n, float *out, size_t os,
                                                          const sp_block *pb, const uint8_t *a,
                                                          size_t as, int add, const int A,
                                                          const int OFF) {
    /* OFF in both halves of a lane: VPDPWSSD with two bsums gives OFF times
     * their sum. */
    const __m512i off2 = _mm512_set1_epi32(OFF | OFF << 16);
    __m512 acc[SP_A];
#pragma GCC unroll 8
    for (int k = 0; k < A; k++)
        acc[k] = _mm512_setzero_ps();
    for (int64_t s = 0; s < n / MB_QK_SPARSE; s++) {
        const sp_block *b = &pb[s];
        const mb_block_q8_k *y[SP_A];
        __m512 fs[SP_A];
#pragma GCC unroll 8
        for (int k = 0; k < A; k++) {
            y[k] = (const mb_block_q8_k *)(const void *)(a + (size_t)k * as) + s;
            fs[k] = _mm512_setzero_ps();
        }
#pragma GCC unroll 4
        for (int q = 0; q < 4; q++) {
            __m512i S[SP_A];
            /* Starts at -OFF * A_q, so the codes' offset cancels. */
#pragma GCC unroll 8
            for (int k = 0; k < A; k++) {
                const __m512i m = _mm512_dpwssd_epi32(
                    _mm512_dpwssd_epi32(_mm512_setzero_si512(), off2, bcast4(y[k]->bsums + 4 * q)),
                    off2, bcast4(y[k]->bsums + 4 * q + 2));
                S[k] = _mm512_sub_epi32(_mm512_setzero_si512(), m);
            }
#pragma GCC unroll 16
            for (int v = 16 * q; v < 16 * q + 16; v++) {
                const __m512i wv = _mm512_load_si512((const void *)b->q[v]);
#pragma GCC unroll 8
                for (int k = 0; k < A; k++)
                    S[k] = _mm512_dpbusd_epi32(S[k], wv, bcast4(y[k]->qs + 4 * v));
            }
            const __m512 d = _mm512_load_ps(b->d[q]);
#pragma GCC unroll 8
            for (int k = 0; k < A; k++)
                fs[k] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(S[k]), d, fs[k]);
        }
#pragma GCC unroll 8
        for (int k = 0; k < A; k++)
            acc[k] = _mm512_fmadd_ps(_mm512_set1_ps(y[k]->d), fs[k], acc[k]);
    }
#pragma GCC unroll 8
    for (int k = 0; k < A; k++) {
        float *o = out + (size_t)k * os;
        _mm512_storeu_ps(o, add ? _mm512_add_ps(_mm512_loadu_ps(o), acc[k]) : acc[k]);
    }
}

/* Tiles of SP_A activation rows, then of 4, then single rows: a pair's
 * operations are the same in each, so its result does not depend on the
 * batch. */
#define SP_GEMM(name, OFF)                                                                         \
    void mb_vbmi2_gemm_packed_##name(int64_t n, float *out, size_t os, const void *panel,          \
                                     const void *a, size_t as, int n_a, int add) {                 \
        const uint8_t *ab = a;                                                                     \
        int r = 0;                                                                                 \
        for (; r + SP_A <= n_a; r += SP_A)                                                         \
            sp_gemm(n, out + (size_t)r * os, os, panel, ab + (size_t)r * as, as, add, SP_A, OFF);  \
        for (; r + 4 <= n_a; r += 4)                                                               \
            sp_gemm(n, out + (size_t)r * os, os, panel, ab + (size_t)r * as, as, add, 4, OFF);     \
        for (; r < n_a; r++)                                                                       \
            sp_gemm(n, out + (size_t)r * os, os, panel, ab + (size_t)r * as, as, add, 1, OFF);     \
    }

SP_GEMM(sq4, 8)
SP_GEMM(sq8, 128)
SP_GEMM(sq4_24, 8)
