/* AWQ's scale search for one group of matrices that read the same input.
 * The output error of a candidate is measured through the Gram matrix
 * H = sum x x^T of the calibration inputs: for a row w and its round trip
 * q = deq(quant(w * s)) / s, ||X w - X q||^2 = d^T H d with d = w - q, so
 * every calibration row counts at n^2 per weight row, whatever their
 * number. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/threadpool.h"
#include "quantize/awq.h"
#include "tensor/quant_weighted.h"
#include "tensor/types.h"

typedef struct {
    const mb_awq_matrix *m;
    int n;
    const float *s, *h;
    const float *qw; /* importances of the scaled input (weighted), or NULL */
    float *scratch;  /* per thread: 3n floats + the row's bytes */
    size_t per_thread;
    double *err; /* per thread */
} err_job;

static void err_rows(void *arg, int ith, int nth) {
    const err_job *j = arg;
    const int n = j->n;
    const mb_type_traits *tr = mb_type_get(j->m->type);
    float *ws = j->scratch + (size_t)ith * j->per_thread, *d = ws + n, *y = d + n;
    void *bytes = y + n;
    long r0, r1;
    mb_split_range((long)j->m->n_rows, ith, nth, &r0, &r1);
    double e = 0;
    for (long r = r0; r < r1; r++) {
        const float *w = j->m->w + (size_t)r * n;
        for (int k = 0; k < n; k++)
            ws[k] = j->s ? w[k] * j->s[k] : w[k];
        if (!j->qw || !mb_quant_row_weighted(j->m->type, ws, bytes, n, j->qw))
            tr->from_float(ws, bytes, n);
        tr->to_float(bytes, ws, n);
        for (int k = 0; k < n; k++)
            d[k] = w[k] - (j->s ? ws[k] / j->s[k] : ws[k]);
        /* y = H d as a sum of rows (vectorizes), then d . y */
        memset(y, 0, sizeof *y * (size_t)n);
        for (int i = 0; i < n; i++) {
            const float di = d[i], *hi = j->h + (size_t)i * n;
            for (int k = 0; k < n; k++)
                y[k] += di * hi[k];
        }
        for (int k = 0; k < n; k++)
            e += (double)d[k] * y[k];
    }
    j->err[ith] = e;
}

double mb_awq_error(const mb_awq_matrix *m, int n, const float *s, const float *h, int n_threads) {
    const int nth = n_threads > 0 ? n_threads : 1;
    uint64_t row_bytes = 0;
    mb_type_row_bytes(m->type, (uint64_t)n, &row_bytes);
    const size_t per = 3 * (size_t)n + (size_t)(row_bytes + 3) / 4 + 16;
    err_job j = {.m = m, .n = n, .s = s, .h = h, .per_thread = per};
    j.scratch = malloc(sizeof(float) * per * (size_t)nth);
    j.err = calloc((size_t)nth, sizeof *j.err);
    float *qw = m->weighted ? malloc(sizeof *qw * (size_t)n) : NULL;
    if (qw) mb_awq_importances(h, n, s, qw);
    j.qw = qw;
    mb_threadpool *pool = NULL;
    double total = -1;
    if (j.scratch && j.err && (!m->weighted || qw) &&
        (nth == 1 || mb_threadpool_new(nth, &pool) == MB_OK)) {
        if (pool)
            mb_threadpool_run(pool, nth, err_rows, &j);
        else
            err_rows(&j, 0, 1);
        total = 0;
        for (int t = 0; t < nth; t++)
            total += j.err[t];
    }
    mb_threadpool_free(pool);
    free(j.scratch);
    free(j.err);
    free(qw);
    return total;
}

void mb_awq_importances(const float *h, int n, const float *s, float *qw) {
    double mean = 0;
    for (int k = 0; k < n; k++) {
        const double hk = h[(size_t)k * n + k], sk = s ? s[k] : 1.0;
        qw[k] = (float)(hk / (sk * sk));
        mean += qw[k] / (double)n;
    }
    const double floor_w = mean > 0 ? 1e-6 * mean : 1.0;
    for (int k = 0; k < n; k++)
        qw[k] = mean > 0 ? (float)(fmax(qw[k], floor_w) / mean) : 1.0f;
}

void mb_awq_scales(const double *mean_abs, int n, float alpha, float *s) {
    double lo = INFINITY, hi = 0;
    for (int k = 0; k < n; k++) {
        const double a = mean_abs[k] > 1e-6 ? mean_abs[k] : 1e-6;
        s[k] = (float)pow(a, alpha);
        lo = fmin(lo, s[k]);
        hi = fmax(hi, s[k]);
    }
    const float norm = (float)sqrt(lo * hi);
    for (int k = 0; k < n; k++)
        s[k] /= norm;
}

mb_status mb_awq_search(const mb_awq_matrix *mats, int n_mats, int n, const float *h,
                        const double *mean_abs, int n_grid, int n_threads, float *s, float *alpha,
                        double *err_best, double *err_plain) {
    float *trial = malloc(sizeof *trial * (size_t)n);
    if (!trial) return mb_errorf(MB_ERR_NO_MEMORY, "AWQ: out of memory");
    double best = INFINITY;
    for (int g = 0; g < (n_grid > 0 ? n_grid : 1); g++) {
        const float a = (float)g / (float)(n_grid > 0 ? n_grid : 1);
        mb_awq_scales(mean_abs, n, a, trial);
        double e = 0;
        for (int i = 0; i < n_mats && e >= 0; i++) {
            const double ei = mb_awq_error(&mats[i], n, g ? trial : NULL, h, n_threads);
            e = ei < 0 ? -1 : e + ei;
        }
        if (e < 0) {
            free(trial);
            return mb_errorf(MB_ERR_NO_MEMORY, "AWQ: out of memory measuring the error");
        }
        if (g == 0) *err_plain = e;
        if (e < best) {
            best = e;
            *alpha = a;
            memcpy(s, trial, sizeof *s * (size_t)n);
        }
    }
    *err_best = best;
    free(trial);
    return MB_OK;
}
