/* Q4_0 in 16-row groups (kernels/q4_0_r16.h), by the shared check of
 * util_r16.h: lossless packing, the reference against the ordinary Q4_0
 * dot, the level's bits for 1-3 groups, rows of 32-2048 values and 1-6
 * activation rows, alone and in a batch, in two passes and onto a
 * residual; codes 0 and 15 against activations -128 and 127.
 *
 * usage: test_kernels_q4_0_r16 [LEVEL]  (ref by default; a SIMD level:
 * skipped, exit 77, where this CPU or build lacks the level). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "kernels/kernels.h"
#include "kernels/q4_0_r16.h"
#include "tensor/blocks.h"
#include "tensor/fp16.h"
#include "test_levels.h"
#include "test_util.h"
#include "util_r16.h"

static const mb_kernel_table *level_table;

static void rand_blocks(void *w, int64_t count, uint64_t *rng) {
    for (int64_t i = 0; i < count; i++) {
        mb_block_q4_0 *b = (mb_block_q4_0 *)w + i;
        b->d = mb_fp32_to_fp16(((float)(mbt_r16_next(rng) % 2000) - 1000.0f) * 1e-5f);
        for (int j = 0; j < 16; j++)
            b->qs[j] = (uint8_t)mbt_r16_next(rng);
    }
}

static void extreme_block(void *b, int r) {
    memset(((mb_block_q4_0 *)b)->qs, r % 2 ? 0xFF : 0x00, 16);
}

static double magnitude(const void *w, const void *a, int64_t nb) {
    const mb_block_q4_0 *x = w;
    const mb_block_q8_0 *y = a;
    double mag = 0;
    for (int64_t b = 0; b < nb; b++)
        for (int j = 0; j < 32; j++) {
            const int q = j < 16 ? x[b].qs[j] & 15 : x[b].qs[j - 16] >> 4;
            mag += fabs((double)(q - 8) * y[b].qs[j] * mb_half_to_float(x[b].d) *
                        mb_half_to_float(y[b].d));
        }
    return mag;
}

static void prep(int64_t n, const void *act, void *out) {
    mb_q4_0_r16_prep(n, act, out);
}

static void ref(int64_t n, float *out, size_t os, const void *w, size_t gs, int ng, const void *a,
                int na, int add) {
    mb_ref_q4_0_r16(n, out, os, w, gs, ng, a, na, add);
}

static void product(int64_t n, float *out, size_t os, const void *w, size_t gs, int ng,
                    const void *a, int na, int add) {
    level_table->q4_0_r16(n, out, os, w, gs, ng, a, na, add);
}

int main(int argc, char **argv) {
    const char *level;
    level_table = mbt_level_arg(argc, argv, &level);
    CHECK(level_table->q4_0_r16 != NULL);
    if (!strcmp(level, "ref")) CHECK(level_table->q4_0_r16 == mb_ref_q4_0_r16);
    const mbt_r16_kind kind = {MB_TYPE_Q4_0,
                               MB_TYPE_Q8_0,
                               MB_Q4_0_R16_BLOCK_BYTES,
                               sizeof(mb_q4_0_r16_act),
                               rand_blocks,
                               extreme_block,
                               magnitude,
                               mb_q4_0_r16_pack,
                               mb_q4_0_r16_unpack,
                               prep,
                               ref};
    const int64_t ns[] = {32, 64, 96, 288, 2048};
    mbt_r16_check_all(&kind, product, level, ns, (int)(sizeof ns / sizeof *ns), 6, 5);
    printf("q4_0_r16 of level %s checked\n", level);
    return mbt_finish();
}
