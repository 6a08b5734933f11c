/* An independent decoder for the tests: value E of one block, read from the
 * byte offsets and bit positions of the GGUF/ggml format description rather
 * than through the library's structs and loops. Decoders in src/tensor must
 * agree with it bit for bit (same float operations: the sub-block scale is
 * formed first, then applied to the code). */
#ifndef MB_TESTS_QUANT_SPEC_H
#define MB_TESTS_QUANT_SPEC_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "tensor/types.h"

static inline float spec_f16(const uint8_t *p) {
    return mb_fp16_to_fp32((uint16_t)(p[0] | (p[1] << 8)));
}

/* Nibble I (0..31) of 16 bytes holding two nibbles each: 0..15 low, 16..31 high. */
static inline int spec_nibble32(const uint8_t *qs, int i) {
    return i < 16 ? qs[i] & 0xF : qs[i - 16] >> 4;
}

/* Bit E of a little-endian bit string. */
static inline int spec_bit(const uint8_t *p, int e) {
    return (p[e / 8] >> (e % 8)) & 1;
}

/* Two-bit code of value E of a Q2_K/Q3_K super-block: 32 code bytes per 128
 * values, each byte holding values l, l+32, l+64, l+96 of its 128. */
static inline int spec_bits2(const uint8_t *qs, int e) {
    return (qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
}

/* Sub-block J's 6-bit scale and min in the 12-byte Q4_K/Q5_K header. */
static inline void spec_k4_scale(const uint8_t *s, int j, int *sc, int *m) {
    if (j < 4) {
        *sc = s[j] & 0x3F;
        *m = s[j + 4] & 0x3F;
    } else {
        *sc = (s[j + 4] & 0x0F) + 16 * (s[j - 4] >> 6);
        *m = (s[j + 4] >> 4) + 16 * (s[j] >> 6);
    }
}

static inline float spec_value(uint32_t type, const uint8_t *blk, int e) {
    switch (type) {
    case MB_TYPE_F32: {
        float f;
        memcpy(&f, blk + 4 * e, 4);
        return f;
    }
    case MB_TYPE_F16: return spec_f16(blk + 2 * e);
    case MB_TYPE_BF16: {
        uint32_t u = (uint32_t)(blk[2 * e] | (blk[2 * e + 1] << 8)) << 16;
        float f;
        memcpy(&f, &u, 4);
        return f;
    }
    case MB_TYPE_Q4_0: return (spec_nibble32(blk + 2, e) - 8) * spec_f16(blk);
    case MB_TYPE_Q4_1: return spec_nibble32(blk + 4, e) * spec_f16(blk) + spec_f16(blk + 2);
    case MB_TYPE_Q5_0: {
        int q = spec_nibble32(blk + 6, e) + 16 * spec_bit(blk + 2, e);
        return (q - 16) * spec_f16(blk);
    }
    case MB_TYPE_Q5_1: {
        int q = spec_nibble32(blk + 8, e) + 16 * spec_bit(blk + 4, e);
        return q * spec_f16(blk) + spec_f16(blk + 2);
    }
    case MB_TYPE_Q8_0: return (int8_t)blk[2 + e] * spec_f16(blk);
    case MB_TYPE_Q8_1: return (int8_t)blk[4 + e] * spec_f16(blk);
    case MB_TYPE_Q2_K: {
        /* scales[16] @0, qs[64] @16, d @80, dmin @82 */
        int sc = blk[e / 16];
        float dl = spec_f16(blk + 80) * (sc & 0xF), ml = spec_f16(blk + 82) * (sc >> 4);
        return dl * spec_bits2(blk + 16, e) - ml;
    }
    case MB_TYPE_Q3_K: {
        /* hmask[32] @0, qs[64] @32, scales[12] @96, d @108. The 6-bit
         * scale i: low nibble i of bytes 0..7 (all low nibbles, then all
         * high), top bits in byte 8 + i%4 at bit 2*(i/4); stored + 32. */
        int i = e / 16;
        int lo = i < 8 ? blk[96 + i] & 0xF : blk[96 + i - 8] >> 4;
        int hi = (blk[96 + 8 + i % 4] >> (2 * (i / 4))) & 3;
        int q = spec_bits2(blk + 32, e) - (spec_bit(blk + e % 32, e / 32) ? 0 : 4);
        float dl = spec_f16(blk + 108) * ((lo | (hi << 4)) - 32);
        return dl * q;
    }
    case MB_TYPE_Q4_K:
    case MB_TYPE_Q5_K: {
        /* d @0, dmin @2, scales[12] @4, then (Q5_K) qh[32] @16, qs[128]. */
        int sc, m;
        spec_k4_scale(blk + 4, e / 32, &sc, &m);
        const uint8_t *qs = blk + (type == MB_TYPE_Q4_K ? 16 : 48);
        uint8_t byte = qs[32 * (e / 64) + e % 32];
        int q = (e / 32) % 2 ? byte >> 4 : byte & 0xF;
        if (type == MB_TYPE_Q5_K) q += 16 * spec_bit(blk + 16 + e % 32, e / 32);
        float d1 = spec_f16(blk) * sc, m1 = spec_f16(blk + 2) * m;
        return d1 * q - m1;
    }
    case MB_TYPE_Q6_K: {
        /* ql[128] @0, qh[64] @128, scales[16] (int8) @192, d @208. */
        int h = e / 128, k = (e % 128) / 32, l = e % 32;
        uint8_t lb = blk[64 * h + l + 32 * (k % 2)];
        int lo = k < 2 ? lb & 0xF : lb >> 4;
        int hi = (blk[128 + 32 * h + l] >> (2 * k)) & 3;
        float ds = spec_f16(blk + 208) * (int8_t)blk[192 + e / 16];
        return ds * ((lo | (hi << 4)) - 32);
    }
    case MB_TYPE_Q8_K: {
        float d;
        memcpy(&d, blk, 4);
        return d * (int8_t)blk[4 + e];
    }
    default: return NAN;
    }
}

#endif
