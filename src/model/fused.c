#include "model/fused.h"

#include "kernels/kernels.h"
#include "tensor/types.h"

/* Fewer rows than this run on the caller: a pool handshake costs more than
 * the work of a decode step's row. */
enum { MIN_PARALLEL_ROWS = 4 };

static int tasks(int n_threads, int n) {
    return n < MIN_PARALLEL_ROWS ? 1 : n_threads < n ? n_threads : n;
}

/* Sets ACT's fields for N rows of N_IN values for weights of WEIGHT_TYPE,
 * as mb_act_prepare does, and returns the row encoder. */
static mb_act_quant_fn act_begin(mb_act *act, uint32_t weight_type, int64_t n_in, int n) {
    const mb_kernel_table *kt = mb_kernels();
    const uint32_t at = kt->dot[weight_type].act_type;
    uint64_t row = 0;
    mb_type_row_bytes(at, (uint64_t)n_in, &row);
    act->act_type = at;
    act->n_in = n_in;
    act->n_rows = n;
    act->row_bytes = (size_t)row;
    return kt->act_quant[at];
}

typedef struct {
    const float *x, *w;
    float *xn, *up;
    int n, width;
    float eps;
    mb_act *act;
    mb_act_quant_fn quant;
    mb_swiglu_fn swiglu;
} rows_job;

static void norm_quant_worker(void *ctx, int ith, int nth) {
    const rows_job *j = ctx;
    long b, e;
    mb_split_range(j->n, ith, nth, &b, &e);
    for (long t = b; t < e; t++) {
        float *xn = j->xn + (size_t)t * j->width;
        mb_rmsnorm(xn, j->x + (size_t)t * j->width, j->w, j->width, j->eps);
        if (j->quant) j->quant(xn, j->act->data + (size_t)t * j->act->row_bytes, j->width);
    }
}

void mb_fused_norm_quant(mb_threadpool *pool, int n_threads, const float *x, float *xn,
                         const float *w, int n, int n_embd, float eps, mb_act *act,
                         uint32_t weight_type) {
    rows_job j = {.x = x, .w = w, .xn = xn, .n = n, .width = n_embd, .eps = eps, .act = act};
    if (act) j.quant = act_begin(act, weight_type, n_embd, n);
    mb_threadpool_run(pool, tasks(n_threads, n), norm_quant_worker, &j);
}

static void swiglu_quant_worker(void *ctx, int ith, int nth) {
    const rows_job *j = ctx;
    long b, e;
    mb_split_range(j->n, ith, nth, &b, &e);
    for (long t = b; t < e; t++) {
        float *g = j->xn + (size_t)t * j->width;
        j->swiglu(g, g, j->up + (size_t)t * j->width, j->width);
        j->quant(g, j->act->data + (size_t)t * j->act->row_bytes, j->width);
    }
}

void mb_fused_glu_quant(mb_threadpool *pool, int n_threads, float *gate, const float *up, int n,
                        int n_ff, mb_ffn_act kind, mb_act *act, uint32_t weight_type) {
    rows_job j = {.xn = gate, .up = (float *)up, .n = n, .width = n_ff, .act = act};
    j.quant = act_begin(act, weight_type, n_ff, n);
    j.swiglu = kind == MB_FFN_GELU    ? mb_geglu
               : mb_kernels()->swiglu ? mb_kernels()->swiglu
                                      : mb_swiglu;
    mb_threadpool_run(pool, tasks(n_threads, n), swiglu_quant_worker, &j);
}

/* Each of N_HEADS heads of HD values RMS-normed in place, times W. */
static void heads_rmsnorm(float *x, const float *w, int n_heads, int hd, float eps) {
    for (int h = 0; h < n_heads; h++)
        mb_rmsnorm(x + (size_t)h * hd, x + (size_t)h * hd, w, hd, eps);
}

/* The row encoder of a cache type: the level's F16 and Q8_0 encoders (the
 * activation ones, byte-identical to the reference), Q4_0's reference
 * encoder (a row per layer and token: not worth a SIMD one). */
static mb_act_quant_fn kv_encoder(uint32_t type) {
    const mb_kernel_table *kt = mb_kernels();
    if (type == MB_TYPE_F16 || type == MB_TYPE_Q8_0) return kt->act_quant[type];
    return mb_type_get(type)->from_float;
}

static void rope_kv_worker(void *ctx, int ith, int nth) {
    const mb_fused_rope_store *a = ctx;
    const mb_act_quant_fn enc_k = kv_encoder(a->kv->type[MB_KV_K]);
    const mb_act_quant_fn enc_v = kv_encoder(a->kv->type[MB_KV_V]);
    const int hd = a->hd, kv_dim = a->n_head_kv * hd;
    float c[512], s[512];
    long b, e;
    mb_split_range(a->n, ith, nth, &b, &e);
    for (long t = b; t < e; t++) {
        float *k = a->k + (size_t)t * kv_dim, *q = a->q + (size_t)t * a->n_head * hd;
        if (a->q_norm) heads_rmsnorm(q, a->q_norm, a->n_head, hd, a->eps);
        if (a->k_norm) heads_rmsnorm(k, a->k_norm, a->n_head_kv, hd, a->eps);
        mb_rope_angles(a->rope, a->pos + (int)t, c, s);
        mb_rope_rotate(a->rope, c, s, q, a->n_head, hd);
        mb_rope_rotate(a->rope, c, s, k, a->n_head_kv, hd);
        if (a->q_scale != 1.0f)
            for (int i = 0; i < a->n_head * hd; i++)
                q[i] *= a->q_scale;
        /* F16, as the reference's cache, or 8 / 4.5 bits per value. */
        const int p = a->pos + (int)t;
        enc_k(k, mb_kv_row(a->kv, a->layer, MB_KV_K, p), kv_dim);
        enc_v(a->v + (size_t)t * kv_dim, mb_kv_row(a->kv, a->layer, MB_KV_V, p), kv_dim);
    }
}

void mb_fused_rope_kv(mb_threadpool *pool, int n_threads, const mb_fused_rope_store *a) {
    mb_threadpool_run(pool, tasks(n_threads, a->n), rope_kv_worker, (void *)a);
}
