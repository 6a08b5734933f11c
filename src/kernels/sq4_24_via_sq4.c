/* SQ4_24 through a level's SQ4 dot (sq4_24_via_sq4.h). The 2:4 layout is
 * the SQ4 layout with a 6-bit code per pair of groups instead of a mask
 * byte, so rewriting a block costs 32 table lookups; the SQ4 kernels then
 * skip the zeros as they do for unstructured blocks. A row is rewritten in
 * chunks that stay in L1. */
#include "kernels/sq4_24_via_sq4.h"

#include "tensor/blocks.h"
#include "tensor/sparse.h"

enum { CHUNK_BLOCKS = 32 }; /* 8192 weights, 3.3 KB of SQ4 blocks */

void mb_sq4_24_dot_via_sq4(mb_vec_dot_fn sq4_dot, mb_sq4_24_rewrite_fn rewrite, int64_t n,
                           float *out, const void *w, const void *a) {
    if (!rewrite) rewrite = mb_sq4_24_to_sq4;
    const mb_block_sq4_24 *x = w;
    const mb_block_q8_k *y = a;
    const int64_t nb = n / MB_QK_SPARSE;
    mb_block_sq4 tmp[CHUNK_BLOCKS];
    float sum = 0.0f;
    for (int64_t b0 = 0; b0 < nb; b0 += CHUNK_BLOCKS) {
        const int64_t m = nb - b0 < CHUNK_BLOCKS ? nb - b0 : CHUNK_BLOCKS;
        rewrite(x + b0, tmp, m);
        float part = 0.0f;
        sq4_dot(m * MB_QK_SPARSE, &part, tmp, y + b0);
        sum += part;
    }
    *out = sum;
}
