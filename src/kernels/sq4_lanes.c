/* SQ4 blocks in lanes: the permutations and the scalar conversion. */
#include "kernels/sq4_lanes.h"

#include <pthread.h>
#include <string.h>

#include "tensor/blocks.h"

static uint8_t from_file[256], to_file[256];
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static void build(void) {
    for (int p = 0; p < 256; p++) {
        from_file[p] = (uint8_t)mb_sq4_lanes_weight(p);
        to_file[mb_sq4_lanes_weight(p)] = (uint8_t)p;
    }
}

const uint8_t *mb_sq4_lanes_from_file(void) {
    pthread_once(&tables_once, build);
    return from_file;
}

const uint8_t *mb_sq4_lanes_to_file(void) {
    pthread_once(&tables_once, build);
    return to_file;
}

/* Code slot K of QS (0..127). */
static int slot_get(const uint8_t *qs, int k) {
    return k < 64 ? qs[k] & 15 : qs[k - 64] >> 4;
}

static void slot_set(uint8_t *qs, int k, int c) {
    if (k < 64)
        qs[k] |= (uint8_t)c;
    else
        qs[k - 64] |= (uint8_t)(c << 4);
}

/* The slot of the I-th kept weight of lanes register R, I_ALL-th kept
 * weight of the block. */
static int lanes_slot(int r, int i, int i_all) {
    return r == 3 ? 127 - i : i_all;
}

void mb_ref_sq4_convert(int64_t n_blocks, void *dst, const void *src, int to_lanes) {
    const uint8_t *from = mb_sq4_lanes_from_file();
    for (int64_t b = 0; b < n_blocks; b++) {
        const mb_block_sq4 *x = (const mb_block_sq4 *)src + b;
        int code[256]; /* by file weight; -1 where pruned */
        for (int j = 0; j < 256; j++)
            code[j] = -1;
        for (int p = 0, k = 0, r3 = 0; p < 256; p++) {
            if (!(x->mask[p / 8] >> (p % 8) & 1)) continue;
            const int slot = to_lanes ? k : lanes_slot(p / 64, r3, k);
            code[to_lanes ? p : from[p]] = slot_get(x->qs, slot);
            if (to_lanes || p < 192)
                k++;
            else
                r3++;
        }
        mb_block_sq4 y;
        memset(&y, 0, sizeof y);
        memcpy(y.d, x->d, sizeof y.d);
        for (int p = 0, k = 0, r3 = 0; p < 256; p++) {
            const int c = code[to_lanes ? from[p] : p];
            if (c < 0) continue;
            y.mask[p / 8] |= (uint8_t)(1u << (p % 8));
            slot_set(y.qs, to_lanes ? lanes_slot(p / 64, r3, k) : k, c);
            if (!to_lanes || p < 192)
                k++;
            else
                r3++;
        }
        memcpy((mb_block_sq4 *)dst + b, &y, sizeof y);
    }
}
