/* The three matrix products of a linear layer, all as one kernel,
 * C[m][n] (+)= dot(A[m], B[n]) over K contiguous floats ("NT"):
 *   forward  y  = x  W^T      A = x,    B = W
 *   backward dx = dy W        A = dy,   B = W^T   (transposed once per call)
 *            dW += dy^T x     A = dy^T, B = x^T
 * Transposing costs O(n (in + out) + in out), small beside the O(n in out)
 * products, and gives one kernel to make fast: 2 x 4 outputs per register
 * block (A and B rows each loaded once for several dots), B rows blocked so
 * they stay in cache across A rows. This file has the portable version;
 * gemm_avx2.c and gemm_avx512.c the x86 ones, picked once at first use.
 * Each output element is one dot with the same operation order in every
 * code path of a kernel (one vector accumulator, a fixed horizontal sum,
 * then the scalar tail), and each C row belongs to one thread, so results
 * are bitwise independent of the thread count and of where the split falls. */
#include <pthread.h>
#include <string.h>

#include "train/gemm.h"
#include "train/ops.h"
#include "train/vec.h"

static inline void put(float *c, float v, int acc) {
    *c = acc ? *c + v : v;
}

static inline float dot_tail(float s, const float *a, const float *b, int k0, int k) {
    for (int i = k0; i < k; i++)
        s += a[i] * b[i];
    return s;
}

static inline void kernel_1x1(float *c, const float *a, const float *b, int k, int acc) {
    mb_v4 x = {0};
    int i = 0;
    for (; i + 4 <= k; i += 4)
        x += mb_v4_load(a + i) * mb_v4_load(b + i);
    put(c, dot_tail(mb_v4_hsum(x), a, b, i, k), acc);
}

/* One A row against four B rows. */
static inline void kernel_1x4(float *c, const float *a, const float *b, int ldb, int k, int acc) {
    mb_v4 c0 = {0}, c1 = {0}, c2 = {0}, c3 = {0};
    int i = 0;
    for (; i + 4 <= k; i += 4) {
        mb_v4 x = mb_v4_load(a + i);
        c0 += x * mb_v4_load(b + i);
        c1 += x * mb_v4_load(b + ldb + i);
        c2 += x * mb_v4_load(b + 2 * (size_t)ldb + i);
        c3 += x * mb_v4_load(b + 3 * (size_t)ldb + i);
    }
    put(c, dot_tail(mb_v4_hsum(c0), a, b, i, k), acc);
    put(c + 1, dot_tail(mb_v4_hsum(c1), a, b + ldb, i, k), acc);
    put(c + 2, dot_tail(mb_v4_hsum(c2), a, b + 2 * (size_t)ldb, i, k), acc);
    put(c + 3, dot_tail(mb_v4_hsum(c3), a, b + 3 * (size_t)ldb, i, k), acc);
}

/* Two A rows against four B rows: 8 accumulators, 6 loads per 8 products. */
static inline void kernel_2x4(float *c, int ldc, const float *a, int lda, const float *b, int ldb,
                              int k, int acc) {
    mb_v4 c00 = {0}, c01 = {0}, c02 = {0}, c03 = {0}, c10 = {0}, c11 = {0}, c12 = {0}, c13 = {0};
    const float *a1 = a + lda;
    int i = 0;
    for (; i + 4 <= k; i += 4) {
        mb_v4 x0 = mb_v4_load(a + i), x1 = mb_v4_load(a1 + i);
        mb_v4 b0 = mb_v4_load(b + i), b1 = mb_v4_load(b + ldb + i);
        mb_v4 b2 = mb_v4_load(b + 2 * (size_t)ldb + i), b3 = mb_v4_load(b + 3 * (size_t)ldb + i);
        c00 += x0 * b0;
        c01 += x0 * b1;
        c02 += x0 * b2;
        c03 += x0 * b3;
        c10 += x1 * b0;
        c11 += x1 * b1;
        c12 += x1 * b2;
        c13 += x1 * b3;
    }
    const mb_v4 r0[4] = {c00, c01, c02, c03}, r1[4] = {c10, c11, c12, c13};
    for (int j = 0; j < 4; j++) {
        const float *bj = b + (size_t)j * ldb;
        put(c + j, dot_tail(mb_v4_hsum(r0[j]), a, bj, i, k), acc);
        put(c + ldc + j, dot_tail(mb_v4_hsum(r1[j]), a1, bj, i, k), acc);
    }
}

/* Rows [m0, m1) of C (ldc) = A (M x K) B^T, B being N x K. */
#define GEMM_ROWS gemm_nt_rows
#define GEMM_ATTR
#define GEMM_MR 2
#define GEMM_KMR kernel_2x4
#define GEMM_K1X4 kernel_1x4
#define GEMM_K1X1 kernel_1x1
#include "train/gemm_rows_body.h"

void mb_train_parallel(mb_threadpool *pool, mb_job_fn fn, void *ctx) {
    if (!pool) {
        fn(ctx, 0, 1);
        return;
    }
    mb_threadpool_run(pool, mb_threadpool_size(pool), fn, ctx);
}

typedef struct {
    float *c;
    const float *a, *b;
    int m, n, k, acc;
} gemm_job;

static mb_gemm_rows_fn gemm_rows;
static pthread_once_t gemm_once = PTHREAD_ONCE_INIT;

static void pick_kernel(void) {
    gemm_rows = mb_train_gemm_avx512();
    if (!gemm_rows) gemm_rows = mb_train_gemm_avx2();
    if (!gemm_rows) gemm_rows = gemm_nt_rows;
}

static void gemm_task(void *p, int ith, int nth) {
    const gemm_job *j = p;
    long m0, m1;
    mb_split_range(j->m, ith, nth, &m0, &m1);
    gemm_rows(j->c, j->n, j->a, j->b, m0, m1, j->n, j->k, j->acc);
}

static void gemm_nt(mb_threadpool *pool, float *c, const float *a, const float *b, int m, int n,
                    int k, int acc) {
    gemm_job j = {c, a, b, m, n, k, acc};
    pthread_once(&gemm_once, pick_kernel);
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
