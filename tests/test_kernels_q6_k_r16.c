/* Q6_K in 16-row groups (kernels/q6_k_r16.h), by the shared check of
 * util_r16.h: lossless packing, the reference against the ordinary Q6_K
 * dot, the level's bits for 1-3 groups, rows of 256-5632 values and 1-5
 * activation rows, alone and in a batch, in two passes and onto a
 * residual; codes 0 and 63, scales -128 and 127, activations -128 and 127.
 * Also the layout's byte positions by hand.
 *
 * usage: test_kernels_q6_k_r16 [LEVEL]  (ref by default; a SIMD level:
 * skipped, exit 77, where this CPU or build lacks the level or the level
 * has no product of its own: the AVX-512 levels have one). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "kernels/q6_k_r16.h"
#include "tensor/blocks.h"
#include "tensor/fp16.h"
#include "test_levels.h"
#include "test_util.h"
#include "util_r16.h"

enum { QK = 256 };

static const mb_kernel_table *level_table;

/* Random codes and signed scales (every bit), d of either sign. */
static void rand_blocks(void *w, int64_t count, uint64_t *rng) {
    for (int64_t i = 0; i < count; i++) {
        mb_block_q6_k *b = (mb_block_q6_k *)w + i;
        b->d = mb_fp32_to_fp16(((float)(mbt_r16_next(rng) % 2000) - 1000.0f) * 1e-5f);
        for (int j = 0; j < 16; j++)
            b->scales[j] = (int8_t)mbt_r16_next(rng);
        for (int j = 0; j < QK / 2; j++)
            b->ql[j] = (uint8_t)mbt_r16_next(rng);
        for (int j = 0; j < QK / 4; j++)
            b->qh[j] = (uint8_t)mbt_r16_next(rng);
    }
}

/* Codes 63 or 0, scales -128 or 127. */
static void extreme_block(void *b, int r) {
    mb_block_q6_k *x = b;
    memset(x->ql, r % 2 ? 0xFF : 0x00, QK / 2);
    memset(x->qh, r % 2 ? 0xFF : 0x00, QK / 4);
    memset(x->scales, r % 4 < 2 ? 0x80 : 0x7F, 16);
}

/* The code of value E of block X (mb_block_q6_k's layout), 0..63. */
static int code6(const mb_block_q6_k *x, int e) {
    const int h = e / 128, k = e % 128 / 32, l = e % 32;
    const int lo = x->ql[64 * h + l + 32 * (k & 1)] >> (k >= 2 ? 4 : 0) & 15;
    return lo | (x->qh[32 * h + l] >> (2 * k) & 3) << 4;
}

static double magnitude(const void *w, const void *a, int64_t nb) {
    const mb_block_q6_k *x = w;
    const mb_block_q8_k *y = a;
    double mag = 0;
    for (int64_t b = 0; b < nb; b++)
        for (int e = 0; e < QK; e++)
            mag += fabs(mb_half_to_float(x[b].d) * x[b].scales[e / 16] * (code6(&x[b], e) - 32) *
                        (double)y[b].qs[e] * y[b].d);
    return mag;
}

static void prep(int64_t n, const void *act, void *out) {
    mb_q6_k_r16_prep(n, act, out);
}

static void ref(int64_t n, float *out, size_t os, const void *w, size_t gs, int ng, const void *a,
                int na, int add) {
    mb_ref_q6_k_r16(n, out, os, w, gs, ng, a, na, add);
}

static void product(int64_t n, float *out, size_t os, const void *w, size_t gs, int ng,
                    const void *a, int na, int add) {
    level_table->q6_k_r16(n, out, os, w, gs, ng, a, na, add);
}

/* The layout's byte positions, by hand: row 5 of block 1, its d,
 * scales[9] (chunk 2, byte 1 of the row's lane), ql[77] (half 1, 77 - 64 =
 * 13 = 4 * 3 + 1: step 8 + 3, first chunk, byte 1) and qh[45] (half 1, 45
 * - 32 = 13: step 8 + 3, third chunk, byte 1). */
static void check_offsets(void) {
    const int64_t n = 2 * QK;
    const size_t rb = 2 * sizeof(mb_block_q6_k);
    uint8_t *rows = calloc(16, rb), *grp = malloc(16 * rb);
    mb_block_q6_k *x = (mb_block_q6_k *)(void *)(rows + 5 * rb) + 1;
    x->d = 0x1234;
    x->scales[9] = -100;
    x->ql[77] = 0xBC;
    x->qh[45] = 0xDE;
    mb_q6_k_r16_pack(n, grp, rows, rb);
    const uint8_t *p = grp + MB_Q6_K_R16_BLOCK_BYTES;
    CHECK(p[10] == 0x34 && p[11] == 0x12);
    CHECK((int8_t)p[MB_Q6_K_R16_SCALES + 64 * 2 + 4 * 5 + 1] == -100);
    CHECK(p[MB_Q6_K_R16_CODES + 64 * (3 * 11) + 4 * 5 + 1] == 0xBC);
    CHECK(p[MB_Q6_K_R16_CODES + 64 * (3 * 11 + 2) + 4 * 5 + 1] == 0xDE);
    free(rows), free(grp);
}

int main(int argc, char **argv) {
    const char *level;
    level_table = mbt_level_arg(argc, argv, &level);
    CHECK(level_table->q6_k_r16 != NULL);
    if (!strcmp(level, "ref"))
        CHECK(level_table->q6_k_r16 == mb_ref_q6_k_r16);
    else if (level_table->q6_k_r16 == mb_ref_q6_k_r16) /* AVX2, NEON: the file's rows */
        mbt_skip("this level has no Q6_K 16-row product of its own (loading keeps the rows)");
    check_offsets();
    const mbt_r16_kind kind = {MB_TYPE_Q6_K,
                               MB_TYPE_Q8_K,
                               MB_Q6_K_R16_BLOCK_BYTES,
                               sizeof(mb_q6_k_r16_act),
                               rand_blocks,
                               extreme_block,
                               magnitude,
                               mb_q6_k_r16_pack,
                               mb_q6_k_r16_unpack,
                               prep,
                               ref};
    const int64_t ns[] = {256, 512, 768, 2048, 5632};
    mbt_r16_check_all(&kind, product, level, ns, (int)(sizeof ns / sizeof *ns), 5, 7);
    printf("q6_k_r16 of level %s checked\n", level);
    return mbt_finish();
}
