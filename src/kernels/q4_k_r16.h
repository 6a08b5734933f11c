/* Q4_K weights repacked 16 rows at a time, like Q4_0's (q4_0_r16.h): the
 * 32-bit lanes of a product are weight rows, one 64-byte load holds eight
 * codes of each of 16 rows (four in the low nibbles, four in the high),
 * and the activation's codes are broadcast to every lane, so no row needs
 * a horizontal add, and each row's 6-bit scales and mins are unpacked 16
 * rows at a time by the same few byte operations. The row dot spends most
 * of its instructions per block on the scales and on folding its sums.
 *
 * Layout of a group of 16 rows of N values (NB = N / 256 blocks), the same
 * bytes as the 16 rows (16 * NB * 144): per block b, 2304 bytes:
 *   bytes 0..31      the 16 rows' fp16 d of block b, row r at 2r;
 *   bytes 32..63     their fp16 dmin, row r at 32 + 2r;
 *   bytes 64..255    three chunks of 64 bytes: chunk i, bytes 4r..4r+3,
 *                    are row r's scales[4i..4i+3];
 *   bytes 256..2303  32 chunks of 64 bytes: chunk c = 4i + j (i 0..7, j
 *                    0..3), bytes 4r..4r+3, are row r's qs[32j + 4i..+3]:
 *                    values 64j + 4i.. (sub-block 2j) in the low nibbles,
 *                    64j + 32 + 4i.. (sub-block 2j + 1) in the high ones.
 *                    In this order consecutive chunks feed four different
 *                    pairs of sums (no chain of dependent VPDPBUSDs) and
 *                    are read in address order (the prefetchers' pattern).
 *
 * The activation (Q8_K rows) is prepared once per call
 * (mb_q4_k_r16_prep): its codes as 64 words (y[k] = qs[4k..4k+3]), the
 * sum S_s of each sub-block's 32 codes split as S_s = 256 h_s + l_s with
 * l_s and h_s signed bytes (so that VPDPBUSD can multiply the rows' 6-bit
 * mins by them), and the scale.
 *
 * Per block and row the product forms two exact integers, isum = sum over
 * the sub-blocks s of sc_s * (sum of q * y over s) (at most 8 * 63 * 32 *
 * 15 * 128 in magnitude: no overflow) and msum = sum of m_s * S_s, and
 * every level adds acc = fmaf((float)isum, d * d_y, acc), then acc =
 * fmaf((float)msum, -(dmin * d_y), acc), block after block from acc = 0 (or
 * OUT's value with ADD): every level and batch size give the reference's
 * bits. */
#ifndef MB_KERNELS_Q4_K_R16_H
#define MB_KERNELS_Q4_K_R16_H

#include <stddef.h>
#include <stdint.h>

enum {
    MB_Q4_K_R16_ROWS = 16,
    MB_Q4_K_R16_BLOCK_BYTES = 2304,
    MB_Q4_K_R16_SCALES = 64, /* offset of the scale chunks in a block */
    MB_Q4_K_R16_CODES = 256, /* offset of the code chunks */
};

/* The first of the four qs bytes of row r that code chunk C holds. */
static inline int mb_q4_k_r16_qs(int c) {
    return 32 * (c % 4) + 4 * (c / 4);
}

/* How far ahead of the bytes being read the decode prefetch (where
 * mb_decode_prefetch says so) asks for more, an eighth of a block at a
 * time. 1.1B Q4_K_M decode at 2 threads on a Sapphire Rapids-class VM,
 * AVX-512, tok/s over three alternated rounds: 1152 bytes 42.6-44.2, 1728
 * 43.3-45.1, 2304 42.2-44.3 (the file's rows 43.1-44.0), 4608 32.4, no
 * prefetch 35.5. */
enum { MB_Q4_K_R16_PREFETCH_AHEAD = 1728 };

typedef struct {
    int32_t y[64];
    int32_t ml[2], mh[2]; /* l_s and h_s of sub-blocks 0..3 and 4..7, byte s % 4 */
    float d;
    int32_t pad[3]; /* 288 bytes: whole 32-byte steps */
} mb_q4_k_r16_act;

/* out[c * out_stride + 16 g + r] = row r of group g . activation row c, for
 * N values: N_GROUPS groups GROUP_STRIDE bytes apart from W (the first
 * group's block at the N values' start), N_ACT activation rows of N / 256
 * prepared blocks each, consecutive. With ADD the sums start from OUT's
 * values instead of 0 (passes add onto each other; a residual is added
 * first). */
typedef void (*mb_q4_k_r16_fn)(int64_t n, float *out, size_t out_stride, const void *w,
                               size_t group_stride, int n_groups, const mb_q4_k_r16_act *a,
                               int n_act, int add);

/* 16 Q4_K rows of N values (ROW_BYTES apart at SRC) into one group at DST
 * (16 * N / 256 * 144 bytes; DST must not overlap SRC). */
void mb_q4_k_r16_pack(int64_t n, void *dst, const void *src, size_t row_bytes);
/* Blocks [B0, B0 + N_BLOCKS) of row R (0..15) of GROUP, in Q4_K's own
 * layout at DST. */
void mb_q4_k_r16_row_blocks(const void *group, int r, int64_t b0, int64_t n_blocks, void *dst);
/* The inverse of pack: group SRC back to 16 rows at DST, ROW_BYTES apart. */
void mb_q4_k_r16_unpack(int64_t n, void *dst, size_t row_bytes, const void *src);
/* Rows R0..R0 + NR - 1 of GROUP (N values each) back in Q4_K's layout at
 * DST, ROW_BYTES apart; whole halves of the group (R0 and NR multiples of
 * 8) through the level's r16_gather. */
void mb_q4_k_r16_rows(const void *group, int r0, int nr, int64_t n, void *dst, size_t row_bytes);
/* One Q8_K activation row of N values into N / 256 prepared blocks. */
void mb_q4_k_r16_prep(int64_t n, const void *act, mb_q4_k_r16_act *out);
/* The reference product (scalar). */
void mb_ref_q4_k_r16(int64_t n, float *out, size_t out_stride, const void *w, size_t group_stride,
                     int n_groups, const mb_q4_k_r16_act *a, int n_act, int add);

#endif
