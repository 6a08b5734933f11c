#include "model/moe.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/checked.h"
#include "core/error.h"
#include "kernels/kernels.h"

/* Bytes of each expert buffer: one table for the allocation and the memory
 * plan (mb_moe_work_bytes). The hyper-parameters were range-checked (embd,
 * ffn < 2^30, experts <= 256, batch small), so these products fit in size_t
 * on 64-bit hosts. */
typedef struct {
    size_t router, sel, sel_w, n_rows, rows, row_w, xe, gate, up, out, acc, act_buf;
} moe_sizes;

static moe_sizes moe_plan(int n_expert, int n_used, int n_embd, int n_ff, int n_batch) {
    size_t b = (size_t)n_batch, ne = (size_t)n_expert,
           wide = (size_t)(n_embd > n_ff ? n_embd : n_ff);
    return (moe_sizes){
        .router = b * ne * sizeof(float),
        .sel = b * (size_t)n_used * sizeof(int),
        .sel_w = b * (size_t)n_used * sizeof(float),
        .n_rows = ne * sizeof(int),
        .rows = ne * b * sizeof(int),
        .row_w = ne * b * sizeof(float),
        .xe = b * (size_t)n_embd * sizeof(float),
        .gate = b * (size_t)n_ff * sizeof(float),
        .up = b * (size_t)n_ff * sizeof(float),
        .out = b * (size_t)n_embd * sizeof(float),
        .acc = b * (size_t)n_embd * sizeof(float),
        /* 4 bytes per value bounds every activation type (F32 is the widest). */
        .act_buf = b * wide * sizeof(float),
    };
}

uint64_t mb_moe_work_bytes(int n_expert, int n_used, int n_embd, int n_ff, int n_batch) {
    const moe_sizes z = moe_plan(n_expert, n_used, n_embd, n_ff, n_batch);
    const size_t each[] = {z.router, z.sel,  z.sel_w, z.n_rows, z.rows, z.row_w,
                           z.xe,     z.gate, z.up,    z.out,    z.acc,  z.act_buf};
    uint64_t total = 0;
    for (size_t i = 0; i < sizeof each / sizeof *each; i++)
        total += (each[i] + 63) / 64 * 64;
    return total;
}

static void *alloc_bytes(size_t n, int *failed) {
    void *p = aligned_alloc(64, (n + 63) / 64 * 64);
    if (!p) *failed = 1;
    return p;
}

mb_status mb_moe_work_new(int n_expert, int n_used, int n_embd, int n_ff, int n_batch,
                          int n_threads, mb_moe_work **out) {
    *out = NULL;
    if (n_expert <= 0 || n_used <= 0 || n_used > n_expert || n_embd <= 0 || n_ff <= 0 ||
        n_batch <= 0)
        return mb_errorf(MB_ERR_INVALID_ARG, "experts: %d used of %d, embd %d, ffn %d, batch %d",
                         n_used, n_expert, n_embd, n_ff, n_batch);
    mb_moe_work *w = calloc(1, sizeof *w);
    if (!w) return mb_errorf(MB_ERR_NO_MEMORY, "out of memory");
    *w = (mb_moe_work){.n_expert = n_expert,
                       .n_used = n_used,
                       .n_embd = n_embd,
                       .n_ff = n_ff,
                       .n_batch = n_batch,
                       .n_threads = n_threads};
    const moe_sizes z = moe_plan(n_expert, n_used, n_embd, n_ff, n_batch);
    int failed = 0;
    w->router = alloc_bytes(z.router, &failed);
    w->sel = alloc_bytes(z.sel, &failed);
    w->sel_w = alloc_bytes(z.sel_w, &failed);
    w->n_rows = alloc_bytes(z.n_rows, &failed);
    w->rows = alloc_bytes(z.rows, &failed);
    w->row_w = alloc_bytes(z.row_w, &failed);
    w->xe = alloc_bytes(z.xe, &failed);
    w->gate = alloc_bytes(z.gate, &failed);
    w->up = alloc_bytes(z.up, &failed);
    w->out = alloc_bytes(z.out, &failed);
    w->acc = alloc_bytes(z.acc, &failed);
    w->act_buf = alloc_bytes(z.act_buf, &failed);
    if (failed) {
        mb_moe_work_free(w);
        return mb_errorf(MB_ERR_NO_MEMORY, "cannot allocate the expert buffers (%d experts)",
                         n_expert);
    }
    w->act = (mb_act){.act_type = MB_TYPE_COUNT, .data = w->act_buf};
    w->min_margin = INFINITY;
    *out = w;
    return MB_OK;
}

void mb_moe_work_free(mb_moe_work *w) {
    if (!w) return;
    free(w->router);
    free(w->sel);
    free(w->sel_w);
    free(w->n_rows);
    free(w->rows);
    free(w->row_w);
    free(w->xe);
    free(w->gate);
    free(w->up);
    free(w->out);
    free(w->acc);
    free(w->act_buf);
    free(w);
}

void mb_moe_route(float *logits, int n_expert, int k, int *sel, float *weight) {
    mb_softmax(logits, n_expert);
    double sum = 0;
    for (int j = 0; j < k; j++) {
        int best = -1;
        for (int e = 0; e < n_expert; e++) {
            int taken = 0;
            for (int i = 0; i < j; i++)
                taken |= sel[i] == e;
            /* Strictly greater: among equal probabilities the lower index wins. */
            if (!taken && (best < 0 || logits[e] > logits[best])) best = e;
        }
        sel[j] = best;
        weight[j] = logits[best];
        sum += logits[best];
    }
    for (int j = 0; j < k; j++)
        weight[j] = (float)(weight[j] / sum);
}

static void project(mb_moe_work *w, mb_threadpool *pool, const mb_matrix *m, const float *x, int n,
                    float *out) {
    if (!mb_act_matches(&w->act, m->type) || w->act.n_rows != n || w->act.n_in != m->n_in)
        mb_act_prepare(&w->act, m->type, x, m->n_in, n);
    mb_matmul(pool, w->n_threads, m, &w->act, out, m->n_out, 0);
}

/* One expert over the rows routed to it: gather, SwiGLU, weighted scatter. */
static void run_expert(mb_moe_work *w, mb_threadpool *pool, const mb_matrix *gate,
                       const mb_matrix *up, const mb_matrix *down, int e, const float *xn) {
    int cnt = w->n_rows[e], d = w->n_embd;
    const int *rows = w->rows + (size_t)e * w->n_batch;
    const float *rw = w->row_w + (size_t)e * w->n_batch;
    for (int r = 0; r < cnt; r++)
        memcpy(w->xe + (size_t)r * d, xn + (size_t)rows[r] * d, (size_t)d * sizeof(float));
    w->act.act_type = MB_TYPE_COUNT;
    project(w, pool, gate, w->xe, cnt, w->gate);
    project(w, pool, up, w->xe, cnt, w->up);
    mb_swiglu(w->gate, w->gate, w->up, (int64_t)cnt * w->n_ff);
    w->act.act_type = MB_TYPE_COUNT;
    project(w, pool, down, w->gate, cnt, w->out);
    for (int r = 0; r < cnt; r++) {
        float *acc = w->acc + (size_t)rows[r] * d;
        const float *o = w->out + (size_t)r * d;
        for (int i = 0; i < d; i++)
            acc[i] += rw[r] * o[i];
    }
    w->expert_runs++;
}

mb_status mb_moe_forward(mb_moe_work *w, mb_threadpool *pool, const mb_moe_layer *l,
                         const float *xn, int n, float *x) {
    int ne = w->n_expert, k = w->n_used, d = w->n_embd;
    w->act.act_type = MB_TYPE_COUNT;
    project(w, pool, l->gate_inp, xn, n, w->router);
    memset(w->n_rows, 0, (size_t)ne * sizeof(int));
    for (int t = 0; t < n; t++) {
        int *sel = w->sel + (size_t)t * k;
        float *sw = w->sel_w + (size_t)t * k;
        const float *prob = w->router + (size_t)t * ne;
        mb_moe_route(w->router + (size_t)t * ne, ne, k, sel, sw);
        for (int e = 0; e < ne; e++) {
            int chosen = 0;
            for (int j = 0; j < k; j++)
                chosen |= sel[j] == e;
            const float margin = prob[sel[k - 1]] - prob[e];
            if (!chosen && margin < w->min_margin) w->min_margin = margin;
        }
        for (int j = 0; j < k; j++) {
            int e = sel[j], r = w->n_rows[e]++;
            w->rows[(size_t)e * w->n_batch + r] = t;
            w->row_w[(size_t)e * w->n_batch + r] = sw[j];
        }
    }
    memset(w->acc, 0, (size_t)n * d * sizeof(float));
    for (int e = 0; e < ne; e++) {
        if (w->n_rows[e] == 0) continue;
        if (!l->fetch) {
            run_expert(w, pool, &l->gate[e], &l->up[e], &l->down[e], e, xn);
            continue;
        }
        const mb_matrix *m = NULL;
        mb_status st = l->fetch(l->fetch_ctx, l->layer, e, &m);
        if (st) return st;
        run_expert(w, pool, &m[0], &m[1], &m[2], e, xn);
    }
    /* The block's output joins the residual stream in one addition, as in
     * the definition x + sum_e w_e * expert_e(norm(x)). */
    for (size_t i = 0; i < (size_t)n * d; i++)
        x[i] += w->acc[i];
    return MB_OK;
}
