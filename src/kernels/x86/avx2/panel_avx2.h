/* Pieces shared by the packed-panel batch kernels of the AVX2 level
 * (kpack_avx2.c for the K-quants, qpack_avx2.c for Q4_0 and Q8_0): the
 * activation broadcast, the store of one activation row's lanes, and the
 * table entry that walks the activation rows in register tiles.
 *
 * A panel holds MB_AP_ROWS = 8 weight rows: lane r (32 bits) of a 256-bit
 * vector holds four consecutive codes of row r, so one VPMADDUBSW against
 * four activation bytes broadcast from memory forms 32 products of 8 rows
 * as 16-bit pair sums. Those stay in 16 bits over as many vectors as the
 * codes' range allows (each kernel says why its sums cannot saturate), and
 * one VPMADDWD per group turns them into 32-bit lanes, with the sub-block
 * scale as its multiplier where the type has one. */
#ifndef MB_KERNELS_X86_AVX2_PANEL_AVX2_H
#define MB_KERNELS_X86_AVX2_PANEL_AVX2_H

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "kernels/x86/avx2/dot_avx2.h"

/* Full unrolling keeps a tile's accumulators in registers. */
#if defined(__clang__)
#define MBX_AP_UNROLL _Pragma("unroll")
#else
#define MBX_AP_UNROLL _Pragma("GCC unroll 16")
#endif

/* An empty asm that takes X in a register and hands it back "changed":
 * it keeps each running sum a chain in program order. Without it the
 * compilers reassociate a fully unrolled group of 16-bit adds into a tree
 * and schedule every VPMADDUBSW first, which spills most of them. */
#define MBX_AP_KEEP(x) __asm__("" : "+x"(x))

/* Four activation bytes at P (any alignment) in every 32-bit lane. */
static inline __m256i mbx_ap_bcast4(const void *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

/* One activation row's results for the panel's 8 rows, written or (ADD)
 * added to O. */
static inline void mbx_ap_store(float *o, __m256 acc, int add) {
    _mm256_storeu_ps(o, add ? _mm256_add_ps(_mm256_loadu_ps(o), acc) : acc);
}

/* The table's gemm_packed from KERNEL(n, out, os, panel, a, as, add, A,
 * ARG), an always-inline kernel of A activation rows (a constant): tiles of
 * MB_AP_A rows, then of 2, then single rows. A pair's operations are the
 * same in each, so its result does not depend on the batch. */
#define MBX_AP_GEMM(name, KERNEL, ARG)                                                             \
    void mb_avx2_gemm_packed_##name(int64_t n, float *out, size_t os, const void *panel,           \
                                    const void *a, size_t as, int n_a, int add) {                  \
        const uint8_t *ab = a;                                                                     \
        int r = 0;                                                                                 \
        for (; r + MB_AP_A <= n_a; r += MB_AP_A)                                                   \
            KERNEL(n, out + (size_t)r * os, os, panel, ab + (size_t)r * as, as, add, MB_AP_A,      \
                   ARG);                                                                           \
        for (; r + 2 <= n_a; r += 2)                                                               \
            KERNEL(n, out + (size_t)r * os, os, panel, ab + (size_t)r * as, as, add, 2, ARG);      \
        for (; r < n_a; r++)                                                                       \
            KERNEL(n, out + (size_t)r * os, os, panel, ab + (size_t)r * as, as, add, 1, ARG);      \
    }

#endif
