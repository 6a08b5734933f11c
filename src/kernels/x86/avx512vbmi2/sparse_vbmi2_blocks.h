/* Reading the sparse blocks into registers at the VBMI2 level, shared by
 * the row dots (sparse_vbmi2.c) and the packed panels (spack_vbmi2.c). */
#ifndef MB_KERNELS_X86_SPARSE_VBMI2_BLOCKS_H
#define MB_KERNELS_X86_SPARSE_VBMI2_BLOCKS_H

#include <immintrin.h>
#include <string.h>

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

/* Byte j is j, for j < 192: 64 bytes from K are the indices K..K+63. */
static const _Alignas(64) uint8_t mbx_iota192[192] = {
    0,   1,   2,   3,   4,   5,   6,   7,   8,   9,   10,  11,  12,  13,  14,  15,  16,  17,
    18,  19,  20,  21,  22,  23,  24,  25,  26,  27,  28,  29,  30,  31,  32,  33,  34,  35,
    36,  37,  38,  39,  40,  41,  42,  43,  44,  45,  46,  47,  48,  49,  50,  51,  52,  53,
    54,  55,  56,  57,  58,  59,  60,  61,  62,  63,  64,  65,  66,  67,  68,  69,  70,  71,
    72,  73,  74,  75,  76,  77,  78,  79,  80,  81,  82,  83,  84,  85,  86,  87,  88,  89,
    90,  91,  92,  93,  94,  95,  96,  97,  98,  99,  100, 101, 102, 103, 104, 105, 106, 107,
    108, 109, 110, 111, 112, 113, 114, 115, 116, 117, 118, 119, 120, 121, 122, 123, 124, 125,
    126, 127, 128, 129, 130, 131, 132, 133, 134, 135, 136, 137, 138, 139, 140, 141, 142, 143,
    144, 145, 146, 147, 148, 149, 150, 151, 152, 153, 154, 155, 156, 157, 158, 159, 160, 161,
    162, 163, 164, 165, 166, 167, 168, 169, 170, 171, 172, 173, 174, 175, 176, 177, 178, 179,
    180, 181, 182, 183, 184, 185, 186, 187, 188, 189, 190, 191};

/* Byte j is j (0..63). */
static inline __m512i mbx_iota(void) {
    return _mm512_load_si512((const void *)mbx_iota192);
}

/* Bytes K.. (K <= 128) of U0:U1 at the bottom of a register (indices past
 * 127 wrap, but only the first popcount bytes are expanded). The indices
 * are a load from a table at K, not K broadcast and added: a broadcast from
 * a general register takes the shuffle port, which the expansions keep
 * busy. */
static inline __m512i mbx_nz_from(__m512i u0, __m512i u1, int k) {
    return _mm512_permutex2var_epi8(u0, _mm512_loadu_si512((const void *)(mbx_iota192 + k)), u1);
}

/* 256 bytes (four registers) gathered through PERM: byte j of the result
 * (register j / 64) is byte PERM[j] of V. */
static inline void mbx_gather256(const __m512i v[4], const uint8_t *perm, __m512i out[4]) {
    for (int r = 0; r < 4; r++) {
        const __m512i ix = _mm512_loadu_si512((const void *)(perm + 64 * r));
        const __m512i lo = _mm512_permutex2var_epi8(v[0], ix, v[1]);
        const __m512i hi = _mm512_permutex2var_epi8(v[2], ix, v[3]);
        out[r] = _mm512_mask_blend_epi8(_mm512_movepi8_mask(ix), lo, hi);
    }
}

/* Byte j is 63 - j: a register reversed by VPERMB. */
static const _Alignas(64) uint8_t mbx_rev64[64] = {
    63, 62, 61, 60, 59, 58, 57, 56, 55, 54, 53, 52, 51, 50, 49, 48, 47, 46, 45, 44, 43, 42,
    41, 40, 39, 38, 37, 36, 35, 34, 33, 32, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20,
    19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9,  8,  7,  6,  5,  4,  3,  2,  1,  0};

/* Mask word Q (weights 64q..64q+63) of MASK in a mask register, loaded
 * straight from memory: from a general register KMOVQ takes the shuffle
 * port the expansions keep busy (the SQ4 row dot in L2: 16.7 -> 17.6
 * GB/s). */
static inline __mmask64 mbx_mask_word(const uint8_t *mask, int q) {
    __mmask64 k;
    __asm__("kmovq %1, %0" : "=k"(k) : "m"(*(const uint8_t(*)[8])(const void *)(mask + 8 * q)));
    return k;
}

/* The four 64-weight quarters of a block in the file's order (SQ4's or
 * SQ8's), its non-zeros U0:U1 in order, spread to their bytes under MASK,
 * FILL where pruned. */
static inline void mbx_spread_file(const uint8_t *mask, __m512i u0, __m512i u1, __m512i fill,
                                   __m512i out[4]) {
    uint64_t m[4];
    memcpy(m, mask, sizeof m);
    int o = 0;
    for (int q = 0; q < 4; q++) {
        out[q] =
            _mm512_mask_expand_epi8(fill, mbx_mask_word(mask, q), o ? mbx_nz_from(u0, u1, o) : u0);
        o += (int)_mm_popcnt_u64(m[q]);
    }
}

/* An SQ4 block in lanes (kernels/sq4_lanes.h) spread to its four
 * registers' bytes, FILL where pruned: registers 0-2's codes in order
 * from slot 0, register 3's reversed from slot 127. */
static inline void mbx_spread_lanes(const mb_block_sq4 *x, __m512i fill, __m512i out[4]) {
    __m512i u0, u1;
    mbx_nz_sq4(x, &u0, &u1);
    uint64_t m[2];
    memcpy(m, x->mask, sizeof m);
    const int o1 = (int)_mm_popcnt_u64(m[0]), o2 = o1 + (int)_mm_popcnt_u64(m[1]);
    const __mmask64 k0 = mbx_mask_word(x->mask, 0), k1 = mbx_mask_word(x->mask, 1),
                    k2 = mbx_mask_word(x->mask, 2), k3 = mbx_mask_word(x->mask, 3);
    out[0] = _mm512_mask_expand_epi8(fill, k0, u0);
    out[1] = _mm512_mask_expand_epi8(fill, k1, mbx_nz_from(u0, u1, o1));
    out[2] = _mm512_mask_expand_epi8(fill, k2, mbx_nz_from(u0, u1, o2));
    out[3] = _mm512_mask_expand_epi8(
        fill, k3, _mm512_permutexvar_epi8(_mm512_load_si512((const void *)mbx_rev64), u1));
}

/* The activation positions of the non-zeros, POS[h] for half h (byte k:
 * non-zero 64h + k, 0..127 within the half): 4 (k / 2) + the slot's weight
 * in its group. Qword j of both results needs pair codes 2j, 2j+1 (half 0)
 * and 16 + 2j, 17 + 2j (half 1): each pair of codes is 12 bits inside two
 * bytes of its 48-bit word, so one VPERMB puts those four bytes in qword
 * j and one VPMULTISHIFTQB cuts the four codes out to bytes 0-3. A 64-entry
 * VPERMB table turns each code into the byte of four 2-bit weights (bits
 * 2s: slot s of the pair's four; mb_sq4_24_choice's table), and one
 * VPMULTISHIFTQB per half spreads bytes 0-1 (half 0) or 2-3 (half 1) to a
 * byte per slot. Five shuffles per block where the earlier form (codes in
 * order, then placed per half) took eight: the weight-rows dot with weights
 * in L2 ran 17.7 -> 18.3 GB/s on a Sapphire Rapids-class VM. */
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
    /* Qword j: the two bytes holding codes 2j, 2j+1, then those holding
     * 16 + 2j, 17 + 2j (bytes of idx; the rest unused). */
    static const _Alignas(64) uint8_t k_place[64] = {
        0, 1, 12, 13, 0,  0,  0,  0,  1, 2, 13, 14, 0,  0,  0,  0,  3, 4, 15, 16, 0,  0,
        0, 0, 4,  5,  16, 17, 0,  0,  0, 0, 6,  7,  18, 19, 0,  0,  0, 0, 7,  8,  19, 20,
        0, 0, 0,  0,  9,  10, 21, 22, 0, 0, 0,  0,  10, 11, 22, 23, 0, 0, 0,  0};
    /* The codes' bit offsets in those four bytes. */
    static const _Alignas(64) uint8_t k_cut[64] = {
        0, 6, 16, 22, 0,  0,  0,  0,  4, 10, 20, 26, 0,  0,  0,  0,  0, 6, 16, 22, 0,  0,
        0, 0, 4,  10, 20, 26, 0,  0,  0, 0,  0,  6,  16, 22, 0,  0,  0, 0, 4,  10, 20, 26,
        0, 0, 0,  0,  0,  6,  16, 22, 0, 0,  0,  0,  4,  10, 20, 26, 0, 0, 0,  0};
    const __m512i choices = _mm512_load_si512((const void *)k_choices);
    /* 32 bytes read: idx's 24 and 8 of qs, which no index selects. */
    const __m512i idx =
        _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(const void *)x->idx));
    const __m512i placed = _mm512_permutexvar_epi8(_mm512_load_si512((const void *)k_place), idx);
    /* Each code's byte has a neighbour's bits on top, which VPERMB ignores. */
    const __m512i codes =
        _mm512_multishift_epi64_epi8(_mm512_load_si512((const void *)k_cut), placed);
    const __m512i slots = _mm512_permutexvar_epi8(codes, choices);
    const __m512i three = _mm512_set1_epi8(3);
    /* base | (slot & 3) (base's low two bits are zero); the shifted slots
     * go first, as VPTERNLOGD overwrites its first operand and base is
     * needed twice. */
    pos[0] = _mm512_ternarylogic_epi32(
        _mm512_multishift_epi64_epi8(_mm512_set1_epi64(0x0E0C0A0806040200ll), slots), base, three,
        0xEC);
    pos[1] = _mm512_ternarylogic_epi32(
        _mm512_multishift_epi64_epi8(_mm512_set1_epi64(0x1E1C1A1816141210ll), slots), base, three,
        0xEC);
}

#endif
