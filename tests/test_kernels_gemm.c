/* The register-blocked batch kernels (gemm_tile) of every level this CPU
 * runs, against the same level's single dot per pair: random sizes with
 * tails in the row length and in both block dimensions, results within
 * float rounding, and a pair's result independent of its place in the
 * tile. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "tensor/types.h"
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

int main(void) {
    const char *names[] = {"ref", "avx2", "avx512", "neon", "neon-dotprod"};
    uint64_t rng = 7;
    int tested = 0;
    for (size_t l = 0; l < sizeof names / sizeof names[0]; l++) {
        const mb_kernel_table *k = mb_kernels_level(names[l]);
        if (!k) continue;
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
    return mbt_finish();
}
