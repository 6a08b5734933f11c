/* SQ4 in lanes (kernels/sq4_lanes.h) at the VBMI2 level: the conversion
 * of blocks both ways and the product.
 *
 * The product spreads register r's non-zeros (register 0's from slot 0,
 * 1's and 2's brought to the bottom from their offset by VPERMT2B, 3's
 * reversed from slot 127 by VPERMB) to their bytes by VPEXPANDB under
 * mask word r, with the offset 8 in the pruned bytes, and VPDPBUSD adds
 * them times the reordered activation codes into one integer sum per
 * block, which starts at -8 times the sum of each lane's activation codes
 * (so the offset cancels, as in sparse_vbmi2.c). Lane l of that sum
 * belongs to quarter l % 4: one conversion and one multiply-add by
 * (d0 d1 d2 d3) x 4 times the activation's scale finish the block. */
#include <immintrin.h>
#include <string.h>

#include "kernels/prefetch.h"
#include "kernels/sq4_lanes.h"
#include "kernels/x86/avx512vbmi2/sparse_vbmi2.h"
#include "kernels/x86/avx512vbmi2/sparse_vbmi2_blocks.h"
#include "tensor/blocks.h"

void mb_vbmi2_sq4_convert(int64_t n_blocks, void *dst, const void *src, int to_lanes) {
    const __m512i none = _mm512_set1_epi8(16); /* no code is 16 */
    const __m512i rev = _mm512_load_si512((const void *)mbx_rev64);
    const uint8_t *perm = to_lanes ? mb_sq4_lanes_from_file() : mb_sq4_lanes_to_file();
    for (int64_t i = 0; i < n_blocks; i++) {
        const mb_block_sq4 *x = (const mb_block_sq4 *)src + i;
        __m512i dense[4], moved[4];
        if (to_lanes) {
            __m512i u0, u1;
            mbx_nz_sq4(x, &u0, &u1);
            mbx_spread_file(x->mask, u0, u1, none, dense);
        } else {
            mbx_spread_lanes(x, none, dense);
        }
        mbx_gather256(dense, perm, moved);
        mb_block_sq4 y;
        memcpy(y.d, x->d, sizeof y.d);
        /* The kept codes of each register in slot order: 128 bytes and a
         * register's 64 past them. */
        _Alignas(64) uint8_t codes[192];
        memset(codes, 0, sizeof codes);
        int o = 0;
        for (int r = 0; r < 4; r++) {
            const __mmask64 kept = _mm512_cmpneq_epi8_mask(moved[r], none);
            memcpy(y.mask + 8 * r, &kept, 8);
            const __m512i c = _mm512_maskz_compress_epi8(kept, moved[r]);
            const int n = (int)_mm_popcnt_u64(kept);
            if (to_lanes && r == 3) {
                /* Reversed into slots 127 down, over the others' zeros. */
                const __mmask64 top = n ? ~0ull << (64 - n) : 0;
                _mm512_mask_storeu_epi8((void *)(codes + 64), top, _mm512_permutexvar_epi8(rev, c));
            } else {
                _mm512_storeu_si512((void *)(codes + o), c);
                o += n;
            }
        }
        const __m512i lo = _mm512_load_si512((const void *)codes),
                      hi = _mm512_load_si512((const void *)(codes + 64));
        _mm512_storeu_si512((void *)y.qs, _mm512_or_si512(lo, _mm512_slli_epi16(hi, 4)));
        memcpy((mb_block_sq4 *)dst + i, &y, sizeof y);
    }
}

/* Values per pass over the weights: the activation rows' prepared copies
 * live on the stack (about 1.3 bytes per value per row). A longer row is
 * done in passes that add onto the first. */
enum { PASS = 16384, PASS_BLOCKS = PASS / MB_QK_SPARSE, GROUP = 4 };

/* One activation row's blocks [B0, B0 + NB), prepared: the codes in lanes
 * order, -8 times each lane's sum of them, the scale. */
typedef struct {
    _Alignas(64) int8_t q[PASS];
    int32_t neg[PASS_BLOCKS][16];
    float d[PASS_BLOCKS];
} lanes_act;

static void prepare(lanes_act *p, const mb_block_q8_k *y, int64_t nb) {
    const uint8_t *perm = mb_sq4_lanes_from_file();
    const __m512i eight = _mm512_set1_epi8(8);
    for (int64_t i = 0; i < nb; i++) {
        const __m512i v[4] = {
            _mm512_loadu_si512((const void *)y[i].qs),
            _mm512_loadu_si512((const void *)(y[i].qs + 64)),
            _mm512_loadu_si512((const void *)(y[i].qs + 128)),
            _mm512_loadu_si512((const void *)(y[i].qs + 192)),
        };
        __m512i lanes[4];
        mbx_gather256(v, perm, lanes);
        __m512i s = _mm512_setzero_si512();
        for (int r = 0; r < 4; r++) {
            _mm512_store_si512((void *)(p->q + i * MB_QK_SPARSE + 64 * r), lanes[r]);
            s = _mm512_dpbusd_epi32(s, eight, lanes[r]);
        }
        _mm512_storeu_si512((void *)p->neg[i], _mm512_sub_epi32(_mm512_setzero_si512(), s));
        p->d[i] = y[i].d;
    }
}

/* Rows [0, N_W) against the prepared activation rows P[0..A): blocks of
 * one pass, sums added onto ACC. */
static inline __attribute__((always_inline)) void
lanes_rows(int64_t nb, const uint8_t *w, size_t w_stride, int n_w, const lanes_act *p, const int A,
           float *out, size_t out_stride, int add) {
    const __m512i fill = _mm512_set1_epi8(8);
    const int pf = mb_decode_prefetch();
    for (int o = 0; o < n_w; o++) {
        const mb_block_sq4 *x = (const mb_block_sq4 *)(const void *)(w + (size_t)o * w_stride);
        __m512 acc[GROUP];
#pragma GCC unroll 4
        for (int a = 0; a < A; a++)
            acc[a] = _mm512_setzero_ps();
        for (int64_t i = 0; i < nb; i++) {
            if (pf) mb_prefetch_ahead(&x[i], sizeof *x);
            __m512i wv[4];
            mbx_spread_lanes(&x[i], fill, wv);
            const __m128 dw = _mm_cvtph_ps(_mm_loadl_epi64((const __m128i *)(const void *)x[i].d));
#pragma GCC unroll 4
            for (int a = 0; a < A; a++) {
                const int8_t *q = p[a].q + i * MB_QK_SPARSE;
                __m512i s = _mm512_loadu_si512((const void *)p[a].neg[i]);
#pragma GCC unroll 4
                for (int r = 0; r < 4; r++)
                    s = _mm512_dpbusd_epi32(s, wv[r],
                                            _mm512_load_si512((const void *)(q + 64 * r)));
                /* The scales through memory: a broadcast load takes no
                 * shuffle port. */
                float ds[4];
                _mm_storeu_ps(ds, _mm_mul_ps(dw, _mm_set1_ps(p[a].d[i])));
                __asm__("" : "+m"(ds));
                acc[a] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s),
                                         _mm512_broadcast_f32x4(_mm_loadu_ps(ds)), acc[a]);
            }
        }
        for (int a = 0; a < A; a++) {
            const float v = _mm512_reduce_add_ps(acc[a]);
            float *dst = out + (size_t)a * out_stride + o;
            *dst = add ? *dst + v : v;
        }
    }
}

void mb_vbmi2_sq4_lanes(int64_t n, float *out, size_t out_stride, const void *w, size_t w_stride,
                        int n_w, const void *act, size_t act_stride, int n_act, int add) {
    lanes_act p[GROUP];
    const int64_t nb_all = n / MB_QK_SPARSE;
    for (int64_t b0 = 0; b0 < nb_all; b0 += PASS_BLOCKS) {
        const int64_t nb = nb_all - b0 < PASS_BLOCKS ? nb_all - b0 : PASS_BLOCKS;
        const uint8_t *wp = (const uint8_t *)w + (size_t)b0 * sizeof(mb_block_sq4);
        for (int c0 = 0; c0 < n_act; c0 += GROUP) {
            const int A = n_act - c0 < GROUP ? n_act - c0 : GROUP;
            for (int a = 0; a < A; a++)
                prepare(&p[a],
                        (const mb_block_q8_k *)(const void *)((const uint8_t *)act +
                                                              (size_t)(c0 + a) * act_stride) +
                            b0,
                        nb);
            float *o = out + (size_t)c0 * out_stride;
            const int pass_add = add || b0 > 0;
            /* (A constant per call, so each count gets its own loop.) */
            if (A == 1)
                lanes_rows(nb, wp, w_stride, n_w, p, 1, o, out_stride, pass_add);
            else if (A == 2)
                lanes_rows(nb, wp, w_stride, n_w, p, 2, o, out_stride, pass_add);
            else if (A == 3)
                lanes_rows(nb, wp, w_stride, n_w, p, 3, o, out_stride, pass_add);
            else
                lanes_rows(nb, wp, w_stride, n_w, p, 4, o, out_stride, pass_add);
        }
    }
}
