/* Block layouts of the quantized GGUF types, byte for byte as ggml stores them
 * (little-endian; fp16 fields are raw IEEE half bits). Kernels read these
 * structs directly from the mapped file, so every field order and size is
 * fixed by the format; the static asserts catch any padding a compiler adds.
 *
 * Notation: a block of B values is stored as one or two scales plus packed
 * integer codes q; a value decodes as d*q (symmetric types) or d*q + m /
 * d*sc*q - dmin*m (types with an offset). */
#ifndef MB_TENSOR_BLOCKS_H
#define MB_TENSOR_BLOCKS_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define MB_QK4_0 32
#define MB_QK4_1 32
#define MB_QK5_0 32
#define MB_QK5_1 32
#define MB_QK8_0 32
#define MB_QK8_1 32
#define MB_QK_K 256 /* super-block size of the K-quants */

/* ---- 32-value blocks ------------------------------------------------ */

/* x = d * (q - 8), q in 0..15; value j in the low nibble of qs[j], value
 * j + 16 in the high nibble. */
typedef struct {
    uint16_t d;
    uint8_t qs[MB_QK4_0 / 2];
} mb_block_q4_0;

/* x = d * q + m, q in 0..15, same nibble order as Q4_0. */
typedef struct {
    uint16_t d;
    uint16_t m;
    uint8_t qs[MB_QK4_1 / 2];
} mb_block_q4_1;

/* x = d * (q - 16), q in 0..31: low 4 bits as Q4_0, bit 4 of value j is bit j
 * of the little-endian 32-bit qh. */
typedef struct {
    uint16_t d;
    uint8_t qh[4];
    uint8_t qs[MB_QK5_0 / 2];
} mb_block_q5_0;

/* x = d * q + m, q in 0..31, bits as Q5_0. */
typedef struct {
    uint16_t d;
    uint16_t m;
    uint8_t qh[4];
    uint8_t qs[MB_QK5_1 / 2];
} mb_block_q5_1;

/* x = d * q. */
typedef struct {
    uint16_t d;
    int8_t qs[MB_QK8_0];
} mb_block_q8_0;

/* x = d * q; s = d * sum(q) lets a dot with Q4_1/Q5_1 apply their offset m
 * once per block instead of once per value. */
typedef struct {
    uint16_t d;
    uint16_t s;
    int8_t qs[MB_QK8_1];
} mb_block_q8_1;

/* ---- 256-value super-blocks (K-quants) ------------------------------ */

/* 16 sub-blocks of 16: x = d*(sc & 15)*q - dmin*(sc >> 4), q in 0..3.
 * Value e: byte 32*(e/128) + e%32 of qs, bits 2*((e%128)/32). */
typedef struct {
    uint8_t scales[MB_QK_K / 16];
    uint8_t qs[MB_QK_K / 4];
    uint16_t d;
    uint16_t dmin;
} mb_block_q2_k;

/* 16 sub-blocks of 16: x = d*(sc - 32)*q, q in -4..3 stored as 2 low bits (as
 * Q2_K) and a high bit (hmask byte e%32, bit e/32) that is set when q >= 0.
 * The sixteen 6-bit scales: low nibbles in scales[0..7] (low then high
 * nibble), top two bits in scales[8 + i%4] at bit 2*(i/4). */
typedef struct {
    uint8_t hmask[MB_QK_K / 8];
    uint8_t qs[MB_QK_K / 4];
    uint8_t scales[12];
    uint16_t d;
} mb_block_q3_k;

/* 8 sub-blocks of 32: x = d*sc*q - dmin*m, q in 0..15, sc and m 6-bit (see
 * mb_k4_scale_min). Value e: byte 32*(e/64) + e%32 of qs, high nibble when
 * (e/32) is odd. */
typedef struct {
    uint16_t d;
    uint16_t dmin;
    uint8_t scales[12];
    uint8_t qs[MB_QK_K / 2];
} mb_block_q4_k;

/* Q4_K plus a fifth bit per value: bit e/32 of qh[e%32]. */
typedef struct {
    uint16_t d;
    uint16_t dmin;
    uint8_t scales[12];
    uint8_t qh[MB_QK_K / 8];
    uint8_t qs[MB_QK_K / 2];
} mb_block_q5_k;

/* 16 sub-blocks of 16: x = d*sc*(q - 32), q in 0..63, sc int8. For value e,
 * with h = e/128, k = (e%128)/32, l = e%32: low 4 bits in ql[64h + l + 32*(k&1)]
 * (high nibble when k >= 2), top 2 bits in qh[32h + l] at bit 2k. */
typedef struct {
    uint8_t ql[MB_QK_K / 2];
    uint8_t qh[MB_QK_K / 4];
    int8_t scales[MB_QK_K / 16];
    uint16_t d;
} mb_block_q6_k;

/* The activation format of the K-quant dots: a float scale (not fp16, so the
 * activation keeps its precision) and the sums of each 16 codes, which the
 * dots with a min (Q2_K, Q4_K, Q5_K) use to apply the min per sub-block. */
typedef struct {
    float d;
    int8_t qs[MB_QK_K];
    int16_t bsums[MB_QK_K / 16];
} mb_block_q8_k;

/* The sparse types (matchbox's own, docs/FORMAT.md): 256 weights per
 * block, a bitmask of the non-zero ones (bit i%8 of mask[i/8]) and at most
 * MB_SPARSE_CAP of them packed in order, each scaled by the fp16 scale of
 * its 64-weight quarter of the block: x = d[i/64] * q. A block with more
 * set bits than MB_SPARSE_CAP is invalid (refused at load). */
#define MB_QK_SPARSE 256
#define MB_SPARSE_CAP 128
/* SQ4: 4-bit non-zeros, q = nibble - 8; the k-th non-zero is the low
 * nibble of qs[k] for k < 64, the high nibble of qs[k - 64] otherwise.
 * 104 bytes per 256 weights: 3.25 bits per weight. */
typedef struct {
    uint8_t mask[MB_QK_SPARSE / 8];
    uint16_t d[MB_QK_SPARSE / 64];
    uint8_t qs[MB_SPARSE_CAP / 2];
} mb_block_sq4;
/* SQ8: 8-bit non-zeros. 168 bytes per 256 weights: 5.25 bits per weight. */
typedef struct {
    uint8_t mask[MB_QK_SPARSE / 8];
    uint16_t d[MB_QK_SPARSE / 64];
    int8_t qs[MB_SPARSE_CAP];
} mb_block_sq8;

/* SQ4_24: the 2:4 pattern in a fixed stride. Each group g of 4 weights
 * (64 per block) holds exactly two slots, non-zeros 2g and 2g+1, at
 * positions 4g + i (first slot) and 4g + j (second), i < j: one of six
 * choices per group, so a pair of groups p (groups 2p, 2p+1) is one 6-bit
 * code c0 + 6 c1 < 36 (mb_sq4_24_pos). Codes of the non-zeros as SQ4's
 * (nibbles in the same order, x = d[k/32] * (nib - 8); a slot may hold a
 * zero). No mask: 96 bytes per 256 weights, 3 bits per weight, and the
 * kernels gather the activations instead of spreading the weights. */
#define MB_SQ4_24_IDX_BYTES 24
typedef struct {
    uint16_t d[MB_QK_SPARSE / 64];
    uint8_t idx[MB_SQ4_24_IDX_BYTES]; /* pair code p: bits 6(p%8).. of the 48-bit
                                         little-endian word at idx + 6(p/8) */
    uint8_t qs[MB_QK_SPARSE / 4];
} mb_block_sq4_24;

static_assert(sizeof(mb_block_sq4_24) == 96, "SQ4_24 block is 96 bytes");

/* The layouts above, read: whether mask bit J is set, the K-th 4-bit code
 * of QS (0..15, the nibble order of SQ4 and SQ4_24), and the position in
 * its block of SQ4_24's K-th slot. Every reader of the sparse blocks (the
 * codecs, the reference dots, densify) goes through these. */
static inline int mb_sparse_bit(const uint8_t *mask, int j) {
    return (mask[j >> 3] >> (j & 7)) & 1;
}
static inline int mb_sparse_nibble(const uint8_t *qs, int k) {
    return k < 64 ? qs[k] & 15 : qs[k - 64] >> 4;
}
/* SQ4_24's group choice C (0..5: the pairs 01 02 03 12 13 23 of the
 * group's four weights; 6 and 7, which no valid block holds, read as 01)
 * and slot S (0 first, 1 second): the weight within the group. */
static inline int mb_sq4_24_choice(int c, int s) {
    static const uint8_t slot[2][8] = {{0, 0, 0, 1, 1, 2, 0, 0}, {1, 2, 3, 2, 3, 3, 1, 1}};
    return slot[s & 1][c & 7];
}
/* Block B's 48-bit SQ4_24 index word W (0..3) in the low 48 bits: the
 * codes of pairs 8W..8W+7, code 8W + j at bits 6j (little-endian bytes,
 * as the host's). Bits 48-63 are the next two bytes of the block (the next
 * word's, or qs's for the last), which callers leave aside. Read as eight
 * bytes in place: a 6-byte copy into a 64-bit variable stalls on store
 * forwarding, which made the 2:4 rewrite and the load-time check twice as
 * slow (masking the high bits off too: AVX2 2:4 decode 12.0-12.3 against
 * 13.7-14.8 tok/s without). */
static inline uint64_t mb_sq4_24_word(const mb_block_sq4_24 *b, int w) {
    uint64_t v;
    memcpy(&v, (const uint8_t *)b + offsetof(mb_block_sq4_24, idx) + 6 * w, sizeof v);
    return v;
}
/* The 6-bit code of SQ4_24 block B's group pair P (0..31). */
static inline int mb_sq4_24_code(const mb_block_sq4_24 *b, int p) {
    return (int)(mb_sq4_24_word(b, p / 8) >> (6 * (p % 8))) & 63;
}
static inline int mb_sq4_24_pos(const mb_block_sq4_24 *b, int k) {
    const int code = mb_sq4_24_code(b, k >> 2);
    return 4 * (k / 2) + mb_sq4_24_choice((k & 2) ? code / 6 : code % 6, k & 1);
}
static_assert(sizeof(mb_block_sq4) == 104, "SQ4 block is 104 bytes");
static_assert(sizeof(mb_block_sq8) == 168, "SQ8 block is 168 bytes");
static_assert(sizeof(mb_block_q4_0) == 18, "Q4_0 block is 18 bytes");
static_assert(sizeof(mb_block_q4_1) == 20, "Q4_1 block is 20 bytes");
static_assert(sizeof(mb_block_q5_0) == 22, "Q5_0 block is 22 bytes");
static_assert(sizeof(mb_block_q5_1) == 24, "Q5_1 block is 24 bytes");
static_assert(sizeof(mb_block_q8_0) == 34, "Q8_0 block is 34 bytes");
static_assert(sizeof(mb_block_q8_1) == 36, "Q8_1 block is 36 bytes");
static_assert(sizeof(mb_block_q2_k) == 84, "Q2_K block is 84 bytes");
static_assert(sizeof(mb_block_q3_k) == 110, "Q3_K block is 110 bytes");
static_assert(sizeof(mb_block_q4_k) == 144, "Q4_K block is 144 bytes");
static_assert(sizeof(mb_block_q5_k) == 176, "Q5_K block is 176 bytes");
static_assert(sizeof(mb_block_q6_k) == 210, "Q6_K block is 210 bytes");
static_assert(sizeof(mb_block_q8_k) == 292, "Q8_K block is 292 bytes");

/* Scale and min of sub-block J (0..7) of a Q4_K/Q5_K block: eight 6-bit pairs
 * in 12 bytes. Pairs 0..3 sit in the low 6 bits of bytes 0..3 (scale) and
 * 4..7 (min); pairs 4..7 keep their low nibbles in bytes 8..11 and their top
 * two bits in the spare top bits of bytes 0..7. */
static inline void mb_k4_scale_min(int j, const uint8_t *s, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (uint8_t)((s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4));
        *m = (uint8_t)((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
    }
}

/* Signed scale (-32..31) of sub-block I (0..15) of a Q3_K block. */
static inline int mb_q3k_scale(int i, const uint8_t *s) {
    int lo = i < 8 ? (s[i] & 0xF) : (s[i - 8] >> 4);
    int hi = (s[8 + i % 4] >> (2 * (i / 4))) & 3;
    return (lo | (hi << 4)) - 32;
}

/* The 32-bit high-bit mask of a Q5_0/Q5_1 block (unaligned, little-endian). */
static inline uint32_t mb_q5_high_bits(const uint8_t qh[4]) {
    return (uint32_t)qh[0] | ((uint32_t)qh[1] << 8) | ((uint32_t)qh[2] << 16) |
           ((uint32_t)qh[3] << 24);
}

#endif
