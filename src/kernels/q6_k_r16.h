/* Q6_K weights repacked 16 rows at a time, like Q4_K's (q4_k_r16.h): the
 * 32-bit lanes of a product are weight rows; one 64-byte load holds four
 * bytes of each of 16 rows, and the activation's codes are broadcast to
 * every lane.
 *
 * Layout of a group of 16 rows of N values (NB = N / 256 blocks), the same
 * bytes as the 16 rows (16 * NB * 210): per block b, 3360 bytes:
 *   bytes 0..31      the 16 rows' fp16 d of block b, row r at 2r;
 *   bytes 32..287    four chunks of 64 bytes: chunk i, bytes 4r..4r+3, are
 *                    row r's scales[4i..4i+3];
 *   bytes 288..3359  48 chunks of 64 bytes, three per step (h, i), h = 0..1
 *                    the block's half, i = 0..7, in that order: row r's
 *                    ql[64h + 4i..+3], ql[64h + 32 + 4i..+3] and
 *                    qh[32h + 4i..+3] (mb_block_q6_k: the low nibbles of
 *                    the first are values 128h + 4i.., of the second 128h +
 *                    32 + 4i.., their high nibbles 64 further; the qh bytes
 *                    hold the four values' top two bits in that order).
 *
 * The activation (Q8_K rows) is prepared once per call (mb_q6_k_r16_prep):
 * its codes as 64 words (y[k] = qs[4k..4k+3]), 32 times the sum of each
 * 16-value sub-block's codes (Q6_K's offset of -32), and the scale.
 *
 * Per block and row the product forms one exact integer, isum = sum over
 * the 16 sub-blocks s of sc_s * (sum of q * y over s - 32 * sum of y over
 * s) (at most 16 * 128 * 16 * 95 * 128 in magnitude: no overflow), and every
 * level adds acc = fmaf((float)isum, d * d_y, acc) block after block from
 * acc = 0 (or OUT's value with ADD): every level and batch size give the
 * reference's bits. */
#ifndef MB_KERNELS_Q6_K_R16_H
#define MB_KERNELS_Q6_K_R16_H

#include <stddef.h>
#include <stdint.h>

enum {
    MB_Q6_K_R16_ROWS = 16,
    MB_Q6_K_R16_BLOCK_BYTES = 3360,
    MB_Q6_K_R16_SCALES = 32, /* offset of the scale chunks in a block */
    MB_Q6_K_R16_CODES = 288, /* offset of the code chunks */
};

/* How far ahead of the bytes being read the decode prefetch (where
 * mb_decode_prefetch says so) asks for more, a quarter of a block at a
 * time (Q4_K's distance: the same stream). */
enum { MB_Q6_K_R16_PREFETCH_AHEAD = 1728 };

typedef struct {
    int32_t y[64];
    int32_t off[16]; /* 32 * the sum of sub-block s's 16 codes */
    float d;
    int32_t pad[3];
} mb_q6_k_r16_act;

/* As mb_q4_k_r16_fn (q4_k_r16.h), for Q6_K's groups. */
typedef void (*mb_q6_k_r16_fn)(int64_t n, float *out, size_t out_stride, const void *w,
                               size_t group_stride, int n_groups, const mb_q6_k_r16_act *a,
                               int n_act, int add);

/* 16 Q6_K rows of N values (ROW_BYTES apart at SRC) into one group at DST
 * (DST must not overlap SRC). */
void mb_q6_k_r16_pack(int64_t n, void *dst, const void *src, size_t row_bytes);
/* Blocks [B0, B0 + N_BLOCKS) of row R (0..15) of GROUP, in Q6_K's own
 * layout at DST. */
void mb_q6_k_r16_row_blocks(const void *group, int r, int64_t b0, int64_t n_blocks, void *dst);
/* The inverse of pack: group SRC back to 16 rows at DST, ROW_BYTES apart. */
void mb_q6_k_r16_unpack(int64_t n, void *dst, size_t row_bytes, const void *src);
/* Rows R0..R0 + NR - 1 of GROUP back in Q6_K's layout at DST, as
 * mb_q4_k_r16_rows. */
void mb_q6_k_r16_rows(const void *group, int r0, int nr, int64_t n, void *dst, size_t row_bytes);
/* One Q8_K activation row of N values into N / 256 prepared blocks. */
void mb_q6_k_r16_prep(int64_t n, const void *act, mb_q6_k_r16_act *out);
/* The reference product (scalar). */
void mb_ref_q6_k_r16(int64_t n, float *out, size_t out_stride, const void *w, size_t group_stride,
                     int n_groups, const mb_q6_k_r16_act *a, int n_act, int add);

#endif
