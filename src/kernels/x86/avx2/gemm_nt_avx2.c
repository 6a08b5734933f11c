/* The trainer's NT kernel (kernels.h, gemm_nt_rows) with 8-lane AVX2
 * vectors and FMA, in the AVX2 table (so also chosen by MATCHBOX_CPU=avx2). Same structure as the
 * portable kernel: one accumulator per output element, a fixed horizontal sum, then the tail, so
 * every code path gives the same bits for an element. FMA rounds once where
 * the portable kernel rounds twice, so results differ between the two
 * kernels (not between runs or thread counts on one machine). */
#include <immintrin.h>

#include "kernels/x86/x86_kernels.h"

#define AVX2 __attribute__((target("avx2,fma")))

AVX2 static inline float hsum8(__m256 v) {
    __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
    __m128 s = _mm_add_ps(lo, hi);
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

AVX2 static inline void put(float *c, float v, int acc) {
    *c = acc ? *c + v : v;
}

AVX2 static inline float tail(float s, const float *a, const float *b, int k0, int k) {
    for (int i = k0; i < k; i++)
        s += a[i] * b[i];
    return s;
}

AVX2 static inline void k1x1(float *c, const float *a, const float *b, int k, int acc) {
    __m256 x = _mm256_setzero_ps();
    int i = 0;
    for (; i + 8 <= k; i += 8)
        x = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), x);
    put(c, tail(hsum8(x), a, b, i, k), acc);
}

AVX2 static inline void k1x4(float *c, const float *a, const float *b, int ldb, int k, int acc) {
    const float *b1 = b + ldb, *b2 = b + 2 * (size_t)ldb, *b3 = b + 3 * (size_t)ldb;
    __m256 r0 = _mm256_setzero_ps(), r1 = r0, r2 = r0, r3 = r0;
    int i = 0;
    for (; i + 8 <= k; i += 8) {
        __m256 x = _mm256_loadu_ps(a + i);
        r0 = _mm256_fmadd_ps(x, _mm256_loadu_ps(b + i), r0);
        r1 = _mm256_fmadd_ps(x, _mm256_loadu_ps(b1 + i), r1);
        r2 = _mm256_fmadd_ps(x, _mm256_loadu_ps(b2 + i), r2);
        r3 = _mm256_fmadd_ps(x, _mm256_loadu_ps(b3 + i), r3);
    }
    put(c, tail(hsum8(r0), a, b, i, k), acc);
    put(c + 1, tail(hsum8(r1), a, b1, i, k), acc);
    put(c + 2, tail(hsum8(r2), a, b2, i, k), acc);
    put(c + 3, tail(hsum8(r3), a, b3, i, k), acc);
}

/* Two A rows against four B rows: 8 accumulators, 6 loads per 8 FMAs. */
AVX2 static inline void k2x4(float *c, int ldc, const float *a, int lda, const float *b, int ldb,
                             int k, int acc) {
    const float *a1 = a + lda;
    const float *b1 = b + ldb, *b2 = b + 2 * (size_t)ldb, *b3 = b + 3 * (size_t)ldb;
    __m256 r00 = _mm256_setzero_ps(), r01 = r00, r02 = r00, r03 = r00;
    __m256 r10 = r00, r11 = r00, r12 = r00, r13 = r00;
    int i = 0;
    for (; i + 8 <= k; i += 8) {
        __m256 x0 = _mm256_loadu_ps(a + i), x1 = _mm256_loadu_ps(a1 + i);
        __m256 w = _mm256_loadu_ps(b + i);
        r00 = _mm256_fmadd_ps(x0, w, r00);
        r10 = _mm256_fmadd_ps(x1, w, r10);
        w = _mm256_loadu_ps(b1 + i);
        r01 = _mm256_fmadd_ps(x0, w, r01);
        r11 = _mm256_fmadd_ps(x1, w, r11);
        w = _mm256_loadu_ps(b2 + i);
        r02 = _mm256_fmadd_ps(x0, w, r02);
        r12 = _mm256_fmadd_ps(x1, w, r12);
        w = _mm256_loadu_ps(b3 + i);
        r03 = _mm256_fmadd_ps(x0, w, r03);
        r13 = _mm256_fmadd_ps(x1, w, r13);
    }
    put(c, tail(hsum8(r00), a, b, i, k), acc);
    put(c + 1, tail(hsum8(r01), a, b1, i, k), acc);
    put(c + 2, tail(hsum8(r02), a, b2, i, k), acc);
    put(c + 3, tail(hsum8(r03), a, b3, i, k), acc);
    put(c + ldc, tail(hsum8(r10), a1, b, i, k), acc);
    put(c + ldc + 1, tail(hsum8(r11), a1, b1, i, k), acc);
    put(c + ldc + 2, tail(hsum8(r12), a1, b2, i, k), acc);
    put(c + ldc + 3, tail(hsum8(r13), a1, b3, i, k), acc);
}

#define GEMM_ROWS mb_avx2_gemm_nt_rows
#define GEMM_ATTR AVX2
#define GEMM_MR 2
#define GEMM_KMR k2x4
#define GEMM_K1X4 k1x4
#define GEMM_K1X1 k1x1
#include "kernels/gemm_nt_body.h"
