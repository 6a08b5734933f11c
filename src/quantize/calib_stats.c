/* Per-input statistics from calibration rows: the Gram matrix H = sum x x^T
 * (GPTQ's Hessian up to a factor 2/N, AWQ's output-error metric) and the
 * per-channel sum of |x| (AWQ's activation scale). H is kept in double: a
 * few hundred thousand rows of squares lose digits in float. Each call
 * accumulates its rows in a float row per H row first (vectorizable, at
 * most CALIB_BATCH rows deep) and adds that to the double row. Rows of H
 * are dealt round-robin to threads: row i costs n - i. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/checked.h"
#include "core/error.h"
#include "quantize/calib.h"

mb_status mb_calib_stat_init(mb_calib_stat *s, int n, int with_h, int n_threads) {
    memset(s, 0, sizeof *s);
    s->n = n;
    s->n_scratch = n_threads > 0 ? n_threads : 1;
    uint64_t nn = 0;
    if (n <= 0 || !mb_mul_u64((uint64_t)n, (uint64_t)n, &nn) || nn > (1ull << 34))
        return mb_errorf(MB_ERR_INVALID_ARG, "calibration statistics: bad width %d", n);
    s->abs_sum = calloc((size_t)n, sizeof *s->abs_sum);
    s->scratch = malloc((size_t)n * (size_t)s->n_scratch * sizeof *s->scratch);
    if (with_h) s->h = calloc((size_t)nn, sizeof *s->h);
    if (!s->abs_sum || !s->scratch || (with_h && !s->h)) {
        mb_calib_stat_free(s);
        return mb_errorf(MB_ERR_NO_MEMORY, "out of memory for a %d x %d Hessian", n, n);
    }
    return MB_OK;
}

typedef struct {
    mb_calib_stat *s;
    const float *x;
    int n_rows;
} add_job;

static void add_rows(void *arg, int ith, int nth) {
    const add_job *j = arg;
    mb_calib_stat *s = j->s;
    const int n = s->n;
    float *acc = s->scratch + (size_t)ith * (size_t)n;
    for (int i = ith; i < n; i += nth) {
        memset(acc + i, 0, sizeof *acc * (size_t)(n - i));
        for (int r = 0; r < j->n_rows; r++) {
            const float *xr = j->x + (size_t)r * (size_t)n;
            const float xi = xr[i];
            for (int k = i; k < n; k++)
                acc[k] += xi * xr[k];
        }
        double *hi = s->h + (size_t)i * (size_t)n;
        for (int k = i; k < n; k++)
            hi[k] += acc[k];
    }
}

void mb_calib_stat_add(mb_calib_stat *s, mb_threadpool *pool, const float *x, int n_rows) {
    for (int r = 0; r < n_rows; r++)
        for (int i = 0; i < s->n; i++)
            s->abs_sum[i] += fabsf(x[(size_t)r * (size_t)s->n + i]);
    s->n_rows += (uint64_t)n_rows;
    if (!s->h) return;
    add_job j = {s, x, n_rows};
    int nth = pool ? mb_threadpool_size(pool) : 1;
    if (nth > s->n_scratch) nth = s->n_scratch;
    if (pool && nth > 1)
        mb_threadpool_run(pool, nth, add_rows, &j);
    else
        add_rows(&j, 0, 1);
}

void mb_calib_stat_finish(mb_calib_stat *s) {
    if (!s->h) return;
    for (int i = 0; i < s->n; i++)
        for (int k = 0; k < i; k++)
            s->h[(size_t)i * s->n + k] = s->h[(size_t)k * s->n + i];
}

void mb_calib_stat_free(mb_calib_stat *s) {
    free(s->h);
    free(s->abs_sum);
    free(s->scratch);
    memset(s, 0, sizeof *s);
}
