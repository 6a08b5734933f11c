/* Q5_K in 16-row groups (kernels/q5_k_r16.h), by the shared check of
 * util_r16.h: lossless packing, the reference against the ordinary Q5_K
 * dot, the level's bits for 1-3 groups, rows of 256-5632 values and 1-5
 * activation rows, alone and in a batch, in two passes and onto a
 * residual; codes 0 and 31, scales and mins 63, activations -128 and 127.
 * Also the layout's byte positions by hand.
 *
 * usage: test_kernels_q5_k_r16 [LEVEL]  (ref by default; a SIMD level:
 * skipped, exit 77, where this CPU or build lacks the level or the level
 * has no product of its own: the AVX-512 levels have one). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "kernels/q5_k_r16.h"
#include "tensor/blocks.h"
#include "tensor/fp16.h"
#include "test_levels.h"
#include "test_util.h"
#include "util_r16.h"

enum { QK = 256 };

static const mb_kernel_table *level_table;

/* Random codes, fifth bits, 6-bit scales and mins, d and dmin of either
 * sign. */
static void rand_blocks(void *w, int64_t count, uint64_t *rng) {
    for (int64_t i = 0; i < count; i++) {
        mb_block_q5_k *b = (mb_block_q5_k *)w + i;
        b->d = mb_fp32_to_fp16(((float)(mbt_r16_next(rng) % 2000) - 1000.0f) * 1e-5f);
        b->dmin = mb_fp32_to_fp16(((float)(mbt_r16_next(rng) % 2000) - 1000.0f) * 1e-5f);
        for (int j = 0; j < 12; j++)
            b->scales[j] = (uint8_t)mbt_r16_next(rng);
        for (int j = 0; j < QK / 8; j++)
            b->qh[j] = (uint8_t)mbt_r16_next(rng);
        for (int j = 0; j < QK / 2; j++)
            b->qs[j] = (uint8_t)mbt_r16_next(rng);
    }
}

/* Codes 31 or 0, scales and mins 63. */
static void extreme_block(void *b, int r) {
    mb_block_q5_k *x = b;
    memset(x->qs, r % 2 ? 0xFF : 0x00, QK / 2);
    memset(x->qh, r % 2 ? 0xFF : 0x00, QK / 8);
    memset(x->scales, 0xFF, 12);
}

static double magnitude(const void *w, const void *a, int64_t nb) {
    const mb_block_q5_k *x = w;
    const mb_block_q8_k *y = a;
    double mag = 0;
    for (int64_t b = 0; b < nb; b++) {
        const double d = mb_half_to_float(x[b].d), dm = mb_half_to_float(x[b].dmin);
        for (int s = 0; s < 8; s++) {
            uint8_t sc, m;
            mb_k4_scale_min(s, x[b].scales, &sc, &m);
            for (int l = 0; l < 32; l++) {
                const int q =
                    (x[b].qs[32 * (s / 2) + l] >> (4 * (s % 2)) & 15) | (x[b].qh[l] >> s & 1) << 4;
                mag +=
                    (fabs(d * sc * q) + fabs(dm * m)) * fabs((double)y[b].qs[32 * s + l]) * y[b].d;
            }
        }
    }
    return mag;
}

static void prep(int64_t n, const void *act, void *out) {
    mb_q4_k_r16_prep(n, act, out);
}

static void ref(int64_t n, float *out, size_t os, const void *w, size_t gs, int ng, const void *a,
                int na, int add) {
    mb_ref_q5_k_r16(n, out, os, w, gs, ng, a, na, add);
}

static void product(int64_t n, float *out, size_t os, const void *w, size_t gs, int ng,
                    const void *a, int na, int add) {
    level_table->q5_k_r16(n, out, os, w, gs, ng, a, na, add);
}

/* Row 5 of block 1: d, dmin, scales[9] (chunk 2, byte 1), qh[13] (qh
 * chunk 3, byte 1) and qs[77] (= 32 * 2 + 4 * 3 + 1: code chunk 14, byte
 * 1). */
static void check_offsets(void) {
    const int64_t n = 2 * QK;
    const size_t rb = 2 * sizeof(mb_block_q5_k);
    uint8_t *rows = calloc(16, rb), *grp = malloc(16 * rb);
    mb_block_q5_k *x = (mb_block_q5_k *)(void *)(rows + 5 * rb) + 1;
    x->d = 0x1234;
    x->dmin = 0x5678;
    x->scales[9] = 0x9A;
    x->qh[13] = 0xDE;
    x->qs[77] = 0xBC;
    mb_q5_k_r16_pack(n, grp, rows, rb);
    const uint8_t *p = grp + MB_Q5_K_R16_BLOCK_BYTES;
    CHECK(p[10] == 0x34 && p[11] == 0x12);
    CHECK(p[32 + 10] == 0x78 && p[32 + 11] == 0x56);
    CHECK(p[MB_Q4_K_R16_SCALES + 64 * 2 + 4 * 5 + 1] == 0x9A);
    CHECK(p[MB_Q5_K_R16_QH + 64 * 3 + 4 * 5 + 1] == 0xDE);
    CHECK(p[MB_Q5_K_R16_CODES + 64 * 14 + 4 * 5 + 1] == 0xBC);
    free(rows), free(grp);
}

int main(int argc, char **argv) {
    const char *level;
    level_table = mbt_level_arg(argc, argv, &level);
    CHECK(level_table->q5_k_r16 != NULL);
    if (!strcmp(level, "ref"))
        CHECK(level_table->q5_k_r16 == mb_ref_q5_k_r16);
    else if (level_table->q5_k_r16 == mb_ref_q5_k_r16) /* AVX2, NEON: the file's rows */
        mbt_skip("this level has no Q5_K 16-row product of its own (loading keeps the rows)");
    check_offsets();
    const mbt_r16_kind kind = {MB_TYPE_Q5_K,
                               MB_TYPE_Q8_K,
                               MB_Q5_K_R16_BLOCK_BYTES,
                               sizeof(mb_q4_k_r16_act),
                               rand_blocks,
                               extreme_block,
                               magnitude,
                               mb_q5_k_r16_pack,
                               mb_q5_k_r16_unpack,
                               prep,
                               ref};
    const int64_t ns[] = {256, 512, 768, 2048, 5632};
    mbt_r16_check_all(&kind, product, level, ns, (int)(sizeof ns / sizeof *ns), 5, 9);
    printf("q5_k_r16 of level %s checked\n", level);
    return mbt_finish();
}
