/* SQ4 blocks with their four quarters spread across 32-bit lanes
 * ("lanes"), for a decode dot that converts and scales once per block.
 *
 * The file's SQ4 block (docs/FORMAT.md) keeps each 64-weight quarter
 * together, and each quarter has its own fp16 scale, so a dot that spreads
 * the non-zeros to their positions (VPEXPANDB) and multiplies them with
 * VPDPBUSD needs one int-to-float conversion and one multiply-add per
 * quarter. Here the 256 weights are reordered so that each 64-byte
 * register r (r = 0..3) holds 16 weights of every quarter, lane l (bytes
 * 4l..4l+3) from quarter l % 4: the four registers' VPDPBUSDs add into one
 * integer sum, and one conversion and one multiply-add with the scales
 * broadcast as (d0 d1 d2 d3) x 4 serve the whole block. The activation is
 * reordered the same way once per call, for all the weight rows. On a
 * Sapphire Rapids-class core the decode dot ran 1.2x the quarter-by-
 * quarter one with weights in L2 (docs/PERFORMANCE.md, "SQ4 in lanes").
 *
 * Layout: the same 104 bytes as a file block, the same fields. Position
 * p = 64 r + b (byte b of register r) stands for file weight
 * mb_sq4_lanes_weight(p), and mask bit p says whether it is kept. The kept
 * codes (the file's nibble slots: slot k is the low nibble of qs[k] for
 * k < 64, else the high nibble of qs[k - 64]) are those of registers 0, 1
 * and 2 in order of p from slot 0 on, then register 3's from slot 127
 * down (its first kept weight in slot 127): register 0 then needs no
 * realignment and register 3 only a reversal of the high nibbles, a
 * single-source VPERMB, where registers 1 and 2 take a two-source VPERMT2B
 * at their offset (the weight-rows product in L2: 19.1 -> 20.7 GB/s).
 * Unused slots are zero; d is unchanged. The 128 cap holds as in the
 * file, as the non-zeros are the same. A matrix is reordered in place
 * while a model loads
 * (mb_matrix_repack) and rows keep their place and size. */
#ifndef MB_KERNELS_SQ4_LANES_H
#define MB_KERNELS_SQ4_LANES_H

#include <stddef.h>
#include <stdint.h>

/* The file weight (0..255) at lanes position P (0..255): register r =
 * P / 64, byte b = P % 64, lane l = b / 4 of quarter l % 4, the lane's
 * l / 4-th group of four of the register's sixteen weights of it. */
static inline int mb_sq4_lanes_weight(int p) {
    const int r = p / 64, b = p % 64, l = b / 4;
    return 64 * (l % 4) + 16 * r + 4 * (l / 4) + b % 4;
}

/* out[c * OUT_STRIDE + o] = SQ4 lanes row o . activation row c (Q8_K), for
 * o < N_W rows W_STRIDE bytes apart and c < N_ACT rows ACT_STRIDE bytes
 * apart, N values each; with ADD the sums are added onto OUT's values. */
typedef void (*mb_sq4_lanes_fn)(int64_t n, float *out, size_t out_stride, const void *w,
                                size_t w_stride, int n_w, const void *act, size_t act_stride,
                                int n_act, int add);
/* N_BLOCKS SQ4 blocks converted, file layout to lanes (TO_LANES 1) or
 * back (0); DST may be SRC. */
typedef void (*mb_sq4_convert_fn)(int64_t n_blocks, void *dst, const void *src, int to_lanes);

/* The two permutations of weights: file to lanes (entry p:
 * mb_sq4_lanes_weight(p)) and lanes to file. */
const uint8_t *mb_sq4_lanes_from_file(void);
const uint8_t *mb_sq4_lanes_to_file(void);

/* The scalar conversion (mb_sq4_convert_fn), for tests and as reference. */
void mb_ref_sq4_convert(int64_t n_blocks, void *dst, const void *src, int to_lanes);

#endif
