/* Batched decoding: a session decoded in an mb_batch_decode pass together
 * with others gets the logits, and the cache, it would get decoding alone
 * (the kernels give each row of a batch the single-row result), on plain,
 * quantized, biased (qwen2) and mixture-of-experts tiny models. */
#include "tensor/types.h"
#include "test_util.h"

enum { N_SESS = 3, STEPS = 5 };

static mb_model *tiny(const char *name, mbt_tiny_model cfg) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s.gguf", mbt_tmpdir(), name);
    cfg.n_embd = 64, cfg.n_layer = 2, cfg.n_head = 4, cfg.n_head_kv = 2, cfg.n_ff = 96;
    cfg.n_ctx = 128, cfg.seed = 11;
    CHECK_OK(mbt_write_tiny_model(path, &cfg));
    mb_model *m = NULL;
    mb_model_params mp = mb_model_default_params();
    CHECK_OK(mb_model_load(path, &mp, &m));
    return m;
}

static int argmax(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

/* Sessions at different positions (prompts of 7, 1 and 30 tokens) decode
 * STEPS greedy tokens in batches; twins decode the same tokens one by one. */
static void same_as_alone(const char *what, mb_model *m) {
    if (!m) return;
    int n_vocab = mb_model_n_vocab(m);
    mb_session *batched[N_SESS], *alone[N_SESS];
    mb_token next[N_SESS];
    const int prompt_len[N_SESS] = {7, 1, 30};
    uint64_t rng = 5;
    for (int i = 0; i < N_SESS; i++) {
        batched[i] = mbt_session(m, 64);
        alone[i] = mbt_session(m, 64);
        mb_token prompt[30];
        for (int k = 0; k < prompt_len[i]; k++)
            prompt[k] = (mb_token)(3 + mbt_rand_u64(&rng) % (uint64_t)(n_vocab - 3));
        CHECK_OK(mb_session_eval(batched[i], prompt, (size_t)prompt_len[i]));
        CHECK_OK(mb_session_eval(alone[i], prompt, (size_t)prompt_len[i]));
        next[i] = argmax(mb_session_logits(alone[i]), n_vocab);
    }
    mb_batch *b = NULL;
    CHECK_OK(mb_batch_new(m, N_SESS, 64, 2, &b));
    double worst = 0;
    for (int step = 0; step < STEPS && b; step++) {
        CHECK_OK(mb_batch_decode(b, batched, next, N_SESS));
        for (int i = 0; i < N_SESS; i++) {
            CHECK_OK(mb_session_eval(alone[i], &next[i], 1));
            const float *a = mb_session_logits(batched[i]), *r = mb_session_logits(alone[i]);
            for (int v = 0; v < n_vocab; v++)
                worst = fmax(worst, fabs((double)a[v] - r[v]));
            CHECK_EQ_INT(mb_session_n_past(batched[i]), mb_session_n_past(alone[i]));
            next[i] = argmax(r, n_vocab);
        }
    }
    CHECK_MSG(worst <= 1e-5, "%s: batched logits differ from decoding alone by %g", what, worst);
    mb_batch_free(b);
    for (int i = 0; i < N_SESS; i++) {
        mb_session_free(batched[i]);
        mb_session_free(alone[i]);
    }
    mb_model_free(m);
}

static void refusals(void) {
    mb_model *m = tiny("batch-refuse", (mbt_tiny_model){0});
    if (!m) return;
    mb_session *a = mbt_session(m, 8), *big = mbt_session(m, 64);
    mb_batch *b = NULL;
    CHECK_OK(mb_batch_new(m, 2, 16, 1, &b));
    mb_token ids[3] = {5, 6, 7}, prompt[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    mb_session *twice[2] = {a, a}, *one[1] = {a}, *three[3] = {a, big, a}, *wide[1] = {big};
    CHECK(mb_batch_decode(b, twice, ids, 2) == MB_ERR_INVALID_ARG);
    CHECK(mb_batch_decode(b, three, ids, 3) == MB_ERR_INVALID_ARG); /* more than max */
    CHECK(mb_batch_decode(b, wide, ids, 1) == MB_ERR_INVALID_ARG);  /* context over the batch's */
    mb_token bad = mb_model_n_vocab(m);
    CHECK(mb_batch_decode(b, one, &bad, 1) == MB_ERR_INVALID_ARG);
    CHECK_OK(mb_session_eval(a, prompt, 8));
    CHECK(mb_batch_decode(b, one, ids, 1) == MB_ERR_CONTEXT_FULL);
    CHECK_EQ_INT(mb_session_n_past(a), 8); /* nothing fed */
    mb_batch_free(b);
    mb_session_free(a);
    mb_session_free(big);
    mb_model_free(m);
}

int main(void) {
    same_as_alone("f32", tiny("batch-f32", (mbt_tiny_model){0}));
    same_as_alone("q8_0", tiny("batch-q8", (mbt_tiny_model){.weight_type = MB_TYPE_Q8_0}));
    same_as_alone("qwen2 bias",
                  tiny("batch-qwen2", (mbt_tiny_model){.arch = "qwen2", .qkv_bias = 1}));
    same_as_alone("moe", tiny("batch-moe", (mbt_tiny_model){.n_expert = 4, .n_expert_used = 2}));
    refusals();
    return mbt_finish();
}
