/* Sessions with a quantized KV cache (mb_session_params.kv_type_k / _v):
 *   - types the cache cannot hold (an unknown one; Q8_0 / Q4_0 with a head
 *     size that is not a multiple of 32) are refused with a message;
 *   - the cache takes the bytes of its types (Q8_0 34/64 of F16's, Q4_0
 *     18/64), K and V apart;
 *   - logits stay near the F16 cache's and greedy decoding gives its tokens;
 *   - a saved state loads bit for bit into a session of the same types and
 *     is refused by a session of other types, which stays as it was;
 *   - a batched decode step over sessions of different types gives each
 *     its own step's logits;
 *   - a rewind (what speculative decoding does with rejected drafts)
 *     overwrites the dropped positions: the same bits as never having fed
 *     them; a windowed model's ring wraps with quantized rows too. */
#include <math.h>
#include <string.h>

#include "tensor/types.h"
#include "test_util.h"

enum { N_VOCAB = 259 };

/* A tiny llama with heads of HD values (2 KV heads), and WINDOW > 0 a
 * sliding window on some layers. */
static mb_model *tiny(const char *name, int hd, int window) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s.gguf", mbt_tmpdir(), name);
    mbt_tiny_model cfg = {.n_embd = 4 * hd,
                          .n_layer = 3,
                          .n_head = 4,
                          .n_head_kv = 2,
                          .n_ff = 96,
                          .n_ctx = 4096,
                          .weight_type = MB_TYPE_F32,
                          .seed = 5,
                          .sliding_window = window};
    CHECK_OK(mbt_write_tiny_model(path, &cfg));
    mb_model *m = NULL;
    CHECK_OK(mb_model_load(path, NULL, &m));
    return m;
}

static mb_session *session(mb_model *m, int n_ctx, uint32_t tk, uint32_t tv) {
    mb_session_params p = mb_session_default_params();
    p.n_ctx = n_ctx, p.n_threads = 2, p.kv_type_k = tk, p.kv_type_v = tv;
    mb_session *s = NULL;
    CHECK_OK(mb_session_new(m, &p, &s));
    return s;
}

static void tokens(mb_token *ids, int n, uint64_t seed) {
    for (int i = 0; i < n; i++)
        ids[i] = (mb_token)(3 + mbt_rand_u64(&seed) % 256);
}

static int argmax(const float *x) {
    int best = 0;
    for (int i = 1; i < N_VOCAB; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

static void test_refused(void) {
    mb_model *m16 = tiny("kvq-hd16", 16, 0);
    if (!m16) return;
    mb_session_params p = mb_session_default_params();
    mb_session *s = NULL;
    p.kv_type_k = MB_KV_TYPE_Q8_0;
    CHECK(mb_session_new(m16, &p, &s) == MB_ERR_UNSUPPORTED && !s);
    CHECK(strstr(mb_last_error(), "multiple of 32") != NULL);
    p.kv_type_k = MB_KV_TYPE_F16, p.kv_type_v = 3; /* Q4_1: not a cache type */
    CHECK(mb_session_new(m16, &p, &s) == MB_ERR_INVALID_ARG && !s);
    CHECK(strstr(mb_last_error(), "f16, q8_0 or q4_0") != NULL);
    /* F16 needs no block: this model runs. */
    p.kv_type_v = MB_KV_TYPE_F16;
    CHECK_OK(mb_session_new(m16, &p, &s));
    mb_session_free(s);
    mb_model_free(m16);
}

static void test_bytes(mb_model *m) {
    mb_session *f = session(m, 256, MB_KV_TYPE_F16, MB_KV_TYPE_F16);
    mb_session *q8 = session(m, 256, MB_KV_TYPE_Q8_0, MB_KV_TYPE_Q8_0);
    mb_session *q4 = session(m, 256, MB_KV_TYPE_Q4_0, MB_KV_TYPE_Q4_0);
    mb_session *mix = session(m, 256, MB_KV_TYPE_Q8_0, MB_KV_TYPE_Q4_0);
    if (!f || !q8 || !q4 || !mix) return;
    /* 3 layers x 256 positions x 2 heads x 32 values, K and V. */
    const uint64_t values = 3ull * 256 * 2 * 32;
    CHECK_EQ_INT(mb_session_kv_bytes(f), 2 * values * 2);
    CHECK_EQ_INT(mb_session_kv_bytes(q8), 2 * values / 32 * 34);
    CHECK_EQ_INT(mb_session_kv_bytes(q4), 2 * values / 32 * 18);
    CHECK_EQ_INT(mb_session_kv_bytes(mix), values / 32 * (34 + 18));
    mb_session_free(f), mb_session_free(q8), mb_session_free(q4), mb_session_free(mix);
}

/* Greedy from a prompt: the quantized caches' logits stay near F16's
 * (q8_0 closer than q4_0) and q8_0 picks F16's tokens. */
static void test_greedy(mb_model *m) {
    mb_token prompt[120];
    tokens(prompt, 120, 7);
    static const uint32_t types[3] = {MB_KV_TYPE_F16, MB_KV_TYPE_Q8_0, MB_KV_TYPE_Q4_0};
    mb_session *s[3];
    for (int i = 0; i < 3; i++) {
        s[i] = session(m, 512, types[i], types[i]);
        if (!s[i]) return;
        CHECK_OK(mb_session_eval(s[i], prompt, 120));
    }
    float worst[3] = {0};
    int same_tokens = 1;
    for (int step = 0; step < 48; step++) {
        for (int i = 1; i < 3; i++)
            for (int v = 0; v < N_VOCAB; v++)
                worst[i] =
                    fmaxf(worst[i], fabsf(mb_session_logits(s[i])[v] - mb_session_logits(s[0])[v]));
        const mb_token t = argmax(mb_session_logits(s[0]));
        same_tokens &= argmax(mb_session_logits(s[1])) == t;
        for (int i = 0; i < 3; i++)
            CHECK_OK(mb_session_eval(s[i], &t, 1)); /* all follow F16's tokens */
    }
    printf("logits vs F16 cache: q8_0 %.4f, q4_0 %.4f\n", worst[1], worst[2]);
    CHECK_MSG(worst[1] > 0.0f && worst[1] < 0.002f, "q8_0 logits %g from F16's", worst[1]);
    CHECK_MSG(worst[2] > worst[1] && worst[2] < 0.03f, "q4_0 logits %g from F16's", worst[2]);
    CHECK_MSG(same_tokens, "greedy tokens with a q8_0 cache differ from F16's");
    for (int i = 0; i < 3; i++)
        mb_session_free(s[i]);
}

static void test_state(mb_model *m) {
    mb_token prompt[200];
    tokens(prompt, 200, 3);
    static const uint32_t kv[][2] = {{MB_KV_TYPE_Q8_0, MB_KV_TYPE_Q8_0},
                                     {MB_KV_TYPE_F16, MB_KV_TYPE_Q4_0}};
    for (int c = 0; c < 2; c++) {
        mb_session *a = session(m, 512, kv[c][0], kv[c][1]);
        mb_session *b = session(m, 300, kv[c][0], kv[c][1]);
        mb_session *f = session(m, 512, MB_KV_TYPE_F16, MB_KV_TYPE_F16);
        if (!a || !b || !f) return;
        CHECK_OK(mb_session_eval(a, prompt, 200));
        const size_t n = mb_session_state_size(a);
        void *buf = malloc(n);
        size_t got = 0;
        CHECK_OK(mb_session_state_write(a, buf, n, &got));
        CHECK_OK(mb_session_state_read(b, buf, n));
        CHECK(memcmp(mb_session_logits(a), mb_session_logits(b), N_VOCAB * sizeof(float)) == 0);
        int same = 1;
        for (int i = 0; i < 20; i++) {
            const mb_token t = argmax(mb_session_logits(a));
            CHECK_OK(mb_session_eval(a, &t, 1));
            CHECK_OK(mb_session_eval(b, &t, 1));
            same &=
                memcmp(mb_session_logits(a), mb_session_logits(b), N_VOCAB * sizeof(float)) == 0;
        }
        CHECK_MSG(same, "a loaded quantized cache continues with other logits");
        /* Another session's types: refused, naming both, nothing loaded. */
        CHECK(mb_session_state_read(f, buf, n) == MB_ERR_INVALID_ARG);
        CHECK_MSG(strstr(mb_last_error(), "this session's is K F16, V F16") != NULL, "%s",
                  mb_last_error());
        CHECK_EQ_INT(mb_session_n_past(f), 0);
        free(buf);
        mb_session_free(a), mb_session_free(b), mb_session_free(f);
    }
}

/* Feed N tokens, rewind 12, feed 12 others: the logits of a session that
 * fed only those, bit for bit (the dropped rows were overwritten). A
 * windowed model at 1400 positions wraps its rings (16 + 512 + 16 slots)
 * twice and rewinds within their margin. */
static void test_rewind(mb_model *m, uint32_t type, int n) {
    static mb_token a[1400];
    mb_token b[12];
    tokens(a, n, 21), tokens(b, 12, 22);
    mb_session *x = session(m, 2048, type, type), *y = session(m, 2048, type, type);
    if (!x || !y) return;
    CHECK_OK(mb_session_eval(x, a, (size_t)n));
    CHECK_OK(mb_session_rewind(x, n - 12));
    CHECK_OK(mb_session_eval(x, b, 12));
    CHECK_OK(mb_session_eval(y, a, (size_t)n - 12));
    CHECK_OK(mb_session_eval(y, b, 12));
    CHECK_MSG(memcmp(mb_session_logits(x), mb_session_logits(y), N_VOCAB * sizeof(float)) == 0,
              "%s: a rewound quantized cache differs", mb_type_name(type));
    mb_session_free(x), mb_session_free(y);
}

/* One batched pass over sessions of three cache types (each row reads its
 * own session's cache as its types say) gives each the logits of its own
 * step, up to the blocked kernels' summation order. */
static void test_batch(mb_model *m) {
    static const uint32_t kv[3][2] = {{MB_KV_TYPE_Q8_0, MB_KV_TYPE_Q8_0},
                                      {MB_KV_TYPE_F16, MB_KV_TYPE_Q4_0},
                                      {MB_KV_TYPE_F16, MB_KV_TYPE_F16}};
    mb_token prompt[90];
    tokens(prompt, 90, 9);
    mb_session *b[3], *one[3];
    mb_token next[3];
    for (int i = 0; i < 3; i++) {
        b[i] = session(m, 256, kv[i][0], kv[i][1]);
        one[i] = session(m, 256, kv[i][0], kv[i][1]);
        if (!b[i] || !one[i]) return;
        CHECK_OK(mb_session_eval(b[i], prompt, (size_t)(60 + 10 * i)));
        CHECK_OK(mb_session_eval(one[i], prompt, (size_t)(60 + 10 * i)));
        next[i] = prompt[80 - i];
    }
    mb_batch *batch = NULL;
    CHECK_OK(mb_batch_new(m, 3, 256, 2, &batch));
    if (!batch) return;
    CHECK_OK(mb_batch_decode(batch, b, next, 3));
    for (int i = 0; i < 3; i++) {
        CHECK_OK(mb_session_eval(one[i], &next[i], 1));
        float d = 0.0f;
        for (int v = 0; v < N_VOCAB; v++)
            d = fmaxf(d, fabsf(mb_session_logits(b[i])[v] - mb_session_logits(one[i])[v]));
        CHECK_MSG(d < 1e-4f, "K %s V %s: batched logits %g from the session's own",
                  mb_type_name(kv[i][0]), mb_type_name(kv[i][1]), d);
        mb_session_free(b[i]), mb_session_free(one[i]);
    }
    mb_batch_free(batch);
}

int main(void) {
    test_refused();
    mb_model *m = tiny("kvq-hd32", 32, 0), *w = tiny("kvq-win", 32, 16);
    if (!m || !w) return mbt_finish();
    test_bytes(m);
    test_greedy(m);
    test_state(m);
    test_state(w);
    test_batch(m);
    test_rewind(m, MB_KV_TYPE_Q8_0, 200);
    test_rewind(m, MB_KV_TYPE_Q4_0, 200);
    test_rewind(w, MB_KV_TYPE_Q8_0, 1400);
    mb_model_free(m), mb_model_free(w);
    return mbt_finish();
}
