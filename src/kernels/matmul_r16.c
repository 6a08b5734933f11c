/* Products with matrices in MB_LAYOUT_Q4_0_R16 (kernels/q4_0_r16.h), for
 * matmul.c: every batch size, decode included, goes through the level's
 * 16-row product, so a row's result has the same bits in a batch of any
 * size (speculative verification and prefill agree with decode exactly).
 * Also the reordering itself and reading one row back. */
#include "kernels/matmul_r16.h"

#include <stdlib.h>
#include <string.h>

#include "tensor/blocks.h"
#include "tensor/types.h"

/* Prepared activation blocks per call (40 bytes each: 40 KB on the
 * stack); a pass covers PREP_BLOCKS / rows of them. */
enum { PREP_BLOCKS = 1024, ACT_ROWS = 8 };
/* Bytes of a tile of groups' pass slices kept in L2 while every chunk of
 * ACT_ROWS activation rows meets them (batches only). */
#define TILE_BYTES (1024u * 1024u)

int mb_matrix_r16_can(const mb_matrix *w) {
    const mb_kernel_table *kt = mb_kernels();
    return w->layout == MB_LAYOUT_ROWS && w->type == MB_TYPE_Q4_0 && w->n_out > 0 &&
           w->n_out % MB_Q4_0_R16_ROWS == 0 && w->n_in > 0 && w->n_in % MB_QK4_0 == 0 &&
           w->row_bytes == (size_t)(w->n_in / MB_QK4_0) * sizeof(mb_block_q4_0) && kt->q4_0_r16 &&
           kt->q4_0_r16 != mb_ref_q4_0_r16;
}

int mb_matrix_r16_repack(mb_matrix *w) {
    const size_t gs = MB_Q4_0_R16_ROWS * w->row_bytes;
    uint8_t *tmp = malloc(gs);
    if (!tmp) return 0;
    uint8_t *data = (uint8_t *)(uintptr_t)w->data;
    for (int64_t g = 0; g < w->n_out / MB_Q4_0_R16_ROWS; g++) {
        memcpy(tmp, data + (size_t)g * gs, gs);
        mb_q4_0_r16_pack(w->n_in, data + (size_t)g * gs, tmp, w->row_bytes);
    }
    free(tmp);
    w->layout = MB_LAYOUT_Q4_0_R16;
    return 1;
}

void mb_matrix_r16_row_blocks(const mb_matrix *w, int64_t row, int64_t b0, int64_t n_blocks,
                              void *dst) {
    mb_q4_0_r16_row_blocks(w->data +
                               (size_t)(row / MB_Q4_0_R16_ROWS) * MB_Q4_0_R16_ROWS * w->row_bytes,
                           (int)(row % MB_Q4_0_R16_ROWS), b0, n_blocks, dst);
}

void mb_matrix_r16_copy_rows(const mb_matrix *w, int64_t row0, int n, uint8_t *dst) {
    for (int i = 0; i < n; i++)
        mb_matrix_r16_row_blocks(w, row0 + i, 0, w->n_in / MB_QK4_0,
                                 dst + (size_t)i * w->row_bytes);
}

void mb_matrix_r16_row(const mb_matrix *w, int64_t row, float *out) {
    enum { PIECE = 64 };
    mb_block_q4_0 piece[PIECE];
    const int64_t nb = w->n_in / MB_QK4_0;
    for (int64_t b0 = 0; b0 < nb; b0 += PIECE) {
        const int64_t k = nb - b0 < PIECE ? nb - b0 : PIECE;
        mb_matrix_r16_row_blocks(w, row, b0, k, piece);
        mb_type_get(MB_TYPE_Q4_0)->to_float(piece, out + b0 * MB_QK4_0, k * MB_QK4_0);
    }
}

void mb_matmul_r16_groups(const mb_matrix *w, const mb_act *act, float *out, int64_t out_stride,
                          int accumulate, long gb, long ge) {
    const mb_q4_0_r16_fn product = mb_kernels()->q4_0_r16;
    const int64_t nb = w->n_in / MB_QK4_0, n_rows = act->n_rows;
    const size_t gs = MB_Q4_0_R16_ROWS * w->row_bytes;
    const int64_t rows_max = n_rows < ACT_ROWS ? n_rows : ACT_ROWS;
    const int64_t pass = PREP_BLOCKS / rows_max;
    mb_q4_0_r16_act prep[PREP_BLOCKS];
    for (int64_t p0 = 0; p0 < nb; p0 += pass) {
        const int64_t pn = nb - p0 < pass ? nb - p0 : pass;
        /* One chunk of activation rows reads the weights once: no tiles. */
        const size_t slice = (size_t)pn * MB_Q4_0_R16_BLOCK_BYTES;
        long tile = n_rows <= ACT_ROWS ? ge - gb : (long)(TILE_BYTES / slice);
        if (tile < 1) tile = 1;
        for (long t0 = gb; t0 < ge; t0 += tile) {
            const long t1 = ge - t0 < tile ? ge : t0 + tile;
            for (int64_t c0 = 0; c0 < n_rows; c0 += ACT_ROWS) {
                const int cn = (int)(n_rows - c0 < ACT_ROWS ? n_rows - c0 : ACT_ROWS);
                for (int c = 0; c < cn; c++)
                    mb_q4_0_r16_prep(pn * MB_QK8_0,
                                     act->data + (size_t)(c0 + c) * act->row_bytes +
                                         (size_t)p0 * sizeof(mb_block_q8_0),
                                     prep + (size_t)c * (size_t)pn);
                product(pn * MB_QK4_0, out + c0 * out_stride + t0 * MB_Q4_0_R16_ROWS,
                        (size_t)out_stride,
                        w->data + (size_t)t0 * gs + (size_t)p0 * MB_Q4_0_R16_BLOCK_BYTES, gs,
                        (int)(t1 - t0), prep, cn, accumulate || p0 > 0);
            }
        }
    }
}
