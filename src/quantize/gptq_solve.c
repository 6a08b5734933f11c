/* GPTQ for one matrix (Frantar et al. 2022, "GPTQ: Accurate Post-Training
 * Quantization for Generative Pre-trained Transformers", Algorithm 1).
 *
 * Rows of W are independent given H: each row quantizes its columns in
 * order, and the rounding error of column j, err = (w_j - q_j) / U_jj, is
 * spread over the later columns as w_k -= err * U_jk, where U is the upper
 * Cholesky factor of (H + lambda I)^-1. Lazy batches: the update of
 * columns beyond the current batch of B columns is deferred and applied as
 * one rank-B product when the batch ends, so U is streamed once per batch
 * for a tile of rows.
 *
 * Block types: the grid of a block (its scales and mins) is fitted when the
 * block's first column is reached, from the block's current, error-updated
 * weights, with the type's own encoder; its columns are then rounded to
 * that grid (gptq_grid.c). Batches are whole blocks, so that fit sees every
 * update made so far. Act-order keeps each block's columns together (a
 * GGUF block is a fixed run of the row): blocks go in order of their summed
 * diag(H), and the columns inside a block by diag(H), both descending. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/threadpool.h"
#include "quantize/gptq.h"
#include "tensor/quant_weighted.h"
#include "tensor/types.h"

mb_status mb_cholesky(double *a, int n) {
    for (int j = 0; j < n; j++) {
        double d = a[(size_t)j * n + j];
        for (int k = 0; k < j; k++)
            d -= a[(size_t)j * n + k] * a[(size_t)j * n + k];
        if (!(d > 0))
            return mb_errorf(MB_ERR_INVALID_ARG,
                             "matrix is not positive definite (pivot %d of %d is %g)", j, n, d);
        d = sqrt(d);
        a[(size_t)j * n + j] = d;
        for (int i = j + 1; i < n; i++) {
            double s = a[(size_t)i * n + j];
            for (int k = 0; k < j; k++)
                s -= a[(size_t)i * n + k] * a[(size_t)j * n + k];
            a[(size_t)i * n + j] = s / d;
        }
        for (int k = j + 1; k < n; k++)
            a[(size_t)j * n + k] = 0.0;
    }
    return MB_OK;
}

mb_status mb_spd_inverse(double *a, int n) {
    mb_status st = mb_cholesky(a, n);
    if (st) return st;
    /* L^-1 in place (lower triangular), then A^-1 = L^-T L^-1. */
    for (int j = 0; j < n; j++) {
        a[(size_t)j * n + j] = 1.0 / a[(size_t)j * n + j];
        for (int i = j + 1; i < n; i++) {
            double s = 0;
            for (int k = j; k < i; k++)
                s -= a[(size_t)i * n + k] * a[(size_t)k * n + j];
            a[(size_t)i * n + j] = s / a[(size_t)i * n + i];
        }
    }
    /* (L^-T L^-1)_ij = sum_k>=max(i,j) Li_ki Li_kj: the lower triangle of Li
     * is read, the result built in the upper triangle, then mirrored. */
    for (int i = 0; i < n; i++) {
        for (int j = i; j < n; j++) {
            double s = 0;
            for (int k = j; k < n; k++)
                s += a[(size_t)k * n + i] * a[(size_t)k * n + j];
            a[(size_t)i * n + j] = s; /* row i, cols >= i: not read again */
        }
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < i; j++)
            a[(size_t)i * n + j] = a[(size_t)j * n + i];
    return MB_OK;
}

static void reverse(double *a, size_t nn) {
    for (size_t i = 0, j = nn - 1; i < j; i++, j--) {
        const double t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

/* U with U^T U = A^-1, upper triangular with a positive diagonal (the upper
 * Cholesky factor of the inverse), without forming A^-1: with J the
 * reversal, J A J = M M^T (M lower) gives A = R R^T with R = J M J upper,
 * so A^-1 = R^-T R^-1 and U = R^-1. Reversing both indices is reversing
 * the flat array. One Cholesky and one triangular inverse, both on
 * contiguous rows. */
mb_status mb_spd_inverse_upper_factor(double *a, int n) {
    const size_t nn = (size_t)n * (size_t)n;
    reverse(a, nn);
    mb_status st = mb_cholesky(a, n);
    if (st) return st;
    reverse(a, nn); /* R, upper */
    double *t = malloc(sizeof *t * (size_t)n);
    if (!t) return mb_errorf(MB_ERR_NO_MEMORY, "out of memory for a row of %d", n);
    /* Rows of U from the bottom: U_i = (e_i - sum_{k>i} R_ik U_k) / R_ii. */
    for (int i = n - 1; i >= 0; i--) {
        double *ri = a + (size_t)i * n;
        memset(t + i, 0, sizeof *t * (size_t)(n - i));
        t[i] = 1.0;
        for (int k = i + 1; k < n; k++) {
            const double r = ri[k], *uk = a + (size_t)k * n;
            for (int j = k; j < n; j++)
                t[j] -= r * uk[j];
        }
        const double d = ri[i];
        for (int j = i; j < n; j++)
            ri[j] = t[j] / d;
    }
    free(t);
    return MB_OK;
}

typedef struct {
    float *w;        /* [n_rows][n_cols], columns in processing order */
    const float *u;  /* [n_cols][n_cols] upper factor, processing order */
    const int *perm; /* processing position -> original column */
    const int *pos;  /* original column -> processing position */
    int64_t n_rows;
    int n_cols, lazy, bs, sub;
    uint32_t type;
    size_t block_bytes, row_bytes;
    uint8_t *out;
    float *deq;      /* [n_rows][n_cols] original order, or NULL */
    const float *qw; /* block-fit importances diag(H) [n_cols] original order, or NULL */
    float *scratch;  /* per thread: TILE * lazy errors + bs values */
} solve_job;

enum { TILE = 8 };

/* Fit the type block containing original column C of row R. */
static void fit_block(const solve_job *j, const float *wr, uint8_t *row_out, int c, float *vals) {
    const int b0 = c - c % j->bs;
    for (int e = 0; e < j->bs; e++)
        vals[e] = wr[j->pos[b0 + e]];
    uint8_t *blk = row_out + (size_t)(b0 / j->bs) * j->block_bytes;
    if (!j->qw || !mb_quant_row_weighted(j->type, vals, blk, j->bs, j->qw + b0))
        mb_qgrid_fit(j->type, vals, blk);
}

static void solve_rows(void *arg, int ith, int nth) {
    const solve_job *j = arg;
    const int n = j->n_cols, lazy = j->lazy;
    float *err = j->scratch + (size_t)ith * (size_t)(TILE * lazy + j->bs);
    float *vals = err + (size_t)TILE * lazy;
    const long n_tiles = (long)((j->n_rows + TILE - 1) / TILE);
    long t0, t1;
    mb_split_range(n_tiles, ith, nth, &t0, &t1);
    for (long t = t0; t < t1; t++) {
        const int64_t r0 = (int64_t)t * TILE;
        const int nr = (int)(j->n_rows - r0 < TILE ? j->n_rows - r0 : TILE);
        for (int i1 = 0; i1 < n; i1 += lazy) {
            const int i2 = i1 + lazy < n ? i1 + lazy : n;
            for (int c = i1; c < i2; c++) {
                const float *uc = j->u + (size_t)c * n;
                const int oc = j->perm[c];
                for (int r = 0; r < nr; r++) {
                    float *wr = j->w + (size_t)(r0 + r) * n;
                    uint8_t *ro = j->out + (size_t)(r0 + r) * j->row_bytes;
                    if (c == 0 || j->perm[c - 1] / j->bs != oc / j->bs)
                        fit_block(j, wr, ro, oc, vals);
                    uint8_t *blk = ro + (size_t)(oc / j->bs) * j->block_bytes;
                    float a, m, v;
                    int qlo, qhi;
                    mb_qgrid_params(j->type, blk, (oc % j->bs) / j->sub, &a, &m, &qlo, &qhi);
                    const int q = mb_qgrid_round(wr[c], a, m, qlo, qhi, &v);
                    mb_qgrid_set(j->type, blk, oc % j->bs, q);
                    if (j->deq) j->deq[(size_t)(r0 + r) * n + oc] = v;
                    const float e = (wr[c] - v) / uc[c];
                    err[r * lazy + (c - i1)] = e;
                    for (int k = c + 1; k < i2; k++)
                        wr[k] -= e * uc[k];
                }
            }
            /* The deferred update of the columns after this batch. */
            for (int r = 0; r < nr && i2 < n; r++) {
                float *wr = j->w + (size_t)(r0 + r) * n;
                for (int c = i1; c < i2; c++) {
                    const float e = err[r * lazy + (c - i1)];
                    const float *uc = j->u + (size_t)c * n;
                    for (int k = i2; k < n; k++)
                        wr[k] -= e * uc[k];
                }
            }
        }
    }
}

typedef struct {
    double key;
    int idx;
} keyed;

static int by_key_desc(const void *pa, const void *pb) {
    const keyed *a = pa, *b = pb;
    if (a->key != b->key) return a->key < b->key ? 1 : -1;
    return a->idx - b->idx; /* stable: equal keys keep their order */
}

/* Act-order permutation: blocks by summed diag, columns in a block by diag. */
static void act_order(const double *diag, int n, int bs, int *perm) {
    const int nb = n / bs;
    keyed *k = malloc(sizeof *k * (size_t)(n > nb ? n : nb));
    if (!k) {
        for (int i = 0; i < n; i++)
            perm[i] = i;
        return;
    }
    for (int b = 0; b < nb; b++) {
        k[b].idx = b;
        k[b].key = 0;
        for (int e = 0; e < bs; e++)
            k[b].key += diag[b * bs + e];
    }
    qsort(k, (size_t)nb, sizeof *k, by_key_desc);
    int *order = malloc(sizeof *order * (size_t)nb);
    for (int b = 0; b < nb; b++)
        order[b] = order ? k[b].idx : b;
    for (int bi = 0; bi < nb; bi++) {
        const int b = order ? order[bi] : bi;
        for (int e = 0; e < bs; e++)
            k[e] = (keyed){diag[b * bs + e], b * bs + e};
        qsort(k, (size_t)bs, sizeof *k, by_key_desc);
        for (int e = 0; e < bs; e++)
            perm[bi * bs + e] = k[e].idx;
    }
    free(order);
    free(k);
}

/* U: upper Cholesky factor of (H + lambda I)^-1 in processing order. */
static mb_status inverse_factor(const double *h, int n, double damp, const int *perm, float *u) {
    double *a = malloc(sizeof *a * (size_t)n * (size_t)n);
    if (!a) return mb_errorf(MB_ERR_NO_MEMORY, "out of memory for a %d x %d Hessian", n, n);
    double mean = 0;
    for (int i = 0; i < n; i++)
        mean += h[(size_t)i * n + i];
    mean /= n;
    const double lambda = damp * (mean > 0 ? mean : 1.0);
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < n; k++)
            a[(size_t)i * n + k] = h[(size_t)perm[i] * n + perm[k]];
        /* A column no calibration row touched: any value is as good. */
        if (a[(size_t)i * n + i] <= 0) a[(size_t)i * n + i] = 1.0;
        a[(size_t)i * n + i] += lambda;
    }
    mb_status st = mb_spd_inverse_upper_factor(a, n);
    for (size_t i = 0; !st && i < (size_t)n * n; i++)
        u[i] = (float)a[i];
    free(a);
    return st ? mb_error_prefix(st, "GPTQ: the damped Hessian") : MB_OK;
}

mb_status mb_gptq_quantize(float *w, int64_t n_rows, int n_cols, const double *h, uint32_t type,
                           const mb_gptq_params *p, void *out, float *deq) {
    const mb_type_traits *tr = mb_type_get(type);
    if (!mb_qgrid_supported(type) || !tr)
        return mb_errorf(MB_ERR_UNSUPPORTED, "GPTQ has no grid for type %s", mb_type_name(type));
    const int bs = (int)tr->block_size;
    if (n_cols <= 0 || n_cols % bs)
        return mb_errorf(MB_ERR_INVALID_ARG, "GPTQ: row of %d is not a multiple of %s's block %d",
                         n_cols, tr->name, bs);
    int lazy = p->lazy > 0 ? p->lazy : 128;
    lazy = (lazy + bs - 1) / bs * bs;
    const int nth = p->n_threads > 0 ? p->n_threads : 1;
    const size_t nn = (size_t)n_cols * (size_t)n_cols;
    int *perm = malloc(sizeof *perm * (size_t)n_cols * 2);
    float *u = malloc(sizeof *u * nn);
    float *scratch = malloc(sizeof *scratch * (size_t)nth * (size_t)(TILE * lazy + bs));
    double *diag = malloc(sizeof *diag * (size_t)n_cols);
    float *row = malloc(sizeof *row * (size_t)n_cols);
    float *qw = p->weighted_fit ? malloc(sizeof *qw * (size_t)n_cols) : NULL;
    mb_threadpool *pool = NULL;
    mb_status st = MB_OK;
    if (!perm || !u || !scratch || !diag || !row || (p->weighted_fit && !qw))
        st = mb_errorf(MB_ERR_NO_MEMORY, "GPTQ: out of memory for %d columns", n_cols);
    if (!st) {
        for (int i = 0; i < n_cols; i++) {
            diag[i] = h[(size_t)i * n_cols + i];
            perm[i] = i;
        }
        if (p->act_order) act_order(diag, n_cols, bs, perm);
        for (int i = 0; i < n_cols; i++)
            perm[n_cols + perm[i]] = i;
        st = inverse_factor(h, n_cols, p->damp, perm, u);
        double mean = 0;
        for (int i = 0; qw && i < n_cols; i++)
            mean += diag[i] / n_cols;
        for (int i = 0; qw && i < n_cols; i++)
            qw[i] = mean > 0 ? (float)(diag[i] / mean) : 1.0f;
    }
    /* Rows into processing order. */
    for (int64_t r = 0; !st && r < n_rows; r++) {
        float *wr = w + (size_t)r * n_cols;
        for (int i = 0; i < n_cols; i++)
            row[i] = wr[perm[i]];
        memcpy(wr, row, sizeof *row * (size_t)n_cols);
    }
    if (!st && nth > 1) st = mb_threadpool_new(nth, &pool);
    if (!st) {
        solve_job j = {.w = w,
                       .u = u,
                       .perm = perm,
                       .pos = perm + n_cols,
                       .n_rows = n_rows,
                       .n_cols = n_cols,
                       .lazy = lazy,
                       .bs = bs,
                       .sub = mb_qgrid_sub_size(type),
                       .type = type,
                       .block_bytes = tr->type_size,
                       .row_bytes = tr->type_size * (size_t)(n_cols / bs),
                       .out = out,
                       .deq = deq,
                       .qw = qw,
                       .scratch = scratch};
        const long n_tiles = (long)((n_rows + TILE - 1) / TILE);
        const int tasks = n_tiles < nth ? (int)n_tiles : nth;
        if (pool)
            mb_threadpool_run(pool, tasks, solve_rows, &j);
        else
            solve_rows(&j, 0, 1);
    }
    mb_threadpool_free(pool);
    free(perm);
    free(u);
    free(scratch);
    free(diag);
    free(row);
    free(qw);
    return st;
}
