/* Inline forms of the fp16/bf16 conversions, for loops that convert every
 * value (F16/BF16 rows and dots), where a call per value costs more than the
 * conversion. mb_fp16_to_fp32 and friends in types.h are these same
 * functions out of line. Software only, exact on every CPU. */
#ifndef MB_TENSOR_FP16_H
#define MB_TENSOR_FP16_H

#include <stdint.h>
#include <string.h>

static inline uint32_t mb_f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static inline float mb_f32_from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static inline float mb_half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1F;
    uint32_t mant = h & 0x3FF;
    if (exp == 0x1F) return mb_f32_from_bits(sign | 0x7F800000u | (mant << 13)); /* inf, NaN */
    if (exp != 0) return mb_f32_from_bits(sign | ((exp + 112) << 23) | (mant << 13));
    /* Zero or subnormal: mant * 2^-24 is exact in float. */
    float v = (float)mant * 0x1p-24f;
    return sign ? -v : v;
}

static inline float mb_bfloat_to_float(uint16_t h) {
    return mb_f32_from_bits((uint32_t)h << 16);
}

#endif
