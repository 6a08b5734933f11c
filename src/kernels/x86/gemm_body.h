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
 * The includer defines MBX_GEMM_MR and MBX_GEMM_MC (at most 6 each).
 * MBX_GEMM_BLOCK(bname, VEC, STEP, LDW, LDA, MADD, FINISH, ACC, ZERO)
 * defines the block: LDW(p, i) / LDA(p, i) load STEP values at element i of
 * a weight / activation row as VEC, MADD(acc, x, y) adds the products of X
 * and Y into float accumulator ACC, FINISH(acc, w, a, i, n) returns the
 * pair's dot from ACC and elements [i, n); with ADD the block adds to OUT.
 * MBX_GEMM_DRIVER(fname, bname) defines the mb_gemm_tile_fn over blocks. */
#include <stddef.h>
#include <stdint.h>

#define MBX_GEMM_BLOCK(bname, VEC, STEP, LDW, LDA, MADD, FINISH, ACC, ZERO)                        \
    static inline __attribute__((always_inline)) void bname(                                       \
        int64_t n, float *out, size_t os, const uint8_t *w, size_t ws, const uint8_t *a,           \
        size_t as, const int R, const int C, int add) {                                            \
        ACC acc[MBX_GEMM_MR][MBX_GEMM_MC];                                                         \
        _Pragma("GCC unroll 8") for (int r = 0; r < R; r++)                                        \
            _Pragma("GCC unroll 8") for (int c = 0; c < C; c++) acc[r][c] = ZERO();                \
        int64_t i = 0;                                                                             \
        for (; i + (STEP) <= n; i += (STEP)) {                                                     \
            VEC wv[MBX_GEMM_MR];                                                                   \
            _Pragma("GCC unroll 8") for (int r = 0; r < R; r++) wv[r] =                            \
                LDW(w + (size_t)r * ws, i);                                                        \
            _Pragma("GCC unroll 8") for (int c = 0; c < C; c++) {                                  \
                const VEC av = LDA(a + (size_t)c * as, i);                                         \
                _Pragma("GCC unroll 8") for (int r = 0; r < R; r++) acc[r][c] =                    \
                    MADD(acc[r][c], wv[r], av);                                                    \
            }                                                                                      \
        }                                                                                          \
        _Pragma("GCC unroll 8") for (int r = 0; r < R; r++)                                        \
            _Pragma("GCC unroll 8") for (int c = 0; c < C; c++) {                                  \
            float *o = &out[(size_t)c * os + (size_t)r];                                           \
            *o = (add ? *o : 0.0f) +                                                               \
                 FINISH(acc[r][c], w + (size_t)r * ws, a + (size_t)c * as, i, n);                  \
        }                                                                                          \
    }

#define MBX_GEMM_DRIVER(fname, bname)                                                              \
    void fname(int64_t n, float *out, size_t os, const void *w, size_t ws, int n_w, const void *a, \
               size_t as, int n_a) {                                                               \
        const int64_t kn = n;                                                                      \
        for (int c0 = 0; c0 < n_a; c0 += MBX_GEMM_MC) {                                            \
            const int C = n_a - c0 < MBX_GEMM_MC ? n_a - c0 : MBX_GEMM_MC;                         \
            const uint8_t *ab = (const uint8_t *)a + (size_t)c0 * as;                              \
            for (int r0 = 0; r0 < n_w; r0 += MBX_GEMM_MR) {                                        \
                const int R = n_w - r0 < MBX_GEMM_MR ? n_w - r0 : MBX_GEMM_MR;                     \
                const uint8_t *wb = (const uint8_t *)w + (size_t)r0 * ws;                          \
                float *ob = out + (size_t)c0 * os + (size_t)r0;                                    \
                switch (R * 8 + C) { MBX_GEMM_CASES(bname, 0) }                                    \
            }                                                                                      \
        }                                                                                          \
    }

/* One case per block shape, for a driver with kn, ob, os, wb, ws, ab and as
 * in scope; shapes beyond MR x MC are never reached (drivers cap R and C). */
#define MBX_GEMM_CASE(bname, R, C, add)                                                            \
    case (R)*8 + (C):                                                                              \
        if ((R) <= MBX_GEMM_MR && (C) <= MBX_GEMM_MC)                                              \
            bname(kn, ob, os, wb, ws, ab, as, (R) <= MBX_GEMM_MR ? (R) : 1,                        \
                  (C) <= MBX_GEMM_MC ? (C) : 1, add);                                              \
        break;
#define MBX_GEMM_CASES(bname, add)                                                                 \
    MBX_GEMM_CASE(bname, 1, 1, add)                                                                \
    MBX_GEMM_CASE(bname, 1, 2, add)                                                                \
    MBX_GEMM_CASE(bname, 1, 3, add)                                                                \
    MBX_GEMM_CASE(bname, 1, 4, add)                                                                \
    MBX_GEMM_CASE(bname, 1, 5, add)                                                                \
    MBX_GEMM_CASE(bname, 1, 6, add)                                                                \
    MBX_GEMM_CASE(bname, 2, 1, add)                                                                \
    MBX_GEMM_CASE(bname, 2, 2, add)                                                                \
    MBX_GEMM_CASE(bname, 2, 3, add)                                                                \
    MBX_GEMM_CASE(bname, 2, 4, add)                                                                \
    MBX_GEMM_CASE(bname, 2, 5, add)                                                                \
    MBX_GEMM_CASE(bname, 2, 6, add)                                                                \
    MBX_GEMM_CASE(bname, 3, 1, add)                                                                \
    MBX_GEMM_CASE(bname, 3, 2, add)                                                                \
    MBX_GEMM_CASE(bname, 3, 3, add)                                                                \
    MBX_GEMM_CASE(bname, 3, 4, add)                                                                \
    MBX_GEMM_CASE(bname, 3, 5, add)                                                                \
    MBX_GEMM_CASE(bname, 3, 6, add)                                                                \
    MBX_GEMM_CASE(bname, 4, 1, add)                                                                \
    MBX_GEMM_CASE(bname, 4, 2, add)                                                                \
    MBX_GEMM_CASE(bname, 4, 3, add)                                                                \
    MBX_GEMM_CASE(bname, 4, 4, add)                                                                \
    MBX_GEMM_CASE(bname, 4, 5, add)                                                                \
    MBX_GEMM_CASE(bname, 4, 6, add)                                                                \
    MBX_GEMM_CASE(bname, 5, 1, add)                                                                \
    MBX_GEMM_CASE(bname, 5, 2, add)                                                                \
    MBX_GEMM_CASE(bname, 5, 3, add)                                                                \
    MBX_GEMM_CASE(bname, 5, 4, add)                                                                \
    MBX_GEMM_CASE(bname, 5, 5, add)                                                                \
    MBX_GEMM_CASE(bname, 5, 6, add)                                                                \
    MBX_GEMM_CASE(bname, 6, 1, add)                                                                \
    MBX_GEMM_CASE(bname, 6, 2, add)                                                                \
    MBX_GEMM_CASE(bname, 6, 3, add)                                                                \
    MBX_GEMM_CASE(bname, 6, 4, add)                                                                \
    MBX_GEMM_CASE(bname, 6, 5, add)                                                                \
    MBX_GEMM_CASE(bname, 6, 6, add)
