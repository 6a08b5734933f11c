/* The cache-blocked driver of the trainer's matrix kernel (the kernel
 * table's gemm_nt_rows), C rows [m0, m1) (+)= A B^T with B being N x K,
 * shared by the portable, AVX2 and AVX-512 versions. Each includes this
 * after defining GEMM_ROWS (the exported function's name), GEMM_ATTR (its target attribute, or
 * nothing), GEMM_MR (rows per block) and the micro-kernels GEMM_KMR (GEMM_MR x 4), GEMM_K1X4,
 * GEMM_K1X1. */
enum { NB = 32 }; /* B rows per cache block */

GEMM_ATTR void GEMM_ROWS(float *c, int ldc, const float *a, const float *b, long m0, long m1, int n,
                         int k, int acc) {
    for (int n0 = 0; n0 < n; n0 += NB) {
        int n1 = n0 + NB < n ? n0 + NB : n;
        long m = m0;
        for (; m + GEMM_MR <= m1; m += GEMM_MR) {
            const float *am = a + (size_t)m * k;
            float *cm = c + (size_t)m * ldc;
            int j = n0;
            for (; j + 4 <= n1; j += 4)
                GEMM_KMR(cm + j, ldc, am, k, b + (size_t)j * k, k, k, acc);
            for (; j < n1; j++)
                for (int r = 0; r < GEMM_MR; r++)
                    GEMM_K1X1(cm + (size_t)r * ldc + j, am + (size_t)r * k, b + (size_t)j * k, k,
                              acc);
        }
        for (; m < m1; m++) {
            const float *am = a + (size_t)m * k;
            float *cm = c + (size_t)m * ldc;
            int j = n0;
            for (; j + 4 <= n1; j += 4)
                GEMM_K1X4(cm + j, am, b + (size_t)j * k, k, k, acc);
            for (; j < n1; j++)
                GEMM_K1X1(cm + j, am, b + (size_t)j * k, k, acc);
        }
    }
}
