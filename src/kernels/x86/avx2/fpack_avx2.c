/* F16 batch products from packed panels at the AVX2 level, as
 * ../avx512/fpack_avx512.c at half the width: a panel holds 24 weight rows
 * as floats, value k of all 24 rows three vectors; the activation values
 * are broadcast from memory, so each value k costs three vector loads and
 * 3 x 4 FMAs for 4 activation rows: 12 accumulators, the weight vectors
 * and the broadcast fill the 16 registers. Panels of 16 rows (8
 * accumulators, just the FMA latency times its two ports) ran at 43
 * against 45-46 GMAC/s on one Sapphire Rapids-class core; the tile of
 * gemm_avx2.c at 31-33. Activations come as F16 rows and are widened to
 * floats in chunks first (exact).
 *
 * Each output is one accumulator run over k in order, the same operations
 * whatever N_A or the row's place in the batch. */
#include <immintrin.h>

#include "kernels/x86/avx2/dot_avx2.h"
#include "kernels/x86/avx2/transpose_avx2.h"

/* A row's widened chunk is A_STRIDE floats from the next (padded past a
 * multiple of 1 KB, as the AVX-512 kernel). */
enum { A_CHUNK = 256, A_STRIDE = A_CHUNK + 8, A_ROWS = 4 };
/* Weight vectors per value. */
#define NV 3
_Static_assert(MB_AFP_ROWS == 8 * NV, "a panel row is NV vectors");

/* Values [K0, K0 + 8) of F16 row P as floats; zero past N. */
static inline __m256 load_f16(const uint16_t *p, int64_t k0, int64_t n) {
    if (k0 + 8 <= n) return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p + k0)));
    uint16_t t[8] = {0};
    for (int64_t i = k0; i < n; i++)
        t[i - k0] = p[i];
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)t));
}

void mb_avx2_pack_f16(int64_t n, void *panel, const void *w, size_t ws, int n_w) {
    float *dst = panel;
    for (int64_t k0 = 0; k0 < n; k0 += 8) {
        const int kn = n - k0 < 8 ? (int)(n - k0) : 8;
        for (int h = 0; h < MB_AFP_ROWS / 8; h++) {
            __m256 r[8];
            for (int i = 0; i < 8; i++) {
                const int o = 8 * h + i;
                r[i] = o < n_w
                           ? load_f16((const uint16_t *)((const char *)w + (size_t)o * ws), k0, n)
                           : _mm256_setzero_ps();
            }
            mbx_transpose(r);
            for (int k = 0; k < kn; k++)
                _mm256_storeu_ps(dst + (k0 + k) * MB_AFP_ROWS + 8 * h, r[k]);
        }
    }
}

static inline __attribute__((always_inline)) void chunk(const float *wp, const float *a, int64_t kn,
                                                        const int NA, __m256 acc[A_ROWS][NV]) {
    for (int64_t k = 0; k < kn; k++) {
        __m256 wv[NV];
        _Pragma("GCC unroll 3") for (int v = 0; v < NV; v++) wv[v] =
            _mm256_loadu_ps(wp + k * MB_AFP_ROWS + 8 * v);
        /* In registers, not folded into every FMA (fpack_avx512.c). */
        __asm__("" : "+x"(wv[0]), "+x"(wv[1]), "+x"(wv[2]));
        _Pragma("GCC unroll 4") for (int m = 0; m < NA; m++) {
            const __m256 b = _mm256_broadcast_ss(&a[m * A_STRIDE + k]);
            _Pragma("GCC unroll 3") for (int v = 0; v < NV; v++) acc[m][v] =
                _mm256_fmadd_ps(b, wv[v], acc[m][v]);
        }
    }
}

static inline __attribute__((always_inline)) void gemm_rows(int64_t n, float *out, size_t os,
                                                            const float *panel, const uint8_t *a,
                                                            size_t as, const int NA, int add) {
    _Alignas(32) float buf[A_ROWS][A_STRIDE];
    __m256 acc[A_ROWS][NV], sum[A_ROWS][NV];
    _Pragma("GCC unroll 4") for (int m = 0; m < NA; m++)
        _Pragma("GCC unroll 3") for (int v = 0; v < NV; v++) sum[m][v] = _mm256_setzero_ps();
    for (int64_t k0 = 0; k0 < n; k0 += A_CHUNK) {
        const int64_t kn = n - k0 < A_CHUNK ? n - k0 : A_CHUNK;
        for (int m = 0; m < NA; m++) {
            const uint16_t *row = (const uint16_t *)(const void *)(a + (size_t)m * as);
            for (int64_t k = 0; k < kn; k += 8)
                _mm256_store_ps(&buf[m][k], load_f16(row, k0 + k, n));
        }
        /* Each chunk's products summed apart, then added to the row's
         * sums: one accumulator over every value drifted (a relative error
         * of 1.1e-5 at 3000 values against the single dot's 2e-6). */
        _Pragma("GCC unroll 4") for (int m = 0; m < NA; m++)
            _Pragma("GCC unroll 3") for (int v = 0; v < NV; v++) acc[m][v] = _mm256_setzero_ps();
        chunk(panel + k0 * MB_AFP_ROWS, &buf[0][0], kn, NA, acc);
        _Pragma("GCC unroll 4") for (int m = 0; m < NA; m++)
            _Pragma("GCC unroll 3") for (int v = 0; v < NV; v++) sum[m][v] =
                _mm256_add_ps(sum[m][v], acc[m][v]);
    }
    _Pragma("GCC unroll 4") for (int m = 0; m < NA; m++) {
        float *o = out + (size_t)m * os;
        _Pragma("GCC unroll 3") for (int v = 0; v < NV; v++) _mm256_storeu_ps(
            o + 8 * v, add ? _mm256_add_ps(_mm256_loadu_ps(o + 8 * v), sum[m][v]) : sum[m][v]);
    }
}

void mb_avx2_gemm_packed_f16(int64_t n, float *out, size_t os, const void *panel, const void *a,
                             size_t as, int n_a, int add) {
    for (int r0 = 0; r0 < n_a; r0 += A_ROWS) {
        const int na = n_a - r0 < A_ROWS ? n_a - r0 : A_ROWS;
        float *o = out + (size_t)r0 * os;
        const uint8_t *ar = (const uint8_t *)a + (size_t)r0 * as;
        switch (na) {
#define CASE(NA)                                                                                   \
    case NA: gemm_rows(n, o, os, panel, ar, as, NA, add); break;
            CASE(1) CASE(2) CASE(3) CASE(4)
#undef CASE
        }
    }
}
