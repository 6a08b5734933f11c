/* SparseGPT for one matrix (Frantar & Alistarh 2023, "SparseGPT: Massive
 * Language Models Can Be Accurately Pruned in One-Shot", Algorithm 1).
 *
 * Pruning a weight is "quantizing" it to zero: with U the upper Cholesky
 * factor of (H + lambda I)^-1 (the factor GPTQ uses, gptq_solve.c), setting
 * w_j to 0 costs w_j^2 / U_jj^2 of layer output error and is best
 * compensated by w_k -= (w_j / U_jj) U_jk on the later columns k > j. Rows
 * are independent given H, so each row goes left to right.
 *
 * Adaptive mask selection: the mask of a block of B columns is chosen when
 * the block is reached, from the weights as updated so far, so the earlier
 * blocks' compensation is taken into account. Unstructured: per row, the
 * block's lowest scores w^2 / U_jj^2 go, as many as bring the row's zeros
 * up to round(s * end of block); a row thus ends with exactly
 * round(s * n) zeros (the magnitude and Wanda rule), and with s >= 0.5 every
 * block of 128 has at least 64 zeros, so a sparse type's cap of 128
 * non-zeros per 256 holds without a second pass. N:M: each group of M
 * columns chooses its M - N lowest scores when its first column is reached.
 * Lazy batches: the update of the columns after a block is deferred and
 * applied once when the block ends, as in GPTQ. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/threadpool.h"
#include "quantize/gptq.h"
#include "tensor/select.h"

typedef struct {
    float *w;
    const float *u; /* [n][n] upper factor */
    int64_t n_rows;
    int n, block;
    const mb_sparsegpt_params *p;
    float *scratch; /* per thread: 3 * block floats + block flags */
} job;

/* Mark the K lowest of SCORE[0..N) in MASK (ties: the later ones).
 * TMP holds N floats. */
static void mark_lowest(const float *score, int n, int k, unsigned char *mask, float *tmp) {
    memset(mask, 0, (size_t)n);
    if (k <= 0) return;
    if (k >= n) {
        memset(mask, 1, (size_t)n);
        return;
    }
    memcpy(tmp, score, (size_t)n * sizeof *tmp);
    const float cut = mb_select_kth(tmp, n, k - 1);
    int below = 0;
    for (int j = 0; j < n; j++)
        below += score[j] < cut;
    int at_cut = k - below;
    for (int j = n - 1; j >= 0; j--)
        if (score[j] < cut || (score[j] == cut && at_cut > 0 && at_cut--)) mask[j] = 1;
}

static void prune_rows(void *arg, int ith, int nth) {
    const job *j = arg;
    const int n = j->n, B = j->block, pn = j->p->n, pm = j->p->m;
    float *err = j->scratch + (size_t)ith * (size_t)(3 * B + B / 4 + 1);
    float *score = err + B, *tmp = score + B;
    unsigned char *mask = (unsigned char *)(tmp + B);
    long r0, r1;
    mb_split_range((long)j->n_rows, ith, nth, &r0, &r1);
    for (long r = r0; r < r1; r++) {
        float *wr = j->w + (size_t)r * n;
        for (int i1 = 0; i1 < n; i1 += B) {
            const int i2 = i1 + B < n ? i1 + B : n, nb = i2 - i1;
            if (!pn) {
                const long k = lround(j->p->sparsity * i2) - lround(j->p->sparsity * i1);
                for (int c = i1; c < i2; c++) {
                    const float d = j->u[(size_t)c * n + c];
                    score[c - i1] = wr[c] * wr[c] / (d * d);
                }
                mark_lowest(score, nb, (int)k, mask, tmp);
            }
            for (int c = i1; c < i2; c++) {
                const float *uc = j->u + (size_t)c * n;
                if (pn && (c - i1) % pm == 0) {
                    const int g = c + pm <= i2 ? pm : i2 - c;
                    for (int e = 0; e < g; e++) {
                        const float d = j->u[(size_t)(c + e) * n + c + e];
                        score[e] = wr[c + e] * wr[c + e] / (d * d);
                    }
                    mark_lowest(score, g, g - pn * g / pm, mask + (c - i1), tmp);
                }
                float e = 0.0f;
                if (mask[c - i1]) {
                    e = wr[c] / uc[c];
                    wr[c] = 0.0f;
                    for (int k = c + 1; k < i2; k++)
                        wr[k] -= e * uc[k];
                }
                err[c - i1] = e;
            }
            for (int c = i1; c < i2 && i2 < n; c++) {
                const float e = err[c - i1];
                if (e == 0.0f) continue;
                const float *uc = j->u + (size_t)c * n;
                for (int k = i2; k < n; k++)
                    wr[k] -= e * uc[k];
            }
        }
    }
}

mb_status mb_sparsegpt_prune(float *w, int64_t n_rows, int n_cols, const double *h,
                             const mb_sparsegpt_params *p) {
    if (n_cols <= 0) return mb_errorf(MB_ERR_INVALID_ARG, "SparseGPT: empty rows");
    if (p->n && (p->m <= p->n || n_cols % p->m))
        return mb_errorf(MB_ERR_INVALID_ARG, "SparseGPT: rows of %d do not split into %d:%d groups",
                         n_cols, p->n, p->m);
    /* Blocks hold whole N:M groups. */
    int block = p->block > 0 ? p->block : 128;
    if (p->n) block = block < p->m ? p->m : block / p->m * p->m;
    const int nth = p->n_threads > 0 ? p->n_threads : 1;
    const size_t nn = (size_t)n_cols * (size_t)n_cols;
    double *a = malloc(sizeof *a * nn);
    float *u = malloc(sizeof *u * nn);
    float *scratch = malloc(sizeof *scratch * (size_t)nth * (size_t)(3 * block + block / 4 + 1));
    mb_status st = MB_OK;
    if (!a || !u || !scratch)
        st = mb_errorf(MB_ERR_NO_MEMORY, "SparseGPT: out of memory for %d columns", n_cols);
    if (!st) {
        double mean = 0;
        for (int i = 0; i < n_cols; i++)
            mean += h[(size_t)i * n_cols + i] / n_cols;
        const double lambda = (p->damp > 0 ? p->damp : 0.01) * (mean > 0 ? mean : 1.0);
        memcpy(a, h, sizeof *a * nn);
        for (int i = 0; i < n_cols; i++) {
            double *d = &a[(size_t)i * n_cols + i];
            if (*d <= 0) *d = 1.0; /* an input calibration never moved */
            *d += lambda;
        }
        st = mb_spd_inverse_upper_factor(a, n_cols);
        if (st) st = mb_error_prefix(st, "SparseGPT: the damped Hessian");
    }
    for (size_t i = 0; !st && i < nn; i++)
        u[i] = (float)a[i];
    free(a);
    mb_threadpool *pool = NULL;
    if (!st && nth > 1 && n_rows > 1) st = mb_threadpool_new(nth, &pool);
    if (!st) {
        job j = {w, u, n_rows, n_cols, block, p, scratch};
        if (pool)
            mb_threadpool_run(pool, n_rows < nth ? (int)n_rows : nth, prune_rows, &j);
        else
            prune_rows(&j, 0, 1);
    }
    mb_threadpool_free(pool);
    free(u);
    free(scratch);
    return st;
}
