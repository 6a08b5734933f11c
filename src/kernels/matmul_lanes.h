/* Matrices in MB_LAYOUT_SQ4_LANES (kernels/sq4_lanes.h), for matmul.c. */
#ifndef MB_KERNELS_MATMUL_LANES_H
#define MB_KERNELS_MATMUL_LANES_H

#include "kernels/matmul.h"

/* Whether W (row layout) can be reordered into lanes here: SQ4 and a level
 * with the lanes product. */
int mb_matrix_lanes_can(const mb_matrix *w);
/* Reorder W's blocks in place (DATA writable). */
void mb_matrix_lanes_repack(mb_matrix *w);
/* Rows [BEGIN, END) of W against every row of ACT (Q8_K): out[r *
 * OUT_STRIDE + o] = (or += with ACCUMULATE) the product. */
void mb_matrix_lanes_rows(const mb_matrix *w, const mb_act *act, float *out, int64_t out_stride,
                          int accumulate, long begin, long end);
/* Row ROW of W as floats (n_in of them). */
void mb_matrix_lanes_row(const mb_matrix *w, int64_t row, float *out);

#endif
