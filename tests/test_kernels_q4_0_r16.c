/* Q4_0 in 16-row groups (kernels/q4_0_r16.h): packing is lossless (unpack
 * gives the rows back byte for byte); the reference product equals the
 * ordinary Q4_0 dot of the same rows within float rounding; the level's
 * product gives the reference's bits for every group count, row length and
 * number of activation rows (so a row's result does not depend on the
 * batch it is in), with full-range codes and activations.
 *
 * usage: test_kernels_q4_0_r16 [LEVEL]  (ref by default; a SIMD level:
 * skipped, exit 77, where this CPU or build lacks the level). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "kernels/q4_0_r16.h"
#include "tensor/blocks.h"
#include "tensor/fp16.h"
#include "tensor/types.h"
#include "test_levels.h"
#include "test_util.h"

static uint32_t next(uint64_t *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(*s >> 33);
}

/* ROWS Q4_0 rows of N values: random codes and scales (some negative). */
static mb_block_q4_0 *rand_rows(int64_t n, int rows, uint64_t *rng) {
    const int64_t nb = n / 32;
    mb_block_q4_0 *w = malloc(sizeof *w * (size_t)(nb * rows));
    for (int64_t i = 0; i < nb * rows; i++) {
        w[i].d = mb_fp32_to_fp16(((float)(next(rng) % 2000) - 1000.0f) * 1e-5f);
        for (int j = 0; j < 16; j++)
            w[i].qs[j] = (uint8_t)next(rng);
    }
    return w;
}

/* N_ACT Q8_0 rows of N values: codes over the whole -128..127. */
static mb_block_q8_0 *rand_acts(int64_t n, int n_act, uint64_t *rng) {
    const int64_t nb = n / 32;
    mb_block_q8_0 *a = malloc(sizeof *a * (size_t)(nb * n_act));
    for (int64_t i = 0; i < nb * n_act; i++) {
        a[i].d = mb_fp32_to_fp16(((float)(next(rng) % 1000) + 1.0f) * 1e-4f);
        for (int j = 0; j < 32; j++)
            a[i].qs[j] = (int8_t)(next(rng) & 0xFF);
    }
    /* The extremes in the first block: all codes 15 against -128 and 127. */
    return a;
}

static void check_case(const mb_kernel_table *t, const char *level, int64_t n, int n_groups,
                       int n_act, uint64_t *rng) {
    const int64_t nb = n / 32;
    const int rows = n_groups * MB_Q4_0_R16_ROWS;
    const size_t rb = (size_t)nb * sizeof(mb_block_q4_0);
    mb_block_q4_0 *w = rand_rows(n, rows, rng);
    if (n_groups == 2) { /* full-range codes in one block of every row */
        for (int r = 0; r < rows; r++)
            memset(w[(size_t)r * nb].qs, r % 2 ? 0xFF : 0x00, 16);
    }
    mb_block_q8_0 *a = rand_acts(n, n_act, rng);
    if (n_act > 1) {
        memset(a[0].qs, 0x80, 32); /* -128 */
        memset(a[nb].qs, 0x7F, 32);
    }
    uint8_t *packed = malloc(rb * (size_t)rows), *back = malloc(rb * (size_t)rows);
    for (int g = 0; g < n_groups; g++)
        mb_q4_0_r16_pack(n, packed + (size_t)g * 16 * rb, (const uint8_t *)w + (size_t)g * 16 * rb,
                         rb);
    for (int g = 0; g < n_groups; g++)
        mb_q4_0_r16_unpack(n, back + (size_t)g * 16 * rb, rb, packed + (size_t)g * 16 * rb);
    CHECK_MSG(!memcmp(back, w, rb * (size_t)rows), "n %lld: unpack(pack(rows)) differs",
              (long long)n);

    mb_q4_0_r16_act *prep = malloc(sizeof *prep * (size_t)(nb * n_act));
    for (int c = 0; c < n_act; c++)
        mb_q4_0_r16_prep(n, a + (size_t)c * nb, prep + (size_t)c * nb);
    const size_t os = (size_t)rows + 3; /* an output stride other than the row count */
    float *ref = malloc(sizeof(float) * os * (size_t)n_act);
    float *got = malloc(sizeof(float) * os * (size_t)n_act);
    const size_t gs = 16 * rb; /* bytes from one group to the next */
    mb_ref_q4_0_r16(n, ref, os, packed, gs, n_groups, prep, n_act, 0);
    t->q4_0_r16(n, got, os, packed, gs, n_groups, prep, n_act, 0);

    /* The reference against the ordinary dot; the level against the
     * reference, bit for bit; each activation row alone gives its bits in
     * the batch. */
    const mb_dot_traits *dt = mb_ref_dot_traits(MB_TYPE_Q4_0);
    double worst = 0;
    int bad = 0, alone_bad = 0;
    for (int c = 0; c < n_act; c++) {
        float solo[3 * MB_Q4_0_R16_ROWS];
        t->q4_0_r16(n, solo, 0, packed, gs, n_groups, prep + (size_t)c * nb, 1, 0);
        for (int r = 0; r < rows; r++) {
            float want;
            dt->vec_dot(n, &want, (const uint8_t *)w + (size_t)r * rb, a + (size_t)c * nb);
            double mag = 0;
            for (int64_t b = 0; b < nb; b++) {
                const mb_block_q4_0 *x = &w[(size_t)r * nb + b];
                const mb_block_q8_0 *y = &a[(size_t)c * nb + b];
                for (int j = 0; j < 32; j++) {
                    const int q = j < 16 ? x->qs[j] & 15 : x->qs[j - 16] >> 4;
                    mag += fabs((double)(q - 8) * y->qs[j] * mb_half_to_float(x->d) *
                                mb_half_to_float(y->d));
                }
            }
            const float rv = ref[(size_t)c * os + (size_t)r];
            const double err = fabs((double)rv - want) / (mag + 1e-30);
            if (err > worst) worst = err;
            bad += memcmp(&rv, &got[(size_t)c * os + (size_t)r], sizeof rv) != 0;
            alone_bad += memcmp(&rv, &solo[r], sizeof rv) != 0;
        }
    }
    /* Two passes (the first k blocks, then the rest added on) give the
     * bits of one; ADD onto a residual gives fmaf's chain from it. */
    if (nb > 1) {
        const int64_t k = nb / 2 + 1 > nb - 1 ? nb - 1 : nb / 2 + 1;
        mb_q4_0_r16_act *p1 = malloc(sizeof *p1 * (size_t)(k * n_act));
        mb_q4_0_r16_act *p2 = malloc(sizeof *p2 * (size_t)((nb - k) * n_act));
        for (int c = 0; c < n_act; c++) {
            memcpy(p1 + (size_t)c * k, prep + (size_t)c * nb, sizeof *p1 * (size_t)k);
            memcpy(p2 + (size_t)c * (nb - k), prep + (size_t)c * nb + k,
                   sizeof *p2 * (size_t)(nb - k));
        }
        float *two = malloc(sizeof(float) * os * (size_t)n_act);
        t->q4_0_r16(k * 32, two, os, packed, gs, n_groups, p1, n_act, 0);
        t->q4_0_r16((nb - k) * 32, two, os, packed + (size_t)k * MB_Q4_0_R16_BLOCK_BYTES, gs,
                    n_groups, p2, n_act, 1);
        int differ = 0;
        for (int c = 0; c < n_act; c++)
            differ += memcmp(two + (size_t)c * os, ref + (size_t)c * os, sizeof(float) * rows) != 0;
        CHECK_MSG(!differ, "%s n %lld groups %d acts %d: two passes differ from one", level,
                  (long long)n, n_groups, n_act);
        free(p1), free(p2), free(two);
    }
    float res[3 * MB_Q4_0_R16_ROWS], want_res[3 * MB_Q4_0_R16_ROWS];
    for (int r = 0; r < rows; r++)
        res[r] = want_res[r] = (float)r - 7.5f;
    t->q4_0_r16(n, res, 0, packed, gs, n_groups, prep, 1, 1);
    mb_ref_q4_0_r16(n, want_res, 0, packed, gs, n_groups, prep, 1, 1);
    CHECK_MSG(!memcmp(res, want_res, sizeof(float) * rows), "%s n %lld: ADD onto a residual", level,
              (long long)n);
    CHECK_MSG(worst < 1e-5, "n %lld groups %d acts %d: reference vs Q4_0 dot, relative error %g",
              (long long)n, n_groups, n_act, worst);
    CHECK_MSG(bad == 0, "%s n %lld groups %d acts %d: %d results differ from the reference", level,
              (long long)n, n_groups, n_act, bad);
    CHECK_MSG(alone_bad == 0, "%s n %lld groups %d acts %d: %d results differ alone", level,
              (long long)n, n_groups, n_act, alone_bad);
    free(w), free(a), free(packed), free(back), free(prep), free(ref), free(got);
}

int main(int argc, char **argv) {
    const char *level;
    const mb_kernel_table *t = mbt_level_arg(argc, argv, &level);
    CHECK(t->q4_0_r16 != NULL);
    if (!strcmp(level, "ref")) CHECK(t->q4_0_r16 == mb_ref_q4_0_r16);
    uint64_t rng = 5;
    const int64_t ns[] = {32, 64, 96, 288, 2048};
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++)
        for (int g = 1; g <= 3; g++)
            for (int c = 1; c <= 6; c++)
                check_case(t, level, ns[i], g, c, &rng);
    printf("q4_0_r16 of level %s checked\n", level);
    return mbt_finish();
}
