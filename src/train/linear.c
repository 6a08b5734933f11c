/* The three matrix products of a linear layer, all as one kernel,
 * C[m][n] (+)= dot(A[m], B[n]) over K contiguous floats ("NT"):
 *   forward  y  = x  W^T      A = x,    B = W
 *   backward dx = dy W        A = dy,   B = W^T   (transposed once per call)
 *            dW += dy^T x     A = dy^T, B = x^T
 * Transposing costs O(n (in + out) + in out), small beside the O(n in out)
 * products, and gives one kernel to make fast: 2 x 4 outputs per register
 * block (A and B rows each loaded once for several dots), B rows blocked so
 * they stay in cache across A rows. The kernel is the kernel table's
 * gemm_nt_rows (src/kernels: portable, AVX2, AVX-512), of the level
 * chosen at start-up.
 * Each output element is one dot with the same operation order in every
 * code path of a kernel (one vector accumulator, a fixed horizontal sum,
 * then the scalar tail), and each C row belongs to one thread, so results
 * are bitwise independent of the thread count and of where the split falls. */
#include <string.h>

#include "kernels/kernels.h"
#include "train/ops.h"

void mb_train_parallel(mb_threadpool *pool, mb_job_fn fn, void *ctx) {
    if (!pool) {
        fn(ctx, 0, 1);
        return;
    }
    mb_threadpool_run(pool, mb_threadpool_size(pool), fn, ctx);
}

typedef struct {
    mb_gemm_nt_rows_fn rows;
    float *c;
    const float *a, *b;
    int m, n, k, acc;
} gemm_job;

static void gemm_task(void *p, int ith, int nth) {
    const gemm_job *j = p;
    long m0, m1;
    mb_split_range(j->m, ith, nth, &m0, &m1);
    j->rows(j->c, j->n, j->a, j->b, m0, m1, j->n, j->k, j->acc);
}

static void gemm_nt(mb_threadpool *pool, float *c, const float *a, const float *b, int m, int n,
                    int k, int acc) {
    gemm_job j = {mb_kernels()->gemm_nt_rows, c, a, b, m, n, k, acc};
    mb_train_parallel(pool, gemm_task, &j);
}

typedef struct {
    float *dst;
    const float *src;
    int rows, cols;
} transpose_job;

/* dst (cols x rows) = src (rows x cols)^T, split by destination rows, in
 * tiles so both sides stay in cache. */
static void transpose_task(void *p, int ith, int nth) {
    const transpose_job *j = p;
    long c0, c1;
    mb_split_range(j->cols, ith, nth, &c0, &c1);
    enum { T = 32 };
    for (int r0 = 0; r0 < j->rows; r0 += T)
        for (long cc = c0; cc < c1; cc += T) {
            int r1 = r0 + T < j->rows ? r0 + T : j->rows;
            long ce = cc + T < c1 ? cc + T : c1;
            for (long c = cc; c < ce; c++)
                for (int r = r0; r < r1; r++)
                    j->dst[(size_t)c * j->rows + r] = j->src[(size_t)r * j->cols + c];
        }
}

static void transpose(mb_threadpool *pool, float *dst, const float *src, int rows, int cols) {
    transpose_job j = {dst, src, rows, cols};
    mb_train_parallel(pool, transpose_task, &j);
}

void mb_linear_forward(mb_threadpool *pool, float *y, const float *x, const float *w, int n, int in,
                       int out) {
    gemm_nt(pool, y, x, w, n, out, in, 0);
}

size_t mb_linear_scratch_floats(int n, int in, int out) {
    return (size_t)in * out + (size_t)n * out + (size_t)n * in;
}

void mb_linear_backward(mb_threadpool *pool, float *dx, float *dw, const float *dy, const float *x,
                        const float *w, int n, int in, int out, int accumulate, float *scratch) {
    float *wt = scratch, *dyt = wt + (size_t)in * out, *xt = dyt + (size_t)n * out;
    if (dx) {
        transpose(pool, wt, w, out, in);
        gemm_nt(pool, dx, dy, wt, n, in, out, accumulate);
    }
    if (!dw) return;
    transpose(pool, dyt, dy, n, out);
    transpose(pool, xt, x, n, in);
    gemm_nt(pool, dw, dyt, xt, out, in, n, 1);
}
