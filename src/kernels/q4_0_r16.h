/* Q4_0 weights repacked 16 rows at a time ("R16"), for products whose
 * 32-bit lanes are weight rows: one 64-byte load holds four codes of each
 * of 16 rows, VPDPBUSD (or VPMADDUBSW) multiplies them by four activation
 * codes broadcast to every lane, and a row's block sum never needs a
 * horizontal add or a shuffle. On a Sapphire Rapids-class core the
 * AVX-512 product ran 54 GB/s of weights in L2 against 27 for the row
 * dots Intel uses (docs/PERFORMANCE.md, "Q4_0 in 16-row groups").
 *
 * Layout of a group of 16 rows of N values (NB = N / 32 blocks), the same
 * bytes as the 16 rows (16 * NB * 18): per block b, 288 bytes:
 *   bytes 0..31    the 16 rows' fp16 scales of block b, row r at 2r;
 *   bytes 32..287  four chunks of 64 bytes: chunk k, bytes 4r..4r+3, are
 *                  row r's qs[4k..4k+3] (values 4k..4k+3 in the low
 *                  nibbles, 16+4k..16+4k+3 in the high ones).
 *
 * The activation (Q8_0 rows) is prepared once per call (mb_q4_0_r16_prep):
 * per block its codes as eight 32-bit words (y[k] = qs[4k..4k+3] for the
 * low nibbles, y[4+k] = qs[16+4k..] for the high ones), the -8 offset of
 * Q4_0's codes as -8 * sum(qs), and the scale as a float.
 *
 * Every level computes acc = fmaf((float)isum, d_w * d_y, acc) block after
 * block, isum the block's exact integer sum, from acc = 0 (or OUT's value
 * with ADD), so every level and every batch size give the reference's
 * bits. */
#ifndef MB_KERNELS_Q4_0_R16_H
#define MB_KERNELS_Q4_0_R16_H

#include <stddef.h>
#include <stdint.h>

enum { MB_Q4_0_R16_ROWS = 16, MB_Q4_0_R16_BLOCK_BYTES = 288 };

/* How far ahead of the block being read the decode prefetch (where
 * mb_decode_prefetch says so) asks for the next bytes: nearer than the row
 * dots' MB_PREFETCH_AHEAD. 1.1B Q4_0 decode at 2 threads on a Sapphire
 * Rapids-class VM, AVX-512, tok/s: 288-1728 bytes ahead 44.6-48.1, 2304
 * 38.6-39.7 (no faster than the row dots), 3456 35.7, 4608 27.5, none 39.2-39.5
 * (docs/PERFORMANCE.md, "Q4_0 in 16-row groups"). */
enum { MB_Q4_0_R16_PREFETCH_AHEAD = 1152 };

typedef struct {
    int32_t y[8];
    int32_t seed; /* -8 * the sum of the block's 32 codes */
    float d;
} mb_q4_0_r16_act;

/* out[c * out_stride + 16 g + r] = row r of group g . activation row c, for
 * N values: N_GROUPS groups GROUP_STRIDE bytes apart from W (the first
 * group's block at the N values' start), N_ACT activation rows of N / 32
 * prepared blocks each, consecutive. With ADD the sums start from OUT's
 * values instead of 0: a row cut into passes (each pass adding onto the
 * last) gives the bits of one pass, and a residual is added first. */
typedef void (*mb_q4_0_r16_fn)(int64_t n, float *out, size_t out_stride, const void *w,
                               size_t group_stride, int n_groups, const mb_q4_0_r16_act *a,
                               int n_act, int add);

/* 16 Q4_0 rows of N values (ROW_BYTES apart at SRC) into one group at DST
 * (16 * N / 32 * 18 bytes; DST must not overlap SRC). */
void mb_q4_0_r16_pack(int64_t n, void *dst, const void *src, size_t row_bytes);
/* Blocks [B0, B0 + N_BLOCKS) of row R (0..15) of GROUP, in Q4_0's own
 * layout at DST. */
void mb_q4_0_r16_row_blocks(const void *group, int r, int64_t b0, int64_t n_blocks, void *dst);
/* The inverse: group SRC back to 16 rows at DST, ROW_BYTES apart. */
void mb_q4_0_r16_unpack(int64_t n, void *dst, size_t row_bytes, const void *src);
/* One Q8_0 activation row of N values into N / 32 prepared blocks. */
void mb_q4_0_r16_prep(int64_t n, const void *act, mb_q4_0_r16_act *out);
/* The reference product (scalar). */
void mb_ref_q4_0_r16(int64_t n, float *out, size_t out_stride, const void *w, size_t group_stride,
                     int n_groups, const mb_q4_0_r16_act *a, int n_act, int add);

#endif
