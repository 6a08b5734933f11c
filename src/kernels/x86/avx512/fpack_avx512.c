/* F16 batch products from packed panels (mb_pack_fn / mb_gemm_packed_fn):
 * prefill of F16 weights at the AVX-512 levels.
 *
 * The register-blocked tile (gemm_avx512.c) computes dots: per step of 16
 * values it converts 6 weight and 4 activation vectors for 24 FMAs, and
 * the conversions share port 0 with the FMAs; it ran at 47 GMAC/s on one
 * Sapphire Rapids-class core, 42% of the FMA peak. Here a panel holds 48
 * weight rows converted to floats once per batch and transposed, so that
 * value k of all 48 rows is three vectors; the activation rows' values are
 * broadcast from memory (a load, no shuffle), and each value k costs three
 * vector loads and 3 x N_A FMAs (24 accumulators for 8 rows). Panels of 32
 * rows ran the products at 76-82 GMAC/s, 48 at 92-96. Activations come as
 * F16 rows (F16's activation type, rounded as ggml rounds them) and are
 * widened to floats in chunks of A_CHUNK values first (exact).
 *
 * Each output is one accumulator run over k in order, the same operations
 * whatever N_A or the row's place in the batch; against the single dot
 * (16 partial sums, then a tree) it differs by float rounding only. */
#include <immintrin.h>

#include "kernels/x86/avx512/dot_avx512.h"
#include "kernels/x86/avx512/transpose_avx512.h"

/* A row's widened chunk is A_STRIDE floats from the next: padded past a
 * multiple of 1 KB (79-81 against 74-78 GMAC/s). */
enum { A_CHUNK = 256, A_STRIDE = A_CHUNK + 16 };
/* Weight vectors per value. */
#define NV 3
_Static_assert(MB_FP_ROWS == 16 * NV, "a panel row is NV vectors");

/* Values [K0, K0 + 16) of F16 row P as floats; zero past N. */
static inline __m512 load_f16(const uint16_t *p, int64_t k0, int64_t n) {
    if (k0 + 16 <= n) return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(p + k0)));
    const __mmask16 m = (__mmask16)((1u << (n - k0)) - 1u);
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p + k0));
}

void mb_avx512_pack_f16(int64_t n, void *panel, const void *w, size_t ws, int n_w) {
    float *dst = panel;
    for (int64_t k0 = 0; k0 < n; k0 += 16) {
        const int kn = n - k0 < 16 ? (int)(n - k0) : 16;
        for (int h = 0; h < MB_FP_ROWS / 16; h++) {
            __m512 r[16];
            for (int i = 0; i < 16; i++) {
                const int o = 16 * h + i;
                r[i] = o < n_w
                           ? load_f16((const uint16_t *)((const char *)w + (size_t)o * ws), k0, n)
                           : _mm512_setzero_ps();
            }
            mbx_transpose(r);
            for (int k = 0; k < kn; k++)
                _mm512_storeu_ps(dst + (k0 + k) * MB_FP_ROWS + 16 * h, r[k]);
        }
    }
}

/* NA activation rows (widened in A, A_STRIDE floats apart) against the
 * panel's values [K0, K0 + KN). */
static inline __attribute__((always_inline)) void chunk(const float *wp, const float *a, int64_t kn,
                                                        const int NA, __m512 acc[8][NV]) {
    for (int64_t k = 0; k < kn; k++) {
        __m512 wv[NV];
        _Pragma("GCC unroll 3") for (int v = 0; v < NV; v++) wv[v] =
            _mm512_loadu_ps(wp + k * MB_FP_ROWS + 16 * v);
        /* Held in registers: GCC otherwise folds the weight loads into
         * every FMA (16 vector loads per value instead of 2 with two
         * vectors), and the loads, not the FMAs, bound the loop (62
         * against 76 GMAC/s). */
        __asm__("" : "+v"(wv[0]), "+v"(wv[1]), "+v"(wv[2]));
        _Pragma("GCC unroll 8") for (int m = 0; m < NA; m++) {
            const __m512 b = _mm512_set1_ps(a[m * A_STRIDE + k]);
            _Pragma("GCC unroll 3") for (int v = 0; v < NV; v++) acc[m][v] =
                _mm512_fmadd_ps(b, wv[v], acc[m][v]);
        }
    }
}

static inline __attribute__((always_inline)) void gemm_rows(int64_t n, float *out, size_t os,
                                                            const float *panel, const uint8_t *a,
                                                            size_t as, const int NA, int add) {
    _Alignas(64) float buf[8][A_STRIDE];
    __m512 acc[8][NV], sum[8][NV];
    _Pragma("GCC unroll 8") for (int m = 0; m < NA; m++)
        _Pragma("GCC unroll 3") for (int v = 0; v < NV; v++) sum[m][v] = _mm512_setzero_ps();
    for (int64_t k0 = 0; k0 < n; k0 += A_CHUNK) {
        const int64_t kn = n - k0 < A_CHUNK ? n - k0 : A_CHUNK;
        for (int m = 0; m < NA; m++) {
            const uint16_t *row = (const uint16_t *)(const void *)(a + (size_t)m * as);
            for (int64_t k = 0; k < kn; k += 16)
                _mm512_store_ps(&buf[m][k], load_f16(row, k0 + k, n));
        }
        /* Each chunk's products summed apart, then added to the row's
         * sums: one accumulator over every value drifted (a relative error
         * of 1.1e-5 at 3000 values against the single dot's 2e-6). */
        _Pragma("GCC unroll 8") for (int m = 0; m < NA; m++)
            _Pragma("GCC unroll 3") for (int v = 0; v < NV; v++) acc[m][v] = _mm512_setzero_ps();
        chunk(panel + k0 * MB_FP_ROWS, &buf[0][0], kn, NA, acc);
        _Pragma("GCC unroll 8") for (int m = 0; m < NA; m++)
            _Pragma("GCC unroll 3") for (int v = 0; v < NV; v++) sum[m][v] =
                _mm512_add_ps(sum[m][v], acc[m][v]);
    }
    _Pragma("GCC unroll 8") for (int m = 0; m < NA; m++) {
        float *o = out + (size_t)m * os;
        _Pragma("GCC unroll 3") for (int v = 0; v < NV; v++) _mm512_storeu_ps(
            o + 16 * v, add ? _mm512_add_ps(_mm512_loadu_ps(o + 16 * v), sum[m][v]) : sum[m][v]);
    }
}

void mb_avx512_gemm_packed_f16(int64_t n, float *out, size_t os, const void *panel, const void *a,
                               size_t as, int n_a, int add) {
    for (int r0 = 0; r0 < n_a; r0 += 8) {
        const int na = n_a - r0 < 8 ? n_a - r0 : 8;
        float *o = out + (size_t)r0 * os;
        const uint8_t *ar = (const uint8_t *)a + (size_t)r0 * as;
        switch (na) {
#define CASE(NA)                                                                                   \
    case NA: gemm_rows(n, o, os, panel, ar, as, NA, add); break;
            CASE(1) CASE(2) CASE(3) CASE(4) CASE(5) CASE(6) CASE(7) CASE(8)
#undef CASE
        }
    }
}
