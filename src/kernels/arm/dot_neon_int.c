/* The 8-bit dots of the baseline "neon" level (any ARMv8-A): widening
 * multiplies (int8 x int8 fits int16, even -128 * -128) and pairwise
 * accumulation into int32. */
#include <arm_neon.h>

#define MBN_NAME(x) mb_neon_##x

static inline int32x4_t mbn_dot4(int32x4_t acc, int8x16_t x, int8x16_t y) {
    const int16x8_t lo = vmull_s8(vget_low_s8(x), vget_low_s8(y));
    const int16x8_t hi = vmull_high_s8(x, y);
    return vpadalq_s16(vpadalq_s16(acc, lo), hi);
}

#include "kernels/arm/dot_int_body.h"
