/* The sparse dots of the "neon-dotprod" level: the spread weights go
 * through SDOT. Compiled with +dotprod; called only when HWCAP has ASIMDDP. */
#include <arm_neon.h>

#define MBN_NAME(x) mb_neondp_##x

static inline int32x4_t mbn_dot4(int32x4_t acc, int8x16_t x, int8x16_t y) {
    return vdotq_s32(acc, x, y);
}

#include "kernels/arm/sparse_body.h"
