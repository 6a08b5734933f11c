/* Register-blocked batch products of float-type weights (mb_gemm_tile_fn),
 * shared by the x86 levels. Blocks of up to MBX_GEMM_MR weight rows x
 * MBX_GEMM_MC activation rows keep one vector accumulator per pair in
 * registers, so each weight vector is loaded (and converted) once for MC
 * activation rows and each activation vector once for MR weight rows; the
 * single dots convert both once per pair. Every pair runs the same
 * operations whatever the block's shape (one accumulator over the row in
 * order, then FINISH: the tail and the horizontal sum), so a pair's result
 * does not depend on where it sits in the batch.
 *
 * The includer defines MBX_GEMM_MR and MBX_GEMM_MC (at most 4 each) and
 * instantiates MBX_GEMM(prefix_name, VEC, STEP, LD, MADD, FINISH, ZERO):
 * LD(p, i) loads STEP values at element i of row P as VEC, MADD(acc, x, y)
 * adds the products of X and Y into float accumulator ACC, and
 * FINISH(acc, w, a, i, n) returns the pair's dot from ACC and elements
 * [i, n) of rows W and A. */
#include <stddef.h>
#include <stdint.h>

#define MBX_GEMM(fname, VEC, STEP, LD, MADD, FINISH, ACC, ZERO)                                    \
    static inline __attribute__((always_inline)) void fname##_block(                               \
        int64_t n, float *out, size_t os, const uint8_t *w, size_t ws, const uint8_t *a,           \
        size_t as, const int R, const int C) {                                                     \
        ACC acc[4][4];                                                                             \
        _Pragma("GCC unroll 4") for (int r = 0; r < R; r++)                                        \
            _Pragma("GCC unroll 4") for (int c = 0; c < C; c++) acc[r][c] = ZERO();                \
        int64_t i = 0;                                                                             \
        for (; i + (STEP) <= n; i += (STEP)) {                                                     \
            VEC wv[4];                                                                             \
            _Pragma("GCC unroll 4") for (int r = 0; r < R; r++) wv[r] = LD(w + (size_t)r * ws, i); \
            _Pragma("GCC unroll 4") for (int c = 0; c < C; c++) {                                  \
                const VEC av = LD(a + (size_t)c * as, i);                                          \
                _Pragma("GCC unroll 4") for (int r = 0; r < R; r++) acc[r][c] =                    \
                    MADD(acc[r][c], wv[r], av);                                                    \
            }                                                                                      \
        }                                                                                          \
        _Pragma("GCC unroll 4") for (int r = 0; r < R; r++)                                        \
            _Pragma("GCC unroll 4") for (int c = 0; c < C; c++) out[(size_t)c * os + (size_t)r] =  \
                FINISH(acc[r][c], w + (size_t)r * ws, a + (size_t)c * as, i, n);                   \
    }                                                                                              \
    void fname(int64_t n, float *out, size_t os, const void *w, size_t ws, int n_w, const void *a, \
               size_t as, int n_a) {                                                               \
        for (int c0 = 0; c0 < n_a; c0 += MBX_GEMM_MC) {                                            \
            const int C = n_a - c0 < MBX_GEMM_MC ? n_a - c0 : MBX_GEMM_MC;                         \
            const uint8_t *ab = (const uint8_t *)a + (size_t)c0 * as;                              \
            for (int r0 = 0; r0 < n_w; r0 += MBX_GEMM_MR) {                                        \
                const int R = n_w - r0 < MBX_GEMM_MR ? n_w - r0 : MBX_GEMM_MR;                     \
                const uint8_t *wb = (const uint8_t *)w + (size_t)r0 * ws;                          \
                float *ob = out + (size_t)c0 * os + (size_t)r0;                                    \
                switch (R * 8 + C) { MBX_GEMM_CASES(fname) }                                       \
            }                                                                                      \
        }                                                                                          \
    }

/* Shapes beyond MR x MC are never reached (the loops above cap R and C). */
#define MBX_GEMM_CASE(fname, R, C)                                                                 \
    case (R)*8 + (C):                                                                              \
        if ((R) <= MBX_GEMM_MR && (C) <= MBX_GEMM_MC)                                              \
            fname##_block(n, ob, os, wb, ws, ab, as, (R) <= MBX_GEMM_MR ? (R) : 1,                 \
                          (C) <= MBX_GEMM_MC ? (C) : 1);                                           \
        break;
#define MBX_GEMM_CASES(fname)                                                                      \
    MBX_GEMM_CASE(fname, 1, 1)                                                                     \
    MBX_GEMM_CASE(fname, 1, 2)                                                                     \
    MBX_GEMM_CASE(fname, 1, 3)                                                                     \
    MBX_GEMM_CASE(fname, 1, 4)                                                                     \
    MBX_GEMM_CASE(fname, 2, 1)                                                                     \
    MBX_GEMM_CASE(fname, 2, 2)                                                                     \
    MBX_GEMM_CASE(fname, 2, 3)                                                                     \
    MBX_GEMM_CASE(fname, 2, 4)                                                                     \
    MBX_GEMM_CASE(fname, 3, 1)                                                                     \
    MBX_GEMM_CASE(fname, 3, 2)                                                                     \
    MBX_GEMM_CASE(fname, 3, 3)                                                                     \
    MBX_GEMM_CASE(fname, 3, 4)                                                                     \
    MBX_GEMM_CASE(fname, 4, 1)                                                                     \
    MBX_GEMM_CASE(fname, 4, 2)                                                                     \
    MBX_GEMM_CASE(fname, 4, 3)                                                                     \
    MBX_GEMM_CASE(fname, 4, 4)
