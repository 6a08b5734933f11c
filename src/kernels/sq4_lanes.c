/* SQ4 blocks in lanes: the permutations and the scalar reordering. */
#include "kernels/sq4_lanes.h"

#include <string.h>

#include "tensor/blocks.h"

static uint8_t from_file[256], to_file[256];

static void build(void) {
    for (int p = 0; p < 256; p++) {
        from_file[p] = (uint8_t)mb_sq4_lanes_weight(p);
        to_file[mb_sq4_lanes_weight(p)] = (uint8_t)p;
    }
}

/* (Built on first use; the two tables are a pure function of the layout,
 * so concurrent first calls write the same bytes.) */
const uint8_t *mb_sq4_lanes_from_file(void) {
    if (from_file[1] == 0) build();
    return from_file;
}

const uint8_t *mb_sq4_lanes_to_file(void) {
    if (from_file[1] == 0) build();
    return to_file;
}

void mb_ref_sq4_permute(int64_t n_blocks, void *dst, const void *src, const uint8_t perm[256]) {
    for (int64_t i = 0; i < n_blocks; i++) {
        const mb_block_sq4 *x = (const mb_block_sq4 *)src + i;
        int code[256]; /* -1 where pruned */
        for (int j = 0, k = 0; j < 256; j++) {
            code[j] = -1;
            if (!(x->mask[j / 8] >> (j % 8) & 1)) continue;
            code[j] = k < 64 ? x->qs[k] & 15 : x->qs[k - 64] >> 4;
            k++;
        }
        mb_block_sq4 y;
        memset(&y, 0, sizeof y);
        memcpy(y.d, x->d, sizeof y.d);
        for (int j = 0, k = 0; j < 256; j++) {
            const int c = code[perm[j]];
            if (c < 0) continue;
            y.mask[j / 8] |= (uint8_t)(1u << (j % 8));
            if (k < 64)
                y.qs[k] |= (uint8_t)c;
            else
                y.qs[k - 64] |= (uint8_t)(c << 4);
            k++;
        }
        memcpy((mb_block_sq4 *)dst + i, &y, sizeof y);
    }
}
