/* Speculative decoding (src/runtime/speculative.c), greedy: the tokens,
 * the text, the stop reason and the session afterwards are plain
 * generation's, with prompt lookup and with a draft model (the model
 * itself, which must be accepted throughout, and a different model of the
 * same vocabulary, which is mostly rejected), on a plain model and on one
 * whose layers are all windowed (rejected positions are rewound inside the
 * ring), with repeat penalties (they must see the accepted tokens in
 * order), and at the edges: n_predict, a stop string, the token callback,
 * a full context. Also prompt lookup's matching, a draft of another
 * vocabulary refused, and an older caller's stats left alone.
 * (test_speculative_stats.c checks sampling.) */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "matchbox.h"
#include "runtime/draft.h"
#include "runtime/session.h"
#include "spec_util.h"
#include "tensor/types.h"
#include "test_util.h"

enum { N_CTX = 2048 };

static spec_run plain_run, spec_run_;

/* Plain and speculative runs agree in everything plain generation shows. */
static void check_same(const char *what, const spec_run *a, const spec_run *b) {
    CHECK_MSG(a->status == MB_OK && b->status == MB_OK, "%s: status %d / %d", what, a->status,
              b->status);
    CHECK_MSG(a->n == b->n, "%s: %d tokens plain, %d speculative", what, a->n, b->n);
    int first = -1;
    for (int i = 0; i < a->n && i < b->n && first < 0; i++)
        if (a->ids[i] != b->ids[i]) first = i;
    CHECK_MSG(first < 0, "%s: token %d differs (%d vs %d)", what, first, a->ids[first],
              b->ids[first]);
    CHECK_MSG(a->len == b->len && !memcmp(a->text, b->text, a->len), "%s: the text differs", what);
    CHECK_MSG(a->st.n_generated == b->st.n_generated, "%s: n_generated %d vs %d", what,
              a->st.n_generated, b->st.n_generated);
    CHECK_MSG(a->st.stop_reason == b->st.stop_reason, "%s: stop reason %s vs %s", what,
              mb_stop_reason_str(a->st.stop_reason), mb_stop_reason_str(b->st.stop_reason));
    CHECK_MSG(a->n_past == b->n_past, "%s: the session holds %d vs %d positions", what, a->n_past,
              b->n_past);
}

static void compare(const char *what, const mb_model *m, mb_session *s, const mb_token *prompt,
                    size_t n_prompt, const mb_sampler_params *sp, const mb_generate_params *gp,
                    const mb_speculative_params *spec, int stop_at) {
    plain_run.stop_at = spec_run_.stop_at = stop_at;
    spec_generate(m, s, prompt, n_prompt, sp, gp, NULL, &plain_run);
    spec_generate(m, s, prompt, n_prompt, sp, gp, spec, &spec_run_);
    check_same(what, &plain_run, &spec_run_);
    CHECK_MSG(spec_run_.st.n_accepted <= spec_run_.st.n_drafted, "%s", what);
    /* A forward pass yields at most 1 + accepted tokens. */
    CHECK_MSG(spec_run_.st.n_generated <= 1 + spec_run_.st.n_forwards + spec_run_.st.n_accepted,
              "%s: %d tokens from %d passes and %d accepted drafts", what, spec_run_.st.n_generated,
              spec_run_.st.n_forwards, spec_run_.st.n_accepted);
}

static void test_lookup_matching(void) {
    /* ... 5 6 7 8 9 ... 5 6 7 | the trigram 5 6 7 occurred: propose 8 9. */
    mb_token ctx[] = {1, 5, 6, 7, 8, 9, 2, 6, 7, 4, 5, 6, 7};
    mb_token out[8];
    int n = mb_draft_lookup(ctx, 13, 3, 8, out);
    CHECK_EQ_INT(n, 8);
    CHECK(out[0] == 8 && out[1] == 9 && out[2] == 2);
    CHECK_EQ_INT(mb_draft_lookup(ctx, 13, 3, 2, out), 2);
    /* The longest match wins over a more recent shorter one: 6 7 after 2
     * is a bigram match, 5 6 7 (earlier) a trigram one. */
    CHECK_EQ_INT(out[0], 8);
    /* Only a bigram: its most recent occurrence, followed by 3. */
    mb_token ctx2[] = {6, 7, 1, 6, 7, 3, 9, 6, 7};
    n = mb_draft_lookup(ctx2, 9, 3, 1, out);
    CHECK(n == 1 && out[0] == 3);
    /* No earlier occurrence of the last token: nothing. */
    mb_token ctx3[] = {1, 2, 3, 4};
    CHECK_EQ_INT(mb_draft_lookup(ctx3, 4, 3, 4, out), 0);
    /* The continuation stops at the end of the context. */
    mb_token ctx4[] = {3, 3};
    n = mb_draft_lookup(ctx4, 2, 2, 4, out);
    CHECK(n == 1 && out[0] == 3);
}

static void test_greedy(const mb_model *m, mb_session *s, const mb_model *other, const char *name,
                        int n_predict) {
    char what[128];
    mb_session *self = mbt_session((mb_model *)m, N_CTX);
    mb_session *alt = mbt_session((mb_model *)other, N_CTX);
    if (!self || !alt) return;
    mb_token prompt[24];
    for (int i = 0; i < 24; i++)
        prompt[i] = 3 + (i * 7) % 40;
    mb_sampler_params sp = mb_sampler_default_params();
    sp.temperature = 0;
    mb_generate_params gp = mb_generate_default_params();
    gp.n_predict = n_predict;
    mb_speculative_params lookup = mb_speculative_default_params();
    lookup.lookup_n = 3;
    lookup.draft_max = 6;
    mb_speculative_params draft = mb_speculative_default_params();
    draft.draft = self;
    mb_speculative_params draft2 = draft;
    draft2.draft = alt;
    draft2.draft_max = 3;
    snprintf(what, sizeof what, "%s, lookup", name);
    compare(what, m, s, prompt, 24, &sp, &gp, &lookup, 0);
    CHECK_MSG(spec_run_.st.n_drafted > 0, "%s: nothing was drafted", what);
    snprintf(what, sizeof what, "%s, itself as draft", name);
    compare(what, m, s, prompt, 24, &sp, &gp, &draft, 0);
    CHECK_MSG(spec_run_.st.n_accepted == spec_run_.st.n_drafted,
              "%s: %d of %d drafts accepted (the same model must agree)", what,
              spec_run_.st.n_accepted, spec_run_.st.n_drafted);
    CHECK_MSG(spec_run_.st.n_forwards * 4 < spec_run_.st.n_generated, "%s: %d passes for %d", what,
              spec_run_.st.n_forwards, spec_run_.st.n_generated);
    snprintf(what, sizeof what, "%s, another model as draft", name);
    compare(what, m, s, prompt, 24, &sp, &gp, &draft2, 0);
    CHECK_MSG(spec_run_.st.n_accepted < spec_run_.st.n_drafted, "%s: every draft accepted", what);
    /* draft_min above what is drafted: plain steps only. */
    mb_speculative_params never = draft2;
    never.draft_min = 4;
    plain_run.stop_at = spec_run_.stop_at = 0;
    spec_generate(m, s, prompt, 24, &sp, &gp, &never, &spec_run_);
    CHECK_EQ_INT(spec_run_.st.n_drafted, 0);
    check_same("draft_min > draft_max", &plain_run, &spec_run_);
    /* Penalties follow the accepted tokens in order. */
    sp.repeat_penalty = 1.3f;
    sp.repeat_last_n = 16;
    snprintf(what, sizeof what, "%s, lookup, repeat penalty", name);
    compare(what, m, s, prompt, 24, &sp, &gp, &lookup, 0);
    snprintf(what, sizeof what, "%s, draft, repeat penalty", name);
    compare(what, m, s, prompt, 24, &sp, &gp, &draft, 0);
    mb_session_free(self);
    mb_session_free(alt);
}

/* n_predict, stop strings, the token callback and a full context end a
 * speculative generation where they end a plain one. */
static void test_edges(const mb_model *m, mb_session *s) {
    mb_session *self = mbt_session((mb_model *)m, N_CTX);
    if (!self) return;
    mb_token prompt[12];
    for (int i = 0; i < 12; i++)
        prompt[i] = 3 + (i * 5) % 30;
    mb_sampler_params sp = mb_sampler_default_params();
    sp.temperature = 0;
    mb_generate_params gp = mb_generate_default_params();
    mb_speculative_params specs[2] = {mb_speculative_default_params(),
                                      mb_speculative_default_params()};
    specs[0].lookup_n = 2;
    specs[1].draft = self;
    char what[128];
    for (int k = 0; k < 2; k++) {
        const char *kind = k ? "draft" : "lookup";
        const int n_predicts[] = {1, 2, 3, 8, 9, 10, 17};
        for (int i = 0; i < 7; i++) {
            gp.n_predict = n_predicts[i];
            snprintf(what, sizeof what, "%s, n_predict %d", kind, gp.n_predict);
            compare(what, m, s, prompt, 12, &sp, &gp, &specs[k], 0);
        }
        gp.n_predict = 200;
        for (int at = 1; at < 40; at += 7) {
            snprintf(what, sizeof what, "%s, the token callback stops at %d", kind, at);
            compare(what, m, s, prompt, 12, &sp, &gp, &specs[k], at);
            CHECK_EQ_INT(spec_run_.st.stop_reason, MB_STOP_CALLBACK);
        }
        /* A stop string from the plain text's middle. */
        spec_generate(m, s, prompt, 12, &sp, &gp, NULL, &plain_run);
        for (size_t at = 5; at + 3 < plain_run.len && at < 200; at += 37) {
            char stop[4];
            memcpy(stop, plain_run.text + at, 3);
            stop[3] = '\0';
            if (strlen(stop) < 3) continue;
            const char *stops[] = {stop, NULL};
            mb_generate_params g2 = gp;
            g2.stop = stops;
            snprintf(what, sizeof what, "%s, stop string at byte %zu", kind, at);
            compare(what, m, s, prompt, 12, &sp, &g2, &specs[k], 0);
            CHECK_EQ_INT(spec_run_.st.stop_reason, MB_STOP_STRING);
        }
    }
    /* A full context: a session of 40 positions, generation until it ends. */
    mb_session *small = mbt_session((mb_model *)m, 40);
    if (small) {
        gp.n_predict = -1;
        for (int k = 0; k < 2; k++) {
            snprintf(what, sizeof what, "%s, full context", k ? "draft" : "lookup");
            compare(what, m, small, prompt, 12, &sp, &gp, &specs[k], 0);
            CHECK_EQ_INT(spec_run_.st.stop_reason, MB_STOP_CONTEXT_FULL);
            CHECK_EQ_INT(spec_run_.n_past, 40);
        }
        mb_session_free(small);
    }
    mb_session_free(self);
}

/* A caller built before 0.3 passes a smaller params struct (no
 * speculative field) and a smaller stats struct: the counters after it
 * must not be written. */
static void test_old_caller(const mb_model *m, mb_session *s) {
    mb_token prompt[] = {1, 10, 11, 12};
    mb_sampler *smp = NULL;
    mb_sampler_params sp = mb_sampler_default_params();
    sp.temperature = 0;
    CHECK_OK(mb_sampler_new(&sp, mb_model_n_vocab(m), &smp));
    CHECK_OK(mb_session_rewind(s, 0));
    mb_generate_params gp = mb_generate_default_params();
    gp.struct_size = offsetof(mb_generate_params, speculative);
    gp.n_predict = 5;
    mb_generate_stats st;
    memset(&st, 0x5a, sizeof st);
    int canary;
    memset(&canary, 0x5a, sizeof canary);
    CHECK_OK(mb_generate(s, smp, prompt, 4, &gp, &st));
    CHECK_EQ_INT(st.n_generated, 5);
    CHECK_MSG(!memcmp(&st.n_drafted, &canary, sizeof canary),
              "an old caller's stats were written past stop_reason");
    mb_sampler_free(smp);
}

static void test_refused(const mb_model *m, mb_session *s) {
    const char *path = mbt_shared_dir() ? "models/stories260K.gguf" : NULL;
    char full[1024];
    if (!path) {
        printf("SKIP part: ../shared is absent (a draft of another vocabulary)\n");
        return;
    }
    snprintf(full, sizeof full, "%s/%s", mbt_shared_dir(), path);
    mb_model *other = NULL;
    mb_model_params mp = mb_model_default_params();
    if (mb_model_load(full, &mp, &other) != MB_OK) {
        printf("SKIP part: %s is absent (a draft of another vocabulary)\n", full);
        return;
    }
    mb_session *d = mbt_session(other, 256);
    mb_speculative_params spec = mb_speculative_default_params();
    spec.draft = d;
    mb_sampler_params sp = mb_sampler_default_params();
    mb_generate_params gp = mb_generate_default_params();
    mb_token prompt[] = {1, 10, 11};
    spec_generate(m, s, prompt, 3, &sp, &gp, &spec, &spec_run_);
    CHECK_EQ_INT(spec_run_.status, MB_ERR_INVALID_ARG);
    CHECK_MSG(strstr(mb_last_error(), "same vocabulary") != NULL, "%s", mb_last_error());
    CHECK_EQ_INT(mb_session_n_past(s), 0); /* refused before the prefill */
    spec.draft = s;
    spec_generate(m, s, prompt, 3, &sp, &gp, &spec, &spec_run_);
    CHECK_EQ_INT(spec_run_.status, MB_ERR_INVALID_ARG);
    mb_session_free(d);
    mb_model_free(other);
}

int main(void) {
    test_lookup_matching();
    mb_model *m = spec_tiny_model("spec", 5, 0, 4096), *m2 = spec_tiny_model("spec2", 6, 0, 4096);
    mb_model *w = spec_tiny_model("spec_window", 9, 32, 4096),
             *w2 = spec_tiny_model("spec_window2", 8, 32, 4096);
    if (!m || !m2 || !w || !w2) return mbt_finish();
    mb_session *s = mbt_session(m, N_CTX), *sw = mbt_session(w, N_CTX);
    if (!s || !sw) return mbt_finish();
    test_greedy(m, s, m2, "llama", 300);
    /* 1300 tokens: the rings (32 + a chunk of 512 + 16) wrap; rejected
     * drafts are rewound inside their margin, never replayed. */
    test_greedy(w, sw, w2, "windowed", 1300);
    CHECK_EQ_INT(sw->n_replayed, 0);
    test_edges(m, s);
    test_edges(w, sw);
    test_old_caller(m, s);
    test_refused(m, s);
    mb_session_free(s);
    mb_session_free(sw);
    mb_model_free(m);
    mb_model_free(m2);
    mb_model_free(w);
    mb_model_free(w2);
    return mbt_finish();
}
