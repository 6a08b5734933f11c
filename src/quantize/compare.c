/* Weight error of a quantized file against its source, tensor by tensor,
 * and how many blocks are byte-identical to another quantizer's file: the
 * numbers behind "our Q4_K_M is no worse than the reference's". */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "format/gguf.h"
#include "quantize/quantize.h"
#include "tensor/types.h"

static mb_status open3(const char *a, const char *b, const char *c, mb_gguf **ga, mb_gguf **gb,
                       mb_gguf **gc) {
    mb_status st = mb_gguf_open(a, 1, 0, ga);
    if (!st) st = mb_gguf_open(b, 1, 0, gb);
    if (!st && c) st = mb_gguf_open(c, 1, 0, gc);
    return st;
}

static int same_shape(const mb_gguf_tensor *x, const mb_gguf_tensor *y) {
    return x->ne[0] == y->ne[0] && x->ne[1] == y->ne[1] && x->ne[2] == y->ne[2] &&
           x->ne[3] == y->ne[3];
}

/* Blocks of T equal to those of R (same type and shape). */
static void count_same_blocks(const mb_gguf_tensor *t, const mb_gguf_tensor *r,
                              mb_quant_compare_result *out) {
    const mb_type_traits *tr = mb_type_get(t->type);
    if (!tr->is_quantized) return;
    const uint64_t n = t->nbytes / tr->type_size;
    out->n_blocks += n;
    if (!r || r->type != t->type || !same_shape(t, r)) return;
    for (uint64_t b = 0; b < n; b++)
        out->n_blocks_same +=
            memcmp(t->data + b * tr->type_size, r->data + b * tr->type_size, tr->type_size) == 0;
}

mb_status mb_quant_compare(const char *base, const char *file, const char *ref_file,
                           mb_quant_compare_result *out) {
    memset(out, 0, sizeof *out);
    mb_gguf *gb = NULL, *gf = NULL, *gr = NULL;
    mb_status st = open3(base, file, ref_file, &gb, &gf, &gr);
    float *x = NULL, *y = NULL;
    double sum2 = 0;
    for (uint64_t i = 0; !st && i < gf->n_tensors; i++) {
        const mb_gguf_tensor *t = &gf->tensors[i];
        const mb_gguf_tensor *b = mb_gguf_find_tensor(gb, t->name);
        if (!b || !same_shape(b, t)) {
            st = mb_errorf(MB_ERR_INVALID_ARG, "%s: tensor '%s' is %s in %s", file, t->name,
                           b ? "shaped differently" : "missing", base);
            break;
        }
        count_same_blocks(t, gr ? mb_gguf_find_tensor(gr, t->name) : NULL, out);
        const uint64_t row = t->ne[0], n_rows = t->ne[1] * t->ne[2] * t->ne[3];
        float *nx = realloc(x, row * sizeof *x), *ny = realloc(y, row * sizeof *y);
        if (nx) x = nx;
        if (ny) y = ny;
        if (!nx || !ny) {
            st = mb_errorf(MB_ERR_NO_MEMORY, "out of memory comparing '%s'", t->name);
            break;
        }
        uint64_t tb = 0, bb = 0;
        mb_type_row_bytes(t->type, row, &tb);
        mb_type_row_bytes(b->type, row, &bb);
        for (uint64_t r = 0; r < n_rows; r++) {
            mb_type_get(t->type)->to_float(t->data + r * tb, x, (int64_t)row);
            mb_type_get(b->type)->to_float(b->data + r * bb, y, (int64_t)row);
            for (uint64_t k = 0; k < row; k++) {
                const double d = (double)x[k] - (double)y[k];
                sum2 += d * d;
                if (fabs(d) > out->max_abs) out->max_abs = fabs(d);
            }
        }
        out->n_compared += row * n_rows;
    }
    if (!st) out->rmse = out->n_compared ? sqrt(sum2 / (double)out->n_compared) : 0.0;
    free(x);
    free(y);
    mb_gguf_close(gr);
    mb_gguf_close(gb);
    mb_gguf_close(gf);
    return st;
}
