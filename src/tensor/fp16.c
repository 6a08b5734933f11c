/* IEEE binary16 and bfloat16 conversions in software, exact and identical on
 * every CPU (no F16C/NEON dependence): the reference that SIMD kernels and
 * file encoders are tested against. */
#include "tensor/fp16.h"
#include "tensor/types.h"

float mb_fp16_to_fp32(uint16_t h) {
    return mb_half_to_float(h);
}

uint16_t mb_fp32_to_fp16(float f) {
    uint32_t u = mb_f32_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    u &= 0x7FFFFFFFu;
    if (u > 0x7F800000u) {
        /* NaN: keep the top payload bits and force the quiet bit, so a
         * signalling NaN whose payload sits in the low bits stays a NaN. */
        return (uint16_t)(sign | 0x7E00 | ((u >> 13) & 0x3FF));
    }
    /* 65520 is halfway between the largest half (65504, odd mantissa) and
     * 2^16, so it and everything above round to infinity. */
    if (u >= 0x477FF000u) return (uint16_t)(sign | 0x7C00);
    if (u >= 0x38800000u) {
        /* Normal half (|f| >= 2^-14): rebias the exponent by 127 - 15 and
         * round the 13 dropped mantissa bits; a carry out of the mantissa
         * correctly bumps the exponent. */
        uint32_t h = (u - 0x38000000u) >> 13;
        uint32_t rest = u & 0x1FFF;
        if (rest > 0x1000 || (rest == 0x1000 && (h & 1))) h++;
        return (uint16_t)(sign | h);
    }
    /* Up to 2^-25 (a tie with zero, resolved to the even zero): zero. */
    if (u <= 0x33000000u) return sign;
    /* Subnormal half: the result is the value in units of 2^-24. */
    uint32_t exp = u >> 23; /* 102..112 */
    uint32_t mant = (u & 0x7FFFFF) | 0x800000;
    uint32_t shift = 126 - exp; /* 14..24 */
    uint32_t h = mant >> shift;
    uint32_t rest = mant & ((1u << shift) - 1);
    uint32_t half = 1u << (shift - 1);
    if (rest > half || (rest == half && (h & 1))) h++; /* 0x400 is the least normal: fine */
    return (uint16_t)(sign | h);
}

float mb_bf16_to_fp32(uint16_t h) {
    return mb_bfloat_to_float(h);
}

uint16_t mb_fp32_to_bf16(float f) {
    uint32_t u = mb_f32_bits(f);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) {
        /* NaN: truncating could clear every payload bit and make infinity. */
        return (uint16_t)((u >> 16) | 0x0040);
    }
    /* Round to nearest even on the 16 dropped bits; overflow carries into
     * the exponent and ends at infinity, as it should. */
    u += 0x7FFFu + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}
