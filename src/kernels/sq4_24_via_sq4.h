/* SQ4_24 at the levels without a 2:4 kernel of their own (AVX2, NEON, and
 * AVX-512 without VBMI2): through the level's SQ4 dot. */
#ifndef MB_KERNELS_SQ4_24_VIA_SQ4_H
#define MB_KERNELS_SQ4_24_VIA_SQ4_H

#include "kernels/kernels.h"

/* *OUT = dot(SQ4_24 row W of N values, Q8_K activation A), the row's
 * blocks rewritten as SQ4 blocks (mb_sq4_24_to_sq4) on the stack and
 * multiplied by SQ4_DOT, a level's SQ4 dot. */
void mb_sq4_24_dot_via_sq4(mb_vec_dot_fn sq4_dot, int64_t n, float *out, const void *w,
                           const void *a);

#endif
