/* The 8-bit dots of the "neon-dotprod" level: SDOT adds four int8 products
 * into each int32 lane in one instruction. Compiled with +dotprod; called
 * only when HWCAP has ASIMDDP. */
#include <arm_neon.h>

#define MBN_NAME(x) mb_neondp_##x

static inline int32x4_t mbn_dot4(int32x4_t acc, int8x16_t x, int8x16_t y) {
    return vdotq_s32(acc, x, y);
}

#include "kernels/arm/dot_int_body.h"
