/* The app-facing parts of matchbox.h around sessions:
 *   - the log callback receives the library's messages, with their levels,
 *     and mb_log_set(NULL) gives them back to stderr;
 *   - params structs: struct_size 0 or below the first version is refused
 *     naming the struct; a larger one (a newer caller) is read up to what
 *     the library knows;
 *   - the abort callback: an aborted prefill (at any poll, in any chunk)
 *     leaves n_past and the logits as they were and the session usable,
 *     windowed rings included; mb_generate reports MB_STOP_ABORTED;
 *   - the stop reasons have names. */
#include <pthread.h>

#include "test_util.h"

enum { N_VOCAB = 259 };

static mb_model *tiny(const char *name, int window, int verbose) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s.gguf", mbt_tmpdir(), name);
    mbt_tiny_model cfg = {.n_embd = 64,
                          .n_layer = 2,
                          .n_head = 4,
                          .n_head_kv = 2,
                          .n_ff = 96,
                          .n_ctx = 2048,
                          .seed = 5,
                          .sliding_window = window};
    CHECK_OK(mbt_write_tiny_model(path, &cfg));
    mb_model_params mp = mb_model_default_params();
    mp.verbose = verbose;
    mb_model *m = NULL;
    CHECK_OK(mb_model_load(path, &mp, &m));
    return m;
}

/* ---- log ---- */

typedef struct {
    pthread_mutex_t mu;
    int n[4];
    char text[4096];
} captured;

static void capture(mb_log_level level, const char *msg, void *user) {
    captured *c = user;
    pthread_mutex_lock(&c->mu);
    if (level >= MB_LOG_ERROR && level <= MB_LOG_DEBUG) c->n[level]++;
    size_t used = strlen(c->text);
    snprintf(c->text + used, sizeof c->text - used, "%d:%s", (int)level, msg);
    pthread_mutex_unlock(&c->mu);
}

static void test_log(void) {
    captured c = {.mu = PTHREAD_MUTEX_INITIALIZER};
    mb_log_set(capture, &c);
    mb_model *m = tiny("log", 0, 1);
    mb_session_params sp = mb_session_default_params();
    sp.verbose = 1;
    sp.n_ctx = 4096; /* longer than the 2048 trained: a warning */
    mb_session *s = NULL;
    if (m) CHECK_OK(mb_session_new(m, &sp, &s));
    mb_log_set(NULL, NULL);
    CHECK_MSG(strstr(c.text, "2:loaded ") != NULL, "%s", c.text);
    CHECK_MSG(strstr(c.text, "2:KV cache: 4096 positions") != NULL, "%s", c.text);
    CHECK_MSG(strstr(c.text, "1:warning: context 4096 is longer") != NULL, "%s", c.text);
    CHECK_EQ_INT(c.n[MB_LOG_INFO], 2);
    CHECK_EQ_INT(c.n[MB_LOG_WARN], 1);
    CHECK_EQ_INT(c.n[MB_LOG_ERROR], 0);
    /* Every message is a whole line. */
    CHECK(c.text[strlen(c.text) - 1] == '\n');
    /* Restored: nothing more arrives here. */
    mb_session_free(s);
    s = NULL;
    if (m) CHECK_OK(mb_session_new(m, &sp, &s));
    CHECK_EQ_INT(c.n[MB_LOG_INFO], 2);
    mb_session_free(s);
    mb_model_free(m);
}

/* ---- params ---- */

static void test_params(mb_model *m) {
    mb_session *s = NULL;
    mb_session_params sp = {0};
    CHECK(mb_session_new(m, &sp, &s) == MB_ERR_INVALID_ARG && !s);
    CHECK_MSG(strstr(mb_last_error(), "mb_session_params.struct_size is 0") &&
                  strstr(mb_last_error(), "mb_session_default_params()"),
              "%s", mb_last_error());
    sp.struct_size = sizeof(size_t) + sizeof(int); /* only n_ctx: older than any release */
    CHECK(mb_session_new(m, &sp, &s) == MB_ERR_INVALID_ARG);
    /* A newer caller's struct: fields past ours are not read. */
    struct {
        mb_session_params p;
        int newer_field;
    } big = {mb_session_default_params(), 77};
    big.p.struct_size = sizeof big;
    big.p.n_ctx = 96;
    CHECK_OK(mb_session_new(m, &big.p, &s));
    if (s) CHECK_EQ_INT(mb_session_n_ctx(s), 96);

    mb_model *m2 = NULL;
    mb_model_params mp = {.use_mmap = 1};
    CHECK(mb_model_load("/nonexistent", &mp, &m2) == MB_ERR_INVALID_ARG);
    CHECK(strstr(mb_last_error(), "mb_model_params") != NULL);
    mb_sampler *smp = NULL;
    mb_sampler_params smpp = {.temperature = 0};
    CHECK(mb_sampler_new(&smpp, N_VOCAB, &smp) == MB_ERR_INVALID_ARG);
    CHECK(strstr(mb_last_error(), "mb_sampler_params") != NULL);
    smpp = mb_sampler_default_params();
    smpp.temperature = 0;
    CHECK_OK(mb_sampler_new(&smpp, N_VOCAB, &smp));
    mb_token prompt[3] = {1, 40, 41};
    mb_generate_params gp = {.n_predict = 2};
    if (s && smp) {
        CHECK(mb_generate(s, smp, prompt, 3, &gp, NULL) == MB_ERR_INVALID_ARG);
        CHECK(strstr(mb_last_error(), "mb_generate_params") != NULL);
        CHECK_EQ_INT(mb_session_n_past(s), 0);
        gp = mb_generate_default_params();
        CHECK_EQ_INT(gp.struct_size, sizeof gp);
        gp.n_predict = 2;
        mb_generate_stats st;
        CHECK_OK(mb_generate(s, smp, prompt, 3, &gp, &st));
        CHECK_EQ_INT(st.stop_reason, MB_STOP_MAX_TOKENS);
        CHECK_EQ_INT(st.n_generated, 2);
    }
    mb_chat_render_params rp = {.messages_json = "[]", .template_text = "x", .template_len = 1};
    char *out = NULL;
    size_t len = 0;
    CHECK(mb_chat_render_template(NULL, &rp, &out, &len) == MB_ERR_INVALID_ARG);
    CHECK(strstr(mb_last_error(), "mb_chat_render_params") != NULL);
    rp.struct_size = sizeof rp;
    CHECK_OK(mb_chat_render_template(NULL, &rp, &out, &len));
    CHECK(out && strcmp(out, "x") == 0);
    free(out);
    mb_sampler_free(smp);
    mb_session_free(s);
}

/* ---- abort ---- */

typedef struct {
    int polls, stop_at; /* stop at the poll numbered STOP_AT (0 first); -1 never */
} aborter;

static int abort_after(void *user) {
    aborter *a = user;
    return a->stop_at >= 0 && a->polls++ >= a->stop_at;
}

/* A prompt of 1300 tokens in chunks of 512 on a 2-layer model polls 6
 * times. Whichever poll aborts, the session keeps its 37 tokens and their
 * logits, and then takes the prompt as a session that never saw the abort. */
static void test_abort_prefill(mb_model *m, const char *what) {
    enum { N0 = 37, N = 1300 };
    static mb_token ids[N0 + N];
    uint64_t rng = 9;
    for (int i = 0; i < N0 + N; i++)
        ids[i] = (mb_token)(3 + mbt_rand_u64(&rng) % 256);
    mb_session *ref = mbt_session(m, 2048);
    if (!ref) return;
    CHECK_OK(mb_session_eval(ref, ids, N0));
    CHECK_OK(mb_session_eval(ref, ids + N0, N));
    const int stops[] = {0, 1, 2, 3, 5};
    for (size_t k = 0; k < sizeof stops / sizeof stops[0]; k++) {
        mb_session *s = mbt_session(m, 2048);
        if (!s) break;
        aborter ab = {.stop_at = -1};
        mb_session_set_abort(s, abort_after, &ab);
        CHECK_OK(mb_session_eval(s, ids, N0));
        CHECK_EQ_INT(ab.polls, 0); /* counting starts now */
        float before[N_VOCAB];
        memcpy(before, mb_session_logits(s), sizeof before);
        ab.stop_at = stops[k];
        mb_status st = mb_session_eval(s, ids + N0, N);
        CHECK_MSG(st == MB_ERR_ABORTED, "%s, poll %d: %s", what, stops[k], mb_status_str(st));
        CHECK_EQ_INT(ab.polls, stops[k] + 1);
        CHECK_EQ_INT(mb_session_n_past(s), N0);
        CHECK_MSG(memcmp(mb_session_logits(s), before, sizeof before) == 0,
                  "%s, poll %d: the logits changed", what, stops[k]);
        /* Usable: the same prompt again, not aborted, ends as the reference. */
        ab.stop_at = -1;
        CHECK_OK(mb_session_eval(s, ids + N0, N));
        CHECK_MSG(memcmp(mb_session_logits(s), mb_session_logits(ref), sizeof before) == 0,
                  "%s, poll %d: the logits differ from an unaborted session", what, stops[k]);
        mb_session_free(s);
    }
    mb_session_free(ref);
}

typedef struct {
    int n_tokens, stop_after; /* abort once STOP_AFTER tokens came out */
} gen_abort;

static int gen_poll(void *user) {
    gen_abort *g = user;
    return g->stop_after >= 0 && g->n_tokens >= g->stop_after;
}
static int gen_token(mb_token id, const float *logits, int n_vocab, void *user) {
    (void)id, (void)logits, (void)n_vocab;
    ((gen_abort *)user)->n_tokens++;
    return 0;
}

static void test_abort_generate(mb_model *m) {
    mb_session *s = mbt_session(m, 256);
    mb_sampler_params p = mb_sampler_default_params();
    p.temperature = 0;
    mb_sampler *smp = NULL;
    CHECK_OK(mb_sampler_new(&p, N_VOCAB, &smp));
    if (!s || !smp) return;
    mb_token prompt[4] = {1, 70, 71, 72};
    gen_abort g = {.stop_after = 0};
    mb_session_set_abort(s, gen_poll, &g);
    mb_generate_params gp = mb_generate_default_params();
    gp.n_predict = 20;
    gp.on_token = gen_token;
    gp.user = &g;
    mb_generate_stats st;
    /* Aborted in the prefill: an error, nothing fed. */
    CHECK(mb_generate(s, smp, prompt, 4, &gp, &st) == MB_ERR_ABORTED);
    CHECK_EQ_INT(st.stop_reason, MB_STOP_ABORTED);
    CHECK_EQ_INT(mb_session_n_past(s), 0);
    /* Aborted while the fifth token is fed: four fed after the prompt. */
    g = (gen_abort){.stop_after = 5};
    CHECK_OK(mb_generate(s, smp, prompt, 4, &gp, &st));
    CHECK_EQ_INT(st.stop_reason, MB_STOP_ABORTED);
    CHECK_EQ_INT(st.n_generated, 5);
    CHECK_EQ_INT(mb_session_n_past(s), 4 + 4);
    /* Removed: generation runs to its limit. */
    mb_session_set_abort(s, NULL, NULL);
    CHECK_OK(mb_session_rewind(s, 0));
    CHECK_OK(mb_generate(s, smp, prompt, 4, &gp, &st));
    CHECK_EQ_INT(st.stop_reason, MB_STOP_MAX_TOKENS);
    mb_sampler_free(smp);
    mb_session_free(s);
}

static void test_stop_reason_names(void) {
    const char *seen[MB_STOP_ABORTED + 1];
    for (int r = MB_STOP_MAX_TOKENS; r <= MB_STOP_ABORTED; r++) {
        seen[r] = mb_stop_reason_str((mb_stop_reason)r);
        CHECK(seen[r] && strcmp(seen[r], "unknown") != 0);
        for (int q = 0; q < r; q++)
            CHECK(strcmp(seen[q], seen[r]) != 0);
    }
    CHECK(strcmp(mb_stop_reason_str((mb_stop_reason)99), "unknown") == 0);
    CHECK(strcmp(mb_status_str(MB_ERR_ABORTED), "aborted") == 0);
}

int main(void) {
    test_log();
    mb_model *m = tiny("plain", 0, 0);
    /* Window 16: rings of 16 + 512 + 16 slots, overwritten by the third
     * chunk (an abort there replays the 37 tokens). */
    mb_model *w = tiny("windowed", 16, 0);
    if (m && w) {
        test_params(m);
        test_abort_prefill(m, "plain");
        test_abort_prefill(w, "windowed");
        test_abort_generate(m);
    }
    test_stop_reason_names();
    mb_model_free(m);
    mb_model_free(w);
    return mbt_finish();
}
