/* Embeddings (mb_session_embed): the pooled final hidden states of a tiny
 * F32 llama model checked against a forward pass written here from the
 * model's description alone (token embedding, RMSNorm, Q/K/V, RoPE of
 * adjacent pairs, causal grouped-query attention, SwiGLU, output norm) in
 * double precision, reading the weights through the public GGUF reader;
 * mean and last-token pooling, L2 normalization, an input of two prefill
 * chunks, and the errors. */
#include <matchbox/gguf.h>

#include "test_util.h"

enum { D = 64, N_LAYER = 2, N_HEAD = 4, N_HEAD_KV = 2, N_FF = 96, HD = D / N_HEAD };
enum { KV = HD * N_HEAD_KV, CTX = 640, LONG_N = 600 };

static const float *tensor(const mb_gguf *g, const char *fmt, int layer) {
    char name[96];
    snprintf(name, sizeof name, fmt, layer);
    const mb_gguf_tensor *t = mb_gguf_find_tensor(g, name);
    CHECK_MSG(t && t->type == 0, "tensor %s missing or not F32", name);
    return t && t->type == 0 ? (const float *)t->data : NULL;
}

/* out[o] = sum_i w[o][i] x[i], w stored as n_out rows of n_in. */
static void matvec(const float *w, const double *x, int n_in, int n_out, double *out) {
    for (int o = 0; o < n_out; o++) {
        double acc = 0;
        for (int i = 0; i < n_in; i++)
            acc += (double)w[(size_t)o * n_in + i] * x[i];
        out[o] = acc;
    }
}

static void rmsnorm(const double *x, const float *w, double *out) {
    double ss = 0;
    for (int i = 0; i < D; i++)
        ss += x[i] * x[i];
    const double inv = 1.0 / sqrt(ss / D + 1e-5);
    for (int i = 0; i < D; i++)
        out[i] = x[i] * inv * w[i];
}

/* Rotate pairs (2i, 2i+1) of each head by pos * 10000^(-2i/HD). */
static void rope(double *v, int n_heads, int pos) {
    for (int h = 0; h < n_heads; h++)
        for (int i = 0; i < HD / 2; i++) {
            const double th = pos * pow(10000.0, -2.0 * i / HD);
            double *p = v + h * HD + 2 * i, a = p[0], b = p[1];
            p[0] = a * cos(th) - b * sin(th);
            p[1] = a * sin(th) + b * cos(th);
        }
}

/* The normed final hidden state of every token of IDS into H ([n][D]). */
static void reference_hidden(const mb_gguf *g, const mb_token *ids, int n, double *h) {
    double *x = calloc((size_t)n * D, sizeof *x), *k = calloc((size_t)n * KV, sizeof *k);
    double *v = calloc((size_t)n * KV, sizeof *v), *sc = calloc((size_t)n, sizeof *sc);
    double xn[D], q[D], att[D], o[D], gate[N_FF], up[N_FF], down[D];
    const float *emb = tensor(g, "token_embd.weight", 0);
    for (int t = 0; t < n && emb; t++)
        for (int i = 0; i < D; i++)
            x[(size_t)t * D + i] = emb[(size_t)ids[t] * D + i];
    for (int l = 0; l < N_LAYER && emb; l++) {
        const float *an = tensor(g, "blk.%d.attn_norm.weight", l);
        const float *wq = tensor(g, "blk.%d.attn_q.weight", l);
        const float *wk = tensor(g, "blk.%d.attn_k.weight", l);
        const float *wv = tensor(g, "blk.%d.attn_v.weight", l);
        const float *wo = tensor(g, "blk.%d.attn_output.weight", l);
        const float *fn = tensor(g, "blk.%d.ffn_norm.weight", l);
        const float *wg = tensor(g, "blk.%d.ffn_gate.weight", l);
        const float *wu = tensor(g, "blk.%d.ffn_up.weight", l);
        const float *wd = tensor(g, "blk.%d.ffn_down.weight", l);
        if (!an || !wq || !wk || !wv || !wo || !fn || !wg || !wu || !wd) break;
        for (int t = 0; t < n; t++) { /* causal: token t's keys before its query */
            double *xt = x + (size_t)t * D, *kt = k + (size_t)t * KV, *vt = v + (size_t)t * KV;
            rmsnorm(xt, an, xn);
            matvec(wq, xn, D, D, q);
            matvec(wk, xn, D, KV, kt);
            matvec(wv, xn, D, KV, vt);
            rope(q, N_HEAD, t);
            rope(kt, N_HEAD_KV, t);
            for (int hh = 0; hh < N_HEAD; hh++) {
                const int kh = hh / (N_HEAD / N_HEAD_KV);
                double mx = -1e300, sum = 0;
                for (int u = 0; u <= t; u++) {
                    double dot = 0;
                    for (int i = 0; i < HD; i++)
                        dot += q[hh * HD + i] * k[(size_t)u * KV + kh * HD + i];
                    sc[u] = dot / sqrt((double)HD);
                    if (sc[u] > mx) mx = sc[u];
                }
                for (int u = 0; u <= t; u++)
                    sum += (sc[u] = exp(sc[u] - mx));
                for (int i = 0; i < HD; i++) {
                    double acc = 0;
                    for (int u = 0; u <= t; u++)
                        acc += sc[u] * v[(size_t)u * KV + kh * HD + i];
                    att[hh * HD + i] = acc / sum;
                }
            }
            matvec(wo, att, D, D, o);
            for (int i = 0; i < D; i++)
                xt[i] += o[i];
            rmsnorm(xt, fn, xn);
            matvec(wg, xn, D, N_FF, gate);
            matvec(wu, xn, D, N_FF, up);
            for (int i = 0; i < N_FF; i++)
                gate[i] = gate[i] / (1 + exp(-gate[i])) * up[i];
            matvec(wd, gate, N_FF, D, down);
            for (int i = 0; i < D; i++)
                xt[i] += down[i];
        }
    }
    const float *on = tensor(g, "output_norm.weight", 0);
    for (int t = 0; t < n && on; t++)
        rmsnorm(x + (size_t)t * D, on, h + (size_t)t * D);
    free(x), free(k), free(v), free(sc);
}

/* POOLING of the reference's hidden states, normalized when NORMALIZE. */
static void reference_pool(const double *h, int n, int pooling, int normalize, double *out) {
    for (int i = 0; i < D; i++) {
        double acc = 0;
        for (int t = 0; t < n; t++)
            acc += h[(size_t)t * D + i];
        out[i] = pooling == MB_POOL_LAST ? h[(size_t)(n - 1) * D + i] : acc / n;
    }
    double ss = 0;
    for (int i = 0; i < D && normalize; i++)
        ss += out[i] * out[i];
    for (int i = 0; i < D && normalize; i++)
        out[i] /= sqrt(ss);
}

/* The largest difference relative to the reference's largest value: the
 * engine rounds Q, the KV cache and the attention weights to F16. */
static double rel_diff(const float *got, const double *want) {
    double diff = 0, scale = 0;
    for (int i = 0; i < D; i++) {
        diff = fmax(diff, fabs(got[i] - want[i]));
        scale = fmax(scale, fabs(want[i]));
    }
    return diff / scale;
}

static void compare(mb_session *s, const mb_gguf *g, const mb_token *ids, int n) {
    double *h = malloc((size_t)n * D * sizeof *h), want[D];
    float got[D];
    reference_hidden(g, ids, n, h);
    for (int pooling = 0; pooling < 2; pooling++)
        for (int norm = 0; norm < 2; norm++) {
            reference_pool(h, n, pooling, norm, want);
            for (int i = 0; i < D; i++)
                got[i] = NAN;
            CHECK_OK(mb_session_embed(s, ids, (size_t)n, pooling, norm, got));
            const double r = rel_diff(got, want);
            CHECK_MSG(r < 5e-3, "n %d pooling %d normalize %d: relative difference %g", n, pooling,
                      norm, r);
            CHECK_EQ_INT(mb_session_n_past(s), 0);
            if (norm) {
                double ss = 0;
                for (int i = 0; i < D; i++)
                    ss += (double)got[i] * got[i];
                CHECK_NEAR(sqrt(ss), 1.0, 1e-5);
            }
        }
    free(h);
}

int main(void) {
    char path[512];
    snprintf(path, sizeof path, "%s/embed.gguf", mbt_tmpdir());
    mbt_tiny_model cfg = {.n_embd = D,
                          .n_layer = N_LAYER,
                          .n_head = N_HEAD,
                          .n_head_kv = N_HEAD_KV,
                          .n_ff = N_FF,
                          .n_ctx = CTX,
                          .weight_type = 0,
                          .seed = 23};
    CHECK_OK(mbt_write_tiny_model(path, &cfg));
    mb_model *m = NULL;
    mb_model_params mp = mb_model_default_params();
    CHECK_OK(mb_model_load(path, &mp, &m));
    mb_gguf *g = NULL;
    CHECK_OK(mb_gguf_open(path, 1, 0, &g));
    if (!m || !g) return mbt_finish();
    CHECK_EQ_INT(mb_model_n_embd(m), D);
    mb_session *s = mbt_session(m, CTX);
    if (!s) return mbt_finish();

    uint64_t rng = 7;
    mb_token ids[LONG_N];
    for (int i = 0; i < LONG_N; i++)
        ids[i] = 3 + (mb_token)(mbt_rand_u64(&rng) % 256);
    compare(s, g, ids, 1);
    compare(s, g, ids, 9);
    /* Two prefill chunks (the session's batch is 512): the mean spans both. */
    compare(s, g, ids, LONG_N);

    /* The cache is cleared first: a session holding a conversation gives
     * the same embedding as a fresh one, and mean differs from last. */
    float a[D], b[D], c[D];
    CHECK_OK(mb_session_embed(s, ids, 9, MB_POOL_MEAN, 0, a));
    CHECK_OK(mb_session_eval(s, ids + 100, 20));
    CHECK_OK(mb_session_embed(s, ids, 9, MB_POOL_MEAN, 0, b));
    CHECK_OK(mb_session_embed(s, ids, 9, MB_POOL_LAST, 0, c));
    CHECK(memcmp(a, b, sizeof a) == 0);
    CHECK(memcmp(a, c, sizeof a) != 0);
    /* The session generates as before afterwards. */
    CHECK_OK(mb_session_eval(s, ids, 5));
    CHECK_EQ_INT(mb_session_n_past(s), 5);

    /* Errors: nothing to embed, too long for the context (both numbers
     * named), a bad id, a bad pooling; the output is not written. */
    float out[D];
    for (int i = 0; i < D; i++)
        out[i] = 42.0f;
    CHECK(mb_session_embed(s, ids, 0, MB_POOL_MEAN, 1, out) == MB_ERR_INVALID_ARG);
    mb_token *many = calloc(CTX + 1, sizeof *many);
    for (int i = 0; i <= CTX; i++)
        many[i] = 5;
    CHECK(mb_session_embed(s, many, CTX + 1, MB_POOL_MEAN, 1, out) == MB_ERR_CONTEXT_FULL);
    CHECK_MSG(strstr(mb_last_error(), "641") && strstr(mb_last_error(), "640"), "%s",
              mb_last_error());
    many[3] = 100000;
    CHECK(mb_session_embed(s, many, 10, MB_POOL_MEAN, 1, out) == MB_ERR_INVALID_ARG);
    CHECK_MSG(strstr(mb_last_error(), "100000") != NULL, "%s", mb_last_error());
    CHECK(mb_session_embed(s, ids, 3, 2, 1, out) == MB_ERR_INVALID_ARG);
    CHECK(out[0] == 42.0f);
    /* The whole context is accepted. */
    many[3] = 5;
    CHECK_OK(mb_session_embed(s, many, CTX, MB_POOL_LAST, 1, out));
    free(many);

    mb_session_free(s);
    mb_gguf_close(g);
    mb_model_free(m);
    return mbt_finish();
}
