/* Products with matrices in MB_LAYOUT_SQ4_LANES (kernels/sq4_lanes.h), for
 * matmul.c: decode and small batches go through the level's lanes
 * product; packed batches read the rows back into the file's order while
 * packing (the level's sq4_lanes_pack). Rows keep their place and size, so
 * bands of rows split as for the file's layout. */
#include "kernels/matmul_lanes.h"

#include "tensor/blocks.h"
#include "tensor/types.h"

int mb_matrix_lanes_can(const mb_matrix *w) {
    return w->layout == MB_LAYOUT_ROWS && w->type == MB_TYPE_SQ4 && w->n_in > 0 &&
           w->n_in % MB_QK_SPARSE == 0 &&
           w->row_bytes == (size_t)(w->n_in / MB_QK_SPARSE) * sizeof(mb_block_sq4) &&
           mb_kernels()->sq4_lanes != NULL;
}

void mb_matrix_lanes_repack(mb_matrix *w) {
    const int64_t nb = w->n_in / MB_QK_SPARSE * w->n_out;
    uint8_t *data = (uint8_t *)(uintptr_t)w->data;
    mb_kernels()->sq4_convert(nb, data, data, 1);
    w->layout = MB_LAYOUT_SQ4_LANES;
}

void mb_matrix_lanes_rows(const mb_matrix *w, const mb_act *act, float *out, int64_t out_stride,
                          int accumulate, long begin, long end) {
    if (begin >= end) return;
    mb_kernels()->sq4_lanes(
        w->n_in, out + begin, (size_t)out_stride, w->data + (size_t)begin * w->row_bytes,
        w->row_bytes, (int)(end - begin), act->data, act->row_bytes, (int)act->n_rows, accumulate);
}

void mb_matrix_lanes_row(const mb_matrix *w, int64_t row, float *out) {
    enum { PIECE = 16 }; /* blocks back in the file's order at a time */
    mb_block_sq4 piece[PIECE];
    const int64_t nb = w->n_in / MB_QK_SPARSE;
    const uint8_t *src = w->data + (size_t)row * w->row_bytes;
    for (int64_t b0 = 0; b0 < nb; b0 += PIECE) {
        const int64_t k = nb - b0 < PIECE ? nb - b0 : PIECE;
        mb_kernels()->sq4_convert(k, piece, src + (size_t)b0 * sizeof *piece, 0);
        mb_type_get(w->type)->to_float(piece, out + b0 * MB_QK_SPARSE, k * MB_QK_SPARSE);
    }
}
