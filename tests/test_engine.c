/* The public engine (include/matchbox/engine.h) in-process, on a tiny model
 * the test writes: several requests through two slots with batched decode
 * give, streamed and pulled, the text mb_generate gives greedily for the
 * same prompts; a slot's cached prefix is reused and the output stays the
 * same; a queued job is withdrawn and a running one stopped by a cancel;
 * a full engine answers MB_ERR_BUSY; bad requests and params are refused;
 * a request's grammar shapes its text (a bad one is refused at submit). */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "matchbox/engine.h"
#include "tensor/types.h"
#include "test_util.h"

enum { N_PREDICT = 12, MAX_TEXT = 4096 };

typedef struct {
    char text[MAX_TEXT];
    size_t len;
    mb_token ids[256];
    int n_ids, bad_logprobs, done_calls;
    mb_engine_finish finish;
} capture;

static int gen_text(const char *text, size_t len, void *user) {
    capture *c = user;
    if (c->len + len < MAX_TEXT) memcpy(c->text + c->len, text, len), c->len += len;
    return 0;
}

static int gen_token(mb_token id, const float *logits, int n_vocab, void *user) {
    (void)logits, (void)n_vocab;
    capture *c = user;
    if (c->n_ids < 256) c->ids[c->n_ids++] = id;
    return 0;
}

/* What mb_generate gives greedily for PROMPT on a fresh session. */
static void reference(mb_model *m, const mb_token *prompt, size_t n, capture *out) {
    memset(out, 0, sizeof *out);
    mb_session_params sp = mb_session_default_params();
    sp.n_ctx = 128;
    sp.n_threads = 1;
    mb_session *s = NULL;
    mb_sampler *smp = NULL;
    mb_sampler_params gp = mb_sampler_default_params();
    gp.temperature = 0;
    CHECK_OK(mb_session_new(m, &sp, &s));
    CHECK_OK(mb_sampler_new(&gp, mb_model_n_vocab(m), &smp));
    mb_generate_params p = mb_generate_default_params();
    p.n_predict = N_PREDICT;
    p.on_text = gen_text;
    p.on_token = gen_token;
    p.user = out;
    mb_generate_stats st;
    CHECK_OK(mb_generate(s, smp, prompt, n, &p, &st));
    mb_sampler_free(smp);
    mb_session_free(s);
}

static int job_token(mb_engine_job *j, const mb_engine_token *t, void *user) {
    (void)j;
    capture *c = user;
    if (c->n_ids < 256) c->ids[c->n_ids++] = t->id;
    /* The chosen token's log-probability is at most the best one's, and
     * the piece is the token's text. */
    if (t->n_top != 3 || t->logprob > 0 || t->top_logprob[0] < t->logprob - 1e-5f ||
        t->top_logprob[1] > t->top_logprob[0] || !t->piece || !t->logits)
        c->bad_logprobs++;
    return 0;
}

static int job_text(mb_engine_job *j, const char *text, size_t len, void *user) {
    (void)j;
    return gen_text(text, len, user);
}

static void job_done(mb_engine_job *j, mb_engine_finish f, void *user) {
    (void)j;
    capture *c = user;
    c->finish = f;
    c->done_calls++;
}

static mb_engine_request greedy(const mb_token *prompt, size_t n, capture *c,
                                const mb_sampler_params *sp) {
    mb_engine_request r = mb_engine_default_request();
    r.prompt = prompt;
    r.n_prompt = n;
    r.sampler = sp;
    r.max_tokens = N_PREDICT;
    r.logprobs = 1;
    r.n_top_logprobs = 3;
    r.on_token = job_token;
    r.on_text = job_text;
    r.on_done = job_done;
    r.user = c;
    return r;
}

/* Everything a job's text has, pulled in small reads. */
static size_t pull(mb_engine_job *j, char *buf, size_t cap) {
    size_t off = 0, n;
    while (off < cap &&
           (n = mb_engine_job_read(j, off, buf + off, 5 < cap - off ? 5 : cap - off, -1)) > 0)
        off += n;
    return off;
}

static void test_batched(mb_model *m) {
    static const mb_token prompts[3][6] = {
        {1, 72, 101, 108, 108, 111}, {1, 40, 50, 60, 70, 80}, {1, 200, 201, 202, 203, 204}};
    capture ref[3], got[3];
    for (int i = 0; i < 3; i++)
        reference(m, prompts[i], 6, &ref[i]);
    mb_session_params sp = mb_session_default_params();
    sp.n_ctx = 128;
    sp.n_threads = 1;
    mb_engine_params ep = mb_engine_default_params();
    ep.n_slots = 2;
    ep.n_queue = 4;
    ep.session = &sp;
    ep.batch_threads = 1;
    mb_engine *e = NULL;
    CHECK_OK(mb_engine_new(m, &ep, &e));
    if (!e) return;
    CHECK_EQ_INT(mb_engine_n_slots(e), 2);
    CHECK_EQ_INT(mb_engine_n_ctx(e), 128);
    mb_sampler_params gp = mb_sampler_default_params();
    gp.temperature = 0;
    mb_engine_job *jobs[3] = {0};
    for (int i = 0; i < 3; i++) {
        memset(&got[i], 0, sizeof got[i]);
        mb_engine_request r = greedy(prompts[i], 6, &got[i], &gp);
        CHECK_OK(mb_engine_submit(e, &r, &jobs[i]));
    }
    for (int i = 0; i < 3; i++) {
        if (!jobs[i]) continue;
        CHECK_EQ_INT(mb_engine_job_wait(jobs[i], -1), MB_ENGINE_LENGTH);
        CHECK_EQ_INT(got[i].done_calls, 1);
        CHECK_EQ_INT(got[i].bad_logprobs, 0);
        CHECK_EQ_INT(got[i].n_ids, ref[i].n_ids);
        CHECK(memcmp(got[i].ids, ref[i].ids, (size_t)ref[i].n_ids * sizeof(mb_token)) == 0);
        CHECK_EQ_INT(got[i].len, ref[i].len);
        CHECK(memcmp(got[i].text, ref[i].text, ref[i].len) == 0);
        char pulled[MAX_TEXT];
        size_t n = pull(jobs[i], pulled, sizeof pulled);
        CHECK_EQ_INT(n, ref[i].len);
        CHECK(memcmp(pulled, ref[i].text, n) == 0);
        mb_engine_job_stats st;
        mb_engine_job_get_stats(jobs[i], &st);
        CHECK_EQ_INT(st.n_prompt, 6);
        CHECK_EQ_INT(st.n_generated, N_PREDICT);
        CHECK(strcmp(mb_engine_job_error(jobs[i]), "") == 0);
    }
    unsigned long long steps = 0, rows = 0;
    mb_engine_batch_stats(e, &steps, &rows);
    CHECK_MSG(steps > 0 && rows >= steps, "steps %llu rows %llu", steps, rows);

    /* The next turn of the last conversation: its prompt starts with the
     * last prompt, which a slot still holds (the first two may have been
     * replaced), so only the rest is evaluated. */
    mb_token next[8];
    memcpy(next, prompts[2], sizeof prompts[2]);
    next[6] = 33;
    next[7] = 34;
    capture ref2, got2 = {0};
    reference(m, next, 8, &ref2);
    mb_engine_request r = greedy(next, 8, &got2, &gp);
    mb_engine_job *j = NULL;
    CHECK_OK(mb_engine_submit(e, &r, &j));
    if (j) {
        CHECK_EQ_INT(mb_engine_job_wait(j, -1), MB_ENGINE_LENGTH);
        mb_engine_job_stats st;
        mb_engine_job_get_stats(j, &st);
        CHECK_MSG(st.n_cached >= 6, "n_cached %d", st.n_cached);
        CHECK_EQ_INT(got2.len, ref2.len);
        CHECK(memcmp(got2.text, ref2.text, ref2.len) == 0);
    }
    mb_engine_job_free(j);
    for (int i = 0; i < 3; i++)
        mb_engine_job_free(jobs[i]);
    mb_engine_drain(e);
    int busy = -1, queued = -1;
    mb_engine_load(e, &busy, &queued);
    CHECK_EQ_INT(busy, 0);
    CHECK_EQ_INT(queued, 0);
    mb_engine_free(e);
}

/* A job that holds its slot: its first token waits for the test's word. */
static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static int gate_started, gate_open;

static int held_token(mb_engine_job *j, const mb_engine_token *t, void *user) {
    (void)j, (void)t, (void)user;
    pthread_mutex_lock(&gate_mu);
    gate_started = 1;
    pthread_cond_broadcast(&gate_cv);
    while (!gate_open)
        pthread_cond_wait(&gate_cv, &gate_mu);
    pthread_mutex_unlock(&gate_mu);
    return 0;
}

static void test_cancel_and_busy(mb_model *m) {
    mb_session_params sp = mb_session_default_params();
    sp.n_ctx = 128;
    sp.n_threads = 1;
    mb_engine_params ep = mb_engine_default_params();
    ep.n_slots = 1;
    ep.n_queue = 1;
    ep.session = &sp;
    mb_engine *e = NULL;
    CHECK_OK(mb_engine_new(m, &ep, &e));
    if (!e) return;
    static const mb_token prompt[4] = {1, 10, 20, 30};
    capture ca = {0}, cb = {0}, cc = {0};
    mb_engine_request ra = mb_engine_default_request();
    ra.prompt = prompt;
    ra.n_prompt = 4;
    ra.max_tokens = -1; /* until the context is full, unless stopped */
    ra.on_token = held_token;
    ra.on_done = job_done;
    ra.user = &ca;
    mb_engine_job *a = NULL, *b = NULL, *c = NULL;
    CHECK_OK(mb_engine_submit(e, &ra, &a));
    pthread_mutex_lock(&gate_mu);
    while (!gate_started)
        pthread_cond_wait(&gate_cv, &gate_mu);
    pthread_mutex_unlock(&gate_mu);
    /* A runs; B waits in the queue; C finds no room. */
    mb_engine_request rb = ra;
    rb.on_token = NULL;
    rb.user = &cb;
    CHECK_OK(mb_engine_submit(e, &rb, &b));
    mb_engine_request rc = rb;
    rc.user = &cc;
    CHECK_EQ_INT(mb_engine_submit(e, &rc, &c), MB_ERR_BUSY);
    CHECK(c == NULL);
    int busy = 0, queued = 0;
    mb_engine_load(e, &busy, &queued);
    CHECK_EQ_INT(busy, 1);
    CHECK_EQ_INT(queued, 1);
    /* The queued job is withdrawn: done on return, its place free again. */
    CHECK_EQ_INT(mb_engine_job_cancel(b), 1);
    CHECK_EQ_INT(cb.done_calls, 1);
    CHECK_EQ_INT(cb.finish, MB_ENGINE_CANCELLED);
    CHECK_EQ_INT(mb_engine_job_wait(b, 0), MB_ENGINE_CANCELLED);
    CHECK_OK(mb_engine_submit(e, &rc, &c));
    mb_engine_job_free(c); /* still queued: freeing the handle withdraws it */
    CHECK_EQ_INT(cc.done_calls, 1);
    CHECK_EQ_INT(cc.finish, MB_ENGINE_CANCELLED);
    /* The running job stops at its next token. */
    CHECK_EQ_INT(mb_engine_job_wait(a, 50), MB_ENGINE_RUNNING);
    CHECK_EQ_INT(mb_engine_job_cancel(a), 0);
    pthread_mutex_lock(&gate_mu);
    gate_open = 1;
    pthread_cond_broadcast(&gate_cv);
    pthread_mutex_unlock(&gate_mu);
    CHECK_EQ_INT(mb_engine_job_wait(a, -1), MB_ENGINE_CANCELLED);
    mb_engine_job_stats st;
    mb_engine_job_get_stats(a, &st);
    CHECK_MSG(st.n_generated <= 2, "generated %d after the cancel", st.n_generated);
    CHECK_EQ_INT(ca.done_calls, 1);
    CHECK_EQ_INT(mb_engine_job_cancel(a), 0); /* finished: nothing to do */
    mb_engine_job_free(a);
    mb_engine_job_free(b);

    /* Refused requests leave nothing behind. */
    mb_engine_request bad = mb_engine_default_request();
    mb_engine_job *x = (mb_engine_job *)&bad;
    CHECK_EQ_INT(mb_engine_submit(e, &bad, &x), MB_ERR_INVALID_ARG); /* no prompt */
    CHECK(x == NULL);
    bad.prompt = prompt;
    bad.n_prompt = 4;
    bad.logprobs = 1;
    bad.n_top_logprobs = MB_ENGINE_MAX_TOP_LOGPROBS + 1;
    CHECK_EQ_INT(mb_engine_submit(e, &bad, &x), MB_ERR_INVALID_ARG);
    bad.n_top_logprobs = 0;
    bad.struct_size = 0; /* not made by mb_engine_default_request */
    CHECK_EQ_INT(mb_engine_submit(e, &bad, &x), MB_ERR_INVALID_ARG);
    mb_engine_free(e);

    mb_engine_params zero = {0};
    mb_engine *none = (mb_engine *)&zero;
    CHECK_EQ_INT(mb_engine_new(m, &zero, &none), MB_ERR_INVALID_ARG);
    CHECK(none == NULL);
    ep.n_slots = 0;
    CHECK_EQ_INT(mb_engine_new(m, &ep, &none), MB_ERR_INVALID_ARG);
}

/* A request's grammar: a bad one is refused at submit with the parser's
 * message; a good one shapes every job's text, in both slots, sampled
 * (speculation off: the engine here has prompt lookup on). */
static void test_grammar(mb_model *m) {
    mb_engine_params ep = mb_engine_default_params();
    ep.n_slots = 2;
    ep.lookup_n = 2;
    mb_engine *e = NULL;
    CHECK_OK(mb_engine_new(m, &ep, &e));
    if (!e) return;
    const mb_token prompt[] = {1, 40, 41, 42};
    mb_sampler_params sp = mb_sampler_default_params();
    mb_engine_request r = mb_engine_default_request();
    r.prompt = prompt;
    r.n_prompt = 4;
    r.sampler = &sp;
    r.max_tokens = 40;
    r.grammar = "root ::= item\nitem ::= (\"ab\" | \"cd\") [0-9]{2} other";
    mb_engine_job *j = NULL;
    CHECK_EQ_INT(mb_engine_submit(e, &r, &j), MB_ERR_INVALID_ARG);
    CHECK_MSG(strstr(mb_last_error(), "grammar line 2 col 33: undefined rule 'other'"), "%s",
              mb_last_error());
    CHECK(j == NULL);
    r.grammar = "root ::= (\"ab\" | \"cd\") [0-9]{2} \"!\"";
    mb_engine_job *jobs[4] = {0};
    for (int i = 0; i < 4; i++) {
        sp.seed = (uint64_t)i;
        CHECK_OK(mb_engine_submit(e, &r, &jobs[i]));
    }
    for (int i = 0; i < 4; i++) {
        if (!jobs[i]) continue;
        CHECK_EQ_INT(mb_engine_job_wait(jobs[i], -1), MB_ENGINE_STOP);
        char buf[64] = {0};
        size_t n = pull(jobs[i], buf, sizeof buf - 1);
        CHECK_MSG(n == 5 && (buf[0] == 'a' || buf[0] == 'c') && buf[2] >= '0' && buf[2] <= '9' &&
                      buf[3] >= '0' && buf[3] <= '9' && buf[4] == '!',
                  "job %d: '%s'", i, buf);
        mb_engine_job_free(jobs[i]);
    }
    mb_engine_free(e);
}

/* A job's speculative counters: with the model itself as its draft every
 * drafted token is accepted (greedy) and the job takes fewer forward passes
 * than tokens, with the tokens of an engine without speculation, whose
 * counters stay 0. */
static void test_spec_stats(mb_model *m) {
    const mb_token prompt[] = {1, 20, 21, 22, 23};
    mb_sampler_params sp = mb_sampler_default_params();
    sp.temperature = 0;
    capture c[2];
    mb_engine_job_stats st[2];
    mb_engine_job_spec_stats spec[2];
    for (int k = 0; k < 2; k++) {
        memset(&c[k], 0, sizeof c[k]);
        mb_engine_params ep = mb_engine_default_params();
        ep.n_slots = 1;
        if (k) ep.draft_model = m;
        mb_engine *e = NULL;
        CHECK_OK(mb_engine_new(m, &ep, &e));
        if (!e) return;
        mb_engine_request r = greedy(prompt, 5, &c[k], &sp);
        mb_engine_job *j = NULL;
        CHECK_OK(mb_engine_submit(e, &r, &j));
        if (j) {
            CHECK_EQ_INT(mb_engine_job_wait(j, -1), MB_ENGINE_LENGTH);
            mb_engine_job_get_stats(j, &st[k]);
            mb_engine_job_get_spec_stats(j, &spec[k]);
            mb_engine_job_free(j);
        }
        mb_engine_free(e);
    }
    CHECK_EQ_INT(c[1].n_ids, N_PREDICT);
    CHECK_MSG(c[0].n_ids == c[1].n_ids && !memcmp(c[0].ids, c[1].ids, sizeof c[0].ids),
              "the tokens differ with speculation");
    CHECK_MSG(spec[0].n_drafted == 0 && spec[0].n_accepted == 0, "plain: %d drafted, %d accepted",
              spec[0].n_drafted, spec[0].n_accepted);
    CHECK_MSG(spec[1].n_drafted > 0 && spec[1].n_accepted == spec[1].n_drafted,
              "itself as draft: %d drafted, %d accepted", spec[1].n_drafted, spec[1].n_accepted);
    CHECK_MSG(spec[1].n_forwards > 0 && spec[1].n_forwards < st[1].n_generated,
              "itself as draft: %d passes for %d tokens", spec[1].n_forwards, st[1].n_generated);
}

int main(void) {
    char path[512];
    snprintf(path, sizeof path, "%s/engine.gguf", mbt_tmpdir());
    mbt_tiny_model cfg = {.n_embd = 64,
                          .n_layer = 2,
                          .n_head = 4,
                          .n_head_kv = 2,
                          .n_ff = 96,
                          .n_ctx = 128,
                          .weight_type = MB_TYPE_F32,
                          .seed = 11};
    CHECK_OK(mbt_write_tiny_model(path, &cfg));
    mb_model *m = NULL;
    mb_model_params mp = mb_model_default_params();
    CHECK_OK(mb_model_load(path, &mp, &m));
    if (!m) return mbt_finish();
    test_batched(m);
    test_cancel_and_busy(m);
    test_grammar(m);
    test_spec_stats(m);
    mb_model_free(m);
    return mbt_finish();
}
