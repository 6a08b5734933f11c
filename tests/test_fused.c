/* The fused per-row steps of the forward pass (model/fused.h) give the same
 * bytes as the separate steps they replaced, for one row (decode, on the
 * caller) and a batch split over the pool: RMSNorm then the activation
 * conversion; RoPE of Q and K then K/V in the cache as F16, Q8_0 or Q4_0
 * (NORM and NEOX layouts, at several positions, in a ring); SwiGLU (the table's) then the
 * conversion; Q, K and V through one pool job (mb_matmul_parts) and one matmul each. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "kernels/matmul.h"
#include "model/fused.h"
#include "model/rope.h"
#include "tensor/types.h"
#include "test_util.h"

enum { E = 256, F = 512, NH = 4, NKV = 2, HD = 32, MAXN = 9 };

static void test_norm_quant(mb_threadpool *pool, uint32_t wtype, int n) {
    static float x[MAXN * E], w[E], xn_a[MAXN * E], xn_b[MAXN * E];
    uint64_t rng = 11;
    for (int i = 0; i < n * E; i++)
        x[i] = 4.0f * mbt_rand_float(&rng);
    for (int i = 0; i < E; i++)
        w[i] = 1.0f + mbt_rand_float(&rng);
    const size_t bytes = mb_act_bytes(wtype, E, n);
    mb_act a = {.act_type = MB_TYPE_COUNT, .data = malloc(bytes)};
    mb_act b = {.act_type = MB_TYPE_COUNT, .data = malloc(bytes)};
    for (int t = 0; t < n; t++)
        mb_rmsnorm(xn_a + t * E, x + t * E, w, E, 1e-5f);
    mb_act_prepare(&a, wtype, xn_a, E, n);
    mb_fused_norm_quant(pool, 2, x, xn_b, w, n, E, 1e-5f, &b, wtype);
    CHECK(memcmp(xn_a, xn_b, sizeof(float) * n * E) == 0);
    CHECK(a.act_type == b.act_type && a.n_rows == b.n_rows && a.n_in == b.n_in &&
          a.row_bytes == b.row_bytes);
    CHECK_MSG(memcmp(a.data, b.data, bytes) == 0, "norm+quant %s rows %d: bytes differ",
              mb_type_name(wtype), n);
    CHECK(mb_act_matches(&b, wtype));
    free(a.data), free(b.data);
}

/* With NORM: per-head Q/K norms and a Q scale (qwen3, gemma3); SLOTS < the
 * positions: a windowed layer's ring. K rows stored as TK, V rows as TV
 * (F16, Q8_0, Q4_0), the bytes of the reference encoder. */
static void test_rope_kv(mb_threadpool *pool, mb_rope_mode mode, int n, int pos, int norm,
                         int slots, uint32_t tk, uint32_t tv) {
    static float q[MAXN * NH * HD], k[MAXN * NKV * HD], v[MAXN * NKV * HD];
    static float q2[MAXN * NH * HD], k2[MAXN * NKV * HD];
    static uint8_t kc[(MAXN + 40) * NKV * HD * 2], vc[(MAXN + 40) * NKV * HD * 2];
    uint8_t *kp = kc, *vp = vc;
    mb_kv_layer layer = {.pages = {&kp, &vp}, .n_pages = 1, .page_slots = slots};
    mb_kv_cache cache = {.n_layer = 1, .type = {tk, tv}, .layers = &layer};
    uint64_t rb[2];
    CHECK(mb_type_row_bytes(tk, NKV * HD, &rb[0]) && mb_type_row_bytes(tv, NKV * HD, &rb[1]));
    cache.row_bytes[0] = (size_t)rb[0], cache.row_bytes[1] = (size_t)rb[1];
    cache.head_bytes[0] = (size_t)rb[0] / NKV, cache.head_bytes[1] = (size_t)rb[1] / NKV;
    mb_hparams hp = {0};
    hp.n_rot = HD, hp.rope_base = 10000.0f, hp.rope_freq_scale = 1.0f, hp.rope_mode = mode;
    mb_rope r;
    CHECK_OK(mb_rope_init(&r, &hp, NULL));
    uint64_t rng = 5;
    for (int i = 0; i < n * NH * HD; i++)
        q[i] = q2[i] = mbt_rand_float(&rng);
    for (int i = 0; i < n * NKV * HD; i++)
        k[i] = k2[i] = mbt_rand_float(&rng), v[i] = mbt_rand_float(&rng);
    float wq[HD], wk[HD];
    for (int i = 0; i < HD; i++)
        wq[i] = 1.0f + 0.5f * mbt_rand_float(&rng), wk[i] = 1.0f + 0.5f * mbt_rand_float(&rng);
    const float qs = norm ? 0.125f : 1.0f;
    mb_fused_rope_store a = {.rope = &r,
                             .q = q,
                             .k = k,
                             .v = v,
                             .kv = &cache,
                             .layer = 0,
                             .q_norm = norm ? wq : NULL,
                             .k_norm = norm ? wk : NULL,
                             .eps = 1e-6f,
                             .q_scale = qs,
                             .n = n,
                             .pos = pos,
                             .n_head = NH,
                             .n_head_kv = NKV,
                             .hd = HD};
    mb_fused_rope_kv(pool, 2, &a);
    int same = 1;
    for (int t = 0; t < n; t++) {
        float *qt = q2 + t * NH * HD, *kt = k2 + t * NKV * HD;
        for (int h = 0; norm && h < NH; h++)
            mb_rmsnorm(qt + h * HD, qt + h * HD, wq, HD, 1e-6f);
        for (int h = 0; norm && h < NKV; h++)
            mb_rmsnorm(kt + h * HD, kt + h * HD, wk, HD, 1e-6f);
        mb_rope_apply(&r, qt, NH, HD, pos + t);
        mb_rope_apply(&r, kt, NKV, HD, pos + t);
        for (int i = 0; i < NH * HD; i++)
            qt[i] *= qs;
        uint8_t want_k[NKV * HD * 2], want_v[NKV * HD * 2];
        mb_type_get(tk)->from_float(k2 + t * NKV * HD, want_k, NKV * HD);
        mb_type_get(tv)->from_float(v + t * NKV * HD, want_v, NKV * HD);
        const size_t slot = (size_t)((pos + t) % slots);
        same &= memcmp(kc + slot * rb[0], want_k, rb[0]) == 0;
        same &= memcmp(vc + slot * rb[1], want_v, rb[1]) == 0;
        same &= mb_kv_row(&cache, 0, MB_KV_V, pos + t) == vc + slot * rb[1];
    }
    CHECK(memcmp(q, q2, sizeof(float) * n * NH * HD) == 0);
    CHECK_MSG(same, "rope+store mode %d rows %d pos %d norm %d slots %d types %s/%s: cache differs",
              (int)mode, n, pos, norm, slots, mb_type_name(tk), mb_type_name(tv));
}

static void test_swiglu_quant(mb_threadpool *pool, uint32_t wtype, int n) {
    static float g[MAXN * F], g2[MAXN * F], u[MAXN * F];
    uint64_t rng = 7;
    for (int i = 0; i < n * F; i++)
        g[i] = g2[i] = 6.0f * mbt_rand_float(&rng), u[i] = mbt_rand_float(&rng);
    const size_t bytes = mb_act_bytes(wtype, F, n);
    mb_act a = {.act_type = MB_TYPE_COUNT, .data = malloc(bytes)};
    mb_act b = {.act_type = MB_TYPE_COUNT, .data = malloc(bytes)};
    const mb_kernel_table *kt = mb_kernels();
    (kt->swiglu ? kt->swiglu : mb_swiglu)(g2, g2, u, (int64_t)n * F);
    mb_act_prepare(&a, wtype, g2, F, n);
    mb_fused_glu_quant(pool, 2, g, u, n, F, MB_FFN_SILU, &b, wtype);
    CHECK(memcmp(g, g2, sizeof(float) * n * F) == 0);
    CHECK_MSG(memcmp(a.data, b.data, bytes) == 0, "swiglu+quant %s rows %d: bytes differ",
              mb_type_name(wtype), n);
    free(a.data), free(b.data);
}

/* mb_matmul_parts (Q, K and V in one pool job) against mb_matmul per
 * matrix: the same bits, for one row (the joint split, bands crossing from
 * one matrix into the next) and a batch (matrix by matrix), on the pool and
 * on the caller. */
static void test_matmul_parts(mb_threadpool *pool, uint32_t wtype, int n) {
    enum { IN = 512, NP = 3 };
    static const int64_t outs[NP] = {67, 16, 13};
    uint64_t rng = 5;
    static float x[MAXN * IN], want[NP][MAXN * 67], got[NP][MAXN * 67];
    for (int i = 0; i < n * IN; i++)
        x[i] = 2.0f * mbt_rand_float(&rng);
    mb_matrix m[NP];
    mb_matmul_part parts[NP];
    for (int p = 0; p < NP; p++) {
        uint64_t rb = 0;
        mb_type_row_bytes(wtype, IN, &rb);
        float *row = malloc(sizeof(float) * IN * (size_t)outs[p]);
        for (int64_t i = 0; i < IN * outs[p]; i++)
            row[i] = 0.1f * mbt_rand_float(&rng);
        uint8_t *data = malloc((size_t)rb * (size_t)outs[p]);
        mb_type_get(wtype)->from_float(row, data, IN * outs[p]);
        free(row);
        m[p] = (mb_matrix){data, wtype, IN, outs[p], (size_t)rb, MB_LAYOUT_ROWS};
        parts[p] = (mb_matmul_part){&m[p], got[p]};
    }
    mb_act a = {.act_type = MB_TYPE_COUNT, .data = malloc(mb_act_bytes(wtype, IN, n))};
    mb_act_prepare(&a, wtype, x, IN, n);
    for (int use_pool = 0; use_pool < 2; use_pool++) {
        for (int p = 0; p < NP; p++) {
            mb_matmul(NULL, 1, &m[p], &a, want[p], m[p].n_out, 0);
            memset(got[p], 0xff, sizeof got[p]);
        }
        mb_matmul_parts(use_pool ? pool : NULL, 2, parts, NP, &a);
        for (int p = 0; p < NP; p++)
            CHECK_MSG(!memcmp(got[p], want[p], sizeof(float) * (size_t)(n * outs[p])),
                      "matmul parts %s rows %d part %d pool %d: results differ",
                      mb_type_name(wtype), n, p, use_pool);
    }
    for (int p = 0; p < NP; p++)
        free((void *)m[p].data);
    free(a.data);
}

int main(void) {
    mb_threadpool *pool = NULL;
    CHECK_OK(mb_threadpool_new(2, &pool));
    if (!pool) return mbt_finish();
    static const uint32_t types[] = {MB_TYPE_F32, MB_TYPE_F16, MB_TYPE_Q8_0, MB_TYPE_Q4_K};
    for (int n = 1; n <= MAXN; n += MAXN - 1)
        for (size_t i = 0; i < sizeof types / sizeof *types; i++) {
            test_norm_quant(pool, types[i], n);
            test_swiglu_quant(pool, types[i], n);
            test_matmul_parts(pool, types[i], n);
        }
    for (int n = 1; n <= 3; n += 2)
        test_matmul_parts(pool, MB_TYPE_Q4_0, n);
    /* The cache's types: F16, the quantized ones, K and V apart. */
    static const uint32_t kv[][2] = {{MB_TYPE_F16, MB_TYPE_F16},
                                     {MB_TYPE_Q8_0, MB_TYPE_Q8_0},
                                     {MB_TYPE_Q4_0, MB_TYPE_Q4_0},
                                     {MB_TYPE_F16, MB_TYPE_Q4_0},
                                     {MB_TYPE_Q8_0, MB_TYPE_F16}};
    for (size_t c = 0; c < sizeof kv / sizeof *kv; c++)
        for (int n = 1; n <= MAXN; n += MAXN - 1)
            for (int pos = 0; pos <= 37; pos += 37) {
                const uint32_t tk = kv[c][0], tv = kv[c][1];
                test_rope_kv(pool, MB_ROPE_NORM, n, pos, 0, MAXN + 40, tk, tv);
                test_rope_kv(pool, MB_ROPE_NEOX, n, pos, 0, MAXN + 40, tk, tv);
                /* Head norms with a Q scale; a ring of 11 slots that wraps. */
                test_rope_kv(pool, MB_ROPE_NEOX, n, pos, 1, MAXN + 40, tk, tv);
                test_rope_kv(pool, MB_ROPE_NEOX, n, pos, 1, 11, tk, tv);
            }
    mb_threadpool_free(pool);
    return mbt_finish();
}
