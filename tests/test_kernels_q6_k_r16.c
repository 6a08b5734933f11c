/* Q6_K in 16-row groups (kernels/q6_k_r16.h): packing is lossless (unpack
 * gives the rows back byte for byte); the reference product equals the
 * ordinary Q6_K dot of the same rows within float rounding; the level's
 * product gives the reference's bits for every group count, row length and
 * number of activation rows (so a row's result does not depend on the
 * batch it is in), in two passes, and added onto a residual, with
 * full-range codes, scales (-128 and 127) and activations.
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
#include "tensor/types.h"
#include "test_levels.h"
#include "test_util.h"

enum { QK = 256 };

static uint32_t next(uint64_t *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(*s >> 33);
}

/* ROWS Q6_K rows of N values: random codes and signed scales (every bit),
 * d of either sign. */
static mb_block_q6_k *rand_rows(int64_t n, int rows, uint64_t *rng) {
    const int64_t nb = n / QK;
    mb_block_q6_k *w = malloc(sizeof *w * (size_t)(nb * rows));
    for (int64_t i = 0; i < nb * rows; i++) {
        w[i].d = mb_fp32_to_fp16(((float)(next(rng) % 2000) - 1000.0f) * 1e-5f);
        for (int j = 0; j < 16; j++)
            w[i].scales[j] = (int8_t)next(rng);
        for (int j = 0; j < QK / 2; j++)
            w[i].ql[j] = (uint8_t)next(rng);
        for (int j = 0; j < QK / 4; j++)
            w[i].qh[j] = (uint8_t)next(rng);
    }
    return w;
}

/* N_ACT Q8_K rows of N values: codes over -128..127 and their bsums, as
 * the quantizer writes them. */
static mb_block_q8_k *rand_acts(int64_t n, int n_act, uint64_t *rng) {
    const int64_t nb = n / QK;
    mb_block_q8_k *a = malloc(sizeof *a * (size_t)(nb * n_act));
    for (int64_t i = 0; i < nb * n_act; i++) {
        a[i].d = ((float)(next(rng) % 1000) + 1.0f) * 1e-4f;
        for (int j = 0; j < QK; j++)
            a[i].qs[j] = (int8_t)(next(rng) & 0xFF);
    }
    return a;
}

static void fill_bsums(mb_block_q8_k *a, int64_t count) {
    for (int64_t i = 0; i < count; i++)
        for (int g = 0; g < QK / 16; g++) {
            int s = 0;
            for (int j = 0; j < 16; j++)
                s += a[i].qs[16 * g + j];
            a[i].bsums[g] = (int16_t)s;
        }
}

/* The code of value E of block X (mb_block_q6_k's layout), 0..63. */
static int code6(const mb_block_q6_k *x, int e) {
    const int h = e / 128, k = e % 128 / 32, l = e % 32;
    const int lo = x->ql[64 * h + l + 32 * (k & 1)] >> (k >= 2 ? 4 : 0) & 15;
    return lo | (x->qh[32 * h + l] >> (2 * k) & 3) << 4;
}

/* The sum of |each term| of row X's dot with activation row Y (the scale
 * of its rounding). */
static double magnitude(const mb_block_q6_k *x, const mb_block_q8_k *y, int64_t nb) {
    double mag = 0;
    for (int64_t b = 0; b < nb; b++)
        for (int e = 0; e < QK; e++)
            mag += fabs(mb_half_to_float(x[b].d) * x[b].scales[e / 16] * (code6(&x[b], e) - 32) *
                        (double)y[b].qs[e] * y[b].d);
    return mag;
}

static int differ(const float *a, const float *b, size_t n) {
    return memcmp(a, b, sizeof(float) * n) != 0;
}

static void check_case(const mb_kernel_table *t, const char *level, int64_t n, int n_groups,
                       int n_act, uint64_t *rng) {
    const int64_t nb = n / QK;
    const int rows = n_groups * MB_Q6_K_R16_ROWS;
    const size_t rb = (size_t)nb * sizeof(mb_block_q6_k);
    mb_block_q6_k *w = rand_rows(n, rows, rng);
    if (n_groups == 2) { /* the extremes in the first block of every row */
        for (int r = 0; r < rows; r++) {
            memset(w[(size_t)r * nb].ql, r % 2 ? 0xFF : 0x00, QK / 2); /* codes 63 or 0 */
            memset(w[(size_t)r * nb].qh, r % 2 ? 0xFF : 0x00, QK / 4);
            memset(w[(size_t)r * nb].scales, r % 4 < 2 ? 0x80 : 0x7F, 16); /* -128, 127 */
        }
    }
    mb_block_q8_k *a = rand_acts(n, n_act, rng);
    if (n_act > 1) {
        memset(a[0].qs, 0x80, QK); /* -128 */
        memset(a[nb].qs, 0x7F, QK);
    }
    fill_bsums(a, nb * n_act);
    uint8_t *packed = malloc(rb * (size_t)rows), *back = malloc(rb * (size_t)rows);
    for (int g = 0; g < n_groups; g++)
        mb_q6_k_r16_pack(n, packed + (size_t)g * 16 * rb, (const uint8_t *)w + (size_t)g * 16 * rb,
                         rb);
    for (int g = 0; g < n_groups; g++)
        mb_q6_k_r16_unpack(n, back + (size_t)g * 16 * rb, rb, packed + (size_t)g * 16 * rb);
    CHECK_MSG(!memcmp(back, w, rb * (size_t)rows), "n %lld: unpack(pack(rows)) differs",
              (long long)n);

    mb_q6_k_r16_act *prep = malloc(sizeof *prep * (size_t)(nb * n_act));
    for (int c = 0; c < n_act; c++)
        mb_q6_k_r16_prep(n, a + (size_t)c * nb, prep + (size_t)c * nb);
    const size_t os = (size_t)rows + 3; /* an output stride other than the row count */
    float *ref = malloc(sizeof(float) * os * (size_t)n_act);
    float *got = malloc(sizeof(float) * os * (size_t)n_act);
    const size_t gs = 16 * rb; /* bytes from one group to the next */
    mb_ref_q6_k_r16(n, ref, os, packed, gs, n_groups, prep, n_act, 0);
    t->q6_k_r16(n, got, os, packed, gs, n_groups, prep, n_act, 0);

    /* The reference against the ordinary dot; the level against the
     * reference, bit for bit; each activation row alone gives its bits in
     * the batch. */
    const mb_dot_traits *dt = mb_ref_dot_traits(MB_TYPE_Q6_K);
    double worst = 0;
    int bad = 0, alone_bad = 0;
    for (int c = 0; c < n_act; c++) {
        float solo[3 * MB_Q6_K_R16_ROWS];
        t->q6_k_r16(n, solo, 0, packed, gs, n_groups, prep + (size_t)c * nb, 1, 0);
        for (int r = 0; r < rows; r++) {
            float want;
            const mb_block_q6_k *x = w + (size_t)r * nb;
            dt->vec_dot(n, &want, x, a + (size_t)c * nb);
            const float rv = ref[(size_t)c * os + (size_t)r];
            const double err =
                fabs((double)rv - want) / (magnitude(x, a + (size_t)c * nb, nb) + 1e-30);
            if (err > worst) worst = err;
            bad += memcmp(&rv, &got[(size_t)c * os + (size_t)r], sizeof rv) != 0;
            alone_bad += memcmp(&rv, &solo[r], sizeof rv) != 0;
        }
    }
    /* Two passes (the first k blocks, then the rest added on) give the
     * bits of one; ADD onto a residual gives fmaf's chain from it. */
    if (nb > 1) {
        const int64_t k = nb / 2;
        mb_q6_k_r16_act *p1 = malloc(sizeof *p1 * (size_t)(k * n_act));
        mb_q6_k_r16_act *p2 = malloc(sizeof *p2 * (size_t)((nb - k) * n_act));
        for (int c = 0; c < n_act; c++) {
            memcpy(p1 + (size_t)c * k, prep + (size_t)c * nb, sizeof *p1 * (size_t)k);
            memcpy(p2 + (size_t)c * (nb - k), prep + (size_t)c * nb + k,
                   sizeof *p2 * (size_t)(nb - k));
        }
        float *two = malloc(sizeof(float) * os * (size_t)n_act);
        t->q6_k_r16(k * QK, two, os, packed, gs, n_groups, p1, n_act, 0);
        t->q6_k_r16((nb - k) * QK, two, os, packed + (size_t)k * MB_Q6_K_R16_BLOCK_BYTES, gs,
                    n_groups, p2, n_act, 1);
        int d = 0;
        for (int c = 0; c < n_act; c++)
            d += differ(two + (size_t)c * os, ref + (size_t)c * os, (size_t)rows);
        CHECK_MSG(!d, "%s n %lld groups %d acts %d: two passes differ from one", level,
                  (long long)n, n_groups, n_act);
        free(p1), free(p2), free(two);
    }
    float res[3 * MB_Q6_K_R16_ROWS], want_res[3 * MB_Q6_K_R16_ROWS];
    for (int r = 0; r < rows; r++)
        res[r] = want_res[r] = (float)r - 7.5f;
    t->q6_k_r16(n, res, 0, packed, gs, n_groups, prep, 1, 1);
    mb_ref_q6_k_r16(n, want_res, 0, packed, gs, n_groups, prep, 1, 1);
    CHECK_MSG(!differ(res, want_res, (size_t)rows), "%s n %lld: ADD onto a residual", level,
              (long long)n);
    CHECK_MSG(worst < 1e-5, "n %lld groups %d acts %d: reference vs Q6_K dot, relative error %g",
              (long long)n, n_groups, n_act, worst);
    CHECK_MSG(bad == 0, "%s n %lld groups %d acts %d: %d results differ from the reference", level,
              (long long)n, n_groups, n_act, bad);
    CHECK_MSG(alone_bad == 0, "%s n %lld groups %d acts %d: %d results differ alone", level,
              (long long)n, n_groups, n_act, alone_bad);
    free(w), free(a), free(packed), free(back), free(prep), free(ref), free(got);
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
    const mb_kernel_table *t = mbt_level_arg(argc, argv, &level);
    CHECK(t->q6_k_r16 != NULL);
    if (!strcmp(level, "ref"))
        CHECK(t->q6_k_r16 == mb_ref_q6_k_r16);
    else if (t->q6_k_r16 == mb_ref_q6_k_r16) /* AVX2, NEON: matrices keep the file's rows */
        mbt_skip("this level has no Q6_K 16-row product of its own (loading keeps the rows)");
    check_offsets();
    uint64_t rng = 7;
    const int64_t ns[] = {256, 512, 768, 2048, 5632};
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++)
        for (int g = 1; g <= 3; g++)
            for (int c = 1; c <= 5; c++)
                check_case(t, level, ns[i], g, c, &rng);
    printf("q6_k_r16 of level %s checked\n", level);
    return mbt_finish();
}
