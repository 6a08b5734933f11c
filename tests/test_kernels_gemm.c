/* The register-blocked batch kernels (gemm_tile) of every level this CPU
 * runs, against the same level's single dot per pair: random sizes with
 * tails in the row length and in both block dimensions, results within
 * float rounding, and a pair's result independent of its place in the
 * tile. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/threadpool.h"
#include "kernels/kernels.h"
#include "kernels/matmul.h"
#include "tensor/blocks.h"
#include "tensor/types.h"
#include "test_levels.h"
#include "test_util.h"

static const uint32_t k_types[] = {MB_TYPE_F32, MB_TYPE_F16, MB_TYPE_BF16, MB_TYPE_Q4_0};

/* COUNT random values in TYPE's encoding, through the reference encoder
 * (F16 and BF16 weights share their activation rows' encoding; quantized
 * weights use their type's encoder). */
static void fill(uint32_t type, uint8_t *dst, int64_t count, uint64_t *rng) {
    float *x = malloc((size_t)count * sizeof(float));
    for (int64_t i = 0; i < count; i++)
        x[i] = mbt_rand_float(rng);
    if (mb_type_get(type)->is_quantized && !mb_ref_act_quant(type))
        mb_type_get(type)->from_float(x, dst, count);
    else
        mb_ref_act_quant(type)(x, dst, count);
    free(x);
}

static void check_level(const mb_kernel_table *k, uint32_t type, int64_t n, int n_w, int n_a,
                        uint64_t *rng) {
    const mb_dot_traits *dt = &k->dot[type];
    if (!dt->gemm_tile) return;
    uint64_t wrb = 0, arb = 0;
    mb_type_row_bytes(type, (uint64_t)n, &wrb);
    mb_type_row_bytes(dt->act_type, (uint64_t)n, &arb);
    /* Strides off the vector width (rows stay aligned to their fields). */
    const size_t es = mb_type_get(type)->block_size == 1 ? mb_type_get(type)->type_size : 2;
    const size_t ws = (size_t)wrb + 3 * es, as = (size_t)arb + 5 * es;
    uint8_t *w = calloc((size_t)n_w, ws), *a = calloc((size_t)n_a, as);
    for (int r = 0; r < n_w; r++)
        fill(type, w + (size_t)r * ws, n, rng);
    for (int r = 0; r < n_a; r++)
        fill(dt->act_type, a + (size_t)r * as, n, rng);
    const size_t os = (size_t)n_w + 3;
    float *got = malloc((size_t)n_a * os * sizeof(float));
    dt->gemm_tile(n, got, os, w, ws, n_w, a, as, n_a);
    double worst = 0;
    int same_alone = 1;
    for (int r = 0; r < n_a; r++) {
        for (int o = 0; o < n_w; o++) {
            float want = 0, alone = 0;
            dt->vec_dot(n, &want, w + (size_t)o * ws, a + (size_t)r * as);
            worst = fmax(worst, fabs((double)got[(size_t)r * os + o] - want) / sqrt((double)n));
            /* The same pair alone in a 1x1 tile gives the same bits. */
            dt->gemm_tile(n, &alone, 1, w + (size_t)o * ws, ws, 1, a + (size_t)r * as, as, 1);
            same_alone &= memcmp(&alone, &got[(size_t)r * os + o], sizeof alone) == 0;
        }
    }
    CHECK_MSG(worst < 1e-5, "%s type %u n=%lld %dx%d: differs from vec_dot by %g", k->name, type,
              (long long)n, n_w, n_a, worst);
    CHECK_MSG(same_alone, "%s type %u n=%lld %dx%d: a pair depends on its place", k->name, type,
              (long long)n, n_w, n_a);
    free(w);
    free(a);
    free(got);
}

/* Packed batches (pack + gemm_packed) against the same level's vec_dot:
 * N_W rows of a panel (the rest padding), N_A activation rows; within
 * float rounding, padding rows give 0, and a pair gives the same bits
 * alone (one activation row) as in the batch. Returns 1 if the level has
 * a packed kernel for TYPE. */
static int check_packed(const mb_kernel_table *k, uint32_t type, int64_t n, int n_w, int n_a,
                        uint64_t *rng) {
    const mb_dot_traits *dt = &k->dot[type];
    if (!dt->gemm_packed) return 0;
    uint64_t wrb = 0, arb = 0;
    mb_type_row_bytes(type, (uint64_t)n, &wrb);
    mb_type_row_bytes(dt->act_type, (uint64_t)n, &arb);
    const int pr = (int)dt->pack_rows;
    if (n_w > pr) n_w = pr;
    const size_t ws = (size_t)wrb + 6,
                 as = (size_t)arb + 12; /* off 64, still aligned to the fields */
    uint8_t *w = calloc((size_t)n_w, ws), *a = calloc((size_t)n_a, as);
    for (int r = 0; r < n_w; r++) {
        float *x = malloc((size_t)n * sizeof(float));
        /* Spread magnitudes so the scales and mins vary between rows. */
        const float amp = 0.1f + (float)r;
        for (int64_t i = 0; i < n; i++)
            x[i] = amp * mbt_rand_float(rng) + (r % 3 == 0 ? 0.3f * amp : 0.0f);
        mb_type_get(type)->from_float(x, w + (size_t)r * ws, n);
        free(x);
    }
    for (int r = 0; r < n_a; r++)
        fill(dt->act_type, a + (size_t)r * as, n, rng);
    const size_t panel_bytes =
        (size_t)dt->pack_block_bytes * (size_t)(n / (int64_t)mb_type_get(type)->block_size);
    uint8_t *panel = aligned_alloc(64, (panel_bytes + 63) / 64 * 64);
    dt->pack(n, panel, w, ws, n_w);
    const size_t os = (size_t)pr + 3;
    float *got = malloc((size_t)n_a * os * sizeof(float));
    dt->gemm_packed(n, got, os, panel, a, as, n_a, 0);
    /* ADD adds the same products onto what is there. */
    float *sum = malloc((size_t)n_a * os * sizeof(float));
    for (size_t i = 0; i < (size_t)n_a * os; i++)
        sum[i] = 1.0f;
    dt->gemm_packed(n, sum, os, panel, a, as, n_a, 1);
    int adds = 1;
    for (int r = 0; r < n_a; r++)
        for (int o = 0; o < pr; o++)
            adds &= sum[(size_t)r * os + o] == 1.0f + got[(size_t)r * os + o];
    CHECK_MSG(adds, "%s packed type %u: add differs from 1 + product", k->name, type);
    free(sum);
    double worst = 0;
    int same_alone = 1, pad_zero = 1;
    float *wf = malloc((size_t)n * sizeof(float)), *af = malloc((size_t)n * sizeof(float));
    for (int r = 0; r < n_a; r++) {
        float alone[64];
        dt->gemm_packed(n, alone, 0, panel, a + (size_t)r * as, as, 1, 0);
        for (int o = 0; o < pr; o++) {
            const float g = got[(size_t)r * os + o];
            same_alone &= memcmp(&alone[o], &g, sizeof g) == 0;
            if (o >= n_w) {
                pad_zero &= g == 0.0f;
                continue;
            }
            float want = 0;
            dt->vec_dot(n, &want, w + (size_t)o * ws, a + (size_t)r * as);
            /* Error relative to the sum of |products| (the scale of float
             * rounding in any summation order). */
            mb_type_get(type)->to_float(w + (size_t)o * ws, wf, n);
            mb_type_get(dt->act_type)->to_float(a + (size_t)r * as, af, n);
            double mag = 1e-6;
            for (int64_t i = 0; i < n; i++)
                mag += fabs((double)wf[i] * af[i]);
            worst = fmax(worst, fabs((double)g - want) / mag);
        }
    }
    CHECK_MSG(worst < 1e-6, "%s packed type %u n=%lld %dx%d: differs from vec_dot by %g", k->name,
              type, (long long)n, n_w, n_a, worst);
    CHECK_MSG(same_alone, "%s packed type %u n=%lld %dx%d: a pair depends on the batch", k->name,
              type, (long long)n, n_w, n_a);
    CHECK_MSG(pad_zero, "%s packed type %u: padding rows are not 0", k->name, type);
    free(w), free(a), free(panel), free(got), free(wf), free(af);
    return 1;
}

/* mb_matmul of a batch through the packed path (the best level's table)
 * against one vec_dot per pair: several panels with a tail, activation
 * tiles with a tail, accumulate, with and without a pool (per-task scratch
 * or a private buffer). */
static void check_matmul_packed(uint32_t type, int64_t n_in, mb_threadpool *pool, int n_threads,
                                uint64_t *rng) {
    const mb_dot_traits *dt = &mb_kernels()->dot[type];
    if (!dt->gemm_packed) return;
    /* Enough rows to take the packed path (F16 packs from 32). */
    const int64_t n_out = 37 + 16 * (n_threads > 1),
                  n_rows = dt->pack_min_rows > 16 ? dt->pack_min_rows + 5 : 21;
    uint64_t wrb = 0;
    mb_type_row_bytes(type, (uint64_t)n_in, &wrb);
    mb_matrix m = {NULL, type, n_in, n_out, (size_t)wrb, MB_LAYOUT_ROWS};
    uint8_t *w = malloc((size_t)wrb * (size_t)n_out);
    float *x = malloc(sizeof(float) * (size_t)(n_in * n_rows));
    for (int64_t o = 0; o < n_out; o++) {
        for (int64_t i = 0; i < n_in; i++)
            x[i] = (0.05f + 0.01f * (float)o) * mbt_rand_float(rng);
        mb_type_get(type)->from_float(x, w + (size_t)o * wrb, n_in);
    }
    m.data = w;
    for (int64_t k = 0; k < n_in * n_rows; k++)
        x[k] = mbt_rand_float(rng);
    mb_act act = {0};
    act.data = malloc(mb_act_bytes(type, n_in, n_rows));
    mb_act_prepare(&act, type, x, n_in, n_rows);
    float *out = malloc(sizeof(float) * (size_t)(n_out * n_rows));
    for (int64_t k = 0; k < n_out * n_rows; k++)
        out[k] = 0.5f;
    mb_matmul(pool, n_threads, &m, &act, out, n_out, 1);
    /* Error relative to the sum of |products| (the scale of float rounding
     * in any summation order: rows of 30000 values and more drift 2-7e-5
     * from the single dot relative to the result). */
    double worst = 0;
    float *wf = malloc(sizeof(float) * (size_t)n_in), *af = malloc(sizeof(float) * (size_t)n_in);
    for (int64_t o = 0; o < n_out; o++) {
        mb_type_get(type)->to_float(w + (size_t)o * wrb, wf, n_in);
        for (int64_t r = 0; r < n_rows; r++) {
            const uint8_t *ar = act.data + (size_t)r * act.row_bytes;
            float want = 0;
            dt->vec_dot(n_in, &want, w + (size_t)o * wrb, ar);
            mb_type_get(dt->act_type)->to_float(ar, af, n_in);
            double mag = 1.0;
            for (int64_t i = 0; i < n_in; i++)
                mag += fabs((double)wf[i] * af[i]);
            worst = fmax(worst, fabs((double)out[r * n_out + o] - (want + 0.5)) / mag);
        }
    }
    CHECK_MSG(worst < 1e-6, "matmul packed %s, %lld values, %d threads: differs from vec_dot by %g",
              mb_type_name(type), (long long)n_in, n_threads, worst);
    free(w), free(x), free(act.data), free(out), free(wf), free(af);
}

int main(int argc, char **argv) {
    /* The reference (its gemm-less path) and the SIMD levels (test_levels.h). */
    const mb_kernel_table *names[1 + MBT_N_SIMD_LEVELS] = {mb_kernels_ref()};
    const int n_names = 1 + mbt_simd_levels(argc, argv, names + 1);
    uint64_t rng = 7;
    int tested = 0;
    for (int l = 0; l < n_names; l++) {
        const mb_kernel_table *k = names[l];
        for (size_t t = 0; t < sizeof k_types / sizeof k_types[0]; t++) {
            if (k->dot[k_types[t]].gemm_tile) tested++;
            const int64_t lens[] = {1, 15, 16, 17, 64, 100, 333, 1024};
            /* Block types: 1 to 7 blocks (every tail after groups of four)
             * and a long row. */
            const int64_t blens[] = {32, 64, 96, 128, 160, 192, 224, 2048 + 96};
            const int64_t bs = mb_type_get(k_types[t])->block_size;
            for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++)
                for (int nw = 1; nw <= 9; nw += 1 + (int)(i % 2))
                    for (int na = 1; na <= 9; na += 2)
                        check_level(k, k_types[t], bs == 1 ? lens[i] : blens[i], nw, na, &rng);
        }
    }
    printf("%d level/type pairs have a gemm kernel\n", tested);
    const uint32_t kq[] = {MB_TYPE_Q4_K, MB_TYPE_Q5_K,   MB_TYPE_Q6_K, MB_TYPE_Q4_0,
                           MB_TYPE_Q8_0, MB_TYPE_Q3_K,   MB_TYPE_Q2_K, MB_TYPE_SQ4,
                           MB_TYPE_SQ8,  MB_TYPE_SQ4_24, MB_TYPE_F16};
    int packed = 0;
    for (int l = 0; l < n_names; l++) {
        const mb_kernel_table *k = names[l];
        for (size_t t = 0; t < sizeof kq / sizeof kq[0]; t++) {
            /* One, an odd number and many blocks; F16 (blocks of one
             * value) a row shorter than a vector, one that ends inside
             * one, and one longer than its activation chunk. */
            const int64_t bs = mb_type_get(kq[t])->block_size;
            const int64_t lens[] = {bs == 1 ? 5 : bs, bs == 1 ? 333 : 3 * bs,
                                    bs == 1 ? 1000 : 25 * bs};
            const int na[] = {1, 3, 4, 7, 8, 9, 17};
            for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++)
                for (int nw = 1; nw <= 48; nw += nw < 16 ? 5 : 16)
                    for (size_t j = 0; j < sizeof na / sizeof na[0]; j++)
                        packed |= check_packed(k, kq[t], lens[i], nw, na[j], &rng) << t;
        }
    }
    /* The pool only where the chosen level packs: scripts/test-arm64's
     * fake sysfs root makes thread creation hang under qemu-user (a plain
     * pthread_create test program hangs there too). */
    if (packed) {
        mb_threadpool *pool = NULL;
        CHECK_OK(mb_threadpool_new(2, &pool));
        for (size_t t = 0; t < sizeof kq / sizeof kq[0]; t++) {
            check_matmul_packed(kq[t], 768, NULL, 1, &rng);
            check_matmul_packed(kq[t], 768, pool, 2, &rng);
            /* Panels past matmul's slice threshold (512 KB) are applied
             * in slices of values: rows a few blocks past it. */
            const mb_dot_traits *dt = &mb_kernels()->dot[kq[t]];
            if (dt->gemm_packed) {
                const int64_t bs = mb_type_get(kq[t])->block_size;
                const int64_t long_row = (512 * 1024 / dt->pack_block_bytes + 3) * bs;
                check_matmul_packed(kq[t], long_row, pool, 2, &rng);
            }
        }
        mb_threadpool_free(pool);
    }
    printf("packed kernels:");
    for (size_t t = 0; t < sizeof kq / sizeof kq[0]; t++)
        printf(" %s %s", mb_type_name(kq[t]), packed >> t & 1 ? "yes" : "no");
    printf("\n");
    /* No level here has a multi-row kernel (NEON has none): nothing ran. */
    if (tested == 0 && packed == 0)
        mbt_skip("no kernel level of this CPU has a gemm or packed kernel to test");
    return mbt_finish();
}
