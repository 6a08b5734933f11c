/* SQ4_24 at the levels without a 2:4 kernel of their own (AVX2, NEON, and
 * AVX-512 without VBMI2): through the level's SQ4 dot. */
#ifndef MB_KERNELS_SQ4_24_VIA_SQ4_H
#define MB_KERNELS_SQ4_24_VIA_SQ4_H

#include "kernels/kernels.h"

/* Rewrites N_BLOCKS SQ4_24 blocks as SQ4 blocks: mb_sq4_24_to_sq4, or a
 * level's faster form with the same bytes. */
typedef void (*mb_sq4_24_rewrite_fn)(const void *src, void *dst, int64_t n_blocks);

/* *OUT = dot(SQ4_24 row W of N values, Q8_K activation A), the row's
 * blocks rewritten as SQ4 blocks by REWRITE (NULL: mb_sq4_24_to_sq4) on
 * the stack and multiplied by SQ4_DOT, a level's SQ4 dot. */
void mb_sq4_24_dot_via_sq4(mb_vec_dot_fn sq4_dot, mb_sq4_24_rewrite_fn rewrite, int64_t n,
                           float *out, const void *w, const void *a);

#endif
