/* The sparse dots of the baseline "neon" level (widening multiplies), and
 * the TBL pattern table both NEON levels spread the non-zeros with. */
#include <arm_neon.h>

#include "kernels/arm/arm_kernels.h"

/* pattern[m][j]: for bit j of mask byte m set, the index of its value
 * among the byte's set bits; 0xFF (out of TBL's range: zero) otherwise. */
uint8_t mb_neon_sparse_pattern[256][8];

void mb_neon_sparse_init(void) {
    for (int m = 0; m < 256; m++) {
        int k = 0;
        for (int j = 0; j < 8; j++)
            mb_neon_sparse_pattern[m][j] = (m >> j) & 1 ? (uint8_t)k++ : 0xFF;
    }
}

#define MBN_NAME(x) mb_neon_##x

static inline int32x4_t mbn_dot4(int32x4_t acc, int8x16_t x, int8x16_t y) {
    const int16x8_t lo = vmull_s8(vget_low_s8(x), vget_low_s8(y));
    const int16x8_t hi = vmull_high_s8(x, y);
    return vpadalq_s16(vpadalq_s16(acc, lo), hi);
}

#include "kernels/arm/sparse_body.h"
