/* The sparse types (SQ4, SQ8): the codecs keep exactly the non-zeros (and
 * only the largest when a block has too many), the reference dot equals
 * the dot of the decoded rows, and every SIMD level's dot (and multi-row
 * dot) matches the reference on masks of every density and pattern. Also
 * the file ids and the consistency check the GGUF reader refuses with. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "kernels/prefetch.h"
#include "tensor/blocks.h"
#include "tensor/sparse.h"
#include "tensor/types.h"
#include "test_levels.h"
#include "test_util.h"

static const mb_kernel_table *levels[MBT_N_SIMD_LEVELS];
static int n_levels;

enum { PAT_DENSE50, PAT_2OF4, PAT_QUARTER, PAT_SKEWED, PAT_EMPTY, PAT_FULL, PAT_N };

/* N floats with a pruning pattern: exact zeros where pruned. PAT_FULL has
 * no zero at all (the encoder must keep the 128 largest per block);
 * PAT_SKEWED puts all of a block's non-zeros in its first quarters. */
static void fill(float *x, int64_t n, int pat, uint64_t *rng) {
    for (int64_t i = 0; i < n; i++) {
        float v = mbt_rand_float(rng) * 2.0f;
        if (v == 0.0f) v = 0.5f;
        const int j = (int)(i % 256);
        int keep = 1;
        switch (pat) {
        case PAT_DENSE50: keep = (mbt_rand_u64(rng) & 1) != 0; break;
        case PAT_2OF4: keep = (i % 4) == (int64_t)((i / 4) % 3) || (i % 4) == 3; break;
        case PAT_QUARTER: keep = (mbt_rand_u64(rng) & 3) == 0; break;
        case PAT_SKEWED: keep = j < 128; break;
        case PAT_EMPTY: keep = 0; break;
        default: break;
        }
        x[i] = keep ? v : 0.0f;
    }
}

static void test_file_ids(void) {
    CHECK_EQ_INT(mb_type_from_file(MB_FILE_TYPE_SPARSE_BASE), MB_TYPE_SQ4);
    CHECK_EQ_INT(mb_type_from_file(MB_FILE_TYPE_SPARSE_BASE + 1), MB_TYPE_SQ8);
    CHECK_EQ_INT(mb_type_from_file(MB_FILE_TYPE_SPARSE_BASE + 2), MB_TYPE_SQ4_24);
    CHECK(mb_type_from_file(MB_FILE_TYPE_SPARSE_BASE + 3) == MB_FILE_TYPE_SPARSE_BASE + 3);
    /* ggml's ids after BF16 are not ours in a file. */
    CHECK(mb_type_from_file(MB_TYPE_SQ4) == UINT32_MAX);
    CHECK(mb_type_from_file(MB_TYPE_SQ8) == UINT32_MAX);
    CHECK(mb_type_from_file(MB_TYPE_SQ4_24) == UINT32_MAX);
    CHECK_EQ_INT(mb_type_from_file(MB_TYPE_Q4_K), MB_TYPE_Q4_K);
    CHECK(mb_type_to_file(MB_TYPE_SQ8) == MB_FILE_TYPE_SPARSE_BASE + 1);
    CHECK_EQ_INT(mb_type_to_file(MB_TYPE_Q6_K), MB_TYPE_Q6_K);
    CHECK_EQ_INT(mb_type_from_name("sq4"), MB_TYPE_SQ4);
}

/* Decoding gives zeros exactly where the input is pruned, each kept value
 * within half a step of its quarter's scale, and a block with more than
 * MB_SPARSE_CAP non-zeros keeps the largest. */
static void test_codec(uint32_t type) {
    const mb_type_traits *tt = mb_type_get(type);
    const int64_t n = 1024;
    uint64_t rng = 7 + type;
    for (int pat = 0; pat < PAT_N; pat++) {
        float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
        uint8_t *q = malloc((size_t)(n / 256) * tt->type_size);
        fill(x, n, pat, &rng);
        tt->from_float(x, q, n);
        tt->to_float(q, y, n);
        CHECK_MSG(mb_sparse_check(type, q, (uint64_t)n / 256) < 0, "%s pattern %d: over the cap",
                  tt->name, pat);
        const float steps = type == MB_TYPE_SQ4 ? 8.0f : 127.0f;
        int bad = 0;
        for (int64_t b = 0; b < n; b += 256) {
            const uint8_t *mask = q + (b / 256) * tt->type_size; /* the block starts with it */
            int nnz = 0, kept[256];
            float kept_min = INFINITY, dropped_max = 0.0f, amax[4] = {0};
            for (int j = 0; j < 256; j++) {
                nnz += x[b + j] != 0.0f;
                kept[j] = (mask[j / 8] >> (j % 8)) & 1;
                if (x[b + j] == 0.0f && (kept[j] || y[b + j] != 0.0f)) bad++;
                if (x[b + j] != 0.0f && !kept[j]) dropped_max = fmaxf(dropped_max, fabsf(x[b + j]));
                if (kept[j]) {
                    kept_min = fminf(kept_min, fabsf(x[b + j]));
                    amax[j / 64] = fmaxf(amax[j / 64], fabsf(x[b + j]));
                }
            }
            for (int j = 0; j < 256; j++) {
                /* Half a step; SQ4's codes reach -8 but only +7 (as Q4_0's),
                 * so a value opposite its quarter's largest may clamp by a
                 * whole step. */
                const float step = amax[j / 64] / steps * (type == MB_TYPE_SQ4 ? 1.0f : 0.5f);
                if (kept[j] && fabsf(x[b + j] - y[b + j]) > step + 2e-3f * amax[j / 64]) bad++;
                if (!kept[j] && y[b + j] != 0.0f) bad++;
            }
            if (nnz <= MB_SPARSE_CAP)
                CHECK(dropped_max == 0.0f);
            else
                CHECK_MSG(dropped_max <= kept_min, "%s: dropped %g > kept %g", tt->name,
                          dropped_max, kept_min);
        }
        CHECK_MSG(bad == 0, "%s pattern %d: %d values wrong", tt->name, pat, bad);
        free(x), free(y), free(q);
    }
}

/* Every level's dot against the reference's, and the reference's against
 * the float dot of the decoded rows. */
static void test_dots(uint32_t type) {
    const mb_type_traits *tt = mb_type_get(type);
    const int64_t n = 2048;
    const int rows = 11;
    uint64_t rng = 99 + type;
    const size_t wbytes = (size_t)(n / 256) * tt->type_size;
    const size_t abytes = (size_t)(n / 256) * sizeof(mb_block_q8_k);
    for (int pat = 0; pat < PAT_N; pat++) {
        float *x = malloc(n * sizeof *x), *xa = malloc(n * sizeof *xa), *wd = malloc(n * 4),
              *ad = malloc(n * 4);
        uint8_t *w = malloc(wbytes), *a = malloc(abytes * rows);
        fill(x, n, pat, &rng);
        tt->from_float(x, w, n);
        for (int r = 0; r < rows; r++) {
            for (int64_t i = 0; i < n; i++)
                xa[i] = mbt_rand_float(&rng) * (r == 3 ? 1e-3f : 3.0f);
            mb_kernels_ref()->act_quant[MB_TYPE_Q8_K](xa, a + r * abytes, n);
        }
        tt->to_float(w, wd, n);
        mb_type_get(MB_TYPE_Q8_K)->to_float(a, ad, n);
        double want = 0.0, mag = 0.0;
        for (int64_t i = 0; i < n; i++)
            want += (double)wd[i] * ad[i], mag += fabs((double)wd[i] * ad[i]);
        float ref = 0.0f;
        mb_kernels_ref()->dot[type].vec_dot(n, &ref, w, a);
        CHECK_MSG(fabs(ref - want) <= 1e-5 * mag + 1e-30, "%s pattern %d: ref %g, float %g",
                  tt->name, pat, ref, want);
        for (int l = 0; l < n_levels; l++) {
            const mb_dot_traits *dt = &levels[l]->dot[type];
            CHECK(dt->act_type == MB_TYPE_Q8_K && dt->vec_dot);
            for (int r = 0; r < rows; r++) {
                float want_r = 0.0f, got = 0.0f;
                mb_kernels_ref()->dot[type].vec_dot(n, &want_r, w, a + r * abytes);
                dt->vec_dot(n, &got, w, a + r * abytes);
                /* Integer sums per quarter are exact; the float sums of
                 * quarters and blocks round in another order. */
                mb_type_get(MB_TYPE_Q8_K)->to_float(a + r * abytes, ad, n);
                double m = 0.0;
                for (int64_t i = 0; i < n; i++)
                    m += fabs((double)wd[i] * ad[i]);
                CHECK_MSG(fabsf(got - want_r) <= 2e-6 * m + 1e-30,
                          "%s %s pattern %d row %d: %g vs %g", levels[l]->name, tt->name, pat, r,
                          got, want_r);
            }
            if (dt->vec_dot_wrows) { /* the same row three times: each as vec_dot, bit for bit */
                float got[3], one = 0.0f;
                dt->vec_dot_wrows(n, got, w, 0, 3, a + 2 * abytes);
                dt->vec_dot(n, &one, w, a + 2 * abytes);
                for (int k = 0; k < 3; k++)
                    CHECK_MSG(got[k] == one, "%s %s wrows: %g vs %g", levels[l]->name, tt->name,
                              got[k], one);
            }
            if (dt->vec_dot_rows) {
                float got[11];
                dt->vec_dot_rows(n, got, w, a, abytes, rows);
                for (int r = 0; r < rows; r++) {
                    float one = 0.0f;
                    dt->vec_dot(n, &one, w, a + r * abytes);
                    CHECK_MSG(got[r] == one, "%s %s rows: row %d %g vs %g", levels[l]->name,
                              tt->name, r, got[r], one);
                }
            }
        }
        free(x), free(xa), free(wd), free(ad), free(w), free(a);
    }
}

/* SQ4_24 keeps the two largest of every 4, within a step of their
 * quarter's scale, and nothing else. */
static void test_codec_24(void) {
    const mb_type_traits *tt = mb_type_get(MB_TYPE_SQ4_24);
    const int64_t n = 1024;
    uint64_t rng = 5;
    for (int pat = 0; pat < PAT_N; pat++) {
        float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
        uint8_t *q = malloc((size_t)(n / 256) * tt->type_size);
        fill(x, n, pat, &rng);
        tt->from_float(x, q, n);
        tt->to_float(q, y, n);
        int bad = 0;
        for (int64_t g = 0; g < n; g += 4) {
            float amax = 0.0f; /* the quarter's largest kept magnitude bounds the step */
            const int64_t q0 = g / 64 * 64;
            for (int64_t j = q0; j < q0 + 64; j += 4) {
                float m[4];
                for (int k = 0; k < 4; k++)
                    m[k] = fabsf(x[j + k]);
                /* two largest of the group */
                int a = 0;
                for (int k = 1; k < 4; k++)
                    if (m[k] > m[a]) a = k;
                int b = a == 0 ? 1 : 0;
                for (int k = 0; k < 4; k++)
                    if (k != a && m[k] > m[b]) b = k;
                amax = fmaxf(amax, fmaxf(m[a], m[b]));
            }
            int a = 0;
            for (int k = 1; k < 4; k++)
                if (fabsf(x[g + k]) > fabsf(x[g + a])) a = k;
            int b = a == 0 ? 1 : 0;
            for (int k = 0; k < 4; k++)
                if (k != a && fabsf(x[g + k]) > fabsf(x[g + b])) b = k;
            for (int k = 0; k < 4; k++) {
                const int kept = k == a || k == b;
                if (!kept && y[g + k] != 0.0f) bad++;
                if (kept && fabsf(x[g + k] - y[g + k]) > amax / 8.0f + 2e-3f * amax) bad++;
            }
        }
        CHECK_MSG(bad == 0, "SQ4_24 pattern %d: %d values wrong", pat, bad);
        free(x), free(y), free(q);
    }
}

/* A block marking more non-zeros than it holds is found by the check. */
static void test_check(void) {
    mb_block_sq4 b[3];
    memset(b, 0, sizeof b);
    memset(b[1].mask, 0xFF, 16); /* 128: full, still valid */
    CHECK(mb_sparse_check(MB_TYPE_SQ4, b, 3) == -1);
    b[2].mask[16] = 1; /* 129 in block 2 */
    memset(b[2].mask, 0xFF, 16);
    CHECK(mb_sparse_check(MB_TYPE_SQ4, b, 3) == 2);
    CHECK_EQ_INT(mb_sparse_count(b[2].mask), 129);
}

/* MATCHBOX_PREFETCH, where set, decides whether the weight-rows dots
 * prefetch (ctest runs this test with 0 and with 1), so both paths below
 * are the ones checked. */
static void test_prefetch_switch(void) {
    const char *env = getenv("MATCHBOX_PREFETCH");
    if (!env || !*env) return;
    CHECK_MSG(mb_decode_prefetch() == (strcmp(env, "0") != 0), "MATCHBOX_PREFETCH=%s gave %d", env,
              mb_decode_prefetch());
    printf("decode prefetch: %s\n", mb_decode_prefetch() ? "on" : "off");
}

int main(int argc, char **argv) {
    n_levels = mbt_simd_levels(argc, argv, levels);
    test_prefetch_switch();
    test_file_ids();
    test_check();
    test_codec(MB_TYPE_SQ4);
    test_codec(MB_TYPE_SQ8);
    test_dots(MB_TYPE_SQ4);
    test_dots(MB_TYPE_SQ8);
    test_codec_24();
    test_dots(MB_TYPE_SQ4_24);
    return mbt_finish();
}
