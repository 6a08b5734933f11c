/* Tiled attention with the online softmax, every kernel level against the
 * straightforward computation (the whole score vector, softmax, weights
 * rounded to F16 after normalization) and the SIMD tile steps against the
 * scalar one: random Q/K/V, head sizes with SIMD tails, lengths around the
 * tile size, GQA groups of 1/2/4/8 heads with several causal query rows,
 * extreme scores, rows that see nothing, and a row's result the same bits
 * whatever rows share its call. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/attention.h"
#include "kernels/kernels.h"
#include "tensor/fp16.h"
#include "tensor/types.h"
#include "test_levels.h"
#include "test_util.h"

static const mb_kernel_table *levels[1 + MBT_N_SIMD_LEVELS];
static int n_levels;

static float r16(float x) {
    return mb_half_to_float(mb_fp32_to_fp16(x));
}

/* The straightforward version (what mb_attention_head computed before the
 * tiling): every score, a softmax over them, then the F16-rounded
 * normalized weights times V. Double accumulation: the yardstick. */
static void naive(const float *q, const uint16_t *k, const uint16_t *v, int64_t stride, int n,
                  int hd, float scale, float *out) {
    double *s = malloc((size_t)(n > 0 ? n : 1) * sizeof *s);
    double mx = -INFINITY, sum = 0.0;
    for (int j = 0; j < n; j++) {
        double d = 0.0;
        for (int i = 0; i < hd; i++)
            d += (double)r16(q[i]) * mb_half_to_float(k[j * stride + i]);
        s[j] = (float)d * scale;
        mx = s[j] > mx ? s[j] : mx;
    }
    for (int j = 0; j < n; j++)
        sum += s[j] = exp(s[j] - mx);
    for (int i = 0; i < hd; i++) {
        double o = 0.0;
        for (int j = 0; j < n; j++)
            o += (double)r16((float)(s[j] / sum)) * mb_half_to_float(v[j * stride + i]);
        out[i] = (float)o;
    }
    free(s);
}

typedef struct {
    int hd, n_kv_head, group, n_tok, pos;
    float q_amp, k_amp, v_amp;
    mb_attn_mode mode;
} config;

/* Worst errors seen per mode (printed: the numbers the tolerances rest on). */
static float worst[2], worst_simd[2];
/* Against the naive version. EXACT rounds the same normalized weights, so
 * only float-order and exp differences remain (one F16 rounding can flip:
 * 2^-11 of one weight); ONLINE rounds the unnormalized weights, each off by
 * up to 2^-11 relative in a different place. */
static const float k_tol[2] = {1e-4f, 1e-3f};
static const char *const k_mode[2] = {"exact", "online"};

/* KV cache [pos][n_kv_head * hd] as in the forward pass; queries for N_TOK
 * tokens at positions pos.. (causal: token t sees pos + t + 1 keys), all
 * heads of each KV head's group in one mb_attention_rows call. Returns the
 * largest error against the naive version relative to max |V|, and the
 * largest difference to the reference level's result in *vs_ref. */
static float run_config(const config *c, uint64_t seed, float *vs_ref) {
    const int hd = c->hd, n_ctx = c->pos + c->n_tok, kv_dim = c->n_kv_head * hd;
    const int n_head = c->n_kv_head * c->group;
    uint64_t rng = seed;
    uint16_t *k = malloc((size_t)n_ctx * kv_dim * sizeof *k);
    uint16_t *v = malloc((size_t)n_ctx * kv_dim * sizeof *v);
    float *q = malloc((size_t)c->n_tok * n_head * hd * sizeof *q);
    float *want = malloc((size_t)hd * sizeof *want);
    float *ref = malloc((size_t)c->n_tok * n_head * hd * sizeof *ref);
    float *got = malloc((size_t)c->n_tok * n_head * hd * sizeof *got);
    float *work = malloc((size_t)mb_attention_work_floats(hd, n_ctx) * sizeof *work);
    float *alt = malloc((size_t)c->n_tok * n_head * hd * sizeof *alt);
    float vmax = 0.0f;
    for (int i = 0; i < n_ctx * kv_dim; i++) {
        k[i] = mb_fp32_to_fp16(c->k_amp * mbt_rand_float(&rng));
        v[i] = mb_fp32_to_fp16(c->v_amp * mbt_rand_float(&rng));
        vmax = fmaxf(vmax, fabsf(mb_half_to_float(v[i])));
    }
    for (int i = 0; i < c->n_tok * n_head * hd; i++)
        q[i] = c->q_amp * mbt_rand_float(&rng);
    const float scale = 1.0f / sqrtf((float)hd);
    float err = 0.0f;
    *vs_ref = 0.0f;
    for (int l = 0; l < n_levels; l++) {
        float *dst = l == 0 ? ref : got;
        /* Exact mode keeps the first pass's scores for the second when the
         * store covers the rows (work_ctx n_ctx), computes them again when
         * there is none (0) or the rows are longer (pos); all three must
         * give the same bits. */
        const int ctxs[3] = {n_ctx, 0, c->pos};
        for (int sv = 0; sv < (c->mode == MB_ATTN_EXACT ? 3 : 1); sv++)
            for (int kvh = 0; kvh < c->n_kv_head; kvh++) {
                /* Rows: group heads x tokens, at most MB_ATTN_MAX_ROWS per call. */
                const float *qr[MB_ATTN_MAX_ROWS];
                float *orow[MB_ATTN_MAX_ROWS];
                int len[MB_ATTN_MAX_ROWS], nr = 0;
                for (int t = 0; t < c->n_tok; t++)
                    for (int h = kvh * c->group; h < (kvh + 1) * c->group; h++) {
                        const size_t off = ((size_t)t * n_head + h) * hd;
                        qr[nr] = q + off, orow[nr] = dst + off, len[nr] = c->pos + t + 1;
                        if (++nr == MB_ATTN_MAX_ROWS ||
                            (t == c->n_tok - 1 && h == (kvh + 1) * c->group - 1)) {
                            mb_attn_rows a = {.hd = hd,
                                              .n_rows = nr,
                                              .q = qr,
                                              .out = orow,
                                              .len = len,
                                              .k = MB_ATTN_KV_F16(k + kvh * hd, kv_dim, 0),
                                              .v = MB_ATTN_KV_F16(v + kvh * hd, kv_dim, 0),
                                              .scale = scale,
                                              .mode = c->mode,
                                              .work_ctx = ctxs[sv],
                                              .group = c->group};
                            if (sv > 0)
                                for (int r = 0; r < nr; r++)
                                    orow[r] = alt + (orow[r] - dst);
                            mb_attention_rows(levels[l], &a, work);
                            for (int r = 0; sv > 0 && r < nr; r++)
                                CHECK_MSG(
                                    memcmp(orow[r], dst + (orow[r] - alt), hd * sizeof(float)) == 0,
                                    "%s: work_ctx %d changes the result (hd %d, row %d)",
                                    levels[l]->name, ctxs[sv], hd, r);
                            nr = 0;
                        }
                    }
            }
        for (int t = 0; t < c->n_tok; t++)
            for (int h = 0; h < n_head; h++) {
                const size_t off = ((size_t)t * n_head + h) * hd;
                naive(q + off, k + (h / c->group) * hd, v + (h / c->group) * hd, kv_dim,
                      c->pos + t + 1, hd, scale, want);
                for (int i = 0; i < hd; i++) {
                    err = fmaxf(err, fabsf(dst[off + i] - want[i]) / vmax);
                    if (l > 0) *vs_ref = fmaxf(*vs_ref, fabsf(got[off + i] - ref[off + i]) / vmax);
                    if (!isfinite(dst[off + i])) err = INFINITY;
                }
            }
    }
    free(k), free(v), free(q), free(want), free(ref), free(got), free(work), free(alt);
    worst[c->mode] = fmaxf(worst[c->mode], err);
    worst_simd[c->mode] = fmaxf(worst_simd[c->mode], *vs_ref);
    return err;
}

static void test_random_shapes(void) {
    static const int hds[] = {8, 36, 64, 100, 128};
    static const int groups[] = {1, 2, 4, 8};
    static const int lens[] = {1, 5, 63, 64, 65, 130, 257};
    uint64_t seed = 1;
    for (size_t a = 0; a < sizeof hds / sizeof *hds; a++)
        for (size_t g = 0; g < sizeof groups / sizeof *groups; g++)
            for (size_t b = 0; b < sizeof lens / sizeof *lens; b++) {
                /* Decode (one token) and a causal prefill of several rows. */
                for (int n_tok = 1; n_tok <= 5; n_tok += 4)
                    for (int mode = 0; mode < 2; mode++) {
                        config c = {hds[a], 2,    groups[g], n_tok, lens[b] - 1,
                                    1.0f,   1.0f, 1.0f,      mode};
                        float vs_ref, err = run_config(&c, seed++, &vs_ref);
                        /* Rounding the unnormalized weights to F16 instead of the
                         * normalized ones moves each by up to 2^-11 relative. */
                        CHECK_MSG(err < k_tol[mode], "%s hd %d group %d len %d tokens %d: error %g",
                                  k_mode[mode], c.hd, c.group, lens[b], n_tok, err);
                        CHECK_MSG(vs_ref < 1e-4f,
                                  "%s hd %d group %d len %d tokens %d: SIMD vs ref %g",
                                  k_mode[mode], c.hd, c.group, lens[b], n_tok, vs_ref);
                    }
            }
}

/* A long causal prefill: 32 rows per call, many tiles, the running maximum
 * rising late (scores grow with the position through larger keys). */
static void test_long_prefill(void) {
    for (int mode = 0; mode < 2; mode++) {
        config c = {64, 1, 4, 24, 700, 2.0f, 2.0f, 3.0f, mode};
        float vs_ref, err = run_config(&c, 77, &vs_ref);
        CHECK_MSG(err < k_tol[mode], "%s long prefill error %g", k_mode[mode], err);
        CHECK_MSG(vs_ref < 1e-4f, "%s long prefill SIMD vs ref %g", k_mode[mode], vs_ref);
    }
}

/* Scores of thousands: one key dominates and exp underflows for the rest;
 * large V values near the F16 limit. Nothing may overflow or become NaN. */
static void test_extreme_values(void) {
    for (int mode = 0; mode < 2; mode++) {
        config c = {64, 1, 2, 3, 200, 30.0f, 30.0f, 60000.0f, mode};
        float vs_ref, err = run_config(&c, 5, &vs_ref);
        CHECK_MSG(err < k_tol[mode], "%s extreme scores error %g", k_mode[mode], err);
        CHECK_MSG(vs_ref < 1e-4f, "%s extreme scores SIMD vs ref %g", k_mode[mode], vs_ref);
        config tiny = {36, 1, 1, 2, 90, 1e-3f, 1e-3f, 1e-4f, mode};
        err = run_config(&tiny, 6, &vs_ref);
        CHECK_MSG(err < k_tol[mode], "%s tiny values error %g", k_mode[mode], err);
    }
}

/* The maximum rises in a later tile: the first tile's accumulator must be
 * rescaled, or the output keeps its weight. Key 100 (second tile) matches
 * the query strongly, so the output is V[100]. */
static void test_rescale(void) {
    enum { HD = 16, N = 130 };
    uint16_t k[N * HD], v[N * HD];
    float q[HD], out[HD],
        work[2 * HD * MB_ATTN_MAX_ROWS + 2 * MB_ATTN_MAX_ROWS + HD + MB_ATTN_TILE * HD];
    for (int i = 0; i < N * HD; i++) {
        k[i] = mb_fp32_to_fp16(i / HD == 100 ? 4.0f : 0.01f);
        v[i] = mb_fp32_to_fp16(i / HD == 100 ? 7.0f : -3.0f);
    }
    for (int i = 0; i < HD; i++)
        q[i] = 4.0f;
    CHECK(mb_attention_work_floats(HD, 0) <= (int64_t)(sizeof work / sizeof *work));
    for (int l = 0; l < 2 * n_levels; l++) {
        const float *qr = q;
        float *o = out;
        int len = N;
        mb_attn_rows a = {.hd = HD,
                          .n_rows = 1,
                          .q = &qr,
                          .out = &o,
                          .len = &len,
                          .k = MB_ATTN_KV_F16(k, HD, 0),
                          .v = MB_ATTN_KV_F16(v, HD, 0),
                          .scale = 0.25f,
                          .mode = l % 2};
        mb_attention_rows(levels[l / 2], &a, work);
        for (int i = 0; i < HD; i++)
            CHECK_NEAR(out[i], 7.0f, 1e-3f);
    }
}

/* A row that sees no key gets zeros; the rows beside it are unaffected,
 * and mb_attention_head gives the one-row result. */
static void test_empty_row_and_head(void) {
    enum { HD = 24, N = 70 };
    uint16_t k[N * HD], v[N * HD];
    float q[2][HD], out[2][HD], head[HD], want[HD];
    float work[2 * HD * MB_ATTN_MAX_ROWS + 2 * MB_ATTN_MAX_ROWS + HD];
    uint64_t rng = 9;
    for (int i = 0; i < N * HD; i++) {
        k[i] = mb_fp32_to_fp16(mbt_rand_float(&rng));
        v[i] = mb_fp32_to_fp16(mbt_rand_float(&rng));
    }
    for (int i = 0; i < HD; i++)
        q[0][i] = mbt_rand_float(&rng), q[1][i] = mbt_rand_float(&rng), out[0][i] = 99.0f;
    for (int l = 0; l < 2 * n_levels; l++) {
        const float *qr[2] = {q[0], q[1]};
        float *o[2] = {out[0], out[1]};
        int len[2] = {0, N};
        mb_attn_rows a = {.hd = HD,
                          .n_rows = 2,
                          .q = qr,
                          .out = o,
                          .len = len,
                          .k = MB_ATTN_KV_F16(k, HD, 0),
                          .v = MB_ATTN_KV_F16(v, HD, 0),
                          .scale = 0.2f,
                          .mode = l % 2};
        mb_attention_rows(levels[l / 2], &a, work);
        naive(q[1], k, v, HD, N, HD, 0.2f, want);
        for (int i = 0; i < HD; i++) {
            CHECK(out[0][i] == 0.0f);
            CHECK_NEAR(out[1][i], want[i], 2e-3f);
        }
    }
    mb_attention_head(q[1], k, v, HD, N, HD, 0.2f, NULL, head);
    for (int i = 0; i < HD; i++)
        CHECK_NEAR(head[i], want[i], 2e-3f);
}

/* A row's output is the same bits whatever else shares its call: alone, or
 * among 2 to 32 rows (a GQA group times a few tokens, with their lengths),
 * in every mode, with a window's start, for a small group and a large one
 * (the SIMD tiles' two ways of summing q . k). The batched forward pass and
 * token-by-token decode give a row different company, and speculative
 * decoding promises that they agree; the SIMD tiles once summed q.k in
 * another order below some row count than above it. */
static void test_rows_independent(void) {
    enum { N = 200, MAXR = MB_ATTN_MAX_ROWS };
    static const int hds[] = {64, 40, 128};
    uint64_t rng = 31;
    for (int h = 0; h < 3; h++) {
        const int hd = hds[h];
        uint16_t *k = malloc(sizeof(uint16_t) * N * hd), *v = malloc(sizeof(uint16_t) * N * hd);
        float *q = malloc(sizeof(float) * MAXR * hd), *all = malloc(sizeof(float) * MAXR * hd);
        float *one = malloc(sizeof(float) * hd);
        float *work = malloc(sizeof(float) * mb_attention_work_floats(hd, N));
        CHECK(k && v && q && all && one && work);
        for (int i = 0; i < N * hd; i++) {
            k[i] = mb_fp32_to_fp16(2.0f * mbt_rand_float(&rng));
            v[i] = mb_fp32_to_fp16(mbt_rand_float(&rng));
        }
        for (int i = 0; i < MAXR * hd; i++)
            q[i] = 2.0f * mbt_rand_float(&rng);
        for (int l = 0; l < n_levels; l++)
            for (int variant = 0; variant < 4; variant++) /* exact, online, recompute, window */
                for (int g = 1; g <= 8; g += 7)           /* both score orders, any level */
                    for (int nr = 1; nr <= MAXR; nr += nr < 16 ? 1 : 16) {
                        const float *qr[MAXR];
                        float *o[MAXR];
                        int len[MAXR], start[MAXR];
                        for (int r = 0; r < nr; r++) { /* tokens of 3 heads, some near a tile end */
                            qr[r] = q + (size_t)r * hd, o[r] = all + (size_t)r * hd;
                            len[r] = 120 + r / 3 * 3 + r % 2;
                            start[r] = len[r] > 70 ? len[r] - 70 : 0;
                        }
                        mb_attn_rows a = {.hd = hd,
                                          .n_rows = nr,
                                          .q = qr,
                                          .out = o,
                                          .len = len,
                                          .start = variant == 3 ? start : NULL,
                                          .k = MB_ATTN_KV_F16(k, hd, 0),
                                          .v = MB_ATTN_KV_F16(v, hd, 0),
                                          .scale = 0.125f,
                                          .mode = variant == 1 ? MB_ATTN_ONLINE : MB_ATTN_EXACT,
                                          .work_ctx = variant == 2 ? 0 : N,
                                          .group = g};
                        mb_attention_rows(levels[l], &a, work);
                        for (int r = 0; r < nr; r++) {
                            mb_attn_rows b = a;
                            b.n_rows = 1, b.q = &qr[r], b.len = &len[r];
                            b.start = a.start ? &start[r] : NULL;
                            float *op = one;
                            b.out = &op;
                            mb_attention_rows(levels[l], &b, work);
                            if (memcmp(one, o[r], sizeof(float) * hd)) {
                                fprintf(
                                    stderr,
                                    "%s, variant %d, hd %d, group %d: row %d of %d differs alone\n",
                                    levels[l]->name, variant, hd, g, r, nr);
                                CHECK(0);
                                r = nr;
                            }
                        }
                    }
        free(k), free(v), free(q), free(all), free(one), free(work);
    }
}

int main(int argc, char **argv) {
    /* The reference, then the SIMD levels (test_levels.h). */
    levels[0] = mb_kernels_ref();
    n_levels = 1 + mbt_simd_levels(argc, argv, levels + 1);
    CHECK(n_levels >= 1 && strcmp(levels[0]->name, "ref") == 0);
    test_random_shapes();
    test_long_prefill();
    test_extreme_values();
    test_rescale();
    test_empty_row_and_head();
    test_rows_independent();
    for (int mode = 0; mode < 2; mode++)
        printf("%s: worst error vs the naive version %.3g of max |V|, SIMD vs ref %.3g\n",
               k_mode[mode], worst[mode], worst_simd[mode]);
    return mbt_finish();
}
