/* The architecture features beyond dense llama, each by a property that
 * defines it: mixture-of-experts routing and expert computation, QKV biases,
 * qwen2's NeoX RoPE in the whole model, and the sliding-window notice. */
#include <fcntl.h>
#include <unistd.h>

#include "core/threadpool.h"
#include "model/moe.h"
#include "test_util.h"

/* ---- routing ------------------------------------------------------------ */

/* Top-k of the softmax, renormalized: the same as a softmax over the chosen
 * experts' logits alone (Mixtral's definition). */
static void test_route(void) {
    float logits[5] = {1.0f, 3.0f, 2.0f, 0.5f, -1.0f};
    int sel[5];
    float w[5];
    mb_moe_route(logits, 5, 2, sel, w);
    CHECK_EQ_INT(sel[0], 1);
    CHECK_EQ_INT(sel[1], 2);
    double e = exp(1.0); /* softmax over {3, 2}: e/(e+1), 1/(e+1) */
    CHECK_NEAR(w[0], e / (e + 1), 1e-6);
    CHECK_NEAR(w[1], 1 / (e + 1), 1e-6);
    /* The router's probabilities are left in LOGITS, summing to 1. */
    CHECK_NEAR(logits[0] + logits[1] + logits[2] + logits[3] + logits[4], 1.0, 1e-6);

    /* Ties go to the lower index; k = 1 gives weight 1. */
    float tied[4] = {0.0f, 2.0f, 2.0f, 2.0f};
    mb_moe_route(tied, 4, 2, sel, w);
    CHECK(sel[0] == 1 && sel[1] == 2);
    CHECK_NEAR(w[0], 0.5, 1e-7);
    float one[3] = {-5.0f, 4.0f, 1.0f};
    mb_moe_route(one, 3, 1, sel, w);
    CHECK(sel[0] == 1 && w[0] == 1.0f);
    /* k = n: every expert, weights = the full softmax. */
    float all[3] = {0.0f, 1.0f, 2.0f};
    mb_moe_route(all, 3, 3, sel, w);
    CHECK(sel[0] == 2 && sel[1] == 1 && sel[2] == 0);
    CHECK_NEAR(w[0], exp(2.0) / (1 + exp(1.0) + exp(2.0)), 1e-6);
}

/* ---- one MoE block on hand-made F32 matrices ---------------------------- */

enum { D = 4, FF = 3, NE = 5, K = 2, NT = 3 };

static float silu(float x) {
    return x / (1 + expf(-x));
}

static mb_matrix f32_matrix(const float *data, int n_in, int n_out) {
    return (mb_matrix){(const uint8_t *)data, MB_TYPE_F32, n_in, n_out,
                       (size_t)n_in * sizeof(float), MB_LAYOUT_ROWS};
}

/* The router is 2 x the identity on experts 0-3 (their logit is 2 x[e]) and
 * -10 x sum(x) on expert 4, so expert 4 is never chosen for these
 * non-negative inputs; its weights are NaN, which any computation of it
 * would spread into the output. */
static void test_moe_block(void) {
    static float router[NE * D], gate[NE][FF * D], up[NE][FF * D], down[NE][D * FF];
    uint64_t rng = 5;
    for (int e = 0; e < NE; e++)
        for (int i = 0; i < D; i++)
            router[e * D + i] = e < 4 ? (e == i ? 2.0f : 0.0f) : -10.0f;
    for (int e = 0; e < NE; e++)
        for (int i = 0; i < FF * D; i++) {
            gate[e][i] = e == 4 ? NAN : mbt_rand_float(&rng);
            up[e][i] = e == 4 ? NAN : mbt_rand_float(&rng);
            down[e][i] = e == 4 ? NAN : mbt_rand_float(&rng);
        }
    mb_matrix r = f32_matrix(router, D, NE), g[NE], u[NE], dn[NE];
    for (int e = 0; e < NE; e++) {
        g[e] = f32_matrix(gate[e], D, FF);
        u[e] = f32_matrix(up[e], D, FF);
        dn[e] = f32_matrix(down[e], FF, D);
    }
    mb_moe_layer layer = {.gate_inp = &r, .gate = g, .up = u, .down = dn};
    /* Token 0 -> experts 0, 2; token 1 -> 3, 1; token 2 -> 0, 3. Experts 0
     * and 3 serve two tokens each. */
    const float xn[NT * D] = {3, 1, 2, 0, 0, 2, 0.5f, 3, 1, 0, 0, 0.5f};
    const int want_sel[NT][K] = {{0, 2}, {3, 1}, {0, 3}};
    float x[NT * D], want[NT * D];
    for (int i = 0; i < NT * D; i++)
        x[i] = want[i] = 0.25f * (float)i; /* the residual stream */
    for (int t = 0; t < NT; t++) {
        const float *xt = xn + t * D;
        double l0 = 2 * xt[want_sel[t][0]], l1 = 2 * xt[want_sel[t][1]];
        double w0 = 1 / (1 + exp(l1 - l0));
        for (int j = 0; j < K; j++) {
            int e = want_sel[t][j];
            double wj = j == 0 ? w0 : 1 - w0;
            float h[FF];
            for (int f = 0; f < FF; f++) {
                double a = 0, b = 0;
                for (int i = 0; i < D; i++) {
                    a += gate[e][f * D + i] * xt[i];
                    b += up[e][f * D + i] * xt[i];
                }
                h[f] = silu((float)a) * (float)b;
            }
            for (int o = 0; o < D; o++) {
                double y = 0;
                for (int f = 0; f < FF; f++)
                    y += down[e][o * FF + f] * h[f];
                want[t * D + o] += (float)(wj * y);
            }
        }
    }
    mb_threadpool *pool = NULL;
    CHECK_OK(mb_threadpool_new(2, &pool));
    mb_moe_work *w = NULL;
    CHECK_OK(mb_moe_work_new(NE, K, D, FF, 8, 2, &w));
    if (!pool || !w) return;
    mb_moe_forward(w, pool, &layer, xn, NT, x);
    int finite = 1;
    double worst = 0;
    for (int i = 0; i < NT * D; i++) {
        finite &= isfinite(x[i]) != 0;
        worst = fmax(worst, fabs((double)x[i] - want[i]));
    }
    CHECK_MSG(finite, "an unrouted (NaN) expert was computed");
    CHECK_MSG(worst < 1e-5, "MoE block differs from the direct computation by %g", worst);
    for (int t = 0; t < NT; t++)
        CHECK(w->sel[t * K] == want_sel[t][0] && w->sel[t * K + 1] == want_sel[t][1]);
    /* Grouped by expert: 4 expert blocks for 6 (token, expert) pairs. */
    CHECK_EQ_INT(w->expert_runs, 4);
    CHECK_EQ_INT(w->n_rows[0], 2);
    CHECK_EQ_INT(w->n_rows[4], 0);

    /* Token by token gives the same result. Not the same bits: a batch of
     * float-weight rows goes through the blocked gemm kernel, whose
     * summation order differs from the single-row dot (float rounding). */
    float one[NT * D];
    for (int i = 0; i < NT * D; i++)
        one[i] = 0.25f * (float)i;
    for (int t = 0; t < NT; t++)
        mb_moe_forward(w, pool, &layer, xn + t * D, 1, one + t * D);
    double apart = 0;
    for (int i = 0; i < NT * D; i++)
        apart = fmax(apart, fabs((double)one[i] - x[i]));
    CHECK_MSG(apart < 1e-5, "token by token differs from the batch by %g", apart);
    CHECK_EQ_INT(w->expert_runs, 4 + 6);
    mb_moe_work_free(w);
    mb_threadpool_free(pool);
}

/* ---- whole models ----------------------------------------------------- */

static mb_model *load(const char *name, mbt_tiny_model cfg) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s.gguf", mbt_tmpdir(), name);
    cfg.n_embd = 64;
    cfg.n_layer = 2;
    cfg.n_head = 4;
    cfg.n_head_kv = 2;
    cfg.n_ff = 96;
    cfg.n_ctx = 256;
    cfg.weight_type = MB_TYPE_F32;
    cfg.seed = 11;
    CHECK_OK(mbt_write_tiny_model(path, &cfg));
    mb_model *m = NULL;
    mb_model_params mp = mb_model_default_params();
    mb_model_load(path, &mp, &m);
    return m;
}

/* Logits (n_vocab) after evaluating IDS[0..n) in a fresh session. */
static void logits_after(mb_model *m, const mb_token *ids, int n, float *out) {
    mb_session_params sp = mb_session_default_params();
    sp.n_ctx = 64;
    sp.n_threads = 2;
    mb_session *s = NULL;
    CHECK_OK(mb_session_new(m, &sp, &s));
    if (!s) return;
    CHECK_OK(mb_session_eval(s, ids, (size_t)n));
    memcpy(out, mb_session_logits(s), (size_t)mb_model_n_vocab(m) * sizeof(float));
    mb_session_free(s);
}

static int same(const float *a, const float *b, int n) {
    return memcmp(a, b, (size_t)n * sizeof(float)) == 0;
}

enum { NV = 259 };

/* qwen2 needs its biases; llama files may have them. A bias is added where
 * it belongs: with one token, attention is that token's V whatever Q and K
 * are, so Q/K biases change nothing at position 0 and a V bias does; from
 * position 1 on, Q/K biases change the scores. All-zero biases change
 * nothing at all. */
static void test_qkv_bias(void) {
    mb_model *missing = load("qwen2_nobias", (mbt_tiny_model){.arch = "qwen2"});
    CHECK(missing == NULL);
    CHECK_MSG(strstr(mb_last_error(), "blk.0.attn_q.bias") != NULL, "%s", mb_last_error());

    mb_model *plain = load("llama_plain", (mbt_tiny_model){.arch = NULL});
    mb_model *zero = load("llama_zero_bias", (mbt_tiny_model){.qkv_bias = 2});
    mb_model *qk = load("llama_qk_bias", (mbt_tiny_model){.qkv_bias = 3});
    mb_model *qkv = load("llama_qkv_bias", (mbt_tiny_model){.qkv_bias = 1});
    CHECK(plain && zero && qk && qkv);
    if (!plain || !zero || !qk || !qkv) return;
    static float a[NV], b[NV];
    const mb_token ids[4] = {1, 70, 80, 90};
    logits_after(plain, ids, 4, a);
    logits_after(zero, ids, 4, b);
    CHECK(same(a, b, NV));
    logits_after(plain, ids, 1, a);
    logits_after(qk, ids, 1, b);
    CHECK_MSG(same(a, b, NV), "Q/K biases changed a one-token attention");
    logits_after(qkv, ids, 1, b);
    CHECK_MSG(!same(a, b, NV), "the V bias was not applied");
    logits_after(plain, ids, 2, a);
    logits_after(qk, ids, 2, b);
    CHECK_MSG(!same(a, b, NV), "the Q/K biases were not applied");
    mb_model_free(plain);
    mb_model_free(zero);
    mb_model_free(qk);
    mb_model_free(qkv);
}

/* The same tensors read as qwen2 (NeoX RoPE) and as llama (adjacent pairs):
 * identical at position 0, where RoPE is the identity, different after. */
static void test_qwen2_rope_layout(void) {
    mb_model *q = load("as_qwen2", (mbt_tiny_model){.arch = "qwen2", .qkv_bias = 1});
    mb_model *l = load("as_llama", (mbt_tiny_model){.qkv_bias = 1});
    CHECK(q && l);
    if (q && l) {
        CHECK(strncmp(mb_model_desc(q), "qwen2,", 6) == 0);
        static float a[NV], b[NV];
        const mb_token ids[3] = {1, 100, 200};
        logits_after(q, ids, 1, a);
        logits_after(l, ids, 1, b);
        CHECK(same(a, b, NV));
        logits_after(q, ids, 3, a);
        logits_after(l, ids, 3, b);
        CHECK(!same(a, b, NV));
    }
    mb_model_free(q);
    mb_model_free(l);
}

/* A whole MoE model: described with its experts, and a batched prefill
 * (tokens grouped by expert) equals feeding the tokens one at a time. */
static void test_moe_model(void) {
    mb_model *m = load("moe", (mbt_tiny_model){.n_expert = 4, .n_expert_used = 2});
    CHECK(m != NULL);
    if (!m) return;
    CHECK_MSG(strstr(mb_model_desc(m), "4 experts (2 used)") != NULL, "%s", mb_model_desc(m));
    mb_session_params sp = mb_session_default_params();
    sp.n_ctx = 64;
    sp.n_threads = 2;
    mb_session *s = NULL;
    CHECK_OK(mb_session_new(m, &sp, &s));
    if (!s) return;
    mb_token ids[20];
    for (int i = 0; i < 20; i++)
        ids[i] = (mb_token)(3 + (i * 37) % 256);
    static float batch[NV], step[NV];
    CHECK_OK(mb_session_eval(s, ids, 20));
    memcpy(batch, mb_session_logits(s), sizeof batch);
    CHECK_OK(mb_session_rewind(s, 0));
    for (int i = 0; i < 20; i++)
        CHECK_OK(mb_session_eval(s, &ids[i], 1));
    memcpy(step, mb_session_logits(s), sizeof step);
    double worst = 0;
    for (int i = 0; i < NV; i++)
        worst = fmax(worst, fabs((double)batch[i] - step[i]));
    CHECK_MSG(worst < 1e-4, "batched MoE prefill differs by %g", worst);
    mb_session_free(s);
    mb_model_free(m);
}

/* Mistral-style files: the window is read and described, and a verbose
 * session says what its windowed layers keep: a ring once the context is
 * longer than the window plus a prefill chunk and 16, else every slot. */
static char *session_stderr(mb_model *m, int n_ctx) {
    char path[512];
    snprintf(path, sizeof path, "%s/stderr_%d.txt", mbt_tmpdir(), n_ctx);
    fflush(stderr);
    int saved = dup(2), fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 2);
    close(fd);
    mb_session_params sp = mb_session_default_params();
    sp.n_ctx = n_ctx;
    sp.verbose = 1;
    mb_session *s = NULL;
    mb_status st = mb_session_new(m, &sp, &s);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    CHECK_OK(st);
    mb_session_free(s);
    return mbt_read_file(path, NULL);
}

static void test_sliding_window(void) {
    mb_model *m = load("mistral", (mbt_tiny_model){.sliding_window = 32});
    CHECK(m != NULL);
    if (!m) return;
    CHECK_MSG(strstr(mb_model_desc(m), "sliding window 32") != NULL, "%s", mb_model_desc(m));
    char *inside = session_stderr(m, 64), *beyond = session_stderr(m, 2048);
    CHECK_MSG(inside && strstr(inside, "2 windowed layers (window 32) x 64 slots (") &&
                  !strstr(inside, "ring"),
              "%s", inside ? inside : "(none)");
    /* 32 + 512 + 16 slots of 2048: 27.3% of full attention's cache. */
    CHECK_MSG(beyond && strstr(beyond, "2 windowed layers (window 32) x 560 slots (ring)") &&
                  strstr(beyond, "27.3% of full"),
              "%s", beyond ? beyond : "(none)");
    free(inside);
    free(beyond);
    mb_model_free(m);
}

int main(void) {
    test_route();
    test_moe_block();
    test_qkv_bias();
    test_qwen2_rope_layout();
    test_moe_model();
    test_sliding_window();
    return mbt_finish();
}
