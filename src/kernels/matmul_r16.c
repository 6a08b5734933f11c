/* Products with matrices in 16-row groups (MB_LAYOUT_Q4_0_R16,
 * kernels/q4_0_r16.h; _Q4_K_R16, q4_k_r16.h; _Q5_K_R16, q5_k_r16.h;
 * _Q6_K_R16, q6_k_r16.h), for matmul.c: decode and batches below the
 * panels go through the level's 16-row product, so a row's result has the
 * same bits in any of those batches (speculative verification agrees with
 * decode exactly). Also the reordering itself and reading rows back. The
 * types differ only in the table below. */
#include "kernels/matmul_r16.h"

#include <stdlib.h>
#include <string.h>

#include "tensor/blocks.h"
#include "tensor/types.h"

/* One activation row of N values (ACT) into N / block prepared blocks. */
typedef void (*prep_fn)(int64_t n, const void *act, void *out);
/* The level's product (q4_0_r16.h and the others), the prepared blocks
 * untyped. */
typedef void (*product_fn)(int64_t n, float *out, size_t out_stride, const void *w,
                           size_t group_stride, int n_groups, const void *a, int n_act, int add);

typedef struct {
    uint32_t type, act_type, layout;
    int64_t block_values;     /* values of a block (32, 256) */
    size_t group_block_bytes; /* a block of the 16 rows */
    size_t prep_bytes;        /* one prepared activation block */
    prep_fn prep;
    void (*row_blocks)(const void *group, int r, int64_t b0, int64_t n_blocks, void *dst);
    void (*pack)(int64_t n, void *dst, const void *src, size_t row_bytes);
    product_fn product;
    /* Rows R0..R0 + NR - 1 of a group back in the file's layout; NULL:
     * row by row through row_blocks. */
    void (*rows)(const void *group, int r0, int nr, int64_t n, void *dst, size_t row_bytes);
} r16_kind;

/* The level's products, the prepared blocks untyped. */
static void product_q4_0(int64_t n, float *out, size_t out_stride, const void *w,
                         size_t group_stride, int n_groups, const void *a, int n_act, int add) {
    mb_kernels()->q4_0_r16(n, out, out_stride, w, group_stride, n_groups, a, n_act, add);
}
static void product_q4_k(int64_t n, float *out, size_t out_stride, const void *w,
                         size_t group_stride, int n_groups, const void *a, int n_act, int add) {
    mb_kernels()->q4_k_r16(n, out, out_stride, w, group_stride, n_groups, a, n_act, add);
}

static void product_q5_k(int64_t n, float *out, size_t out_stride, const void *w,
                         size_t group_stride, int n_groups, const void *a, int n_act, int add) {
    mb_kernels()->q5_k_r16(n, out, out_stride, w, group_stride, n_groups, a, n_act, add);
}
static void product_q6_k(int64_t n, float *out, size_t out_stride, const void *w,
                         size_t group_stride, int n_groups, const void *a, int n_act, int add) {
    mb_kernels()->q6_k_r16(n, out, out_stride, w, group_stride, n_groups, a, n_act, add);
}

static void prep_q4_0(int64_t n, const void *act, void *out) {
    mb_q4_0_r16_prep(n, act, out);
}
static void prep_q4_k(int64_t n, const void *act, void *out) {
    mb_q4_k_r16_prep(n, act, out);
}
static void prep_q6_k(int64_t n, const void *act, void *out) {
    mb_q6_k_r16_prep(n, act, out);
}

static const r16_kind kinds[] = {
    {MB_TYPE_Q4_0, MB_TYPE_Q8_0, MB_LAYOUT_Q4_0_R16, MB_QK4_0, MB_Q4_0_R16_BLOCK_BYTES,
     sizeof(mb_q4_0_r16_act), prep_q4_0, mb_q4_0_r16_row_blocks, mb_q4_0_r16_pack, product_q4_0,
     NULL},
    {MB_TYPE_Q4_K, MB_TYPE_Q8_K, MB_LAYOUT_Q4_K_R16, MB_QK_K, MB_Q4_K_R16_BLOCK_BYTES,
     sizeof(mb_q4_k_r16_act), prep_q4_k, mb_q4_k_r16_row_blocks, mb_q4_k_r16_pack, product_q4_k,
     mb_q4_k_r16_rows},
    {MB_TYPE_Q5_K, MB_TYPE_Q8_K, MB_LAYOUT_Q5_K_R16, MB_QK_K, MB_Q5_K_R16_BLOCK_BYTES,
     sizeof(mb_q4_k_r16_act), prep_q4_k, mb_q5_k_r16_row_blocks, mb_q5_k_r16_pack, product_q5_k,
     mb_q5_k_r16_rows},
    {MB_TYPE_Q6_K, MB_TYPE_Q8_K, MB_LAYOUT_Q6_K_R16, MB_QK_K, MB_Q6_K_R16_BLOCK_BYTES,
     sizeof(mb_q6_k_r16_act), prep_q6_k, mb_q6_k_r16_row_blocks, mb_q6_k_r16_pack, product_q6_k,
     mb_q6_k_r16_rows},
};

static const r16_kind *kind_of_type(uint32_t type) {
    for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++)
        if (kinds[i].type == type) return &kinds[i];
    return NULL;
}

static const r16_kind *kind_of_layout(uint32_t layout) {
    for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++)
        if (kinds[i].layout == layout) return &kinds[i];
    return NULL;
}

static const r16_kind *kind_of(const mb_matrix *w) {
    return kind_of_layout(w->layout);
}

int mb_layout_is_r16(uint32_t layout) {
    return kind_of_layout(layout) != NULL;
}

/* Whether the level has its own product for K (a reordering for the
 * reference would only cost). */
static int level_has(const r16_kind *k) {
    const mb_kernel_table *kt = mb_kernels();
    switch (k->type) {
    case MB_TYPE_Q4_0: return kt->q4_0_r16 != mb_ref_q4_0_r16;
    case MB_TYPE_Q4_K: return kt->q4_k_r16 != mb_ref_q4_k_r16;
    case MB_TYPE_Q5_K: return kt->q5_k_r16 != mb_ref_q5_k_r16;
    default: return kt->q6_k_r16 != mb_ref_q6_k_r16;
    }
}

/* Prepared activation bytes per call (40 KB on the stack); a pass covers
 * PREP_BYTES / (rows * prep_bytes) blocks. */
enum { PREP_BYTES = 40960, ACT_ROWS = 8 };
/* Bytes of a tile of groups' pass slices kept in L2 while every chunk of
 * ACT_ROWS activation rows meets them (batches only). */
#define TILE_BYTES (1024u * 1024u)

int mb_matrix_r16_can(const mb_matrix *w) {
    const r16_kind *k = kind_of_type(w->type);
    return k && w->layout == MB_LAYOUT_ROWS && w->n_out > 0 && w->n_out % MB_R16_ROWS == 0 &&
           w->n_in > 0 && w->n_in % k->block_values == 0 &&
           w->row_bytes * MB_R16_ROWS * (size_t)k->block_values ==
               k->group_block_bytes * (size_t)w->n_in &&
           level_has(k);
}

int mb_matrix_r16_repack(mb_matrix *w) {
    const r16_kind *k = kind_of_type(w->type);
    const size_t gs = MB_R16_ROWS * w->row_bytes;
    uint8_t *tmp = malloc(gs);
    if (!tmp) return 0;
    uint8_t *data = (uint8_t *)(uintptr_t)w->data;
    for (int64_t g = 0; g < w->n_out / MB_R16_ROWS; g++) {
        memcpy(tmp, data + (size_t)g * gs, gs);
        k->pack(w->n_in, data + (size_t)g * gs, tmp, w->row_bytes);
    }
    free(tmp);
    w->layout = k->layout;
    return 1;
}

void mb_matrix_r16_row_blocks(const mb_matrix *w, int64_t row, int64_t b0, int64_t n_blocks,
                              void *dst) {
    kind_of(w)->row_blocks(w->data + (size_t)(row / MB_R16_ROWS) * MB_R16_ROWS * w->row_bytes,
                           (int)(row % MB_R16_ROWS), b0, n_blocks, dst);
}

void mb_matrix_r16_copy_rows(const mb_matrix *w, int64_t row0, int n, uint8_t *dst) {
    const r16_kind *k = kind_of(w);
    const int64_t nb = w->n_in / k->block_values;
    for (int i = 0; i < n;) {
        /* The rest of this group, or of the rows asked for. */
        const int r = (int)((row0 + i) % MB_R16_ROWS);
        const int span = n - i < MB_R16_ROWS - r ? n - i : MB_R16_ROWS - r;
        if (k->rows && r % 8 == 0 && span % 8 == 0) {
            k->rows(w->data + (size_t)((row0 + i) / MB_R16_ROWS) * MB_R16_ROWS * w->row_bytes, r,
                    span, w->n_in, dst + (size_t)i * w->row_bytes, w->row_bytes);
            i += span;
            continue;
        }
        mb_matrix_r16_row_blocks(w, row0 + i, 0, nb, dst + (size_t)i * w->row_bytes);
        i++;
    }
}

void mb_matrix_r16_row(const mb_matrix *w, int64_t row, float *out) {
    _Alignas(64) uint8_t piece[MB_R16_PIECE_BYTES];
    const r16_kind *k = kind_of(w);
    const int64_t nb = w->n_in / k->block_values, per = mb_matrix_r16_piece_blocks(w);
    for (int64_t b0 = 0; b0 < nb; b0 += per) {
        const int64_t n = nb - b0 < per ? nb - b0 : per;
        mb_matrix_r16_row_blocks(w, row, b0, n, piece);
        mb_type_get(w->type)->to_float(piece, out + b0 * k->block_values, n * k->block_values);
    }
}

int64_t mb_matrix_r16_piece_blocks(const mb_matrix *w) {
    return (int64_t)(MB_R16_PIECE_BYTES / (kind_of(w)->group_block_bytes / MB_R16_ROWS));
}

int64_t mb_matrix_r16_block_values(const mb_matrix *w) {
    return kind_of(w)->block_values;
}

void mb_matmul_r16_groups(const mb_matrix *w, const mb_act *act, float *out, int64_t out_stride,
                          int accumulate, long gb, long ge) {
    const r16_kind *k = kind_of(w);
    const size_t act_block = mb_type_get(k->act_type)->type_size;
    const int64_t nb = w->n_in / k->block_values, n_rows = act->n_rows;
    const size_t gs = MB_R16_ROWS * w->row_bytes;
    const int64_t rows_max = n_rows < ACT_ROWS ? n_rows : ACT_ROWS;
    int64_t pass = (int64_t)(PREP_BYTES / k->prep_bytes) / rows_max;
    if (pass < 1) pass = 1;
    _Alignas(64) uint8_t prep[PREP_BYTES];
    for (int64_t p0 = 0; p0 < nb; p0 += pass) {
        const int64_t pn = nb - p0 < pass ? nb - p0 : pass;
        /* One chunk of activation rows reads the weights once: no tiles. */
        const size_t slice = (size_t)pn * k->group_block_bytes;
        long tile = n_rows <= ACT_ROWS ? ge - gb : (long)(TILE_BYTES / slice);
        if (tile < 1) tile = 1;
        for (long t0 = gb; t0 < ge; t0 += tile) {
            const long t1 = ge - t0 < tile ? ge : t0 + tile;
            for (int64_t c0 = 0; c0 < n_rows; c0 += ACT_ROWS) {
                const int cn = (int)(n_rows - c0 < ACT_ROWS ? n_rows - c0 : ACT_ROWS);
                for (int c = 0; c < cn; c++)
                    k->prep(pn * k->block_values,
                            act->data + (size_t)(c0 + c) * act->row_bytes + (size_t)p0 * act_block,
                            prep + (size_t)c * (size_t)pn * k->prep_bytes);
                k->product(pn * k->block_values, out + c0 * out_stride + t0 * MB_R16_ROWS,
                           (size_t)out_stride,
                           w->data + (size_t)t0 * gs + (size_t)p0 * k->group_block_bytes, gs,
                           (int)(t1 - t0), prep, cn, accumulate || p0 > 0);
            }
        }
    }
}
