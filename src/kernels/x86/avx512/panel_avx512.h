/* Pieces shared by the packed-panel batch kernels of the AVX-512 level
 * (kpack_avx512.c for the K-quants, qpack_avx512.c for Q4_0 and Q8_0):
 * the activation broadcast, the store of one activation row's lanes, and
 * the table entry that walks the activation rows in register tiles. */
#ifndef MB_KERNELS_X86_AVX512_PANEL_AVX512_H
#define MB_KERNELS_X86_AVX512_PANEL_AVX512_H

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "kernels/x86/avx512/dot_avx512.h"
#include "kernels/x86/avx512/int_avx512.h"

/* Full unrolling keeps a tile's accumulators in registers. */
#if defined(__clang__)
#define MBX_PANEL_UNROLL _Pragma("unroll")
#else
#define MBX_PANEL_UNROLL _Pragma("GCC unroll 16")
#endif

/* Four activation bytes at P (any alignment) in every 32-bit lane: the
 * signed operand of VPDPBUSD. */
static inline __m512i mbx_bcast4(const void *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

/* One activation row's results for the panel's LANES, written or (ADD)
 * added to O. */
static inline void mbx_panel_store(float *o, __m512 acc, int add, __mmask16 lanes) {
    _mm512_mask_storeu_ps(o, lanes,
                          add ? _mm512_add_ps(_mm512_maskz_loadu_ps(lanes, o), acc) : acc);
}

/* The table's gemm_packed from KERNEL(n, out, os, panel, a, as, add, A,
 * ARG), an always-inline kernel of A activation rows (a constant): tiles of
 * MB_KP_A rows, then of 4, then single rows. A pair's operations are the
 * same in each, so its result does not depend on the batch. */
#define MBX_PANEL_GEMM(name, KERNEL, ARG)                                                          \
    void MBX_NAME(gemm_packed_##name)(int64_t n, float *out, size_t os, const void *panel,         \
                                      const void *a, size_t as, int n_a, int add) {                \
        const uint8_t *ab = a;                                                                     \
        int r = 0;                                                                                 \
        for (; r + MB_KP_A <= n_a; r += MB_KP_A)                                                   \
            KERNEL(n, out + (size_t)r * os, os, panel, ab + (size_t)r * as, as, add, MB_KP_A,      \
                   ARG);                                                                           \
        for (; r + 4 <= n_a; r += 4)                                                               \
            KERNEL(n, out + (size_t)r * os, os, panel, ab + (size_t)r * as, as, add, 4, ARG);      \
        for (; r < n_a; r++)                                                                       \
            KERNEL(n, out + (size_t)r * os, os, panel, ab + (size_t)r * as, as, add, 1, ARG);      \
    }

#endif
