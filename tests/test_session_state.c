/* Session state save and load (mb_session_state_*):
 *   - a state saved after a prompt and loaded into a fresh session gives
 *     bit-identical logits and the same greedy continuation, from a file
 *     and from memory, into a session of another context size too;
 *   - a windowed model's ring (wrapped, held from a position past 0) loads
 *     and continues bit for bit, rewinds included;
 *   - a state of another model, of more positions than the context, and a
 *     truncated, extended or corrupted state are refused with a message,
 *     leaving the session as it was. */
#include "tensor/types.h"
#include "test_util.h"

enum { N_VOCAB = 259 };

static mb_model *tiny(const char *name, int n_layer, int window, uint32_t type) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s.gguf", mbt_tmpdir(), name);
    mbt_tiny_model cfg = {.n_embd = 64,
                          .n_layer = n_layer,
                          .n_head = 4,
                          .n_head_kv = 2,
                          .n_ff = 96,
                          .n_ctx = 4096,
                          .weight_type = type,
                          .seed = 11,
                          .sliding_window = window};
    CHECK_OK(mbt_write_tiny_model(path, &cfg));
    mb_model *m = NULL;
    CHECK_OK(mb_model_load(path, NULL, &m));
    return m;
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

static int same_logits(const mb_session *a, const mb_session *b) {
    return memcmp(mb_session_logits(a), mb_session_logits(b), N_VOCAB * sizeof(float)) == 0;
}

/* N greedy steps on A and B side by side: the same tokens, the same logits
 * bit for bit (EXACT) or the same tokens only. */
static void check_continuation(mb_session *a, mb_session *b, int n, int exact) {
    int same_tokens = 1, same_bits = 1;
    for (int i = 0; i < n; i++) {
        mb_token ta = argmax(mb_session_logits(a)), tb = argmax(mb_session_logits(b));
        same_tokens &= ta == tb;
        CHECK_OK(mb_session_eval(a, &ta, 1));
        CHECK_OK(mb_session_eval(b, &tb, 1));
        same_bits &= same_logits(a, b);
    }
    CHECK_MSG(same_tokens, "the greedy continuations differ");
    if (exact) CHECK_MSG(same_bits, "the logits differ after loading");
}

static void *state_bytes(const mb_session *s, size_t *n) {
    *n = mb_session_state_size(s);
    void *buf = malloc(*n);
    size_t got = 0;
    CHECK_OK(mb_session_state_write(s, buf, *n, &got));
    CHECK_EQ_INT(got, *n);
    return buf;
}

/* Save to a file, load into a fresh session: the same logits and tokens. */
static void test_round_trip(mb_model *m) {
    mb_token prompt[300];
    tokens(prompt, 300, 1);
    mb_session *a = mbt_session(m, 512), *b = mbt_session(m, 512), *c = mbt_session(m, 1024);
    if (!a || !b || !c) return;
    CHECK_OK(mb_session_eval(a, prompt, 300));
    char path[512];
    snprintf(path, sizeof path, "%s/state.mbs", mbt_tmpdir());
    CHECK_OK(mb_session_state_save(a, path));
    size_t file_len = 0;
    char *file = mbt_read_file(path, &file_len);
    size_t n = 0;
    char *mem = state_bytes(a, &n);
    CHECK(file && file_len == n && memcmp(file, mem, n) == 0);
    /* A small buffer is refused and says how much is needed. */
    size_t need = 0;
    CHECK(mb_session_state_write(a, mem, n - 1, &need) == MB_ERR_INVALID_ARG);
    CHECK_EQ_INT(need, n);

    CHECK_OK(mb_session_state_load(b, path));
    CHECK_EQ_INT(mb_session_n_past(b), 300);
    CHECK_MSG(same_logits(a, b), "the loaded logits differ");
    /* Another context size holds it too. */
    CHECK_OK(mb_session_state_read(c, mem, n));
    CHECK_EQ_INT(mb_session_n_past(c), 300);
    CHECK(same_logits(a, c));
    check_continuation(b, c, 8, 0);
    /* Loading over a session that has moved on puts it back. */
    CHECK_OK(mb_session_state_read(b, mem, n));
    CHECK_EQ_INT(mb_session_n_past(b), 300);
    check_continuation(a, b, 24, 1);
    /* An empty session's state loads too, and empties a session. */
    mb_session *e = mbt_session(m, 64);
    size_t n_empty = 0;
    char *empty = state_bytes(e, &n_empty);
    CHECK_OK(mb_session_state_read(b, empty, n_empty));
    CHECK_EQ_INT(mb_session_n_past(b), 0);
    CHECK_OK(mb_session_eval(b, prompt, 10));
    free(empty);
    free(file);
    free(mem);
    mb_session_free(a);
    mb_session_free(b);
    mb_session_free(c);
    mb_session_free(e);
}

/* A window of 16 and a context of 1024: the rings hold 16 + 512 + 16 = 544
 * positions, so after 700 tokens the state holds positions 156..699 of
 * them. It continues bit for bit; a rewind within the ring costs nothing,
 * one past it replays from the tokens, and both match the original. */
static void test_windowed(mb_model *m) {
    enum { N = 700 };
    static mb_token prompt[N];
    tokens(prompt, N, 2);
    mb_session *a = mbt_session(m, 1024), *b = mbt_session(m, 1024);
    if (!a || !b) return;
    CHECK_OK(mb_session_eval(a, prompt, N));
    size_t n = 0;
    char *mem = state_bytes(a, &n);
    /* Header, tokens, logits and 2 layers x 2 x 544 positions x 32 F16. */
    CHECK_EQ_INT(n, 112 + 4 * N + 4 * N_VOCAB + 2 * 2 * 544 * 32 * 2);
    CHECK_OK(mb_session_state_read(b, mem, n));
    CHECK(same_logits(a, b));
    check_continuation(a, b, 8, 1);
    const int rewinds[2] = {650, 100};
    for (int k = 0; k < 2; k++) {
        CHECK_OK(mb_session_rewind(a, rewinds[k]));
        CHECK_OK(mb_session_rewind(b, rewinds[k]));
        CHECK_OK(mb_session_eval(a, prompt + rewinds[k], 5));
        CHECK_OK(mb_session_eval(b, prompt + rewinds[k], 5));
        CHECK_MSG(same_logits(a, b), "after a rewind to %d", rewinds[k]);
    }
    /* A session with full windowed caches takes a ring's state. */
    mb_session_params sp = mb_session_default_params();
    sp.n_ctx = 1024;
    sp.swa_full = 1;
    mb_session *f = NULL;
    CHECK_OK(mb_session_new(m, &sp, &f));
    CHECK_OK(mb_session_state_read(f, mem, n));
    CHECK_OK(mb_session_rewind(a, 0));
    CHECK_OK(mb_session_eval(a, prompt, N));
    check_continuation(a, f, 8, 0);
    free(mem);
    mb_session_free(a);
    mb_session_free(b);
    mb_session_free(f);
}

/* S must still hold its N_PAST positions and LOGITS. */
static int unchanged(const mb_session *s, int n_past, const float *logits) {
    return mb_session_n_past(s) == n_past &&
           memcmp(mb_session_logits(s), logits, N_VOCAB * sizeof(float)) == 0;
}

/* Every refusal leaves the target session as it was. */
static void test_refusals(mb_model *m, mb_model *other_layers, mb_model *other_type) {
    mb_token prompt[200];
    tokens(prompt, 200, 3);
    mb_session *a = mbt_session(m, 512), *t = mbt_session(m, 512), *small = mbt_session(m, 128);
    mb_session *o1 = mbt_session(other_layers, 512), *o2 = mbt_session(other_type, 512);
    if (!a || !t || !small || !o1 || !o2) return;
    CHECK_OK(mb_session_eval(a, prompt, 200));
    CHECK_OK(mb_session_eval(t, prompt, 7));
    CHECK_OK(mb_session_eval(small, prompt, 7));
    float before[N_VOCAB];
    memcpy(before, mb_session_logits(t), sizeof before);
    size_t n = 0;
    uint8_t *mem = state_bytes(a, &n);

    CHECK(mb_session_state_read(o1, mem, n) == MB_ERR_INVALID_ARG);
    CHECK_MSG(strstr(mb_last_error(), "layer count 2") != NULL, "%s", mb_last_error());
    CHECK(mb_session_state_read(o2, mem, n) == MB_ERR_INVALID_ARG);
    CHECK_MSG(strstr(mb_last_error(), "weight bytes") != NULL, "%s", mb_last_error());
    CHECK(mb_session_state_read(small, mem, n) == MB_ERR_CONTEXT_FULL);
    CHECK_MSG(strstr(mb_last_error(), "200 positions") != NULL, "%s", mb_last_error());
    CHECK_EQ_INT(mb_session_n_past(small), 7);

    /* Truncated at every offset of the header, tokens and logits, then
     * every 97th byte; and one byte too many. */
    int refused = 1, kept = 1;
    const size_t dense = 112 + 4 * 200 + 4 * N_VOCAB;
    for (size_t cut = 0; cut < n; cut += cut < dense ? 1 : 97) {
        refused &= mb_session_state_read(t, mem, cut) == MB_ERR_FORMAT;
        kept &= unchanged(t, 7, before);
    }
    CHECK_MSG(refused, "a truncated state was not refused as a format error");
    CHECK_MSG(kept, "a refused state changed the session");
    CHECK(strstr(mb_last_error(), "truncated") != NULL);
    uint8_t *longer = malloc(n + 1);
    memcpy(longer, mem, n);
    longer[n] = 0;
    CHECK(mb_session_state_read(t, longer, n + 1) == MB_ERR_FORMAT);

    /* Corrupted fields: magic, version, n_past, the window start, a token. */
    struct {
        size_t off;
        uint8_t val;
        mb_status want;
    } bad[] = {{0, 'X', MB_ERR_FORMAT},       {8, 3, MB_ERR_UNSUPPORTED},
               {96, 0xff, MB_ERR_FORMAT},     {97, 0x10, MB_ERR_CONTEXT_FULL},
               {100, 1, MB_ERR_FORMAT},       {112 + 4 * 5 + 3, 0x7f, MB_ERR_FORMAT},
               {16, 'x', MB_ERR_INVALID_ARG}, {104, 0, MB_ERR_FORMAT}};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        memcpy(longer, mem, n);
        longer[bad[k].off] = bad[k].val;
        mb_status st = mb_session_state_read(t, longer, n);
        CHECK_MSG(st == bad[k].want, "byte %zu: %s (%s)", bad[k].off, mb_status_str(st),
                  mb_last_error());
        CHECK(unchanged(t, 7, before));
    }
    /* A file that is no state, and one that is missing. */
    char path[512];
    snprintf(path, sizeof path, "%s/not-a-state", mbt_tmpdir());
    FILE *f = fopen(path, "wb");
    fputs("hello", f);
    fclose(f);
    CHECK(mb_session_state_load(t, path) == MB_ERR_FORMAT);
    CHECK(strstr(mb_last_error(), "not-a-state") != NULL);
    snprintf(path, sizeof path, "%s/missing/state", mbt_tmpdir());
    CHECK(mb_session_state_load(t, path) == MB_ERR_IO);
    CHECK(mb_session_state_save(a, path) != MB_OK);
    CHECK(unchanged(t, 7, before));
    /* Version 1 (F16 caches only, field 12 holding 1) still loads. */
    memcpy(longer, mem, n);
    longer[8] = 1, longer[12] = 1, longer[14] = 0;
    CHECK_OK(mb_session_state_read(t, longer, n));
    CHECK_EQ_INT(mb_session_n_past(t), 200);
    free(longer);
    free(mem);
    mb_session_free(a);
    mb_session_free(t);
    mb_session_free(small);
    mb_session_free(o1);
    mb_session_free(o2);
}

int main(void) {
    mb_model *m = tiny("plain", 2, 0, 0);
    mb_model *w = tiny("windowed", 2, 16, 0);
    mb_model *three = tiny("three", 3, 0, 0);
    mb_model *q8 = tiny("q8", 2, 0, MB_TYPE_Q8_0);
    if (m && w && three && q8) {
        test_round_trip(m);
        test_windowed(w);
        test_refusals(m, three, q8);
    }
    mb_model_free(m);
    mb_model_free(w);
    mb_model_free(three);
    mb_model_free(q8);
    return mbt_finish();
}
