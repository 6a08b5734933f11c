/* Reading the sparse blocks into registers at the VBMI2 level, shared by
 * the row dots (sparse_vbmi2.c) and the packed panels (spack_vbmi2.c). */
#ifndef MB_KERNELS_X86_SPARSE_VBMI2_BLOCKS_H
#define MB_KERNELS_X86_SPARSE_VBMI2_BLOCKS_H

#include <immintrin.h>

#include "tensor/blocks.h"

/* The 128 4-bit codes of QS (SQ4's and SQ4_24's nibble order) as bytes in
 * order: U0 the first 64, U1 the next 64. */
static inline void mbx_nibbles(const uint8_t *qs, __m512i *u0, __m512i *u1) {
    const __m512i raw = _mm512_loadu_si512(qs), m4 = _mm512_set1_epi8(15);
    *u0 = _mm512_and_si512(raw, m4);
    *u1 = _mm512_and_si512(_mm512_srli_epi16(raw, 4), m4);
}

/* The block's non-zeros as unsigned codes in order: U0 the first 64, U1
 * the next 64. */
static inline void mbx_nz_sq4(const void *blk, __m512i *u0, __m512i *u1) {
    mbx_nibbles(((const mb_block_sq4 *)blk)->qs, u0, u1);
}

static inline void mbx_nz_sq8(const void *blk, __m512i *u0, __m512i *u1) {
    const mb_block_sq8 *b = blk;
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    *u0 = _mm512_xor_si512(_mm512_loadu_si512(b->qs), flip);
    *u1 = _mm512_xor_si512(_mm512_loadu_si512(b->qs + 64), flip);
}

/* Byte j is j (0..63). */
static inline __m512i mbx_iota(void) {
    return _mm512_set_epi8(63, 62, 61, 60, 59, 58, 57, 56, 55, 54, 53, 52, 51, 50, 49, 48, 47, 46,
                           45, 44, 43, 42, 41, 40, 39, 38, 37, 36, 35, 34, 33, 32, 31, 30, 29, 28,
                           27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10,
                           9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
}

/* Bytes K.. of U0:U1 at the bottom of a register (indices past 127 wrap,
 * but only the first popcount bytes are expanded). */
static inline __m512i mbx_nz_from(__m512i u0, __m512i u1, int k) {
    return _mm512_permutex2var_epi8(u0, _mm512_add_epi8(mbx_iota(), _mm512_set1_epi8((char)k)), u1);
}

/* The activation positions of the non-zeros, POS[h] for half h (byte k:
 * non-zero 64h + k, 0..127 within the half): 4 (k / 2) + the slot's weight
 * in its group. The 32 pair codes (four 48-bit words) go to a byte each by
 * VPMULTISHIFTQB, and a 64-entry VPERMB table turns each into the byte of
 * four 2-bit weights (bits 2s: slot s of the pair's four) that
 * VPMULTISHIFTQB spreads to a byte per slot. The table is
 * mb_sq4_24_choice's. */
static inline void mbx_positions_24(const mb_block_sq4_24 *x, __m512i pos[2]) {
    const __m512i base = _mm512_set_epi8(
        124, 124, 120, 120, 116, 116, 112, 112, 108, 108, 104, 104, 100, 100, 96, 96, 92, 92, 88,
        88, 84, 84, 80, 80, 76, 76, 72, 72, 68, 68, 64, 64, 60, 60, 56, 56, 52, 52, 48, 48, 44, 44,
        40, 40, 36, 36, 32, 32, 28, 28, 24, 24, 20, 20, 16, 16, 12, 12, 8, 8, 4, 4, 0, 0);
    /* Entry c: byte c of the table (mb_sq4_24_choice's weights of code c). */
    static const _Alignas(64) uint8_t k_choices[64] = {
        68,  72,  76,  73,  77,  78,  132, 136, 140, 137, 141, 142, 196, 200, 204, 201,
        205, 206, 148, 152, 156, 153, 157, 158, 212, 216, 220, 217, 221, 222, 228, 232,
        236, 233, 237, 238, 68,  72,  76,  73,  77,  78,  68,  72,  76,  73,  77,  78,
        68,  72,  76,  73,  77,  78,  132, 136, 140, 137, 141, 142, 196, 200, 204, 201,
    };
    const __m512i choices = _mm512_load_si512((const void *)k_choices);
    /* Word w's six bytes to qword w (32 bytes read: the last 8 are qs's,
     * and unused). */
    const __m256i words = _mm256_permutexvar_epi8(
        _mm256_setr_epi8(0, 1, 2, 3, 4, 5, 5, 5, 6, 7, 8, 9, 10, 11, 11, 11, 12, 13, 14, 15, 16, 17,
                         17, 17, 18, 19, 20, 21, 22, 23, 23, 23),
        _mm256_loadu_si256((const __m256i *)(const void *)x->idx));
    /* Code c of a word at bits 6c: its byte's top two bits are a
     * neighbour's, which VPERMB ignores. */
    const __m256i codes =
        _mm256_multishift_epi64_epi8(_mm256_set1_epi64x(0x2A241E18120C0600ll), words);
    const __m256i slots =
        _mm512_castsi512_si256(_mm512_permutexvar_epi8(_mm512_castsi256_si512(codes), choices));
    const __m512i shifts = _mm512_set1_epi64(0x0E0C0A0806040200ll), three = _mm512_set1_epi8(3);
    const __m128i half[2] = {_mm256_castsi256_si128(slots), _mm256_extracti128_si256(slots, 1)};
    for (int h = 0; h < 2; h++)
        pos[h] = _mm512_add_epi8(
            base, _mm512_and_si512(
                      _mm512_multishift_epi64_epi8(shifts, _mm512_cvtepu16_epi64(half[h])), three));
}

#endif
