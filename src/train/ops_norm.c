/* Token embedding and RMSNorm (Zhang & Sennrich 2019), forward and backward. */
#include <math.h>
#include <string.h>

#include "train/ops.h"

void mb_embed_forward(float *x, const float *table, const int32_t *tokens, int n, int dim) {
    for (int t = 0; t < n; t++)
        memcpy(x + (size_t)t * dim, table + (size_t)tokens[t] * dim, (size_t)dim * sizeof(float));
}

/* Serial in token order: two positions holding the same token add into the
 * same row, and a fixed order keeps the sum deterministic. */
void mb_embed_backward(float *dtable, const float *dx, const int32_t *tokens, int n, int dim) {
    for (int t = 0; t < n; t++) {
        float *row = dtable + (size_t)tokens[t] * dim;
        const float *g = dx + (size_t)t * dim;
        for (int i = 0; i < dim; i++)
            row[i] += g[i];
    }
}

typedef struct {
    float *y, *rs, *dx, *dw;
    const float *x, *w, *dy;
    int n, dim, accumulate;
    float eps;
} norm_job;

static void forward_task(void *p, int ith, int nth) {
    const norm_job *j = p;
    long t0, t1;
    mb_split_range(j->n, ith, nth, &t0, &t1);
    for (long t = t0; t < t1; t++) {
        const float *x = j->x + (size_t)t * j->dim;
        float *y = j->y + (size_t)t * j->dim;
        double ss = 0;
        for (int i = 0; i < j->dim; i++)
            ss += (double)x[i] * x[i];
        float r = (float)(1.0 / sqrt(ss / j->dim + j->eps));
        j->rs[t] = r;
        for (int i = 0; i < j->dim; i++)
            y[i] = x[i] * r * j->w[i];
    }
}

void mb_rmsnorm_forward(mb_threadpool *pool, float *y, float *rs, const float *x, const float *w,
                        int n, int dim, float eps) {
    norm_job j = {.y = y, .rs = rs, .x = x, .w = w, .n = n, .dim = dim, .eps = eps};
    mb_train_parallel(pool, forward_task, &j);
}

/* With xhat = x r and y = xhat w:
 *   dx = r (w dy) - x r^3 / D * sum_i(w_i dy_i x_i)
 *   dw += sum_t dy xhat */
static void backward_task(void *p, int ith, int nth) {
    const norm_job *j = p;
    long t0, t1;
    mb_split_range(j->n, ith, nth, &t0, &t1);
    for (long t = t0; t < t1; t++) {
        const float *x = j->x + (size_t)t * j->dim, *dy = j->dy + (size_t)t * j->dim;
        float *dx = j->dx + (size_t)t * j->dim;
        float r = j->rs[t];
        double dot = 0;
        for (int i = 0; i < j->dim; i++)
            dot += (double)j->w[i] * dy[i] * x[i];
        float c = (float)(dot * r * r * r / j->dim);
        for (int i = 0; i < j->dim; i++) {
            float g = r * j->w[i] * dy[i] - x[i] * c;
            dx[i] = j->accumulate ? dx[i] + g : g;
        }
    }
}

/* dw split by columns: each column summed over tokens in token order. */
static void dw_task(void *p, int ith, int nth) {
    const norm_job *j = p;
    long i0, i1;
    mb_split_range(j->dim, ith, nth, &i0, &i1);
    for (int t = 0; t < j->n; t++) {
        const float *x = j->x + (size_t)t * j->dim, *dy = j->dy + (size_t)t * j->dim;
        float r = j->rs[t];
        for (long i = i0; i < i1; i++)
            j->dw[i] += dy[i] * x[i] * r;
    }
}

void mb_rmsnorm_backward(mb_threadpool *pool, float *dx, float *dw, const float *dy, const float *x,
                         const float *rs, const float *w, int n, int dim, int accumulate) {
    norm_job j = {.dx = dx,
                  .dw = dw,
                  .dy = dy,
                  .x = x,
                  .rs = (float *)rs,
                  .w = w,
                  .n = n,
                  .dim = dim,
                  .accumulate = accumulate};
    mb_train_parallel(pool, backward_task, &j);
    mb_train_parallel(pool, dw_task, &j);
}
