/* The trainer's matrix kernel, C rows [m0, m1) (+)= A B^T (see linear.c),
 * in a portable version and, on x86-64, AVX2+FMA and AVX-512 ones chosen at
 * run time. */
#ifndef MB_TRAIN_GEMM_H
#define MB_TRAIN_GEMM_H

#include <stdbool.h>

typedef void (*mb_gemm_rows_fn)(float *c, int ldc, const float *a, const float *b, long m0, long m1,
                                int n, int k, int acc);

/* NULL when this build or CPU lacks the instructions, or the engine's
 * kernel level (mb_kernels_name, MATCHBOX_CPU) is below them. */
mb_gemm_rows_fn mb_train_gemm_avx2(void);
mb_gemm_rows_fn mb_train_gemm_avx512(void);

#endif
