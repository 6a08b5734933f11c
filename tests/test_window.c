/* Windowed attention end to end, on a tiny llama file with a window of 32
 * on every layer (Mistral-style):
 *   - memory: a windowed layer keeps a ring of window + prefill chunk + 16
 *     slots however long the context (--swa-full keeps all of them);
 *   - the ring gives the same greedy text as full caches, long after it
 *     has wrapped (the window hides everything the ring dropped);
 *   - a rewind within the ring's margin costs nothing and continues as
 *     full caches do; a rewind past it re-evaluates the kept tokens and
 *     continues bit for bit as a fresh session fed the same tokens;
 *   - the server's prompt cache (rewind to a shared prefix, then generate
 *     with n_cached) gives a fresh slot's greedy text. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "matchbox.h"
#include "model/model.h"
#include "runtime/session.h"
#include "test_util.h"

enum { WINDOW = 32, N_CTX = 4096, N_GEN = 1300, N_VOCAB = 259 };

static mb_session *session(mb_model *m, int swa_full) {
    mb_session_params sp = mb_session_default_params();
    sp.n_ctx = N_CTX;
    sp.n_threads = 2;
    sp.swa_full = swa_full;
    mb_session *s = NULL;
    CHECK_OK(mb_session_new(m, &sp, &s));
    return s;
}

static int argmax(const float *x) {
    int best = 0;
    for (int i = 1; i < N_VOCAB; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

static double max_diff(const float *a, const float *b) {
    double d = 0;
    for (int i = 0; i < N_VOCAB; i++)
        d = fmax(d, fabs((double)a[i] - b[i]));
    return d;
}

/* Greedy continuation of TOKS[0..n_prompt) up to N tokens in all. */
static void greedy(mb_session *s, mb_token *toks, int n_prompt, int n) {
    CHECK_OK(mb_session_eval(s, toks, (size_t)n_prompt));
    for (int i = n_prompt; i < n; i++) {
        toks[i] = argmax(mb_session_logits(s));
        CHECK_OK(mb_session_eval(s, &toks[i], 1));
    }
}

static void test_memory(mb_model *m) {
    mb_session *ring = session(m, 0), *full = session(m, 1);
    if (!ring || !full) return;
    /* 2 layers x slots x 2 (K, V) x kv_dim 32 x 2 bytes. */
    const uint64_t per_slot = 2ull * 2 * 32 * 2;
    CHECK_EQ_INT(mb_session_kv_bytes(ring), per_slot * (WINDOW + 512 + 16));
    CHECK_EQ_INT(mb_session_kv_bytes(full), per_slot * N_CTX);
    mb_session_free(ring);
    mb_session_free(full);
}

static void test_ring_and_rewinds(mb_model *m) {
    static mb_token a[N_GEN], b[N_GEN];
    for (int i = 0; i < 40; i++)
        a[i] = b[i] = (mb_token)(3 + (i * 53) % 256);
    mb_session *ring = session(m, 0), *full = session(m, 1);
    if (!ring || !full) return;
    /* 40 prompt tokens, then 1260 decoded: the ring of 560 wraps twice. */
    greedy(ring, a, 40, N_GEN);
    greedy(full, b, 40, N_GEN);
    int same = 0;
    while (same < N_GEN && a[same] == b[same])
        same++;
    CHECK_MSG(same == N_GEN, "ring and full caches diverge at token %d of %d", same, N_GEN);
    CHECK_MSG(max_diff(mb_session_logits(ring), mb_session_logits(full)) < 1e-4,
              "final logits differ by %g",
              max_diff(mb_session_logits(ring), mb_session_logits(full)));
    CHECK(mb_forward_oldest_kept(ring->fwd) > 0); /* it did wrap */

    /* Within the margin: positions 1290-31.. are still in the ring. */
    CHECK_OK(mb_session_rewind(ring, N_GEN - 10));
    CHECK_OK(mb_session_rewind(full, N_GEN - 10));
    CHECK_EQ_INT(ring->n_replayed, 0);
    CHECK_OK(mb_session_eval(ring, a + N_GEN - 10, 5));
    CHECK_OK(mb_session_eval(full, a + N_GEN - 10, 5));
    CHECK_MSG(max_diff(mb_session_logits(ring), mb_session_logits(full)) < 1e-4,
              "after a short rewind the logits differ by %g",
              max_diff(mb_session_logits(ring), mb_session_logits(full)));

    /* Past the ring: the window of position 300 was overwritten long ago. */
    CHECK_OK(mb_session_rewind(ring, 300));
    CHECK_EQ_INT(ring->n_replayed, 300);
    CHECK_EQ_INT(mb_session_n_past(ring), 300);
    mb_session *fresh = session(m, 0);
    if (!fresh) return;
    CHECK_OK(mb_session_eval(fresh, a, 300));
    static float got[N_VOCAB];
    int equal = 1;
    for (int i = 300; i < 340; i++) {
        CHECK_OK(mb_session_eval(ring, &a[i], 1));
        CHECK_OK(mb_session_eval(fresh, &a[i], 1));
        memcpy(got, mb_session_logits(ring), sizeof got);
        equal &= memcmp(got, mb_session_logits(fresh), sizeof got) == 0;
    }
    CHECK_MSG(equal, "after a rewind past the ring, logits differ from a fresh run's");
    /* Rewinding to 0 needs nothing back. */
    CHECK_OK(mb_session_rewind(ring, 0));
    CHECK_EQ_INT(ring->n_replayed, 300);
    mb_session_free(fresh);
    mb_session_free(ring);
    mb_session_free(full);
}

/* Tokens of one greedy mb_generate call (the on_token callback). */
typedef struct {
    mb_token ids[64];
    int n;
} collected;

static int collect(mb_token id, const float *logits, int n_vocab, void *user) {
    (void)logits, (void)n_vocab;
    collected *c = user;
    if (c->n < 64) c->ids[c->n++] = id;
    return 0;
}

static void generate(mb_session *s, const mb_token *prompt, size_t n, size_t cached,
                     collected *out) {
    mb_sampler_params smp = mb_sampler_default_params();
    smp.temperature = 0;
    mb_sampler *sampler = NULL;
    CHECK_OK(mb_sampler_new(&smp, N_VOCAB, &sampler));
    mb_generate_params gp = mb_generate_default_params();
    gp.n_predict = 48;
    gp.on_token = collect;
    gp.user = out;
    gp.n_cached = cached;
    out->n = 0;
    if (sampler) CHECK_OK(mb_generate(s, sampler, prompt, n, &gp, NULL));
    mb_sampler_free(sampler);
}

/* The server's prompt cache on a windowed model: a slot that served a long
 * request is rewound to the prefix a new request shares with it (far past
 * the ring) and generates with n_cached; the text equals a fresh slot's. */
static void test_prompt_cache(mb_model *m) {
    static mb_token first[900], second[700];
    for (int i = 0; i < 900; i++)
        first[i] = (mb_token)(3 + (i * 29 + i / 7) % 256);
    memcpy(second, first, 200 * sizeof *second);
    for (int i = 200; i < 700; i++)
        second[i] = (mb_token)(3 + (i * 41) % 256);
    mb_session *slot = session(m, 0), *fresh = session(m, 0);
    if (!slot || !fresh) return;
    collected a, b;
    generate(slot, first, 900, 0, &a);
    const long replayed = slot->n_replayed;
    CHECK_OK(mb_session_rewind(slot, 200));
    CHECK_EQ_INT(slot->n_replayed - replayed, 200);
    generate(slot, second, 700, 200, &a);
    generate(fresh, second, 700, 0, &b);
    CHECK(a.n == 48 && b.n == 48);
    CHECK_MSG(a.n == b.n && memcmp(a.ids, b.ids, sizeof(mb_token) * (size_t)a.n) == 0,
              "a cached prefix on a windowed model changes the greedy text");
    mb_session_free(slot);
    mb_session_free(fresh);
}

int main(void) {
    char path[512];
    snprintf(path, sizeof path, "%s/window.gguf", mbt_tmpdir());
    mbt_tiny_model cfg = {.n_embd = 64,
                          .n_layer = 2,
                          .n_head = 4,
                          .n_head_kv = 2,
                          .n_ff = 96,
                          .n_ctx = N_CTX,
                          .weight_type = MB_TYPE_F32,
                          .seed = 5,
                          .sliding_window = WINDOW};
    CHECK_OK(mbt_write_tiny_model(path, &cfg));
    mb_model *m = NULL;
    mb_model_params mp = mb_model_default_params();
    CHECK_OK(mb_model_load(path, &mp, &m));
    if (!m) return mbt_finish();
    CHECK_EQ_INT(mb_model_n_vocab(m), N_VOCAB);
    test_memory(m);
    test_ring_and_rewinds(m);
    test_prompt_cache(m);
    mb_model_free(m);
    return mbt_finish();
}
