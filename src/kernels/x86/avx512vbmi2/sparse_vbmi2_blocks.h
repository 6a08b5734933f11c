/* Reading the sparse blocks into registers at the VBMI2 level, shared by
 * the row dots (sparse_vbmi2.c) and the packed panels (spack_vbmi2.c). */
#ifndef MB_KERNELS_X86_SPARSE_VBMI2_BLOCKS_H
#define MB_KERNELS_X86_SPARSE_VBMI2_BLOCKS_H

#include <immintrin.h>

#include "tensor/blocks.h"

/* The block's non-zeros as unsigned codes in order: U0 the first 64, U1
 * the next 64. */
static inline void mbx_nz_sq4(const void *blk, __m512i *u0, __m512i *u1) {
    const mb_block_sq4 *b = blk;
    const __m512i raw = _mm512_loadu_si512(b->qs), m4 = _mm512_set1_epi8(15);
    *u0 = _mm512_and_si512(raw, m4);
    *u1 = _mm512_and_si512(_mm512_srli_epi16(raw, 4), m4);
}

static inline void mbx_nz_sq8(const void *blk, __m512i *u0, __m512i *u1) {
    const mb_block_sq8 *b = blk;
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    *u0 = _mm512_xor_si512(_mm512_loadu_si512(b->qs), flip);
    *u1 = _mm512_xor_si512(_mm512_loadu_si512(b->qs + 64), flip);
}

/* Bytes K.. of U0:U1 at the bottom of a register (indices past 127 wrap,
 * but only the first popcount bytes are expanded). */
static inline __m512i mbx_nz_from(__m512i u0, __m512i u1, int k) {
    const __m512i iota = _mm512_set_epi8(
        63, 62, 61, 60, 59, 58, 57, 56, 55, 54, 53, 52, 51, 50, 49, 48, 47, 46, 45, 44, 43, 42, 41,
        40, 39, 38, 37, 36, 35, 34, 33, 32, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18,
        17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    return _mm512_permutex2var_epi8(u0, _mm512_add_epi8(iota, _mm512_set1_epi8((char)k)), u1);
}

/* The 64 activation positions of half H's non-zeros (0..127 within the
 * half): 4 (k / 2) + idx. */
static inline __m512i mbx_positions_24(const mb_block_sq4_24 *x, int h) {
    const __m512i base = _mm512_set_epi8(
        124, 124, 120, 120, 116, 116, 112, 112, 108, 108, 104, 104, 100, 100, 96, 96, 92, 92, 88,
        88, 84, 84, 80, 80, 76, 76, 72, 72, 68, 68, 64, 64, 60, 60, 56, 56, 52, 52, 48, 48, 44, 44,
        40, 40, 36, 36, 32, 32, 28, 28, 24, 24, 20, 20, 16, 16, 12, 12, 8, 8, 4, 4, 0, 0);
    const __m512i shifts = _mm512_set1_epi64(0x0E0C0A0806040200ll);
    const __m512i bits = _mm512_cvtepu16_epi64(_mm_loadu_si128((const __m128i *)(x->idx + 16 * h)));
    return _mm512_add_epi8(
        base, _mm512_and_si512(_mm512_multishift_epi64_epi8(shifts, bits), _mm512_set1_epi8(3)));
}

#endif
