/* Matrices in 16-row groups, MB_LAYOUT_Q4_0_R16 and MB_LAYOUT_Q4_K_R16
 * (matmul_r16.c), for matmul.c. */
#ifndef MB_KERNELS_MATMUL_R16_H
#define MB_KERNELS_MATMUL_R16_H

#include "kernels/matmul.h"

enum {
    MB_R16_ROWS = 16,
    /* Bytes of a row's blocks read back at a time (on the stack). */
    MB_R16_PIECE_BYTES = 4608,
};

/* Whether LAYOUT is one of the 16-row groups'. */
int mb_layout_is_r16(uint32_t layout);
/* Whether W (row layout) can be reordered into 16-row groups here: Q4_0 or
 * Q4_K, a row count that is a multiple of 16, a level with the type's
 * 16-row product. */
int mb_matrix_r16_can(const mb_matrix *w);
/* Reorder W's rows in place (DATA writable). Returns 0 when the group
 * buffer cannot be had (W is then unchanged). */
int mb_matrix_r16_repack(mb_matrix *w);
/* Groups [GB, GE) of 16 rows of W against every row of ACT (the type's
 * activation type): out[r * OUT_STRIDE + 16 g + k] = (or += with
 * ACCUMULATE) the product. */
void mb_matmul_r16_groups(const mb_matrix *w, const mb_act *act, float *out, int64_t out_stride,
                          int accumulate, long gb, long ge);
/* Blocks [B0, B0 + N_BLOCKS) of row ROW of W in the file's layout at DST. */
void mb_matrix_r16_row_blocks(const mb_matrix *w, int64_t row, int64_t b0, int64_t n_blocks,
                              void *dst);
/* Rows [ROW0, ROW0 + N) of W in the file's layout at DST (row_bytes each). */
void mb_matrix_r16_copy_rows(const mb_matrix *w, int64_t row0, int n, uint8_t *dst);
/* Blocks of W's type that fit in MB_R16_PIECE_BYTES, and values per block. */
int64_t mb_matrix_r16_piece_blocks(const mb_matrix *w);
int64_t mb_matrix_r16_block_values(const mb_matrix *w);
/* Batches from this many activation rows go through the packed panels
 * (rows copied back for packing); fewer through the 16-row product, which
 * gives decode's bits. Prefill of the 1.1B Q4_0 shape (pp512, 2 threads,
 * AVX-512) ran 167-169 tok/s through the product, 248-262 through panels. */
enum { MB_R16_PANEL_MIN_ROWS = 16 };
/* Row ROW of W as floats (n_in of them). */
void mb_matrix_r16_row(const mb_matrix *w, int64_t row, float *out);

#endif
