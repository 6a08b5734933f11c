/* Attention over paged and quantized KV caches (kernels/attention.h,
 * mb_attn_kv), every kernel level:
 *   - the F16 decoders of Q8_0 / Q4_0 blocks give the reference's bits at
 *     every level, and the reference's bits are the GGUF decoder's values
 *     rounded to F16;
 *   - a cache cut into pages (scattered in memory, pages of a tile, of less
 *     than a tile, of more; a ring of pages under a window) gives the same
 *     bits as one linear page;
 *   - a quantized cache gives the bits of the F16 cache holding its decoded
 *     rows, and stays within a stated distance of the F16 cache of the
 *     unquantized rows (q8_0 closer than q4_0). */
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

enum { HD = 64, NKV = 2, N = 300, MAXT = 8 };

static const uint32_t qtypes[] = {MB_TYPE_Q8_0, MB_TYPE_Q4_0};

static size_t row_bytes(uint32_t type, int n) {
    uint64_t b = 0;
    CHECK(mb_type_row_bytes(type, (uint64_t)n, &b));
    return (size_t)b;
}

/* Blocks of every amplitude the cache meets, and scales at the F16 range's
 * ends: the largest (products round to infinity) and subnormal ones. */
static void test_decoders(void) {
    enum { NB = 12 };
    float x[NB * 32];
    uint8_t blocks[NB * 34];
    uint16_t want[NB * 32], got[NB * 32];
    float back[NB * 32];
    uint64_t rng = 3;
    static const float amp[NB] = {1e-6f, 1e-3f, 0.1f, 1, 3, 10, 100, 1000, 3e4f, 1, 2, 5};
    for (int b = 0; b < NB; b++)
        for (int j = 0; j < 32; j++)
            x[b * 32 + j] = amp[b] * mbt_rand_float(&rng);
    for (size_t t = 0; t < 2; t++) {
        const uint32_t type = qtypes[t];
        const size_t bs = row_bytes(type, 32);
        mb_type_get(type)->from_float(x, blocks, NB * 32);
        /* Scales the encoder never writes: 65504, and subnormals. */
        const uint16_t odd_d[3] = {0x7BFF, 0x0001, 0x03FF};
        for (int k = 0; k < 3; k++)
            memcpy(blocks + (size_t)(NB - 3 + k) * bs, &odd_d[k], 2);
        mb_kernels_ref()->kv_to_f16[type](blocks, want, NB * 32);
        mb_type_get(type)->to_float(blocks, back, NB * 32);
        int same = 1;
        for (int i = 0; i < NB * 32; i++)
            same &= want[i] == mb_fp32_to_fp16(back[i]);
        CHECK_MSG(same, "%s: the F16 decoder differs from the GGUF decoder", mb_type_name(type));
        for (int l = 1; l < n_levels; l++) {
            memset(got, 0xAB, sizeof got);
            levels[l]->kv_to_f16[type](blocks, got, NB * 32);
            CHECK_MSG(memcmp(got, want, sizeof got) == 0, "%s: %s decoder differs from ref",
                      levels[l]->name, mb_type_name(type));
        }
    }
}

/* A cache of N positions of NKV heads: rows of TYPE in N_PAGES pages of
 * PAGE_SLOTS slots, position p in page (p / page_slots) % n_pages (later
 * positions overwrite earlier ones: a ring when the pages hold fewer than
 * N), the pages in reverse order in memory. */
typedef struct {
    uint8_t *mem;
    const uint8_t *pages[64];
    int n_pages, page_slots;
    size_t rb;
    uint32_t type;
} cache;

static uint8_t *cache_slot(cache *c, int p) {
    return (uint8_t *)c->pages[(p / c->page_slots) % c->n_pages] +
           (size_t)(p % c->page_slots) * c->rb;
}

/* ROWS: N rows of NKV x HD floats, encoded; or with F16_OF, the F16 rows
 * that F16_OF's rows decode to. */
static void cache_fill(cache *c, const float *rows, uint32_t type, int page_slots, int n_pages,
                       cache *f16_of) {
    CHECK(n_pages <= 64);
    *c = (cache){.n_pages = n_pages, .page_slots = page_slots, .type = type};
    c->rb = row_bytes(type, NKV * HD);
    c->mem = malloc((size_t)n_pages * page_slots * c->rb);
    for (int i = 0; i < n_pages; i++)
        c->pages[i] = c->mem + (size_t)(n_pages - 1 - i) * page_slots * c->rb;
    for (int p = 0; p < N; p++) {
        if (f16_of)
            mb_kernels_ref()->kv_to_f16[f16_of->type](
                cache_slot(f16_of, p), (uint16_t *)(void *)cache_slot(c, p), NKV * HD);
        else
            mb_type_get(type)->from_float(rows + (size_t)p * NKV * HD, cache_slot(c, p), NKV * HD);
    }
}

static mb_attn_kv view(const cache *c, int kvh) {
    return (mb_attn_kv){.pages = c->pages,
                        .n_pages = c->n_pages,
                        .page_slots = c->page_slots,
                        .row_bytes = (int64_t)c->rb,
                        .head_off = (int64_t)(kvh * c->rb / NKV),
                        .type = c->type};
}

/* The last N_TOK tokens (positions N - n_tok .. N - 1) x 4 query heads of
 * KV head KVH, optionally windowed, into OUT ([rows][HD]). */
static void run(const mb_kernel_table *kt, const cache *k, const cache *v, int kvh, int n_tok,
                int window, mb_attn_mode mode, const float *q, float *out, float *work) {
    const float *qr[MB_ATTN_MAX_ROWS];
    float *o[MB_ATTN_MAX_ROWS];
    int len[MB_ATTN_MAX_ROWS], start[MB_ATTN_MAX_ROWS], nr = 0;
    for (int t = 0; t < n_tok; t++)
        for (int h = 0; h < 4; h++, nr++) {
            qr[nr] = q + (size_t)nr * HD, o[nr] = out + (size_t)nr * HD;
            len[nr] = N - n_tok + t + 1;
            start[nr] = window && len[nr] > window ? len[nr] - window : 0;
        }
    mb_attn_rows a = {.hd = HD,
                      .n_rows = nr,
                      .q = qr,
                      .out = o,
                      .len = len,
                      .start = window ? start : NULL,
                      .k = view(k, kvh),
                      .v = view(v, kvh),
                      .scale = 0.125f,
                      .mode = mode,
                      .work_ctx = N,
                      .group = 4};
    mb_attention_rows(kt, &a, work);
}

static float rows_k[N * NKV * HD], rows_v[N * NKV * HD], q[MB_ATTN_MAX_ROWS * HD];

static void fill_inputs(void) {
    uint64_t rng = 17;
    /* Keys with a few large channels, as RoPE'd keys have; values plain. */
    for (int i = 0; i < N * NKV * HD; i++) {
        rows_k[i] = mbt_rand_float(&rng) * (i % HD < 4 ? 6.0f : 1.5f);
        rows_v[i] = mbt_rand_float(&rng);
    }
    for (int i = 0; i < MB_ATTN_MAX_ROWS * HD; i++)
        q[i] = 1.5f * mbt_rand_float(&rng);
}

static float max_diff(const float *a, const float *b, int n) {
    float d = 0.0f;
    for (int i = 0; i < n; i++)
        d = isfinite(a[i]) && isfinite(b[i]) ? fmaxf(d, fabsf(a[i] - b[i])) : INFINITY;
    return d;
}

/* Pages of a multiple of the tile cut the tiles where one page does: the
 * same bits. Other page sizes cut them elsewhere, which moves the online
 * softmax's roundings: within 2e-4 (outputs of order 0.1-1). */
static void test_pages(void) {
    static const uint32_t types[] = {MB_TYPE_F16, MB_TYPE_Q8_0, MB_TYPE_Q4_0};
    static const int sizes[] = {64, 128, 48, 100, 32};
    const int nr = MAXT * 4;
    float *work = malloc(sizeof(float) * mb_attention_work_floats(HD, N));
    float *want = malloc(sizeof(float) * nr * HD), *got = malloc(sizeof(float) * nr * HD);
    for (size_t ti = 0; ti < 3; ti++) {
        cache lk, lv;
        cache_fill(&lk, rows_k, types[ti], N, 1, NULL);
        cache_fill(&lv, rows_v, types[ti], N, 1, NULL);
        for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++) {
            const int ps = sizes[si], exact_bits = ps % MB_ATTN_TILE == 0;
            for (int ring = 0; ring < 2; ring++) {
                /* A ring of 3 pages holds a window of 100 and 8 tokens. */
                const int np = ring ? 3 : (N + ps - 1) / ps, window = ring ? 100 : 0;
                if (ring && np * ps < window + MAXT) continue;
                cache pk, pv;
                cache_fill(&pk, rows_k, types[ti], ps, np, NULL);
                cache_fill(&pv, rows_v, types[ti], ps, np, NULL);
                for (int l = 0; l < n_levels; l++)
                    for (int mode = 0; mode < 2; mode++)
                        for (int n_tok = 1; n_tok <= MAXT; n_tok += MAXT - 1)
                            for (int kvh = 0; kvh < NKV; kvh++) {
                                run(levels[l], &lk, &lv, kvh, n_tok, window, mode, q, want, work);
                                run(levels[l], &pk, &pv, kvh, n_tok, window, mode, q, got, work);
                                const float d = max_diff(want, got, n_tok * 4 * HD);
                                CHECK_MSG(exact_bits ? d == 0.0f : d <= 2e-4f,
                                          "%s %s: pages of %d x %d%s, mode %d, %d tokens: "
                                          "differs from one page by %g",
                                          levels[l]->name, mb_type_name(types[ti]), np, ps,
                                          ring ? " (ring)" : "", mode, n_tok, d);
                            }
                free(pk.mem), free(pv.mem);
            }
        }
        free(lk.mem), free(lv.mem);
    }
    free(work), free(want), free(got);
}

/* A quantized cache is its decoded F16 cache, bit for bit, at every level;
 * against the F16 cache of the unquantized rows it moves the output by at
 * most the stated tolerance (outputs are of order 0.1 here). */
static void test_quantized(void) {
    static const uint32_t kv[][2] = {{MB_TYPE_Q8_0, MB_TYPE_Q8_0},
                                     {MB_TYPE_Q4_0, MB_TYPE_Q4_0},
                                     {MB_TYPE_F16, MB_TYPE_Q8_0},
                                     {MB_TYPE_Q8_0, MB_TYPE_Q4_0}};
    const int nr = MAXT * 4;
    float *work = malloc(sizeof(float) * mb_attention_work_floats(HD, N));
    float *want = malloc(sizeof(float) * nr * HD), *got = malloc(sizeof(float) * nr * HD);
    float *f16 = malloc(sizeof(float) * nr * HD);
    cache fk, fv;
    cache_fill(&fk, rows_k, MB_TYPE_F16, 64, 5, NULL);
    cache_fill(&fv, rows_v, MB_TYPE_F16, 64, 5, NULL);
    for (size_t c = 0; c < sizeof kv / sizeof *kv; c++) {
        const uint32_t tk = kv[c][0], tv = kv[c][1];
        /* The worst a 4-bit side may move an output; 8 bits: a tenth of it. */
        const float tol = tk == MB_TYPE_Q4_0 || tv == MB_TYPE_Q4_0 ? 0.08f : 0.005f;
        cache qk, qv, dk, dv;
        cache_fill(&qk, rows_k, tk, 64, 5, NULL);
        cache_fill(&qv, rows_v, tv, 64, 5, NULL);
        if (tk == MB_TYPE_F16)
            cache_fill(&dk, rows_k, MB_TYPE_F16, 64, 5, NULL);
        else
            cache_fill(&dk, NULL, MB_TYPE_F16, 64, 5, &qk);
        if (tv == MB_TYPE_F16)
            cache_fill(&dv, rows_v, MB_TYPE_F16, 64, 5, NULL);
        else
            cache_fill(&dv, NULL, MB_TYPE_F16, 64, 5, &qv);
        float worst = 0.0f;
        for (int l = 0; l < n_levels; l++)
            for (int mode = 0; mode < 2; mode++)
                for (int n_tok = 1; n_tok <= MAXT; n_tok += MAXT - 1)
                    for (int w = 0; w < 2; w++) {
                        const int window = w ? 70 : 0;
                        run(levels[l], &qk, &qv, 1, n_tok, window, mode, q, got, work);
                        run(levels[l], &dk, &dv, 1, n_tok, window, mode, q, want, work);
                        run(levels[l], &fk, &fv, 1, n_tok, window, mode, q, f16, work);
                        const int n = n_tok * 4 * HD;
                        CHECK_MSG(memcmp(got, want, sizeof(float) * n) == 0,
                                  "%s K %s V %s mode %d: not the decoded cache's bits",
                                  levels[l]->name, mb_type_name(tk), mb_type_name(tv), mode);
                        worst = fmaxf(worst, max_diff(got, f16, n));
                    }
        printf("K %s, V %s: at most %.4f from the F16 cache (tolerance %.3f)\n", mb_type_name(tk),
               mb_type_name(tv), worst, tol);
        CHECK_MSG(worst <= tol && worst > 0.0f, "K %s V %s: %g from the F16 cache",
                  mb_type_name(tk), mb_type_name(tv), worst);
        free(qk.mem), free(qv.mem), free(dk.mem), free(dv.mem);
    }
    free(fk.mem), free(fv.mem);
    free(work), free(want), free(got), free(f16);
}

int main(int argc, char **argv) {
    levels[0] = mb_kernels_ref();
    n_levels = 1 + mbt_simd_levels(argc, argv, levels + 1);
    fill_inputs();
    test_decoders();
    test_pages();
    test_quantized();
    return mbt_finish();
}
