/* Sessions, the forward pass's invariants and sampling, on tiny random
 * models the test writes itself. */
#include <unistd.h>

#include "test_util.h"
#include "tensor/types.h"

static mb_model *tiny_model(uint32_t type, const char *name) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s.gguf", mbt_tmpdir(), name);
    mbt_tiny_model cfg = {.n_embd = 64,
                          .n_layer = 2,
                          .n_head = 4,
                          .n_head_kv = 2,
                          .n_ff = 96,
                          .n_ctx = 256,
                          .weight_type = type,
                          .seed = 7};
    CHECK_OK(mbt_write_tiny_model(path, &cfg));
    mb_model *m = NULL;
    mb_model_params mp = mb_model_default_params();
    CHECK_OK(mb_model_load(path, &mp, &m));
    return m;
}

static mb_session *new_session(mb_model *m, int n_ctx, int n_threads) {
    mb_session_params sp = mb_session_default_params();
    sp.n_ctx = n_ctx;
    sp.n_threads = n_threads;
    mb_session *s = NULL;
    CHECK_OK(mb_session_new(m, &sp, &s));
    return s;
}

static void make_tokens(mb_token *ids, int n, int n_vocab) {
    uint64_t rng = 99;
    for (int i = 0; i < n; i++)
        ids[i] = (mb_token)(mbt_rand_u64(&rng) % (uint64_t)n_vocab);
}

/* A batched prefill and one-token-at-a-time evaluation are the same
 * computation: the logits after the last token must agree closely (the
 * kernels are the same; only batch layout differs). */
static void test_batch_equals_sequential(mb_model *m) {
    int n_vocab = mb_model_n_vocab(m);
    mb_token ids[100];
    make_tokens(ids, 100, n_vocab);
    mb_session *a = new_session(m, 128, 1), *b = new_session(m, 128, 1);
    CHECK_OK(mb_session_eval(a, ids, 100));
    for (int i = 0; i < 100; i++)
        CHECK_OK(mb_session_eval(b, &ids[i], 1));
    double max_diff = 0;
    for (int i = 0; i < n_vocab; i++) {
        double d = fabs(mb_session_logits(a)[i] - mb_session_logits(b)[i]);
        if (d > max_diff) max_diff = d;
    }
    CHECK_MSG(max_diff < 1e-4, "batched vs sequential logits differ by %g", max_diff);
    CHECK_EQ_INT(mb_session_n_past(a), 100);
    mb_session_free(a);
    mb_session_free(b);
}

/* Every position's logits from one batched call equal those of feeding the
 * tokens one at a time. */
static void test_eval_all(mb_model *m) {
    int n_vocab = mb_model_n_vocab(m);
    enum { N = 70 }; /* more than one prefill chunk */
    mb_token ids[N];
    make_tokens(ids, N, n_vocab);
    mb_session *a = new_session(m, 128, 2), *b = new_session(m, 128, 1);
    float *all = malloc((size_t)N * n_vocab * sizeof(float));
    CHECK_OK(mb_session_eval_all(a, ids, N, all));
    double worst = 0;
    for (int t = 0; t < N; t++) {
        CHECK_OK(mb_session_eval(b, &ids[t], 1));
        for (int i = 0; i < n_vocab; i++)
            worst = fmax(worst, fabs(all[(size_t)t * n_vocab + i] - mb_session_logits(b)[i]));
    }
    CHECK_MSG(worst < 1e-4, "all-position logits differ by %g", worst);
    CHECK(memcmp(all + (size_t)(N - 1) * n_vocab, mb_session_logits(a),
                 (size_t)n_vocab * sizeof(float)) == 0);
    free(all);
    mb_session_free(a);
    mb_session_free(b);
}

/* Threads split rows; each row is computed the same way, so results are
 * bit-identical whatever the thread count. */
static void test_threads_bit_identical(mb_model *m) {
    int n_vocab = mb_model_n_vocab(m);
    mb_token ids[40];
    make_tokens(ids, 40, n_vocab);
    mb_session *a = new_session(m, 64, 1), *b = new_session(m, 64, 2);
    CHECK_OK(mb_session_eval(a, ids, 40));
    CHECK_OK(mb_session_eval(b, ids, 40));
    CHECK(memcmp(mb_session_logits(a), mb_session_logits(b), (size_t)n_vocab * sizeof(float)) == 0);
    mb_session_free(a);
    mb_session_free(b);
}

/* Rewinding and re-feeding reproduces the same logits (the cache past the
 * rewind point is overwritten, never read). */
static void test_rewind(mb_model *m) {
    int n_vocab = mb_model_n_vocab(m);
    mb_token ids[20];
    make_tokens(ids, 20, n_vocab);
    mb_session *s = new_session(m, 64, 1);
    CHECK_OK(mb_session_eval(s, ids, 20));
    float *first = malloc((size_t)n_vocab * sizeof(float));
    memcpy(first, mb_session_logits(s), (size_t)n_vocab * sizeof(float));
    CHECK_OK(mb_session_rewind(s, 10));
    CHECK_OK(mb_session_eval(s, ids + 10, 10));
    CHECK(memcmp(first, mb_session_logits(s), (size_t)n_vocab * sizeof(float)) == 0);
    CHECK(mb_session_rewind(s, 21) == MB_ERR_INVALID_ARG);
    free(first);
    mb_session_free(s);
}

/* A prompt longer than the context is an error naming both numbers, and
 * nothing is evaluated. */
static void test_context_full(mb_model *m) {
    mb_session *s = new_session(m, 16, 1);
    mb_token ids[17] = {0};
    mb_status st = mb_session_eval(s, ids, 17);
    CHECK(st == MB_ERR_CONTEXT_FULL);
    CHECK(strstr(mb_last_error(), "17") && strstr(mb_last_error(), "16"));
    CHECK_EQ_INT(mb_session_n_past(s), 0);
    mb_sampler *smp = NULL;
    mb_sampler_params p = mb_sampler_default_params();
    CHECK_OK(mb_sampler_new(&p, mb_model_n_vocab(m), &smp));
    mb_generate_params gp = mb_generate_default_params();
    gp.n_predict = 4;
    st = mb_generate(s, smp, ids, 17, &gp, NULL);
    CHECK(st == MB_ERR_CONTEXT_FULL);
    CHECK_MSG(strstr(mb_last_error(), "17") != NULL, "message: %s", mb_last_error());
    /* A bad token id is refused before anything runs. */
    mb_token bad = mb_model_n_vocab(m);
    CHECK(mb_session_eval(s, &bad, 1) == MB_ERR_INVALID_ARG);
    mb_sampler_free(smp);
    mb_session_free(s);
}

static void test_default_context(mb_model *m) {
    mb_session *s = new_session(m, 0, 1);
    CHECK_EQ_INT(mb_session_n_ctx(s), 256); /* min(4096, trained 256) */
    CHECK_EQ_INT(mb_session_kv_bytes(s), 2ull * 2 * 256 * 2 * 16 * 2);
    mb_session_free(s);
}

/* Generation stops at max tokens, and the same seed gives the same text. */
typedef struct {
    char text[4096];
    size_t len;
    int tokens;
} collected;

static int collect_text(const char *t, size_t n, void *u) {
    collected *c = u;
    if (c->len + n < sizeof c->text) {
        memcpy(c->text + c->len, t, n);
        c->len += n;
    }
    return 0;
}

static int count_token(mb_token id, const float *logits, int n_vocab, void *u) {
    ((collected *)u)->tokens++;
    return 0;
}

static collected generate_with_seed(mb_model *m, uint64_t seed, int n_predict) {
    collected c = {.len = 0};
    mb_session *s = new_session(m, 128, 1);
    mb_sampler_params p = mb_sampler_default_params();
    p.seed = seed;
    p.temperature = 1.0f;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0;
    mb_sampler *smp = NULL;
    CHECK_OK(mb_sampler_new(&p, mb_model_n_vocab(m), &smp));
    mb_token prompt[2] = {1, 50};
    mb_generate_params gp = mb_generate_default_params();
    gp.n_predict = n_predict;
    gp.on_text = collect_text;
    gp.on_token = count_token;
    gp.user = &c;
    mb_generate_stats st;
    CHECK_OK(mb_generate(s, smp, prompt, 2, &gp, &st));
    CHECK(st.n_generated <= n_predict);
    mb_sampler_free(smp);
    mb_session_free(s);
    return c;
}

static void test_seed_reproducible(mb_model *m) {
    collected a = generate_with_seed(m, 1234, 30), b = generate_with_seed(m, 1234, 30);
    collected c = generate_with_seed(m, 999, 30);
    CHECK(a.len == b.len && memcmp(a.text, b.text, a.len) == 0);
    CHECK(a.tokens == b.tokens && a.tokens <= 30);
    CHECK(!(a.len == c.len && memcmp(a.text, c.text, a.len) == 0));
}

/* A prompt whose first tokens the session already holds (n_cached) gives
 * the same tokens as evaluating it whole; a wrong count is refused. */
static void test_cached_prefix(mb_model *m) {
    mb_token prompt[24];
    make_tokens(prompt, 24, mb_model_n_vocab(m));
    mb_sampler_params p = mb_sampler_default_params();
    p.temperature = 0;
    collected whole = {.len = 0}, cached = {.len = 0};
    mb_session *s = new_session(m, 128, 1);
    mb_sampler *smp = NULL;
    CHECK_OK(mb_sampler_new(&p, mb_model_n_vocab(m), &smp));
    mb_generate_params gp = mb_generate_default_params();
    gp.n_predict = 12;
    gp.on_text = collect_text;
    gp.user = &whole;
    mb_generate_stats st;
    CHECK_OK(mb_generate(s, smp, prompt, 24, &gp, &st));
    CHECK_EQ_INT(st.n_cached, 0);
    mb_sampler_free(smp);
    /* Keep the first 20 positions, as a server slot does for a request
     * that starts with the same 20 tokens. */
    CHECK_OK(mb_session_rewind(s, 20));
    CHECK_OK(mb_sampler_new(&p, mb_model_n_vocab(m), &smp));
    gp.user = &cached;
    gp.n_cached = 20;
    CHECK_OK(mb_generate(s, smp, prompt, 24, &gp, &st));
    CHECK_EQ_INT(st.n_cached, 20);
    CHECK_EQ_INT(st.n_prompt, 24);
    CHECK(whole.len > 0 && whole.len == cached.len &&
          memcmp(whole.text, cached.text, whole.len) == 0);
    /* A count that is not what the session holds is refused. */
    CHECK_OK(mb_session_rewind(s, 19));
    gp.n_cached = 20;
    CHECK(mb_generate(s, smp, prompt, 24, &gp, &st) == MB_ERR_INVALID_ARG);
    gp.n_cached = 19; /* the whole prompt: no logits to start from */
    CHECK(mb_generate(s, smp, prompt, 19, &gp, &st) == MB_ERR_INVALID_ARG);
    mb_sampler_free(smp);
    mb_session_free(s);
}

/* An adapter loaded after a session exists would be skipped by it: refused,
 * with the reason; once the sessions are gone it is the file that decides. */
static void test_lora_after_session(mb_model *m) {
    mb_session *s = NULL;
    CHECK_OK(mb_session_new(m, NULL, &s));
    CHECK(mb_model_load_lora(m, "/nonexistent/adapter.gguf", 1.0f) == MB_ERR_INVALID_ARG);
    CHECK_MSG(strstr(mb_last_error(), "before creating sessions") != NULL, "%s", mb_last_error());
    mb_session_free(s);
    CHECK(mb_model_load_lora(m, "/nonexistent/adapter.gguf", 1.0f) != MB_OK);
    CHECK(strstr(mb_last_error(), "before creating sessions") == NULL);
}

int main(void) {
    mb_model *m = tiny_model(MB_TYPE_F32, "tiny-f32");
    if (!m) return mbt_finish();
    test_batch_equals_sequential(m);
    test_threads_bit_identical(m);
    test_eval_all(m);
    test_rewind(m);
    test_context_full(m);
    test_default_context(m);
    test_seed_reproducible(m);
    test_cached_prefix(m);
    test_lora_after_session(m);
    mb_model_free(m);
    /* Quantized weights go through the 8-bit activation path. */
    mb_model *q = tiny_model(MB_TYPE_Q8_0, "tiny-q8");
    if (q) {
        test_batch_equals_sequential(q);
        test_threads_bit_identical(q);
        mb_model_free(q);
    }
    return mbt_finish();
}
