#include "kernels/matmul.h"

#include <string.h>

static const mb_dot_traits *dot_traits(uint32_t weight_type) {
    return weight_type < MB_TYPE_COUNT ? &mb_kernels()->dot[weight_type] : NULL;
}

size_t mb_act_bytes(uint32_t weight_type, int64_t n_in, int64_t n_rows) {
    const mb_dot_traits *dt = dot_traits(weight_type);
    uint64_t row = 0;
    if (!dt || !dt->vec_dot || !mb_type_row_bytes(dt->act_type, (uint64_t)n_in, &row)) return 0;
    return (size_t)row * (size_t)n_rows;
}

void mb_act_prepare(mb_act *act, uint32_t weight_type, const float *x, int64_t n_in,
                    int64_t n_rows) {
    const mb_dot_traits *dt = dot_traits(weight_type);
    uint64_t row = 0;
    mb_type_row_bytes(dt->act_type, (uint64_t)n_in, &row);
    mb_act_quant_fn quant = mb_kernels()->act_quant[dt->act_type];
    act->act_type = dt->act_type;
    act->n_in = n_in;
    act->n_rows = n_rows;
    act->row_bytes = (size_t)row;
    for (int64_t r = 0; r < n_rows; r++)
        quant(x + r * n_in, act->data + r * row, n_in);
}

int mb_act_matches(const mb_act *act, uint32_t weight_type) {
    const mb_dot_traits *dt = dot_traits(weight_type);
    return dt && act->act_type == dt->act_type;
}

typedef struct {
    const mb_matrix *w;
    const mb_act *act;
    float *out;
    int64_t out_stride;
    int accumulate;
    mb_vec_dot_fn dot;
} matmul_job;

/* Each thread takes a contiguous band of weight rows and runs every
 * activation row against it, so a weight row is read from memory once per
 * call however many tokens the batch holds. */
static void matmul_worker(void *ctx, int ith, int nth) {
    const matmul_job *j = ctx;
    long begin, end;
    mb_split_range((long)j->w->n_out, ith, nth, &begin, &end);
    for (long o = begin; o < end; o++) {
        const uint8_t *wrow = j->w->data + (size_t)o * j->w->row_bytes;
        for (int64_t r = 0; r < j->act->n_rows; r++) {
            float v;
            j->dot(j->w->n_in, &v, wrow, j->act->data + (size_t)r * j->act->row_bytes);
            float *dst = &j->out[r * j->out_stride + o];
            *dst = j->accumulate ? *dst + v : v;
        }
    }
}

void mb_matmul(mb_threadpool *pool, int n_threads, const mb_matrix *w, const mb_act *act,
               float *out, int64_t out_stride, int accumulate) {
    matmul_job j = {w, act, out, out_stride, accumulate, dot_traits(w->type)->vec_dot};
    /* Tiny products cost less than waking a thread. */
    int64_t work = w->n_in * w->n_out * act->n_rows;
    int n = work < 32768 ? 1 : n_threads;
    if (pool && n > 1)
        mb_threadpool_run(pool, n, matmul_worker, &j);
    else
        matmul_worker(&j, 0, 1);
}

void mb_get_rows(const mb_matrix *w, const int32_t *row_ids, int64_t n, float *out) {
    const mb_type_traits *tt = mb_type_get(w->type);
    for (int64_t i = 0; i < n; i++)
        tt->to_float(w->data + (size_t)row_ids[i] * w->row_bytes, out + i * w->n_in, w->n_in);
}
