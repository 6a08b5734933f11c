/* The trainer's matrix kernel (kernel table gemm_nt_rows) of one level
 * against a plain scalar loop: C (+)= A B^T over sizes that hit every
 * register block and tail (M around the 2- and 4-row blocks, N around the
 * 4-column block and the 32-row cache block, K around the 4-, 8- and
 * 16-lane vectors), and row splits that must give the same bits as one
 * call (each element is one dot, whatever the split: the trainer's results
 * do not depend on the thread count).
 *
 * usage: test_kernels_gemm_nt [LEVEL]  (ref by default; a SIMD level: skipped,
 * exit 77, where this CPU or build lacks the level). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "test_levels.h"
#include "test_util.h"

static float frand(uint64_t *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((*s >> 40) & 0xFFFFFF) / 16777216.0f * 2.0f - 1.0f;
}

static void check(mb_gemm_nt_rows_fn rows, const char *level, int m, int n, int k, int acc,
                  uint64_t *rng) {
    float *a = malloc(sizeof(float) * (size_t)m * k), *b = malloc(sizeof(float) * (size_t)n * k);
    float *c = malloc(sizeof(float) * (size_t)m * n), *c2 = malloc(sizeof(float) * (size_t)m * n);
    float *c0 = malloc(sizeof(float) * (size_t)m * n);
    for (long i = 0; i < (long)m * k; i++)
        a[i] = frand(rng);
    for (long i = 0; i < (long)n * k; i++)
        b[i] = frand(rng);
    for (long i = 0; i < (long)m * n; i++)
        c0[i] = frand(rng);
    memcpy(c, c0, sizeof(float) * (size_t)m * n);
    memcpy(c2, c0, sizeof(float) * (size_t)m * n);
    rows(c, n, a, b, 0, m, n, k, acc);
    /* Rows in uneven pieces (1, 2, 3, ... rows), as threads split them. */
    for (long m0 = 0, step = 1; m0 < m; m0 += step, step++)
        rows(c2, n, a, b, m0, m0 + step < m ? m0 + step : m, n, k, acc);
    double worst = 0;
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double want = acc ? c0[(size_t)i * n + j] : 0, mag = fabs(want);
            for (int l = 0; l < k; l++) {
                double p = (double)a[(size_t)i * k + l] * b[(size_t)j * k + l];
                want += p;
                mag += fabs(p);
            }
            /* float rounding: a few ulps per term of the sum's magnitude */
            double err = fabs(c[(size_t)i * n + j] - want) / (mag + 1e-30);
            if (err > worst) worst = err;
        }
    CHECK_MSG(worst < 1e-5, "%s m %d n %d k %d acc %d: relative error %g", level, m, n, k, acc,
              worst);
    CHECK_MSG(!memcmp(c, c2, sizeof(float) * (size_t)m * n),
              "%s m %d n %d k %d acc %d: a row split changes the bits", level, m, n, k, acc);
    free(a), free(b), free(c), free(c2), free(c0);
}

int main(int argc, char **argv) {
    const char *level;
    const mb_kernel_table *t = mbt_level_arg(argc, argv, &level);
    CHECK(t->gemm_nt_rows != NULL);
    if (!strcmp(level, "ref")) CHECK(t->gemm_nt_rows == mb_ref_gemm_nt_rows);
    const int ms[] = {1, 2, 3, 4, 5, 7, 9}, ns[] = {1, 3, 4, 5, 31, 33, 70};
    const int ks[] = {1, 3, 4, 7, 8, 15, 16, 17, 33, 100};
    uint64_t rng = 11;
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++)
        for (size_t j = 0; j < sizeof ns / sizeof ns[0]; j++)
            for (size_t l = 0; l < sizeof ks / sizeof ks[0]; l++)
                check(t->gemm_nt_rows, level, ms[i], ns[j], ks[l], (int)((i + j + l) % 2), &rng);
    /* A trainer-sized product: 64 rows of 192 against 96 rows. */
    check(t->gemm_nt_rows, level, 64, 96, 192, 1, &rng);
    printf("gemm_nt_rows of level %s checked\n", level);
    return mbt_finish();
}
