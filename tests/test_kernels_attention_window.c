/* Windowed attention, rings and soft caps, every kernel level against a
 * straightforward computation and the SIMD tile steps against the scalar
 * one. A windowed layer's cache is a ring: position p lives in slot
 * p % ring, so a row's window can wrap around the ring's end and the slots
 * before its start hold newer positions that it must not see. The rows are
 * those of a prefill (several tokens, each with its own window start) or
 * of a decode step (one token, a GQA group); the window sizes put the
 * starts inside tiles, at tile edges, and before position 0. */
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
static float worst_naive, worst_simd;

/* Positions [start, end) of a linear cache, every score (soft-capped where
 * CAP > 0), softmax, weights rounded to F16 after normalization, times V;
 * double accumulation. */
static void naive(const float *q, const uint16_t *k, const uint16_t *v, int64_t stride, int start,
                  int end, int hd, float scale, float cap, float *out) {
    double s[1024], mx = -INFINITY, sum = 0.0;
    if (end - start > 1024) abort();
    for (int j = start; j < end; j++) {
        double d = 0.0;
        for (int i = 0; i < hd; i++)
            d += (double)mb_half_to_float(mb_fp32_to_fp16(q[i])) *
                 mb_half_to_float(k[j * stride + i]);
        float f = (float)d * scale;
        if (cap > 0) f = cap * tanhf(f / cap);
        s[j - start] = f;
        mx = f > mx ? f : mx;
    }
    for (int j = 0; j < end - start; j++)
        sum += s[j] = exp(s[j] - mx);
    for (int i = 0; i < hd; i++) {
        double o = 0.0;
        for (int j = start; j < end; j++)
            o += (double)mb_half_to_float(mb_fp32_to_fp16((float)(s[j - start] / sum))) *
                 mb_half_to_float(v[j * stride + i]);
        out[i] = (float)o;
    }
}

typedef struct {
    int hd, group, n_tok, pos, window, ring; /* ring 0: linear */
    float cap, q_amp;
    mb_attn_mode mode;
} config;

/* N_TOK tokens at positions pos.. of one KV head with GROUP query heads;
 * the cache holds positions 0..pos+n_tok-1, the ring only the last RING of
 * them (older slots overwritten, as the forward pass leaves them). */
static void run_config(const config *c, uint64_t seed) {
    const int hd = c->hd, n_pos = c->pos + c->n_tok, nr = c->n_tok * c->group;
    const int slots = c->ring > 0 ? c->ring : n_pos;
    uint64_t rng = seed;
    uint16_t *kl = malloc((size_t)n_pos * hd * 2), *vl = malloc((size_t)n_pos * hd * 2);
    uint16_t *kr = malloc((size_t)slots * hd * 2), *vr = malloc((size_t)slots * hd * 2);
    float *q = malloc((size_t)nr * hd * sizeof *q), *want = malloc((size_t)hd * sizeof *want);
    float *out = malloc((size_t)n_levels * nr * hd * sizeof *out);
    float *work = malloc((size_t)mb_attention_work_floats(hd, n_pos) * sizeof *work);
    for (int i = 0; i < n_pos * hd; i++) {
        kl[i] = mb_fp32_to_fp16(mbt_rand_float(&rng));
        vl[i] = mb_fp32_to_fp16(mbt_rand_float(&rng));
    }
    for (int p = 0; p < n_pos; p++) /* later positions overwrite earlier ones */
        memcpy(kr + (size_t)(p % slots) * hd, kl + (size_t)p * hd, (size_t)hd * 2),
            memcpy(vr + (size_t)(p % slots) * hd, vl + (size_t)p * hd, (size_t)hd * 2);
    for (int i = 0; i < nr * hd; i++)
        q[i] = c->q_amp * mbt_rand_float(&rng);
    const float scale = 1.0f / sqrtf((float)hd);
    const float *qr[MB_ATTN_MAX_ROWS];
    float *orow[MB_ATTN_MAX_ROWS];
    int len[MB_ATTN_MAX_ROWS], start[MB_ATTN_MAX_ROWS];
    for (int t = 0, r = 0; t < c->n_tok; t++)
        for (int h = 0; h < c->group; h++, r++) {
            qr[r] = q + (size_t)r * hd;
            len[r] = c->pos + t + 1;
            start[r] = c->window && len[r] > c->window ? len[r] - c->window : 0;
        }
    const float tol = c->mode == MB_ATTN_EXACT ? 1e-4f : 1e-3f;
    for (int l = 0; l < n_levels; l++) {
        for (int r = 0; r < nr; r++)
            orow[r] = out + ((size_t)l * nr + r) * hd;
        mb_attn_rows a = {.hd = hd,
                          .n_rows = nr,
                          .q = qr,
                          .out = orow,
                          .len = len,
                          .start = c->window ? start : NULL,
                          .k = MB_ATTN_KV_F16(kr, hd, c->ring),
                          .v = MB_ATTN_KV_F16(vr, hd, c->ring),
                          .scale = scale,
                          .softcap = c->cap,
                          .mode = c->mode,
                          .work_ctx = n_pos,
                          .group = c->group};
        mb_attention_rows(levels[l], &a, work);
        float err = 0.0f, vs_ref = 0.0f;
        for (int r = 0; r < nr; r++) {
            naive(qr[r], kl, vl, hd, start[r], len[r], hd, scale, c->cap, want);
            for (int i = 0; i < hd; i++) {
                const float got = orow[r][i];
                err = isfinite(got) ? fmaxf(err, fabsf(got - want[i])) : INFINITY;
                vs_ref = fmaxf(vs_ref, fabsf(got - out[(size_t)r * hd + i]));
            }
        }
        worst_naive = fmaxf(worst_naive, err);
        if (l > 0) worst_simd = fmaxf(worst_simd, vs_ref);
        CHECK_MSG(err <= tol && vs_ref <= tol,
                  "%s: hd %d group %d tokens %d pos %d window %d ring %d cap %g mode %d: error "
                  "%.3g vs naive, %.3g vs ref",
                  levels[l]->name, hd, c->group, c->n_tok, c->pos, c->window, c->ring, c->cap,
                  (int)c->mode, err, vs_ref);
    }
    free(kl), free(vl), free(kr), free(vr), free(q), free(want), free(out), free(work);
}

static void test_windows(void) {
    static const int windows[] = {1, 8, 63, 64, 100};
    uint64_t seed = 11;
    for (int mode = 0; mode < 2; mode++)
        for (size_t w = 0; w < sizeof windows / sizeof *windows; w++) {
            const int win = windows[w];
            /* Decode: one token, a group of 4, long past the window. */
            run_config(&(config){80, 4, 1, 300, win, 0, 0, 1, mode}, seed++);
            /* Prefill across the window's edge: 8 tokens x 4 heads. */
            run_config(&(config){64, 4, 8, win + 3, win, 0, 0, 1, mode}, seed++);
            /* Positions before the window has filled. */
            run_config(&(config){64, 2, 5, 0, win, 0, 0, 1, mode}, seed++);
            /* Rings of window + tokens + a margin, wrapped once or many times,
             * the wrap inside a tile and at its edge. */
            for (int spare = 0; spare <= 16; spare += 16) {
                const int ring = win + 8 + spare;
                run_config(&(config){64, 4, 8, 3 * ring + 5, win, ring, 0, 1, mode}, seed++);
                run_config(&(config){80, 8, 1, 5 * ring + 1, win, ring, 0, 1, mode}, seed++);
            }
            run_config(&(config){64, 1, 1, 128 + 63, win, 128, 0, 1, mode}, seed++);
        }
}

/* Gemma 2's cap bends large scores: with queries of amplitude 8 the capped
 * and uncapped results differ by far more than the tolerance. */
static void test_softcap(void) {
    uint64_t seed = 99, rng = 5;
    float q[128], capped[128], plain[128], diff = 0.0f;
    uint16_t k[40 * 128], v[40 * 128];
    for (int i = 0; i < 128; i++)
        q[i] = 8 * mbt_rand_float(&rng);
    for (int i = 0; i < 40 * 128; i++)
        k[i] = mb_fp32_to_fp16(mbt_rand_float(&rng)), v[i] = mb_fp32_to_fp16(mbt_rand_float(&rng));
    naive(q, k, v, 128, 0, 40, 128, 1.0f / sqrtf(128.0f), 0.5f, capped);
    naive(q, k, v, 128, 0, 40, 128, 1.0f / sqrtf(128.0f), 0.0f, plain);
    for (int i = 0; i < 128; i++)
        diff = fmaxf(diff, fabsf(capped[i] - plain[i]));
    CHECK_MSG(diff > 1e-2f, "the cap moves the output by only %g", diff);
    for (int mode = 0; mode < 2; mode++) {
        run_config(&(config){128, 2, 6, 40, 0, 0, 0.5f, 8, mode}, seed++);
        run_config(&(config){128, 2, 1, 200, 8, 40, 50.0f, 8, mode}, seed++);
        run_config(&(config){96, 4, 8, 20, 8, 0, 1.0f, 8, mode}, seed++);
    }
}

int main(int argc, char **argv) {
    /* The reference, then the SIMD levels (test_levels.h). */
    levels[0] = mb_kernels_ref();
    n_levels = 1 + mbt_simd_levels(argc, argv, levels + 1);
    CHECK(n_levels >= 1 && strcmp(levels[0]->name, "ref") == 0);
    test_windows();
    test_softcap();
    printf("worst error vs the naive version %.3g, SIMD vs ref %.3g\n", worst_naive, worst_simd);
    return mbt_finish();
}
