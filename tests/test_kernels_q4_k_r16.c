/* Q4_K in 16-row groups (kernels/q4_k_r16.h): packing is lossless (unpack
 * gives the rows back byte for byte; the level's r16_gather, which reads
 * the K-quants' groups back, equals the reference's); the reference product equals the
 * ordinary Q4_K dot of the same rows within float rounding; the level's
 * product gives the reference's bits for every group count, row length and
 * number of activation rows (so a row's result does not depend on the
 * batch it is in), in two passes, and added onto a residual, with
 * full-range codes, scales, mins and activations.
 *
 * usage: test_kernels_q4_k_r16 [LEVEL]  (ref by default; a SIMD level:
 * skipped, exit 77, where this CPU or build lacks the level or the level
 * has no product of its own: the x86 levels have one). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "kernels/q4_k_r16.h"
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

/* ROWS Q4_K rows of N values: random codes, 6-bit scales and mins (every
 * bit of the 12 bytes), d and dmin of either sign. */
static mb_block_q4_k *rand_rows(int64_t n, int rows, uint64_t *rng) {
    const int64_t nb = n / QK;
    mb_block_q4_k *w = malloc(sizeof *w * (size_t)(nb * rows));
    for (int64_t i = 0; i < nb * rows; i++) {
        w[i].d = mb_fp32_to_fp16(((float)(next(rng) % 2000) - 1000.0f) * 1e-5f);
        w[i].dmin = mb_fp32_to_fp16(((float)(next(rng) % 2000) - 1000.0f) * 1e-5f);
        for (int j = 0; j < 12; j++)
            w[i].scales[j] = (uint8_t)next(rng);
        for (int j = 0; j < QK / 2; j++)
            w[i].qs[j] = (uint8_t)next(rng);
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

/* The sum of |each term| of row R's dot with activation row Y (the scale
 * of its rounding). */
static double magnitude(const mb_block_q4_k *x, const mb_block_q8_k *y, int64_t nb) {
    double mag = 0;
    for (int64_t b = 0; b < nb; b++) {
        const double d = mb_half_to_float(x[b].d), dm = mb_half_to_float(x[b].dmin);
        for (int s = 0; s < 8; s++) {
            uint8_t sc, m;
            mb_k4_scale_min(s, x[b].scales, &sc, &m);
            for (int l = 0; l < 32; l++) {
                const int q = (x[b].qs[32 * (s / 2) + l] >> (4 * (s % 2))) & 15;
                mag +=
                    (fabs(d * sc * q) + fabs(dm * m)) * fabs((double)y[b].qs[32 * s + l]) * y[b].d;
            }
        }
    }
    return mag;
}

static int differ(const float *a, const float *b, size_t n) {
    return memcmp(a, b, sizeof(float) * n) != 0;
}

static void check_case(const mb_kernel_table *t, const char *level, int64_t n, int n_groups,
                       int n_act, uint64_t *rng) {
    const int64_t nb = n / QK;
    const int rows = n_groups * MB_Q4_K_R16_ROWS;
    const size_t rb = (size_t)nb * sizeof(mb_block_q4_k);
    mb_block_q4_k *w = rand_rows(n, rows, rng);
    if (n_groups == 2) { /* the extremes in the first block of every row */
        for (int r = 0; r < rows; r++) {
            memset(w[(size_t)r * nb].qs, r % 2 ? 0xFF : 0x00, QK / 2);
            memset(w[(size_t)r * nb].scales, 0xFF, 12); /* scales and mins 63 */
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
        mb_q4_k_r16_pack(n, packed + (size_t)g * 16 * rb, (const uint8_t *)w + (size_t)g * 16 * rb,
                         rb);
    for (int g = 0; g < n_groups; g++)
        mb_q4_k_r16_unpack(n, back + (size_t)g * 16 * rb, rb, packed + (size_t)g * 16 * rb);
    CHECK_MSG(!memcmp(back, w, rb * (size_t)rows), "n %lld: unpack(pack(rows)) differs",
              (long long)n);

    mb_q4_k_r16_act *prep = malloc(sizeof *prep * (size_t)(nb * n_act));
    for (int c = 0; c < n_act; c++)
        mb_q4_k_r16_prep(n, a + (size_t)c * nb, prep + (size_t)c * nb);
    const size_t os = (size_t)rows + 3; /* an output stride other than the row count */
    float *ref = malloc(sizeof(float) * os * (size_t)n_act);
    float *got = malloc(sizeof(float) * os * (size_t)n_act);
    const size_t gs = 16 * rb; /* bytes from one group to the next */
    mb_ref_q4_k_r16(n, ref, os, packed, gs, n_groups, prep, n_act, 0);
    t->q4_k_r16(n, got, os, packed, gs, n_groups, prep, n_act, 0);

    /* The reference against the ordinary dot; the level against the
     * reference, bit for bit; each activation row alone gives its bits in
     * the batch. */
    const mb_dot_traits *dt = mb_ref_dot_traits(MB_TYPE_Q4_K);
    double worst = 0;
    int bad = 0, alone_bad = 0;
    for (int c = 0; c < n_act; c++) {
        float solo[3 * MB_Q4_K_R16_ROWS];
        t->q4_k_r16(n, solo, 0, packed, gs, n_groups, prep + (size_t)c * nb, 1, 0);
        for (int r = 0; r < rows; r++) {
            float want;
            const mb_block_q4_k *x = w + (size_t)r * nb;
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
        mb_q4_k_r16_act *p1 = malloc(sizeof *p1 * (size_t)(k * n_act));
        mb_q4_k_r16_act *p2 = malloc(sizeof *p2 * (size_t)((nb - k) * n_act));
        for (int c = 0; c < n_act; c++) {
            memcpy(p1 + (size_t)c * k, prep + (size_t)c * nb, sizeof *p1 * (size_t)k);
            memcpy(p2 + (size_t)c * (nb - k), prep + (size_t)c * nb + k,
                   sizeof *p2 * (size_t)(nb - k));
        }
        float *two = malloc(sizeof(float) * os * (size_t)n_act);
        t->q4_k_r16(k * QK, two, os, packed, gs, n_groups, p1, n_act, 0);
        t->q4_k_r16((nb - k) * QK, two, os, packed + (size_t)k * MB_Q4_K_R16_BLOCK_BYTES, gs,
                    n_groups, p2, n_act, 1);
        int d = 0;
        for (int c = 0; c < n_act; c++)
            d += differ(two + (size_t)c * os, ref + (size_t)c * os, (size_t)rows);
        CHECK_MSG(!d, "%s n %lld groups %d acts %d: two passes differ from one", level,
                  (long long)n, n_groups, n_act);
        free(p1), free(p2), free(two);
    }
    float res[3 * MB_Q4_K_R16_ROWS], want_res[3 * MB_Q4_K_R16_ROWS];
    for (int r = 0; r < rows; r++)
        res[r] = want_res[r] = (float)r - 7.5f;
    t->q4_k_r16(n, res, 0, packed, gs, n_groups, prep, 1, 1);
    mb_ref_q4_k_r16(n, want_res, 0, packed, gs, n_groups, prep, 1, 1);
    CHECK_MSG(!differ(res, want_res, (size_t)rows), "%s n %lld: ADD onto a residual", level,
              (long long)n);
    CHECK_MSG(worst < 1e-5, "n %lld groups %d acts %d: reference vs Q4_K dot, relative error %g",
              (long long)n, n_groups, n_act, worst);
    CHECK_MSG(bad == 0, "%s n %lld groups %d acts %d: %d results differ from the reference", level,
              (long long)n, n_groups, n_act, bad);
    CHECK_MSG(alone_bad == 0, "%s n %lld groups %d acts %d: %d results differ alone", level,
              (long long)n, n_groups, n_act, alone_bad);
    free(w), free(a), free(packed), free(back), free(prep), free(ref), free(got);
}

/* The layout's byte positions, by hand: row 5 of block 1, its d, dmin,
 * scales[9] and qs[77] (= 32 * 2 + 4 * 3 + 1: chunk 4 * 3 + 2, byte 1 of
 * the row's lane). */
static void check_offsets(void) {
    const int64_t n = 2 * QK;
    const size_t rb = 2 * sizeof(mb_block_q4_k);
    uint8_t *rows = calloc(16, rb), *grp = malloc(16 * rb);
    mb_block_q4_k *x = (mb_block_q4_k *)(void *)(rows + 5 * rb) + 1;
    x->d = 0x1234;
    x->dmin = 0x5678;
    x->scales[9] = 0x9A;
    x->qs[77] = 0xBC;
    mb_q4_k_r16_pack(n, grp, rows, rb);
    const uint8_t *p = grp + MB_Q4_K_R16_BLOCK_BYTES;
    CHECK(p[10] == 0x34 && p[11] == 0x12);
    CHECK(p[32 + 10] == 0x78 && p[32 + 11] == 0x56);
    CHECK(p[MB_Q4_K_R16_SCALES + 64 * 2 + 4 * 5 + 1] == 0x9A);
    CHECK(p[MB_Q4_K_R16_CODES + 64 * 14 + 4 * 5 + 1] == 0xBC);
    free(rows), free(grp);
}

/* The level's r16_gather (groups back to rows, r16_gather.h) against the
 * reference: both halves and the whole group, chunk strides of Q4_K's and
 * Q6_K's groups, rows farther apart than 32 bytes, bytes around the runs
 * untouched. */
static void check_gather(const mb_kernel_table *t, const char *level) {
    const size_t strides[] = {256, 192}, row_bytes = 210;
    const int spans[][2] = {{0, 16}, {0, 8}, {8, 8}};
    uint8_t chunks[8 * 256];
    uint64_t rng = 11;
    for (size_t i = 0; i < sizeof chunks; i++)
        chunks[i] = (uint8_t)next(&rng);
    for (size_t s = 0; s < 2; s++)
        for (int k = 0; k < 3; k++) {
            uint8_t want[16 * 210], got[16 * 210];
            memset(want, 0xA5, sizeof want);
            memset(got, 0xA5, sizeof got);
            mb_ref_r16_gather(chunks, strides[s], want + 7, row_bytes, spans[k][0], spans[k][1]);
            t->r16_gather(chunks, strides[s], got + 7, row_bytes, spans[k][0], spans[k][1]);
            CHECK_MSG(!memcmp(want, got, sizeof want), "%s r16_gather, stride %zu, rows %d+%d",
                      level, strides[s], spans[k][0], spans[k][1]);
        }
}

int main(int argc, char **argv) {
    const char *level;
    const mb_kernel_table *t = mbt_level_arg(argc, argv, &level);
    CHECK(t->q4_k_r16 != NULL && t->r16_gather != NULL);
    check_gather(t, level);
    if (!strcmp(level, "ref"))
        CHECK(t->q4_k_r16 == mb_ref_q4_k_r16);
    else if (t->q4_k_r16 == mb_ref_q4_k_r16) /* NEON: matrices keep the file's rows */
        mbt_skip("this level has no Q4_K 16-row product of its own (loading keeps the rows)");
    check_offsets();
    uint64_t rng = 7;
    const int64_t ns[] = {256, 512, 768, 2048, 5632};
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++)
        for (int g = 1; g <= 3; g++)
            for (int c = 1; c <= 5; c++)
                check_case(t, level, ns[i], g, c, &rng);
    printf("q4_k_r16 of level %s checked\n", level);
    return mbt_finish();
}
