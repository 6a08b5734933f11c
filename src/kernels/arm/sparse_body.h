/* The sparse dots (tensor/blocks.h: SQ4, SQ8) of the neon and neon-dotprod
 * levels, which differ only in mbn_dot4 (SDOT against widening multiplies;
 * the including file defines it and MBN_NAME, as for dot_int_body.h). NEON
 * has no expand instruction: each mask byte indexes a table of 8-byte TBL
 * patterns (mb_neon_sparse_pattern) that spread the next popcount(byte)
 * non-zeros to the byte's 8 positions; TBL gives zero for the out-of-range
 * index the pattern puts at pruned positions. The weights stay signed, so
 * each quarter's integer dot is exact without any offset correction. */
#include <arm_neon.h>
#include <stddef.h>
#include <stdint.h>

#include "kernels/arm/arm_kernels.h"
#include "tensor/blocks.h"
#include "tensor/fp16.h"

/* The block's non-zeros in order as signed bytes, NZ padded to 144 bytes
 * (the spreading loads 16 bytes at any offset up to 128). */
static inline void mbs_nz_sq4(const void *blk, int8_t *nz) {
    const mb_block_sq4 *b = blk;
    const int8x16_t eight = vdupq_n_s8(8);
    for (int i = 0; i < 64; i += 16) {
        const uint8x16_t raw = vld1q_u8(b->qs + i);
        vst1q_s8(nz + i, vsubq_s8(vreinterpretq_s8_u8(vandq_u8(raw, vdupq_n_u8(15))), eight));
        vst1q_s8(nz + 64 + i, vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(raw, 4)), eight));
    }
}

static inline void mbs_nz_sq8(const void *blk, int8_t *nz) {
    const mb_block_sq8 *b = blk;
    for (int i = 0; i < MB_SPARSE_CAP; i += 16)
        vst1q_s8(nz + i, vld1q_s8(b->qs + i));
}

/* The block's 256 weights, 16 per register, from its mask and NZ. */
static inline void mbs_spread(const int8_t *nz, const uint8_t *mask, int8x16_t w[16]) {
    int off = 0;
    for (int v = 0; v < 16; v++) {
        const uint8_t m0 = mask[2 * v], m1 = mask[2 * v + 1];
        const int8x8_t lo = vqtbl1_s8(vld1q_s8(nz + off), vld1_u8(mb_neon_sparse_pattern[m0]));
        off += __builtin_popcount(m0);
        const int8x8_t hi = vqtbl1_s8(vld1q_s8(nz + off), vld1_u8(mb_neon_sparse_pattern[m1]));
        off += __builtin_popcount(m1);
        w[v] = vcombine_s8(lo, hi);
    }
}

/* acc + per quarter d[q] * a.d * (w[q] . a[64q..]). */
static inline float32x4_t mbs_block(const int8x16_t w[16], const uint16_t *d,
                                    const mb_block_q8_k *y, float32x4_t acc) {
    for (int q = 0; q < 4; q++) {
        int32x4_t s = mbn_dot4(vdupq_n_s32(0), w[4 * q], vld1q_s8(y->qs + 64 * q));
        s = mbn_dot4(s, w[4 * q + 1], vld1q_s8(y->qs + 64 * q + 16));
        s = mbn_dot4(s, w[4 * q + 2], vld1q_s8(y->qs + 64 * q + 32));
        s = mbn_dot4(s, w[4 * q + 3], vld1q_s8(y->qs + 64 * q + 48));
        acc = vfmaq_n_f32(acc, vcvtq_f32_s32(s), mb_half_to_float(d[q]) * y->d);
    }
    return acc;
}

/* vec_dot, and vec_dot_rows spreading each weight block once for all the
 * activation rows (the same operations per row, so the same bits). */
#define MBS_DEFINE_DOTS(name, block_t)                                                             \
    void MBN_NAME(dot_##name)(int64_t n, float *out, const void *w, const void *a) {               \
        const block_t *x = w;                                                                      \
        const mb_block_q8_k *y = a;                                                                \
        int8_t nz[MB_SPARSE_CAP + 16] = {0};                                                       \
        float32x4_t acc = vdupq_n_f32(0.0f);                                                       \
        for (int64_t i = 0; i < n / MB_QK_SPARSE; i++) {                                           \
            int8x16_t wv[16];                                                                      \
            mbs_nz_##name(&x[i], nz);                                                              \
            mbs_spread(nz, x[i].mask, wv);                                                         \
            acc = mbs_block(wv, x[i].d, &y[i], acc);                                               \
        }                                                                                          \
        *out = vaddvq_f32(acc);                                                                    \
    }                                                                                              \
    void MBN_NAME(dot_rows_##name)(int64_t n, float *out, const void *w, const void *a,            \
                                   size_t stride, int n_rows) {                                    \
        const block_t *x = w;                                                                      \
        const uint8_t *ab = a;                                                                     \
        int8_t nz[MB_SPARSE_CAP + 16] = {0};                                                       \
        for (int r0 = 0; r0 < n_rows; r0 += 4) {                                                   \
            const int nr = n_rows - r0 < 4 ? n_rows - r0 : 4;                                      \
            float32x4_t acc[4] = {vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f),         \
                                  vdupq_n_f32(0.0f)};                                              \
            for (int64_t i = 0; i < n / MB_QK_SPARSE; i++) {                                       \
                int8x16_t wv[16];                                                                  \
                mbs_nz_##name(&x[i], nz);                                                          \
                mbs_spread(nz, x[i].mask, wv);                                                     \
                for (int r = 0; r < nr; r++) {                                                     \
                    const mb_block_q8_k *y =                                                       \
                        (const mb_block_q8_k *)(const void *)(ab + (size_t)(r0 + r) * stride);     \
                    acc[r] = mbs_block(wv, x[i].d, &y[i], acc[r]);                                 \
                }                                                                                  \
            }                                                                                      \
            for (int r = 0; r < nr; r++)                                                           \
                out[r0 + r] = vaddvq_f32(acc[r]);                                                  \
        }                                                                                          \
    }

MBS_DEFINE_DOTS(sq4, mb_block_sq4)
MBS_DEFINE_DOTS(sq8, mb_block_sq8)
