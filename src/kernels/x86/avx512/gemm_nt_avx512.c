/* The trainer's NT kernel (kernels.h, gemm_nt_rows) with 16-lane AVX-512
 * vectors and FMA, in the AVX-512 table: 4 A rows
 * against 4 B rows per register block (16 accumulators of the 32 registers,
 * 8 loads per 16 FMAs).  As in the other kernels, every
 * output element is one accumulator, a fixed horizontal sum, then the tail,
 * in every code path, so results do not depend on the row split. */
#include <immintrin.h>

#include "kernels/x86/x86_kernels.h"

#define AVX512 __attribute__((target("avx512f,avx2,fma")))

AVX512 static inline float tail(float s, const float *a, const float *b, int k0, int k) {
    for (int i = k0; i < k; i++)
        s += a[i] * b[i];
    return s;
}

AVX512 static inline void put(float *c, float v, int acc) {
    *c = acc ? *c + v : v;
}

AVX512 static inline float finish(__m512 r, const float *a, const float *b, int k0, int k) {
    return tail(_mm512_reduce_add_ps(r), a, b, k0, k);
}

AVX512 static inline void k1x1(float *c, const float *a, const float *b, int k, int acc) {
    __m512 x = _mm512_setzero_ps();
    int i = 0;
    for (; i + 16 <= k; i += 16)
        x = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), x);
    put(c, finish(x, a, b, i, k), acc);
}

AVX512 static inline void k1x4(float *c, const float *a, const float *b, int ldb, int k, int acc) {
    const float *b1 = b + ldb, *b2 = b + 2 * (size_t)ldb, *b3 = b + 3 * (size_t)ldb;
    __m512 r0 = _mm512_setzero_ps(), r1 = r0, r2 = r0, r3 = r0;
    int i = 0;
    for (; i + 16 <= k; i += 16) {
        __m512 x = _mm512_loadu_ps(a + i);
        r0 = _mm512_fmadd_ps(x, _mm512_loadu_ps(b + i), r0);
        r1 = _mm512_fmadd_ps(x, _mm512_loadu_ps(b1 + i), r1);
        r2 = _mm512_fmadd_ps(x, _mm512_loadu_ps(b2 + i), r2);
        r3 = _mm512_fmadd_ps(x, _mm512_loadu_ps(b3 + i), r3);
    }
    put(c, finish(r0, a, b, i, k), acc);
    put(c + 1, finish(r1, a, b1, i, k), acc);
    put(c + 2, finish(r2, a, b2, i, k), acc);
    put(c + 3, finish(r3, a, b3, i, k), acc);
}

#define ROW4(r, x)                                                                                 \
    do {                                                                                           \
        r##0 = _mm512_fmadd_ps(x, w0, r##0);                                                       \
        r##1 = _mm512_fmadd_ps(x, w1, r##1);                                                       \
        r##2 = _mm512_fmadd_ps(x, w2, r##2);                                                       \
        r##3 = _mm512_fmadd_ps(x, w3, r##3);                                                       \
    } while (0)

#define PUT4(r, row, ar)                                                                           \
    do {                                                                                           \
        put(c + (size_t)(row)*ldc, finish(r##0, ar, b, i, k), acc);                                \
        put(c + (size_t)(row)*ldc + 1, finish(r##1, ar, b1, i, k), acc);                           \
        put(c + (size_t)(row)*ldc + 2, finish(r##2, ar, b2, i, k), acc);                           \
        put(c + (size_t)(row)*ldc + 3, finish(r##3, ar, b3, i, k), acc);                           \
    } while (0)

/* Four A rows (LDA apart) against four B rows. */
AVX512 static inline void k4x4(float *c, int ldc, const float *a, int lda, const float *b, int ldb,
                               int k, int acc) {
    const float *a1 = a + lda, *a2 = a + 2 * (size_t)lda, *a3 = a + 3 * (size_t)lda;
    const float *b1 = b + ldb, *b2 = b + 2 * (size_t)ldb, *b3 = b + 3 * (size_t)ldb;
    __m512 z = _mm512_setzero_ps();
    __m512 p0 = z, p1 = z, p2 = z, p3 = z, q0 = z, q1 = z, q2 = z, q3 = z;
    __m512 s0 = z, s1 = z, s2 = z, s3 = z, t0 = z, t1 = z, t2 = z, t3 = z;
    int i = 0;
    for (; i + 16 <= k; i += 16) {
        __m512 w0 = _mm512_loadu_ps(b + i), w1 = _mm512_loadu_ps(b1 + i);
        __m512 w2 = _mm512_loadu_ps(b2 + i), w3 = _mm512_loadu_ps(b3 + i);
        __m512 x = _mm512_loadu_ps(a + i);
        ROW4(p, x);
        x = _mm512_loadu_ps(a1 + i);
        ROW4(q, x);
        x = _mm512_loadu_ps(a2 + i);
        ROW4(s, x);
        x = _mm512_loadu_ps(a3 + i);
        ROW4(t, x);
    }
    PUT4(p, 0, a);
    PUT4(q, 1, a1);
    PUT4(s, 2, a2);
    PUT4(t, 3, a3);
}

#define GEMM_ROWS mb_avx512_gemm_nt_rows
#define GEMM_ATTR AVX512
#define GEMM_MR 4
#define GEMM_KMR k4x4
#define GEMM_K1X4 k1x4
#define GEMM_K1X1 k1x1
#include "kernels/gemm_nt_body.h"
