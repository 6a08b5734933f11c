/* SQ4 in lanes (kernels/sq4_lanes.h): the layout's weight order is a
 * permutation and the two tables are each other's inverse; the codes sit
 * in the slots the layout says (register 3's reversed from slot 127);
 * converting a block and back gives its bytes (blocks of 0, 128 and
 * lopsided counts, full-range codes); a block with stray codes past its last non-zero comes
 * back with the same values; the level's conversion gives the scalar
 * one's bytes; the level's product of lanes rows equals the reference SQ4
 * dot of the file rows within 1e-5 of the sum of |products|, for 1-6
 * activation rows, rows longer than one pass of its prepared activation,
 * and ADD onto a residual; panels packed from lanes rows are the bytes of
 * panels packed from the file rows.
 *
 * usage: test_kernels_sq4_lanes [LEVEL]  (ref by default: the scalar
 * conversion only; a SIMD level without a lanes product, or one this CPU
 * lacks, is skipped, exit 77). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "kernels/sq4_lanes.h"
#include "tensor/blocks.h"
#include "tensor/fp16.h"
#include "tensor/types.h"
#include "test_levels.h"
#include "test_util.h"

static uint32_t next(uint64_t *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(*s >> 33);
}

/* A block keeping each weight with probability KEEP / 256 (at most 128 in
 * all), or, with KEEP < 0, quarters -KEEP % 4 and (-KEEP + 1) % 4 whole
 * (64 + 64: every non-zero in two quarters, the rest empty). Codes over
 * 0..15; past the last non-zero zeros, or random with STRAY. */
static void rand_block(mb_block_sq4 *b, int keep, int stray, uint64_t *rng) {
    memset(b, 0, sizeof *b);
    for (int q = 0; q < 4; q++)
        b->d[q] = mb_fp32_to_fp16(((float)(next(rng) % 2000) - 1000.0f) * 1e-5f);
    int k = 0;
    for (int j = 0; j < 256 && k < MB_SPARSE_CAP; j++) {
        const int q = j / 64;
        const int kept =
            keep < 0 ? (q == -keep % 4 || q == (-keep + 1) % 4) : (int)(next(rng) % 256) < keep;
        if (!kept) continue;
        b->mask[j / 8] |= (uint8_t)(1u << (j % 8));
        const uint8_t c = (uint8_t)(next(rng) % 16);
        if (k < 64)
            b->qs[k] |= c;
        else
            b->qs[k - 64] |= (uint8_t)(c << 4);
        k++;
    }
    if (stray)
        for (int s = k; s < MB_SPARSE_CAP; s++)
            b->qs[s % 64] |= (uint8_t)((next(rng) % 16) << (s < 64 ? 0 : 4));
}

/* Test blocks: each kind of density, then random ones. */
static mb_block_sq4 *test_blocks(int n, int stray, uint64_t *rng) {
    static const int kinds[] = {0, 256, -0, -1, -2, -3, 1, 128, 200, 16};
    mb_block_sq4 *b = malloc(sizeof *b * (size_t)n);
    for (int i = 0; i < n; i++) {
        const size_t nk = sizeof kinds / sizeof kinds[0];
        const int keep = i < (int)nk ? kinds[i] : (int)(next(rng) % 257);
        rand_block(&b[i], i == 2 ? -4 : keep, stray, rng);
    }
    return b;
}

static void check_tables(void) {
    const uint8_t *from = mb_sq4_lanes_from_file(), *to = mb_sq4_lanes_to_file();
    int seen[256] = {0}, inverse = 1;
    for (int p = 0; p < 256; p++) {
        seen[from[p]]++;
        inverse &= to[from[p]] == p;
        /* Lane l of a register holds quarter l % 4. */
        CHECK_MSG(from[p] / 64 == (p % 64 / 4) % 4, "position %d: weight %d, not quarter %d", p,
                  from[p], (p % 64 / 4) % 4);
    }
    for (int j = 0; j < 256; j++)
        CHECK_MSG(seen[j] == 1, "weight %d appears %d times", j, seen[j]);
    CHECK_MSG(inverse, "the tables are not each other's inverse");
}

/* The slots: the first kept weight of register 0 in slot 0, register 3's
 * in slot 127 (the high nibble of qs[63]), register 1's after register
 * 0's. */
static void check_slots(void) {
    const uint8_t *from = mb_sq4_lanes_from_file();
    mb_block_sq4 x, y;
    memset(&x, 0, sizeof x);
    const int w0 = from[5], w1 = from[64 + 7], w3 = from[192 + 1];
    const int kept[3] = {w0 < w1 ? w0 : w1, w0 < w1 ? w1 : w0, w3};
    int n = 0;
    for (int j = 0; j < 256; j++) /* file order: codes 9, 4, 5 by weight */
        for (int i = 0; i < 3; i++)
            if (kept[i] == j) {
                x.mask[j / 8] |= (uint8_t)(1u << (j % 8));
                const int c = j == w0 ? 9 : j == w1 ? 4 : 5;
                if (n < 64) x.qs[n] |= (uint8_t)c;
                n++;
            }
    mb_ref_sq4_convert(1, &y, &x, 1);
    CHECK_MSG((y.qs[0] & 15) == 9 && (y.qs[1] & 15) == 4 && y.qs[63] >> 4 == 5,
              "lanes slots: %d %d %d, not 9 4 5", y.qs[0] & 15, y.qs[1] & 15, y.qs[63] >> 4);
    CHECK(y.mask[0] == 1u << 5 && y.mask[8] == 1u << 7 && y.mask[24] == 1u << 1);
}

static void check_reorder(const mb_kernel_table *t, const char *level, uint64_t *rng) {
    enum { N = 64 };
    const mb_type_traits *tt = mb_type_get(MB_TYPE_SQ4);
    for (int stray = 0; stray < 2; stray++) {
        mb_block_sq4 *x = test_blocks(N, stray, rng), lanes[N], back[N], ref[N];
        mb_ref_sq4_convert(N, lanes, x, 1);
        mb_ref_sq4_convert(N, back, lanes, 0);
        float vx[256], vb[256];
        int same_bytes = 1, same_values = 1;
        for (int i = 0; i < N; i++) {
            same_bytes &= !memcmp(&back[i], &x[i], sizeof x[i]);
            tt->to_float(&x[i], vx, 256);
            tt->to_float(&back[i], vb, 256);
            same_values &= !memcmp(vx, vb, sizeof vx);
        }
        if (!stray) CHECK_MSG(same_bytes, "ref: file -> lanes -> file changes a block's bytes");
        CHECK_MSG(same_values, "ref (stray %d): file -> lanes -> file changes values", stray);
        if (t->sq4_convert) {
            t->sq4_convert(N, ref, x, 1);
            CHECK_MSG(!memcmp(ref, lanes, sizeof lanes), "%s (stray %d): to lanes differs from ref",
                      level, stray);
            memcpy(ref, lanes, sizeof ref);
            t->sq4_convert(N, ref, ref, 0); /* in place */
            CHECK_MSG(!memcmp(ref, back, sizeof back), "%s (stray %d): to file differs from ref",
                      level, stray);
        }
        free(x);
    }
}

/* The level's product of ROWS lanes rows of N values against N_ACT
 * activation rows, against the reference dot of the file rows. */
static void check_product(const mb_kernel_table *t, const char *level, int64_t n, int rows,
                          int n_act, uint64_t *rng) {
    const mb_kernel_table *ref = mb_kernels_ref();
    const mb_dot_traits *dt = &ref->dot[MB_TYPE_SQ4];
    const int64_t nb = n / 256;
    const size_t rb = (size_t)nb * sizeof(mb_block_sq4);
    mb_block_sq4 *w = test_blocks((int)(nb * rows), 0, rng);
    mb_block_sq4 *lw = malloc(rb * (size_t)rows);
    t->sq4_convert(nb * rows, lw, w, 1);
    uint64_t arb = 0;
    mb_type_row_bytes(dt->act_type, (uint64_t)n, &arb);
    float *x = malloc(sizeof(float) * (size_t)n);
    uint8_t *act = malloc((size_t)arb * (size_t)n_act);
    for (int c = 0; c < n_act; c++) {
        for (int64_t i = 0; i < n; i++)
            x[i] = ((float)(next(rng) % 20001) - 10000.0f) * 1e-4f;
        ref->act_quant[dt->act_type](x, act + (size_t)c * arb, n);
    }
    float *got = malloc(sizeof(float) * (size_t)(rows * n_act)), *res = malloc(sizeof *res * rows);
    t->sq4_lanes(n, got, (size_t)rows, lw, rb, rows, act, (size_t)arb, n_act, 0);
    float *wf = malloc(sizeof(float) * (size_t)n);
    double worst = 0;
    for (int r = 0; r < rows; r++) {
        mb_type_get(MB_TYPE_SQ4)->to_float((const uint8_t *)w + (size_t)r * rb, wf, n);
        for (int c = 0; c < n_act; c++) {
            const mb_block_q8_k *y = (const mb_block_q8_k *)(const void *)(act + (size_t)c * arb);
            double mag = 0;
            for (int64_t i = 0; i < n; i++)
                mag += fabs((double)wf[i] * y[i / 256].d * y[i / 256].qs[i % 256]);
            float want;
            dt->vec_dot(n, &want, (const uint8_t *)w + (size_t)r * rb, act + (size_t)c * arb);
            const double err = fabs((double)got[c * rows + r] - want) / (mag > 0 ? mag : 1);
            if (err > worst) worst = err;
        }
    }
    CHECK_MSG(worst < 1e-5, "%s n %lld rows %d acts %d: relative error %g", level, (long long)n,
              rows, n_act, worst);
    /* ADD: onto a residual, the first activation row. */
    for (int r = 0; r < rows; r++)
        res[r] = (float)r - 3.5f;
    t->sq4_lanes(n, res, (size_t)rows, lw, rb, rows, act, (size_t)arb, 1, 1);
    int add_bad = 0;
    for (int r = 0; r < rows; r++)
        add_bad += fabsf(res[r] - ((float)r - 3.5f + got[r])) > 1e-4f * (1.0f + fabsf(got[r]));
    CHECK_MSG(add_bad == 0, "%s n %lld: %d results of ADD are not residual + product", level,
              (long long)n, add_bad);
    free(w), free(lw), free(x), free(act), free(got), free(res), free(wf);
}

/* Panels from lanes rows against panels from the file rows. */
static void check_panels(const mb_kernel_table *t, const char *level, uint64_t *rng) {
    const mb_dot_traits *dt = &t->dot[MB_TYPE_SQ4];
    if (!dt->pack || !t->sq4_lanes_pack) {
        printf("%s: no SQ4 panels, panel check not run\n", level);
        return;
    }
    const int64_t n = 1024, nb = n / 256;
    const int rows = (int)dt->pack_rows - 3; /* a short panel: the rest stays zero */
    const size_t rb = (size_t)nb * sizeof(mb_block_sq4), pb = dt->pack_block_bytes * (size_t)nb;
    mb_block_sq4 *w = test_blocks((int)(nb * rows), 0, rng), *lw = malloc(rb * (size_t)rows);
    t->sq4_convert(nb * rows, lw, w, 1);
    uint8_t *p0 = aligned_alloc(64, pb), *p1 = aligned_alloc(64, pb);
    dt->pack(n, p0, w, rb, rows);
    t->sq4_lanes_pack(n, p1, lw, rb, rows);
    CHECK_MSG(!memcmp(p0, p1, pb), "%s: panels from lanes rows differ from the file rows'", level);
    free(w), free(lw), free(p0), free(p1);
}

int main(int argc, char **argv) {
    const char *level;
    const mb_kernel_table *t = mbt_level_arg(argc, argv, &level);
    uint64_t rng = 12345;
    check_tables();
    check_slots();
    check_reorder(t, level, &rng);
    if (!strcmp(level, "ref")) {
        CHECK(t->sq4_lanes == NULL); /* never reordered at ref */
        return mbt_finish();
    }
    if (!t->sq4_lanes) {
        char why[96];
        snprintf(why, sizeof why, "kernel level %s has no SQ4 lanes product", level);
        mbt_skip(why);
    }
    CHECK(t->sq4_convert != NULL);
    const int64_t ns[] = {256, 2048, 5632, 16384 + 768}; /* the last: two passes */
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++)
        for (int n_act = 1; n_act <= 6; n_act++)
            check_product(t, level, ns[i], n_act == 1 ? 37 : 5, n_act, &rng);
    check_panels(t, level, &rng);
    return mbt_finish();
}
