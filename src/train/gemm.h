/* The trainer's matrix kernel, C rows [m0, m1) (+)= A B^T (see linear.c),
 * in a portable version and, on x86-64, an AVX2+FMA one chosen at run time. */
#ifndef MB_TRAIN_GEMM_H
#define MB_TRAIN_GEMM_H

#include <stdbool.h>

typedef void (*mb_gemm_rows_fn)(float *c, int ldc, const float *a, const float *b, long m0, long m1,
                                int n, int k, int acc);

/* NULL when this build or CPU has no AVX2 and FMA. */
mb_gemm_rows_fn mb_train_gemm_avx2(void);

#endif
