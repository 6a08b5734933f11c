/* The portable version of the trainer's NT matrix kernel (kernels.h,
 * gemm_nt_rows): 2 x 4 outputs per register block (A and B rows each loaded
 * once for several dots), B rows blocked so they stay in cache across A
 * rows (gemm_nt_body.h). Each output element is one dot with the same
 * operation order in every code path (one vector accumulator, a fixed
 * horizontal sum, then the scalar tail). */
#include "kernels/kernels.h"
#include "kernels/vec.h"

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
#define GEMM_ROWS mb_ref_gemm_nt_rows
#define GEMM_ATTR
#define GEMM_MR 2
#define GEMM_KMR kernel_2x4
#define GEMM_K1X4 kernel_1x4
#define GEMM_K1X1 kernel_1x1
#include "kernels/gemm_nt_body.h"
