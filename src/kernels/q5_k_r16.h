/* Q5_K weights repacked 16 rows at a time: Q4_K's groups (q4_k_r16.h) with
 * the fifth bits beside them, and the same prepared activation
 * (mb_q4_k_r16_act, mb_q4_k_r16_prep); its code is Q4_K's (q4_k_r16.c,
 * one description of the two forms).
 *
 * Layout of a group of 16 rows of N values (NB = N / 256 blocks), the same
 * bytes as the 16 rows (16 * NB * 176): per block b, 2816 bytes:
 *   bytes 0..255     as Q4_K's: d, dmin, the three scale chunks;
 *   bytes 256..767   eight chunks of 64 bytes: chunk i, bytes 4r..4r+3,
 *                    are row r's qh[4i..4i+3] (value l of sub-block s has
 *                    its fifth bit at bit s of qh[l]);
 *   bytes 768..2815  the codes' 32 chunks, as Q4_K's (chunk 4i + j: row
 *                    r's qs[32j + 4i..+3]).
 *
 * Per block and row isum = sum of sc_s * (sum of q * y over s), q in 0..31
 * (at most 8 * 63 * 32 * 31 * 128: no overflow), msum as Q4_K's, and the
 * same two FMAs: every level gives the reference's bits. */
#ifndef MB_KERNELS_Q5_K_R16_H
#define MB_KERNELS_Q5_K_R16_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/q4_k_r16.h"

enum {
    MB_Q5_K_R16_ROWS = 16,
    MB_Q5_K_R16_BLOCK_BYTES = 2816,
    MB_Q5_K_R16_QH = 256,    /* offset of the fifth bits' chunks in a block */
    MB_Q5_K_R16_CODES = 768, /* offset of the code chunks */
};

/* As mb_q4_k_r16_fn, for Q5_K's groups (the same prepared activation). */
typedef mb_q4_k_r16_fn mb_q5_k_r16_fn;

void mb_q5_k_r16_pack(int64_t n, void *dst, const void *src, size_t row_bytes);
void mb_q5_k_r16_row_blocks(const void *group, int r, int64_t b0, int64_t n_blocks, void *dst);
void mb_q5_k_r16_unpack(int64_t n, void *dst, size_t row_bytes, const void *src);
/* Rows R0..R0 + NR - 1 of GROUP back in Q5_K's layout, as mb_q4_k_r16_rows. */
void mb_q5_k_r16_rows(const void *group, int r0, int nr, int64_t n, void *dst, size_t row_bytes);
void mb_ref_q5_k_r16(int64_t n, float *out, size_t out_stride, const void *w, size_t group_stride,
                     int n_groups, const mb_q4_k_r16_act *a, int n_act, int add);

#endif
