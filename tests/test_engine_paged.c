/* The engine's shared paged KV cache (engine.h, kv_budget) on a tiny model
 * the test writes:
 *   - 8 requests with a common 500-token prefix: the prefix is held once
 *     (block counts while all 8 decode together), each later request
 *     adopts it instead of computing it, and every output is the one the
 *     same request gets from per-slot caches (kv_budget < 0);
 *   - a budget smaller than two requests: the second waits for the first's
 *     blocks, and with a queue timeout ends MB_ENGINE_TIMEOUT without
 *     running; after the first ends, a third is admitted;
 *   - a request larger than the whole cache is refused at submission, and
 *     a budget below one block at creation;
 *   - with q8_0 and q4_0 KV blocks (a model of head size 32), the same
 *     sharing, and outputs equal to per-slot caches of that type. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "matchbox/engine.h"
#include "tensor/types.h"
#include "test_util.h"

enum { N_REQ = 8, PREFIX = 500, SUFFIX = 9, N_GEN = 24, MAX_TEXT = 2048 };

typedef struct {
    char text[MAX_TEXT];
    size_t len;
    mb_engine *e; /* to read the cache's counters from the token callback */
    mb_engine_finish finish;
    int seen_first;
} capture;

/* With BARRIER set, each request's first token waits until all 7 of the
 * concurrent ones have theirs (their prompts all in the cache), and the
 * cache's counters are read then. */
static atomic_int barrier, arrived, max_used, max_shared;

static int on_text(mb_engine_job *j, const char *text, size_t len, void *user) {
    (void)j;
    capture *c = user;
    if (c->len + len < MAX_TEXT) memcpy(c->text + c->len, text, len), c->len += len;
    return 0;
}

static void bump_max(atomic_int *m, int v) {
    int cur = atomic_load(m);
    while (v > cur && !atomic_compare_exchange_weak(m, &cur, v)) {
    }
}

static int on_token(mb_engine_job *j, const mb_engine_token *t, void *user) {
    (void)j, (void)t;
    capture *c = user;
    if (!atomic_load(&barrier) || c->seen_first++) return 0;
    atomic_fetch_add(&arrived, 1);
    for (int ms = 0; ms < 10000 && atomic_load(&arrived) < N_REQ - 1; ms++) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    mb_engine_kv_stats st;
    mb_engine_kv_get_stats(c->e, &st);
    bump_max(&max_used, st.used);
    bump_max(&max_shared, st.shared);
    return 0;
}

static void on_done(mb_engine_job *j, mb_engine_finish f, void *user) {
    (void)j;
    ((capture *)user)->finish = f;
}

static mb_engine_request request(const mb_token *prompt, size_t n, int max_tokens, capture *c) {
    mb_engine_request r = mb_engine_default_request();
    static mb_sampler_params greedy;
    greedy = mb_sampler_default_params();
    greedy.temperature = 0;
    r.prompt = prompt;
    r.n_prompt = n;
    r.max_tokens = max_tokens;
    r.sampler = &greedy;
    r.on_text = on_text;
    r.on_token = on_token;
    r.on_done = on_done;
    r.user = c;
    return r;
}

static mb_engine *engine(mb_model *m, int n_slots, long long budget, int timeout_ms,
                         const mb_session_params *sp) {
    mb_engine_params ep = mb_engine_default_params();
    ep.n_slots = n_slots;
    ep.session = sp;
    ep.kv_budget = budget;
    ep.queue_timeout_ms = timeout_ms;
    mb_engine *e = NULL;
    CHECK_OK(mb_engine_new(m, &ep, &e));
    return e;
}

static mb_token prompts[N_REQ][PREFIX + SUFFIX];

/* Every request through E; request 0 first and alone (it publishes the
 * prefix), then the other 7 together. */
static void run_all(mb_engine *e, capture *out) {
    mb_engine_job *jobs[N_REQ] = {0};
    for (int i = 0; i < N_REQ; i++) {
        memset(&out[i], 0, sizeof out[i]);
        out[i].e = e;
    }
    mb_engine_request r = request(prompts[0], PREFIX + SUFFIX, N_GEN, &out[0]);
    CHECK_OK(mb_engine_submit(e, &r, &jobs[0]));
    mb_engine_job_wait(jobs[0], -1);
    atomic_store(&arrived, 0);
    atomic_store(&barrier, 1);
    for (int i = 1; i < N_REQ; i++) {
        r = request(prompts[i], PREFIX + SUFFIX, N_GEN, &out[i]);
        CHECK_OK(mb_engine_submit(e, &r, &jobs[i]));
    }
    for (int i = 0; i < N_REQ; i++) {
        mb_engine_job_wait(jobs[i], -1);
        mb_engine_job_free(jobs[i]);
    }
}

static void test_shared_prefix(mb_model *m, uint32_t kv_type) {
    mb_session_params sp = mb_session_default_params();
    sp.n_ctx = 1024;
    sp.n_threads = 1;
    sp.kv_type_k = sp.kv_type_v = kv_type;
    capture plain[N_REQ], paged[N_REQ];
    mb_engine *e = engine(m, N_REQ, -1, 0, &sp);
    if (!e) return;
    mb_engine_kv_stats st;
    mb_engine_kv_get_stats(e, &st);
    CHECK_EQ_INT(st.paged, 0);
    run_all(e, plain);
    atomic_store(&barrier, 0);
    mb_engine_free(e);
    e = engine(m, N_REQ, 0, 0, &sp);
    if (!e) return;
    atomic_store(&max_used, 0);
    atomic_store(&max_shared, 0);
    run_all(e, paged);
    atomic_store(&barrier, 0);
    CHECK_EQ_INT(atomic_load(&arrived), N_REQ - 1);
    mb_engine_kv_get_stats(e, &st);
    CHECK_EQ_INT(st.paged, 1);
    CHECK_EQ_INT(st.n_blocks, N_REQ * 1024 / 64);
    /* Requests 1..7 each found the 500 prefix positions in the cache. */
    CHECK_EQ_INT(st.adopted_tokens, (N_REQ - 1) * PREFIX);
    /* Each diverged inside block 7 (positions 448..511): one copy each. */
    CHECK_EQ_INT(st.copies, N_REQ - 1);
    CHECK_EQ_INT(st.used, 0);
    CHECK_EQ_INT(st.committed, 0);
    /* 509 + 24 positions reach block 8: 9 blocks a request. While the 7
     * decode together, the 7 whole prefix blocks are held once and shared,
     * and each holds its own 2 (block 7's copy and block 8). Unshared,
     * they would hold 63. */
    const int whole = PREFIX / 64;
    CHECK_MSG(atomic_load(&max_shared) == whole, "shared %d blocks, expected %d",
              atomic_load(&max_shared), whole);
    CHECK_MSG(atomic_load(&max_used) <= whole + 2 * (N_REQ - 1), "used %d blocks, expected <= %d",
              atomic_load(&max_used), whole + 2 * (N_REQ - 1));
    for (int i = 0; i < N_REQ; i++) {
        CHECK_MSG(plain[i].finish == MB_ENGINE_LENGTH && paged[i].finish == MB_ENGINE_LENGTH,
                  "request %d: finish %d / %d", i, plain[i].finish, paged[i].finish);
        CHECK_MSG(plain[i].len > 0 && plain[i].len == paged[i].len &&
                      !memcmp(plain[i].text, paged[i].text, plain[i].len),
                  "request %d: paged output differs from per-slot caches", i);
    }
    mb_engine_free(e);
}

/* A token callback that holds its slot until released: the request keeps
 * its blocks meanwhile. */
static atomic_int hold;
static int holding_token(mb_engine_job *j, const mb_engine_token *t, void *user) {
    (void)j, (void)t, (void)user;
    while (atomic_load(&hold)) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    return 0;
}

static void test_budget(mb_model *m) {
    mb_session_params sp = mb_session_default_params();
    sp.n_ctx = 512;
    sp.n_threads = 1;
    /* Block bytes: 64 positions x 2 layers x (K + V) x 2 KV heads x 16 x 2 bytes. */
    const long long block = 64LL * 2 * 2 * 2 * 16 * 2;
    /* Below one block: refused at creation. */
    mb_engine_params ep = mb_engine_default_params();
    ep.n_slots = 2;
    ep.session = &sp;
    ep.kv_budget = block - 1;
    mb_engine *e = NULL;
    CHECK(mb_engine_new(m, &ep, &e) == MB_ERR_INVALID_ARG && !e);
    CHECK(strstr(mb_last_error(), "less than one block") != NULL);
    /* Room for 4 blocks: A takes 3 (100 + 92 positions), B needs 2. */
    e = engine(m, 2, 4 * block, 300, &sp);
    if (!e) return;
    mb_engine_kv_stats st;
    mb_engine_kv_get_stats(e, &st);
    CHECK_EQ_INT(st.n_blocks, 4);
    CHECK_EQ_INT((long long)st.block_bytes, block);
    mb_token p[200];
    for (int i = 0; i < 200; i++)
        p[i] = 3 + (i * 13) % 250;
    capture ca = {.e = e}, cb = {.e = e}, cc = {.e = e};
    atomic_store(&hold, 1);
    mb_engine_request ra = request(p, 100, 92, &ca);
    ra.on_token = holding_token;
    mb_engine_job *ja, *jb, *jc, *jd;
    CHECK_OK(mb_engine_submit(e, &ra, &ja));
    while (!mb_engine_job_started(ja)) {
    }
    mb_engine_request rb = request(p + 50, 60, 60, &cb);
    CHECK_OK(mb_engine_submit(e, &rb, &jb));
    /* A free slot, but not the blocks: B times out in the queue. */
    CHECK_EQ_INT(mb_engine_job_wait(jb, 5000), MB_ENGINE_TIMEOUT);
    CHECK(strstr(mb_engine_job_error(jb), "queue") != NULL);
    mb_engine_job_stats js;
    mb_engine_job_get_stats(jb, &js);
    CHECK_EQ_INT(js.n_generated, 0);
    CHECK(js.queue_seconds >= 0.25);
    /* One larger than the cache is refused at once. */
    mb_engine_request rd = request(p, 200, 200, &cc);
    CHECK(mb_engine_submit(e, &rd, &jd) == MB_ERR_NO_MEMORY && !jd);
    CHECK(strstr(mb_last_error(), "blocks") != NULL);
    /* After A, C (which B could not be) is admitted and runs. */
    mb_engine_request rc = request(p + 50, 60, 60, &cc);
    CHECK_OK(mb_engine_submit(e, &rc, &jc));
    atomic_store(&hold, 0);
    CHECK_EQ_INT(mb_engine_job_wait(ja, 10000), MB_ENGINE_LENGTH);
    CHECK_EQ_INT(mb_engine_job_wait(jc, 10000), MB_ENGINE_LENGTH);
    mb_engine_job_free(ja);
    mb_engine_job_free(jb);
    mb_engine_job_free(jc);
    mb_engine_kv_get_stats(e, &st);
    CHECK_EQ_INT(st.used, 0);
    CHECK_EQ_INT(st.committed, 0);
    mb_engine_free(e);
}

int main(void) {
    char path[512];
    snprintf(path, sizeof path, "%s/paged.gguf", mbt_tmpdir());
    mbt_tiny_model cfg = {.n_embd = 64,
                          .n_layer = 2,
                          .n_head = 4,
                          .n_head_kv = 2,
                          .n_ff = 96,
                          .n_ctx = 1024,
                          .seed = 11};
    CHECK_OK(mbt_write_tiny_model(path, &cfg));
    mb_model *m = NULL;
    CHECK_OK(mb_model_load(path, NULL, &m));
    if (!m) return mbt_finish();
    for (int i = 0; i < N_REQ; i++)
        for (int k = 0; k < PREFIX + SUFFIX; k++)
            prompts[i][k] = k < PREFIX ? 3 + (k * 7) % 250 : 3 + (k * 11 + i * 31) % 250;
    test_shared_prefix(m, MB_TYPE_F16);
    test_budget(m);
    mb_model_free(m);
    /* Quantized blocks: a head size of 32 takes q8_0 and q4_0. */
    snprintf(path, sizeof path, "%s/paged32.gguf", mbt_tmpdir());
    cfg.n_embd = 128;
    CHECK_OK(mbt_write_tiny_model(path, &cfg));
    m = NULL;
    CHECK_OK(mb_model_load(path, NULL, &m));
    if (!m) return mbt_finish();
    test_shared_prefix(m, MB_TYPE_Q8_0);
    test_shared_prefix(m, MB_TYPE_Q4_0);
    mb_model_free(m);
    return mbt_finish();
}
