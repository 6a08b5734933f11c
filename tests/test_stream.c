/* Weights under a memory budget (model/plan.h, model/stream.h): greedy
 * tokens and logits equal to the resident run's, for dense and MoE tiny
 * models, prefill and decode, alone, batched (mb_batch_decode) and from
 * two threads at once;
 * the bytes read match the plan; and the hostile cases: a budget below the
 * minimum, a file that shrinks under a running model, an I/O error in the
 * prefetch thread, a LoRA adapter on a streamed model. */
#include <errno.h>
#include <pthread.h>
#include <unistd.h>

#include "model/plan.h"
#include "model/stream.h"
#include "tensor/types.h"
#include "test_util.h"

enum { PROMPT = 6, GEN = 12, N_LAYER = 6 };

static char dense_path[512], moe_path[512];

static mb_model *load(const char *path, uint64_t budget) {
    mb_model_params mp = mb_model_default_params();
    mp.mem_budget = budget;
    mb_model *m = NULL;
    CHECK_OK(mb_model_load(path, &mp, &m));
    return m;
}

static int argmax(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

/* A prompt in one chunk, then GEN greedy tokens one by one: the tokens and
 * every step's logits (GEN x n_vocab) into TOK and LOGITS. */
static mb_status greedy(mb_model *m, mb_token *tok, float *logits) {
    const int nv = mb_model_n_vocab(m);
    mb_session_params sp = mb_session_default_params();
    sp.n_ctx = 64;
    sp.n_threads = 2;
    mb_session *s = NULL;
    mb_status st = mb_session_new(m, &sp, &s);
    mb_token prompt[PROMPT];
    for (int i = 0; i < PROMPT; i++)
        prompt[i] = (mb_token)(3 + 37 * i % (nv - 3));
    if (!st) st = mb_session_eval(s, prompt, PROMPT);
    for (int i = 0; !st && i < GEN; i++) {
        memcpy(logits + (size_t)i * nv, mb_session_logits(s), (size_t)nv * sizeof(float));
        tok[i] = argmax(mb_session_logits(s), nv);
        st = mb_session_eval(s, &tok[i], 1);
    }
    mb_session_free(s);
    return st;
}

typedef struct {
    mb_token tok[GEN];
    float *logits;
} run;

static void run_free(run *r) {
    free(r->logits);
}

static run reference(const char *path) {
    run r = {.logits = NULL};
    mb_model *m = load(path, 0);
    if (!m) return r;
    r.logits = malloc((size_t)GEN * mb_model_n_vocab(m) * sizeof(float));
    CHECK_OK(greedy(m, r.tok, r.logits));
    mb_model_free(m);
    return r;
}

static int same_run(const run *a, const run *b, int n_vocab) {
    return a->logits && b->logits && !memcmp(a->tok, b->tok, sizeof a->tok) &&
           !memcmp(a->logits, b->logits, (size_t)GEN * n_vocab * sizeof(float));
}

/* The plan of PATH under BUDGET, computed on a resident load. */
static mb_weight_plan plan_of(const char *path, uint64_t budget, mb_status *st) {
    mb_weight_plan p = {0};
    mb_model *m = load(path, 0);
    *st = m ? mb_plan_make(m, budget, &p) : MB_ERR_IO;
    mb_model_free(m);
    return p;
}

/* Dense: every number of resident layers from 0 to n - 1 gives the
 * resident run's tokens and logits, and reads what the plan says. */
static void dense_identity(void) {
    run ref = reference(dense_path);
    mb_status st;
    mb_weight_plan p = plan_of(dense_path, 1, &st);
    CHECK(st == MB_ERR_INVALID_ARG);
    mb_model *probe = load(dense_path, 0);
    if (!probe || !ref.logits) return;
    const int nv = mb_model_n_vocab(probe);
    const uint64_t total = mb_model_weight_bytes(probe);
    mb_model_free(probe);
    int seen[N_LAYER + 1] = {0};
    for (uint64_t budget = total / 4; budget < total; budget += total / 40) {
        p = plan_of(dense_path, budget, &st);
        if (st) continue; /* below the minimum */
        mb_plan_free(&p);
        mb_model *m = load(dense_path, budget);
        if (!m) continue;
        mb_stream_stats ss;
        mb_model_stream_stats(m, &ss);
        run r = {.logits = malloc((size_t)GEN * nv * sizeof(float))};
        CHECK_OK(greedy(m, r.tok, r.logits));
        CHECK_MSG(same_run(&ref, &r, nv), "budget %llu: %d resident layers differ",
                  (unsigned long long)budget, ss.n_resident_layers);
        mb_stream_stats after;
        mb_model_stream_stats(m, &after);
        if (ss.budget && ss.n_resident_layers < N_LAYER) {
            seen[ss.n_resident_layers] = 1;
            /* Each pass reads the streamed layers once (a layer the ring
             * prefetched for the next pass too), plus a row per token. */
            const uint64_t row = (uint64_t)64 * sizeof(float);
            const uint64_t least = after.passes * ss.streamed_bytes + (PROMPT + GEN) * row;
            CHECK_MSG(after.bytes_read >= least && after.bytes_read <= least + 2 * ss.buffer_bytes,
                      "read %llu, expected %llu..+%llu", (unsigned long long)after.bytes_read,
                      (unsigned long long)least, (unsigned long long)(2 * ss.buffer_bytes));
            CHECK_EQ_INT(after.passes, 1 + GEN);
            CHECK(ss.resident_bytes + ss.buffer_bytes <= budget);
        }
        run_free(&r);
        mb_model_free(m);
    }
    int n_seen = 0;
    for (int k = 0; k < N_LAYER; k++)
        n_seen += seen[k];
    CHECK_MSG(n_seen >= 3, "only %d plans with streamed layers were tried", n_seen);
    run_free(&ref);
}

/* MoE under a budget of half the experts: identical tokens and logits; the
 * cache holds half of them, some routed experts hit, and the bytes read are
 * the misses' slices plus the embedding rows. */
static void moe_identity(void) {
    run ref = reference(moe_path);
    mb_status st;
    mb_weight_plan p = plan_of(moe_path, 1 << 30, &st); /* all fits: the sizes */
    mb_weight_plan q = plan_of(moe_path, p.resident_bytes - 1, &st);
    CHECK_OK(st);
    CHECK(q.experts_on_demand && q.n_resident == q.n_layer);
    const int n_all = q.n_layer * q.n_expert;
    const uint64_t budget = q.resident_bytes + (uint64_t)(n_all / 2) * q.expert_bytes;
    mb_plan_free(&p);
    mb_plan_free(&q);
    mb_model *m = load(moe_path, budget);
    if (!m || !ref.logits) return;
    const int nv = mb_model_n_vocab(m);
    run r = {.logits = malloc((size_t)GEN * nv * sizeof(float))};
    CHECK_OK(greedy(m, r.tok, r.logits));
    CHECK(same_run(&ref, &r, nv));
    mb_stream_stats ss;
    mb_model_stream_stats(m, &ss);
    CHECK_EQ_INT(ss.n_cache_experts, n_all / 2);
    CHECK_EQ_INT(ss.n_experts, n_all);
    CHECK(ss.expert_hits > 0 && ss.expert_misses > 0);
    CHECK(ss.expert_misses >= (uint64_t)n_all / 2);      /* the cache filled */
    const uint64_t one = 3ull * 64 * 96 * sizeof(float); /* gate, up, down of one expert */
    CHECK_EQ_INT(ss.bytes_read, ss.expert_misses * one + (PROMPT + GEN) * 64 * sizeof(float));
    CHECK(strstr(ss.plan, "experts on demand") != NULL);
    run_free(&r);
    run_free(&ref);
    mb_model_free(m);
}

static void below_minimum(void) {
    mb_model_params mp = mb_model_default_params();
    mp.mem_budget = 100000;
    mb_model *m = NULL;
    CHECK(mb_model_load(dense_path, &mp, &m) == MB_ERR_INVALID_ARG && !m);
    const char *e = mb_last_error();
    CHECK_MSG(strstr(e, "memory budget 0.10 MiB is below the ") && strstr(e, "needs at least"),
              "%s", e);
    mp.use_mmap = 0;
    mp.mem_budget = 1 << 30;
    CHECK(mb_model_load(dense_path, &mp, &m) == MB_ERR_INVALID_ARG && !m);
}

/* Two threads, two sessions, one streamed model: each gets the resident
 * run's result (the passes take turns on the model's ring). */
static void *thread_main(void *arg) {
    void **a = arg;
    run *r = a[1];
    a[2] = (void *)(intptr_t)greedy(a[0], r->tok, r->logits);
    return NULL;
}

static void concurrent(uint64_t budget) {
    run ref = reference(dense_path);
    mb_model *m = load(dense_path, budget);
    if (!m || !ref.logits) return;
    const int nv = mb_model_n_vocab(m);
    run r[2];
    void *args[2][3];
    pthread_t th[2];
    for (int i = 0; i < 2; i++) {
        r[i].logits = malloc((size_t)GEN * nv * sizeof(float));
        args[i][0] = m, args[i][1] = &r[i], args[i][2] = NULL;
        CHECK(pthread_create(&th[i], NULL, thread_main, args[i]) == 0);
    }
    for (int i = 0; i < 2; i++) {
        pthread_join(th[i], NULL);
        CHECK_EQ_INT((intptr_t)args[i][2], MB_OK);
        CHECK(same_run(&ref, &r[i], nv));
        run_free(&r[i]);
    }
    run_free(&ref);
    mb_model_free(m);
}

/* Batched decoding (one pass for several sessions, as the server's slots
 * decode): the streamed model's logits equal the resident model's. */
static void batched_logits(mb_model *m, float *out) {
    enum { N = 3, STEPS = 4 };
    const int nv = mb_model_n_vocab(m);
    mb_session *s[N];
    mb_token next[N];
    for (int i = 0; i < N; i++) {
        s[i] = mbt_session(m, 64);
        mb_token prompt[3] = {(mb_token)(10 + i), 20, (mb_token)(30 + 5 * i)};
        CHECK_OK(mb_session_eval(s[i], prompt, (size_t)(1 + i)));
        next[i] = (mb_token)argmax(mb_session_logits(s[i]), nv);
    }
    mb_batch *b = NULL;
    CHECK_OK(mb_batch_new(m, N, 64, 2, &b));
    for (int step = 0; b && step < STEPS; step++) {
        CHECK_OK(mb_batch_decode(b, s, next, N));
        for (int i = 0; i < N; i++) {
            const float *l = mb_session_logits(s[i]);
            memcpy(out + ((size_t)step * N + i) * nv, l, (size_t)nv * sizeof(float));
            next[i] = (mb_token)argmax(l, nv);
        }
    }
    mb_batch_free(b);
    for (int i = 0; i < N; i++)
        mb_session_free(s[i]);
}

static void batched(uint64_t budget) {
    mb_model *r = load(dense_path, 0), *m = load(dense_path, budget);
    if (!r || !m) return;
    const size_t n = (size_t)4 * 3 * mb_model_n_vocab(r);
    float *a = calloc(n, sizeof *a), *b = calloc(n, sizeof *b);
    batched_logits(r, a);
    batched_logits(m, b);
    CHECK(a && b && !memcmp(a, b, n * sizeof *a));
    free(a);
    free(b);
    mb_model_free(r);
    mb_model_free(m);
}

static int copy_file(const char *from, const char *to) {
    return mbt_system("cp '%s' '%s'", from, to);
}

/* The file shrinks under a running model: the pass returns an error naming
 * it; once the file is back, the same session rewound gives the resident
 * result again. */
static void file_shrinks(uint64_t budget) {
    run ref = reference(dense_path);
    char path[600];
    snprintf(path, sizeof path, "%s/shrinks.gguf", mbt_tmpdir());
    CHECK(copy_file(dense_path, path) == 0);
    mb_model *m = load(path, budget);
    if (!m || !ref.logits) return;
    const int nv = mb_model_n_vocab(m);
    mb_session *s = mbt_session(m, 64);
    mb_token t[2] = {5, 6};
    CHECK_OK(mb_session_eval(s, t, 2));
    long size = 0;
    FILE *f = fopen(path, "rb");
    if (f && fseek(f, 0, SEEK_END) == 0) size = ftell(f);
    if (f) fclose(f);
    CHECK(truncate(path, size / 2) == 0);
    mb_status st = MB_OK;
    int before = 0;
    for (int i = 0; i < 3 && !st; i++) { /* the ring may hold a layer read before */
        before = mb_session_n_past(s);
        st = mb_session_eval(s, t, 2);
    }
    CHECK_EQ_INT(st, MB_ERR_IO);
    CHECK_MSG(strstr(mb_last_error(), "shrank") != NULL, "%s", mb_last_error());
    CHECK_EQ_INT(mb_session_n_past(s), before); /* the failed evaluation fed nothing */
    CHECK(copy_file(dense_path, path) == 0);
    run r = {.logits = malloc((size_t)GEN * nv * sizeof(float))};
    CHECK_OK(greedy(m, r.tok, r.logits));
    CHECK(same_run(&ref, &r, nv));
    run_free(&r);
    run_free(&ref);
    mb_session_free(s);
    mb_model_free(m);
}

/* An I/O error reading layers (first met by the prefetch thread, then by
 * the pass's own retry; embedding rows still read): reported by the pass,
 * which reads the layer again once the error is gone. */
static int prefetch_failures;
static ssize_t failing_pread(int fd, void *buf, size_t n, off_t off) {
    if (n > 4096) {
        __atomic_add_fetch(&prefetch_failures, 1, __ATOMIC_RELAXED);
        errno = EIO;
        return -1;
    }
    return pread(fd, buf, n, off);
}

static void io_error(uint64_t budget) {
    mb_model *m = load(dense_path, budget);
    if (!m) return;
    mb_session *s = mbt_session(m, 64);
    mb_token t = 7;
    mb_stream_pread_fn = failing_pread;
    mb_status st = MB_OK;
    for (int i = 0; i < 3 && !st; i++) /* past what the ring already holds */
        st = mb_session_eval(s, &t, 1);
    CHECK_EQ_INT(st, MB_ERR_IO);
    CHECK_MSG(strstr(mb_last_error(), "Input/output error") && strstr(mb_last_error(), "layer"),
              "%s", mb_last_error());
    CHECK(prefetch_failures >= 2);
    mb_stream_pread_fn = pread;
    CHECK_OK(mb_session_eval(s, &t, 1));
    CHECK_EQ_INT(mb_model_load_lora(m, dense_path, 1.0f), MB_ERR_INVALID_ARG);
    CHECK_MSG(strstr(mb_last_error(), "resident") != NULL, "%s", mb_last_error());
    mb_session_free(s);
    mb_model_free(m);
}

int main(void) {
    unsetenv("MATCHBOX_STREAM"); /* the default, pread into buffers */
    snprintf(dense_path, sizeof dense_path, "%s/dense.gguf", mbt_tmpdir());
    snprintf(moe_path, sizeof moe_path, "%s/moe.gguf", mbt_tmpdir());
    mbt_tiny_model dense = {.n_embd = 64,
                            .n_layer = N_LAYER,
                            .n_head = 4,
                            .n_head_kv = 2,
                            .n_ff = 96,
                            .n_ctx = 128,
                            .seed = 3};
    CHECK_OK(mbt_write_tiny_model(dense_path, &dense));
    mbt_tiny_model moe = dense;
    moe.n_expert = 8, moe.n_expert_used = 2, moe.seed = 4;
    CHECK_OK(mbt_write_tiny_model(moe_path, &moe));
    dense_identity();
    moe_identity();
    below_minimum();
    /* Half the weights: a few layers resident, the others streamed. */
    mb_model *m = load(dense_path, 0);
    const uint64_t half = m ? mb_model_weight_bytes(m) / 2 : 0;
    mb_model_free(m);
    concurrent(half);
    batched(half);
    file_shrinks(half);
    io_error(half);
    return mbt_finish();
}
