/* The SIMD kernel levels against the reference, for every level this CPU
 * runs (or the one named: usage in test_levels.h): activation encoders byte
 * for byte, quantized dots exactly where the arithmetic is exact (unit
 * scales) and within float rounding otherwise, multi-row and weight-rows
 * dots bit for bit equal to single dots, and mb_matmul's batched path equal to its per-row
 * one; the avx512 level's 8-bit kernels (no VNNI) give the same bits as
 * avx512-vnni's. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu.h"
#include "kernels/kernels.h"
#include "kernels/matmul.h"
#include "tensor/blocks.h"
#include "tensor/types.h"
#include "test_levels.h"
#include "test_util.h"

static const uint32_t k_weights[] = {MB_TYPE_F32,  MB_TYPE_F16,  MB_TYPE_BF16, MB_TYPE_Q8_0,
                                     MB_TYPE_Q4_0, MB_TYPE_Q4_K, MB_TYPE_Q5_K, MB_TYPE_Q6_K,
                                     MB_TYPE_Q4_1, MB_TYPE_Q3_K, MB_TYPE_Q2_K};
#define N_WEIGHTS (sizeof k_weights / sizeof k_weights[0])
static const uint32_t k_acts[] = {MB_TYPE_Q8_0, MB_TYPE_Q8_K, MB_TYPE_F16, MB_TYPE_BF16};

static const mb_kernel_table *levels[MBT_N_SIMD_LEVELS];
static int n_levels;

static size_t row_bytes(uint32_t type, int64_t n) {
    uint64_t b = 0;
    mb_type_row_bytes(type, (uint64_t)n, &b);
    return (size_t)b;
}

/* ---- activation encoders --------------------------------------------- */

/* Inputs that probe the rounding and scale choices: plain random values,
 * huge and tiny scales, exact rounding ties (a block whose max is 127 has
 * d = 1 for Q8_0 and iscale = 1 for Q8_K, so k + 0.5 is a tie), max
 * magnitudes of both signs, all-zero blocks, subnormals, NaN and infinity. */
static void fill_act_input(float *x, int64_t n, int kind, uint64_t *rng) {
    for (int64_t i = 0; i < n; i++) {
        const float r = mbt_rand_float(rng);
        switch (kind) {
        case 0: x[i] = r; break;
        case 1: x[i] = r * 1e30f; break;
        case 2: x[i] = r * 1e-30f; break;
        case 3: x[i] = (float)((int)(r * 127)) + ((i & 1) ? 0.5f : -0.5f); break;
        case 4: x[i] = (i % 37 == 0) ? 0.0f : r * 0x1p-130f; break; /* subnormals */
        default: x[i] = r * 3e38f; break;
        }
    }
    if (kind == 3) {
        for (int64_t b = 0; b + 32 <= n; b += 32)
            x[b + 5] = (b / 32) % 2 ? 127.0f : -127.0f;
        /* Equal magnitudes of both signs: the first one's sign sets Q8_K's scale. */
        if (n >= 256) x[3] = 127.0f, x[200] = -127.0f;
    }
    if (kind == 0 && n >= 96) {
        memset(x + 32, 0, 32 * sizeof(float)); /* one all-zero Q8_0 block */
        x[70] = NAN, x[71] = INFINITY, x[72] = -INFINITY;
    }
}

static void test_act_quant_identical(void) {
    uint64_t rng = 99;
    const int64_t lens[] = {256, 512, 1280, 37, 8};
    for (int l = 0; l < n_levels; l++) {
        for (size_t t = 0; t < sizeof k_acts / sizeof k_acts[0]; t++) {
            const uint32_t at = k_acts[t];
            for (size_t k = 0; k < sizeof lens / sizeof lens[0]; k++) {
                const int64_t n = lens[k];
                if (n % mb_type_get(at)->block_size) continue;
                for (int kind = 0; kind < 6; kind++) {
                    float *x = malloc((size_t)n * sizeof(float));
                    const size_t bytes = row_bytes(at, n);
                    uint8_t *want = malloc(bytes), *got = malloc(bytes);
                    fill_act_input(x, n, kind, &rng);
                    memset(want, 0xAA, bytes);
                    memset(got, 0x55, bytes);
                    mb_kernels_ref()->act_quant[at](x, want, n);
                    levels[l]->act_quant[at](x, got, n);
                    CHECK_MSG(memcmp(want, got, bytes) == 0, "%s act %s n=%lld kind %d differs",
                              levels[l]->name, mb_type_name(at), (long long)n, kind);
                    free(x), free(want), free(got);
                }
            }
        }
    }
}

/* ---- dots -------------------------------------------------------------- */

/* Weights: every code byte random (so extreme codes such as Q8_0's -128 and
 * all-ones nibbles occur), then the block scales set to D and DMIN. Float
 * types: random values times D. */
static void make_weights(uint32_t type, void *w, int64_t n, float d, float dmin, uint64_t *rng) {
    const mb_type_traits *tt = mb_type_get(type);
    if (tt->block_size == 1) {
        float *x = malloc((size_t)n * sizeof(float));
        for (int64_t i = 0; i < n; i++)
            x[i] = d * mbt_rand_float(rng);
        tt->from_float(x, w, n);
        free(x);
        return;
    }
    uint8_t *p = w;
    const size_t bytes = row_bytes(type, n);
    for (size_t i = 0; i < bytes; i++)
        p[i] = (uint8_t)mbt_rand_u64(rng);
    const uint16_t d16 = mb_fp32_to_fp16(d), m16 = mb_fp32_to_fp16(dmin);
    for (int64_t b = 0; b < n / tt->block_size; b++) {
        switch (type) {
        case MB_TYPE_Q8_0: ((mb_block_q8_0 *)w)[b].d = d16; break;
        case MB_TYPE_Q4_0: ((mb_block_q4_0 *)w)[b].d = d16; break;
        case MB_TYPE_Q4_1: ((mb_block_q4_1 *)w)[b].d = d16, ((mb_block_q4_1 *)w)[b].m = m16; break;
        case MB_TYPE_Q3_K: ((mb_block_q3_k *)w)[b].d = d16; break;
        case MB_TYPE_Q2_K:
            ((mb_block_q2_k *)w)[b].d = d16, ((mb_block_q2_k *)w)[b].dmin = m16;
            break;
        case MB_TYPE_Q6_K: ((mb_block_q6_k *)w)[b].d = d16; break;
        case MB_TYPE_Q4_K:
            ((mb_block_q4_k *)w)[b].d = d16, ((mb_block_q4_k *)w)[b].dmin = m16;
            break;
        case MB_TYPE_Q5_K:
            ((mb_block_q5_k *)w)[b].d = d16, ((mb_block_q5_k *)w)[b].dmin = m16;
            break;
        default: break;
        }
    }
}

/* Activations from random floats times SCALE through the reference encoder
 * (the Q8_K bsums must match the codes, as the encoders guarantee). */
static void make_act(uint32_t at, void *a, int64_t n, float scale, uint64_t *rng) {
    float *y = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++)
        y[i] = scale * mbt_rand_float(rng);
    if (scale != 0.0f && n >= 64) memset(y, 0, 32 * sizeof(float)); /* an all-zero block */
    mb_kernels_ref()->act_quant[at](y, a, n);
    free(y);
}

/* sum |w_i * a_i| of the decoded rows: the scale of any rounding error. */
static double magnitude(uint32_t wt, uint32_t at, const void *w, const void *a, int64_t n) {
    float *x = malloc((size_t)n * sizeof(float)), *y = malloc((size_t)n * sizeof(float));
    mb_type_get(wt)->to_float(w, x, n);
    mb_type_get(at)->to_float(a, y, n);
    double mag = 0.0;
    for (int64_t i = 0; i < n; i++)
        mag += fabs((double)x[i] * y[i]);
    free(x), free(y);
    return mag;
}

static void check_dot(const mb_kernel_table *k, uint32_t wt, int64_t n, float d, float dmin,
                      float ascale, uint64_t *rng) {
    const mb_dot_traits *ref = &mb_kernels_ref()->dot[wt], *dt = &k->dot[wt];
    CHECK(dt->act_type == ref->act_type);
    void *w = malloc(row_bytes(wt, n) + 1), *a = malloc(row_bytes(ref->act_type, n) + 1);
    make_weights(wt, w, n, d, dmin, rng);
    make_act(ref->act_type, a, n, ascale, rng);
    float want = NAN, got = NAN;
    ref->vec_dot(n, &want, w, a);
    dt->vec_dot(n, &got, w, a);
    const int64_t bs = mb_type_get(wt)->block_size;
    /* A few float roundings per block (per value for float types) relative
     * to sum |w*a|; the absolute term covers AVX512-BF16 flushing products
     * below 2^-126 to zero. */
    const double terms = bs == 1 ? (double)n : 4.0 * (double)n / (double)bs;
    const double tol =
        (terms + 8) * 0x1p-23 * magnitude(wt, ref->act_type, w, a, n) + (double)n * 0x1p-126;
    CHECK_MSG(fabs((double)got - want) <= tol, "%s %s n=%lld d=%g: %.9g vs ref %.9g (tol %g)",
              k->name, mb_type_name(wt), (long long)n, d, got, want, tol);
    free(w), free(a);
}

static void test_dots_near_ref(void) {
    uint64_t rng = 7;
    const int64_t blocks[] = {1, 2, 3, 8, 17};
    const struct {
        float d, dmin, ascale;
    } scales[] = {
        {1.0f, 0.5f, 1.0f},         {0.02f, 0.01f, 30.0f},
        {6e-8f, 1e-7f, 1.0f},                           /* fp16 subnormal d */
        {60000.0f, 30000.0f, 1e3f}, {0.0f, 0.0f, 1.0f}, /* huge, zero */
        {1.0f, 1.0f, 0.0f},                             /* zero activations */
    };
    for (int l = 0; l < n_levels; l++) {
        for (size_t i = 0; i < N_WEIGHTS; i++) {
            const int64_t bs = mb_type_get(k_weights[i])->block_size;
            const int64_t unit = bs == 1 ? 32 : bs;
            for (size_t b = 0; b < sizeof blocks / sizeof blocks[0]; b++)
                for (size_t s = 0; s < sizeof scales / sizeof scales[0]; s++)
                    check_dot(levels[l], k_weights[i], unit * blocks[b], scales[s].d,
                              scales[s].dmin, scales[s].ascale, &rng);
            if (bs == 1) { /* lengths that leave a tail after the vector loop */
                const int64_t odd[] = {1, 7, 37, 100, 129};
                for (size_t o = 0; o < sizeof odd / sizeof odd[0]; o++)
                    check_dot(levels[l], k_weights[i], odd[o], 1.0f, 0.0f, 1.0f, &rng);
            }
        }
    }
}

/* Hand-built activation blocks with d = 1 and codes in -15..15: with unit
 * weight scales every partial sum is an integer below 2^24, so any level's
 * result must equal the reference's exactly. */
static void make_unit_act(uint32_t at, void *a, int64_t n, uint64_t *rng) {
    if (at == MB_TYPE_Q8_0) {
        mb_block_q8_0 *y = a;
        for (int64_t b = 0; b < n / 32; b++) {
            y[b].d = mb_fp32_to_fp16(1.0f);
            for (int j = 0; j < 32; j++)
                y[b].qs[j] = (int8_t)((int)(mbt_rand_u64(rng) % 31) - 15);
        }
        return;
    }
    mb_block_q8_k *y = a;
    for (int64_t b = 0; b < n / 256; b++) {
        y[b].d = 1.0f;
        for (int g = 0; g < 16; g++) {
            int sum = 0;
            for (int j = 0; j < 16; j++) {
                y[b].qs[16 * g + j] = (int8_t)((int)(mbt_rand_u64(rng) % 31) - 15);
                sum += y[b].qs[16 * g + j];
            }
            y[b].bsums[g] = (int16_t)sum;
        }
    }
}

static void test_dots_exact(void) {
    uint64_t rng = 11;
    const uint32_t types[] = {MB_TYPE_Q8_0, MB_TYPE_Q4_0, MB_TYPE_Q4_K, MB_TYPE_Q5_K,
                              MB_TYPE_Q6_K, MB_TYPE_Q3_K, MB_TYPE_Q2_K};
    for (int l = 0; l < n_levels; l++) {
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
            const uint32_t wt = types[i], at = mb_kernels_ref()->dot[wt].act_type;
            const int64_t n = mb_type_get(wt)->block_size * 3;
            void *w = malloc(row_bytes(wt, n)), *a = malloc(row_bytes(at, n));
            for (int rep = 0; rep < 20; rep++) {
                make_weights(wt, w, n, 1.0f, 1.0f, &rng);
                make_unit_act(at, a, n, &rng);
                float want, got;
                mb_kernels_ref()->dot[wt].vec_dot(n, &want, w, a);
                levels[l]->dot[wt].vec_dot(n, &got, w, a);
                CHECK_MSG(got == want, "%s %s: %.9g != ref %.9g", levels[l]->name, mb_type_name(wt),
                          got, want);
            }
            free(w), free(a);
        }
    }
}

/* ---- multi-row dots and the batched matmul ---------------------------- */

static void test_rows_equal_single(void) {
    uint64_t rng = 21;
    for (int l = 0; l < n_levels; l++) {
        for (size_t i = 0; i < N_WEIGHTS; i++) {
            const uint32_t wt = k_weights[i];
            const mb_dot_traits *dt = &levels[l]->dot[wt];
            if (!dt->vec_dot_rows) continue;
            const int64_t bs = mb_type_get(wt)->block_size;
            const int64_t n = bs == 1 ? 77 : bs * 5;
            const size_t ab = row_bytes(dt->act_type, n);
            enum { MAX_ROWS = 11 };
            void *w = malloc(row_bytes(wt, n)), *a = malloc(ab * MAX_ROWS);
            make_weights(wt, w, n, 0.5f, 0.25f, &rng);
            for (int r = 0; r < MAX_ROWS; r++)
                make_act(dt->act_type, (uint8_t *)a + (size_t)r * ab, n, 2.0f, &rng);
            for (int rows = 1; rows <= MAX_ROWS; rows++) {
                float got[MAX_ROWS], want;
                dt->vec_dot_rows(n, got, w, a, ab, rows);
                for (int r = 0; r < rows; r++) {
                    dt->vec_dot(n, &want, w, (uint8_t *)a + (size_t)r * ab);
                    CHECK_MSG(got[r] == want, "%s %s rows=%d row %d: %.9g vs %.9g", levels[l]->name,
                              mb_type_name(wt), rows, r, got[r], want);
                }
            }
            free(w), free(a);
        }
    }
}

/* Weight-rows dots (decode: several weight rows against one activation
 * row) against the single dot per row, bit for bit: row counts around the
 * kernels' groups of 4 and passes of 16, row lengths with short block groups
 * and past one preparation pass (8192 values), per-row scales, and
 * full-range activation codes (-128 included). */
static void test_wrows_equal_single(void) {
    uint64_t rng = 23;
    for (int l = 0; l < n_levels; l++) {
        for (size_t i = 0; i < N_WEIGHTS; i++) {
            const uint32_t wt = k_weights[i];
            const mb_dot_traits *dt = &levels[l]->dot[wt];
            if (!dt->vec_dot_wrows) continue;
            const int64_t bs = mb_type_get(wt)->block_size;
            const int64_t lens[] = {1, 3, 8, 9, 17, 300};
            for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
                const int64_t n = bs * lens[li];
                enum { MAX_W = 37 };
                const size_t wb = row_bytes(wt, n), ab = row_bytes(dt->act_type, n);
                uint8_t *w = malloc(wb * MAX_W), *a = malloc(ab);
                for (int r = 0; r < MAX_W; r++)
                    make_weights(wt, w + (size_t)r * wb, n, 0.01f * (float)(r + 1), 0.005f, &rng);
                make_act(dt->act_type, a, n, 2.0f, &rng);
                if (dt->act_type == MB_TYPE_Q8_0)
                    for (int64_t b = 0; b < n / 32; b += 2)
                        for (int j = 0; j < 32; j++)
                            ((mb_block_q8_0 *)(void *)a)[b].qs[j] = (int8_t)mbt_rand_u64(&rng);
                const int counts[] = {0, 1, 3, 4, 5, 8, 15, 16, 17, MAX_W};
                for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
                    float got[MAX_W + 1], want;
                    got[counts[c]] = 12345.0f;
                    dt->vec_dot_wrows(n, got, w, wb, counts[c], a);
                    CHECK_MSG(got[counts[c]] == 12345.0f, "%s %s: wrote past %d rows",
                              levels[l]->name, mb_type_name(wt), counts[c]);
                    for (int r = 0; r < counts[c]; r++) {
                        dt->vec_dot(n, &want, w + (size_t)r * wb, a);
                        CHECK_MSG(!memcmp(&got[r], &want, sizeof want),
                                  "%s %s n=%lld rows=%d row %d: %.9g vs %.9g", levels[l]->name,
                                  mb_type_name(wt), (long long)n, counts[c], r, got[r], want);
                    }
                }
                free(w), free(a);
            }
        }
    }
}

/* mb_matmul of a batch (tiled, multi-row) against one row at a time, with the
 * chosen level; accumulate adds onto what is there. Equal bit for bit,
 * except within float rounding where the level has a gemm_tile kernel. */
static void test_matmul_batch(void) {
    uint64_t rng = 31;
    const uint32_t types[] = {MB_TYPE_F16,  MB_TYPE_Q4_K, MB_TYPE_Q8_0, MB_TYPE_Q4_1,
                              MB_TYPE_Q4_0, MB_TYPE_Q3_K, MB_TYPE_Q2_K};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        const uint32_t wt = types[i];
        const int64_t n_in = 512, n_out = 37, n_rows = 13;
        mb_matrix m = {NULL, wt, n_in, n_out, row_bytes(wt, n_in), MB_LAYOUT_ROWS};
        uint8_t *w = malloc(m.row_bytes * (size_t)n_out);
        for (int64_t o = 0; o < n_out; o++)
            make_weights(wt, w + (size_t)o * m.row_bytes, n_in, 0.1f, 0.05f, &rng);
        m.data = w;
        float *x = malloc(sizeof(float) * (size_t)(n_in * n_rows));
        for (int64_t k = 0; k < n_in * n_rows; k++)
            x[k] = mbt_rand_float(&rng);
        mb_act batch = {0}, one = {0};
        batch.data = malloc(mb_act_bytes(wt, n_in, n_rows));
        one.data = malloc(mb_act_bytes(wt, n_in, 1));
        mb_act_prepare(&batch, wt, x, n_in, n_rows);
        float *out = malloc(sizeof(float) * (size_t)(n_out * n_rows)), want[37];
        for (int64_t k = 0; k < n_out * n_rows; k++)
            out[k] = 1.0f;
        mb_matmul(NULL, 1, &m, &batch, out, n_out, 1);
        for (int64_t r = 0; r < n_rows; r++) {
            mb_act_prepare(&one, wt, x + r * n_in, n_in, 1);
            mb_matmul(NULL, 1, &m, &one, want, n_out, 0);
            /* A register-blocked or packed kernel sums in another order:
             * a few float roundings of the result's size (these random
             * codes and scales give results near 1000, where one rounding
             * is 6e-5). */
            const float rel =
                mb_kernels()->dot[wt].gemm_tile || mb_kernels()->dot[wt].gemm_packed ? 1e-6f : 0.0f;
            for (int64_t o = 0; o < n_out; o++)
                CHECK_MSG(fabsf(out[r * n_out + o] - (want[o] + 1.0f)) <=
                              rel * (100.0f + fabsf(want[o])),
                          "%s row %lld out %lld: %.9g vs %.9g", mb_type_name(wt), (long long)r,
                          (long long)o, out[r * n_out + o], want[o] + 1.0f);
        }
        free(w), free(x), free(batch.data), free(one.data), free(out);
    }
}

/* The F16 axpy of attention: y += a * x, against the reference per value
 * (a level may fuse the multiply-add: one rounding instead of two). */
static void test_axpy_f16(void) {
    uint64_t rng = 41;
    const int lens[] = {1, 7, 8, 64, 100, 128};
    for (int l = 0; l < n_levels; l++) {
        for (size_t k = 0; k < sizeof lens / sizeof lens[0]; k++) {
            const int n = lens[k];
            float x[128], want[128], got[128];
            uint16_t x16[128];
            for (int i = 0; i < n; i++) {
                x[i] = 4.0f * mbt_rand_float(&rng);
                want[i] = got[i] = mbt_rand_float(&rng);
            }
            mb_kernels_ref()->act_quant[MB_TYPE_F16](x, x16, n);
            const float a = 0.75f * mbt_rand_float(&rng);
            mb_kernels_ref()->axpy_f16(n, want, a, x16);
            levels[l]->axpy_f16(n, got, a, x16);
            for (int i = 0; i < n; i++) {
                const float tol = 0x1p-22f * (fabsf(want[i]) + fabsf(a * mb_fp16_to_fp32(x16[i])));
                CHECK_MSG(fabsf(got[i] - want[i]) <= tol, "%s axpy n=%d [%d]: %.9g vs %.9g",
                          levels[l]->name, n, i, got[i], want[i]);
            }
        }
    }
}

/* The level main() forces: the baseline SIMD level of this architecture,
 * which every CPU with any SIMD level supports. */
#if MB_ARCH_ARM64
static const char *const k_forced = "neon";
#else
static const char *const k_forced = "avx2";
#endif

/* MATCHBOX_CPU picks a supported level; the chosen table is that level's. */
static void test_forced_level(void) {
    const char *best = mb_cpu_best_level();
    CHECK(mb_kernels_level("ref") == mb_kernels_ref());
    CHECK(mb_kernels_level("sse9") == NULL);
    CHECK_MSG(strcmp(mb_kernels_name(), strcmp(best, "ref") ? k_forced : "ref") == 0,
              "MATCHBOX_CPU=%s gave %s (best %s)", k_forced, mb_kernels_name(), best);
    CHECK(mb_kernels_level(best) != NULL);
    CHECK(strcmp(best, "ref") == 0 || mb_kernels_level(k_forced) != NULL);
    /* Every level the CPU has, and no other, has a table of its name; each
     * level needs the ones below it on its architecture. */
    for (int i = 0; i < MBT_N_SIMD_LEVELS; i++) {
        const char *name = mbt_simd_level_names[i];
        const mb_kernel_table *t = mb_kernels_level(name);
        CHECK_MSG((t != NULL) == (mb_cpu_has_level(name) != 0), "level %s: table %p, CPU %d", name,
                  (const void *)t, mb_cpu_has_level(name));
        if (t) CHECK_MSG(strcmp(t->name, name) == 0, "level %s is named %s", name, t->name);
        if (t && i > 0 && strncmp(name, mbt_simd_level_names[i - 1], 3) == 0)
            CHECK_MSG(mb_kernels_level(mbt_simd_level_names[i - 1]) != NULL, "level %s without %s",
                      name, mbt_simd_level_names[i - 1]);
    }
    /* A dotprod CPU runs both ARM levels; one without it only the baseline. */
    const mb_cpu_features *f = mb_cpu_get();
    CHECK((mb_kernels_level("neon-dotprod") != NULL) == (f->neon && f->neon_dotprod));
    CHECK((mb_kernels_level("neon") != NULL) == (f->neon != 0));
    CHECK((mb_kernels_level("avx512-vnni") != NULL) ==
          (mb_kernels_level("avx512") != NULL && f->avx512vnni));
    /* Every SIMD level has its own 8-bit and float dots (not the fallback). */
    for (int l = 0; l < n_levels; l++)
        for (size_t i = 0; i < 8; i++)
            CHECK_MSG(levels[l]->dot[k_weights[i]].vec_dot !=
                          mb_kernels_ref()->dot[k_weights[i]].vec_dot,
                      "%s has no %s kernel", levels[l]->name, mb_type_name(k_weights[i]));
    /* The x86 levels also have their own Q3_K and Q2_K dots. */
    for (int l = 0; l < n_levels; l++)
        if (strncmp(levels[l]->name, "avx", 3) == 0)
            for (uint32_t t = MB_TYPE_Q2_K; t <= MB_TYPE_Q3_K; t++)
                CHECK_MSG(levels[l]->dot[t].vec_dot != mb_kernels_ref()->dot[t].vec_dot &&
                              levels[l]->dot[t].vec_dot_rows,
                          "%s has no %s kernel", levels[l]->name, mb_type_name(t));
}

/* The avx512 level computes the 8-bit dots without VNNI (VPMADDUBSW +
 * VPMADDWD) from the same source as avx512-vnni: both must give the same
 * bits for every code and full-range activations (the non-VNNI steps are
 * exact only while VPMADDUBSW's pair sums cannot saturate). Dots, multi-row
 * dots, Q4_0's register tile and the packed panels, VNNI level's function
 * pointers being distinct (or both AVX2's). Runs where both levels do. */
static void test_avx512_vnni_same(void) {
    const mb_kernel_table *p = mb_kernels_level("avx512"), *v = mb_kernels_level("avx512-vnni");
    if (!p || !v) return;
    const uint32_t types[] = {MB_TYPE_Q8_0, MB_TYPE_Q4_0, MB_TYPE_Q4_K, MB_TYPE_Q5_K,
                              MB_TYPE_Q6_K, MB_TYPE_Q3_K, MB_TYPE_Q2_K};
    uint64_t rng = 51;
    int n_same = 0;
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        const uint32_t wt = types[i];
        const mb_dot_traits *dp = &p->dot[wt], *dv = &v->dot[wt];
        /* Shared only where both take AVX2's (Q4_0's row dots on Intel). */
        const mb_kernel_table *a2 = mb_kernels_level("avx2");
        CHECK_MSG(dp->vec_dot != dv->vec_dot || (a2 && dp->vec_dot == a2->dot[wt].vec_dot),
                  "%s: avx512 uses the VNNI dot", mb_type_name(wt));
        const int64_t n = mb_type_get(wt)->block_size * 9;
        enum { ROWS = 16, ACTS = 9 };
        const size_t wb = row_bytes(wt, n), ab = row_bytes(dp->act_type, n);
        uint8_t *w = malloc(wb * ROWS), *a = malloc(ab * ACTS);
        for (int r = 0; r < ROWS; r++)
            make_weights(wt, w + (size_t)r * wb, n, 0.5f, 0.25f, &rng);
        for (int r = 0; r < ACTS; r++)
            make_act(dp->act_type, a + (size_t)r * ab, n, 3.0f, &rng);
        float gp[ROWS + ROWS * ACTS], gv[ROWS + ROWS * ACTS];
        for (int r = 0; r < ROWS; r++) {
            dp->vec_dot(n, &gp[r], w + (size_t)r * wb, a);
            dv->vec_dot(n, &gv[r], w + (size_t)r * wb, a);
            dp->vec_dot_rows(n, &gp[ROWS + r * ACTS], w + (size_t)r * wb, a, ab, ACTS);
            dv->vec_dot_rows(n, &gv[ROWS + r * ACTS], w + (size_t)r * wb, a, ab, ACTS);
        }
        for (int r = 0; r < ROWS + ROWS * ACTS; r++)
            CHECK_MSG(!memcmp(&gp[r], &gv[r], sizeof(float)),
                      "%s: avx512 and avx512-vnni dots differ (%d: %.9g vs %.9g)", mb_type_name(wt),
                      r, gp[r], gv[r]);
        n_same += ROWS + ROWS * ACTS;
        CHECK((dp->gemm_tile == NULL) == (dv->gemm_tile == NULL));
        if (dp->gemm_tile) {
            dp->gemm_tile(n, gp, ROWS, w, wb, ROWS, a, ab, ACTS);
            dv->gemm_tile(n, gv, ROWS, w, wb, ROWS, a, ab, ACTS);
            CHECK_MSG(!memcmp(gp, gv, sizeof(float) * ROWS * ACTS),
                      "%s: avx512 and avx512-vnni tiles differ", mb_type_name(wt));
            n_same += ROWS * ACTS;
        }
        CHECK((dp->gemm_packed == NULL) == (dv->gemm_packed == NULL));
        if (dp->gemm_packed) {
            CHECK(dp->pack_rows == dv->pack_rows && dp->pack_rows <= ROWS);
            const size_t pb =
                (size_t)dp->pack_block_bytes * (size_t)(n / mb_type_get(wt)->block_size);
            uint8_t *pp = aligned_alloc(64, (pb + 63) / 64 * 64);
            uint8_t *pv = aligned_alloc(64, (pb + 63) / 64 * 64);
            dp->pack(n, pp, w, wb, (int)dp->pack_rows);
            dv->pack(n, pv, w, wb, (int)dv->pack_rows);
            CHECK_MSG(!memcmp(pp, pv, pb), "%s: the panels differ", mb_type_name(wt));
            dp->gemm_packed(n, gp, ROWS, pp, a, ab, ACTS, 0);
            dv->gemm_packed(n, gv, ROWS, pv, a, ab, ACTS, 0);
            for (int r = 0; r < ACTS; r++)
                CHECK_MSG(!memcmp(gp + r * ROWS, gv + r * ROWS, sizeof(float) * dp->pack_rows),
                          "%s: avx512 and avx512-vnni panels' products differ (row %d)",
                          mb_type_name(wt), r);
            n_same += ACTS * (int)dp->pack_rows;
            free(pp), free(pv);
        }
        free(w), free(a);
    }
    /* VDPBF16PS needs AVX512-BF16: the lower AVX-512 levels' BF16 tile
     * widens bf16 to floats (checked against the dots in test_kernels_gemm). */
    CHECK(p->dot[MB_TYPE_BF16].gemm_tile == v->dot[MB_TYPE_BF16].gemm_tile);
    const mb_kernel_table *b = mb_kernels_level("avx512-bf16");
    if (b) CHECK(b->dot[MB_TYPE_BF16].gemm_tile != p->dot[MB_TYPE_BF16].gemm_tile);
    printf("avx512 and avx512-vnni: %d results of the 8-bit kernels compared bit for bit\n",
           n_same);
}

int main(int argc, char **argv) {
    /* Before the first mb_kernels() call: the level is chosen once. */
    setenv("MATCHBOX_CPU", k_forced, 1);
    n_levels = mbt_simd_levels(argc, argv, levels);
    test_forced_level();
    test_act_quant_identical();
    test_dots_near_ref();
    test_dots_exact();
    test_rows_equal_single();
    test_wrows_equal_single();
    test_matmul_batch();
    test_axpy_f16();
    for (int l = 0; l < n_levels; l++)
        if (!strcmp(levels[l]->name, "avx512")) test_avx512_vnni_same();
    return mbt_finish();
}
