/* Slots and their threads. Each slot runs mb_generate on its own session;
 * the weights are shared read-only, so slots decode in parallel. A request
 * that finds every slot busy waits in the FIFO; past the queue limit it is
 * refused, so memory and latency stay bounded under any load. */
#include "server/engine.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "core/file_map.h"
#include "core/timer.h"
#include "model/forward.h"
#include "model/model.h"
#include "runtime/session.h"
#include "server/batcher.h"

typedef struct {
    mb_engine *e;
    mb_session *s;
    pthread_t thread;
    int started;
    mb_batch_seat seat;
    /* The tokens in the session's KV cache: the last request's prompt and
     * the generated tokens that were evaluated (n_kv of the n_ctx room),
     * so a request that starts the same way (the next turn of a chat)
     * evaluates only what is new. */
    mb_token *kv;
    size_t n_kv, n_written, cap_kv;
    /* Under the engine's lock: waiting for work (its kv may be read), and a
     * job another slot handed it because its cache holds more of the
     * prompt. */
    int waiting;
    struct mb_job *assigned;
} slot;

struct mb_engine {
    mb_model *model;
    mb_metrics *metrics;
    mb_batcher *batcher; /* NULL: each slot decodes alone */
    slot *slots;
    int n_slots, n_queue;
    pthread_mutex_t mu;
    pthread_cond_t work, idle;
    mb_job *head, *tail;
    int queued, busy, stopping;
};

mb_job *mb_job_new(mb_server_request *req, mb_token *prompt, size_t n_prompt, int max_tokens,
                   double t_arrival) {
    mb_job *j = calloc(1, sizeof *j);
    if (!j) return NULL;
    j->req = *req;
    memset(req, 0, sizeof *req);
    j->prompt = prompt;
    j->n_prompt = n_prompt;
    j->max_tokens = max_tokens;
    j->t_arrival = t_arrival;
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cv, NULL);
    atomic_init(&j->refs, 1);
    atomic_init(&j->cancelled, 0);
    return j;
}

void mb_job_release(mb_job *j) {
    if (!j || atomic_fetch_sub(&j->refs, 1) != 1) return;
    mb_server_request_free(&j->req);
    free(j->prompt);
    free(j->text);
    free(j->lp);
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cv);
    free(j);
}

/* ---- generation callbacks ------------------------------------------------ */

typedef struct {
    mb_job *j;
    slot *sl;
    const mb_model *model;
    double t_first; /* seconds from arrival to the first token, -1 before it */
} gen_ctx;

/* log-softmax of the chosen token and the K most likely ones. */
static void token_logprobs(const float *logits, int n_vocab, mb_token id, int k,
                           mb_job_logprob *out) {
    float mx = logits[0];
    for (int i = 1; i < n_vocab; i++)
        if (logits[i] > mx) mx = logits[i];
    double sum = 0;
    for (int i = 0; i < n_vocab; i++)
        sum += exp((double)logits[i] - mx);
    double lse = mx + log(sum);
    out->id = id;
    out->logprob = (float)(logits[id] - lse);
    out->n_top = 0;
    for (int i = 0; i < n_vocab; i++) { /* insertion into a short sorted list */
        float v = logits[i];
        if (out->n_top == k && (k == 0 || v <= out->top_lp[k - 1])) continue;
        int at = out->n_top < k ? out->n_top++ : k - 1;
        while (at > 0 && out->top_lp[at - 1] < v) {
            out->top_lp[at] = out->top_lp[at - 1];
            out->top_id[at] = out->top_id[at - 1];
            at--;
        }
        out->top_lp[at] = v;
        out->top_id[at] = i;
    }
    for (int i = 0; i < out->n_top; i++)
        out->top_lp[i] = (float)(out->top_lp[i] - lse);
}

static int on_token(mb_token id, const float *logits, int n_vocab, void *user) {
    gen_ctx *g = user;
    mb_job *j = g->j;
    if (atomic_load(&j->cancelled)) return 1;
    if (g->sl->n_written < g->sl->cap_kv) g->sl->kv[g->sl->n_written++] = id;
    if (g->t_first < 0) g->t_first = mb_now() - j->t_arrival;
    if (j->draft && !mb_token_is_eog(g->model, id))
        mb_confidence_add(&j->conf, logits, n_vocab, id);
    if (!j->req.logprobs || mb_token_is_eog(g->model, id)) return 0;
    mb_job_logprob lp;
    token_logprobs(logits, n_vocab, id, j->req.top_logprobs, &lp);
    pthread_mutex_lock(&j->mu);
    if (j->n_lp == j->cap_lp) {
        size_t cap = j->cap_lp ? j->cap_lp * 2 : 64;
        mb_job_logprob *t = realloc(j->lp, cap * sizeof *t);
        if (t) j->lp = t, j->cap_lp = cap;
    }
    if (j->n_lp < j->cap_lp) j->lp[j->n_lp++] = lp;
    pthread_mutex_unlock(&j->mu);
    return 0;
}

static int on_text(const char *text, size_t len, void *user) {
    gen_ctx *g = user;
    mb_job *j = g->j;
    pthread_mutex_lock(&j->mu);
    if (j->len + len + 1 > j->cap) {
        size_t cap = (j->len + len + 1) * 2;
        char *t = realloc(j->text, cap);
        if (!t) {
            pthread_mutex_unlock(&j->mu);
            return 1;
        }
        j->text = t;
        j->cap = cap;
    }
    memcpy(j->text + j->len, text, len);
    j->len += len;
    j->text[j->len] = '\0';
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
    return atomic_load(&j->cancelled);
}

/* Tokens of PROMPT the slot's cache holds (its common prefix). */
static size_t cached_prefix(const slot *sl, const mb_job *j) {
    size_t k = 0;
    while (k < sl->n_kv && k < j->n_prompt && sl->kv[k] == j->prompt[k])
        k++;
    return k;
}

static void run_job(slot *sl, mb_job *j) {
    mb_engine *e = sl->e;
    const mb_server_request *r = &j->req;
    mb_sampler_params sp = mb_sampler_default_params();
    /* The OpenAI API's sampling: temperature and top_p only, no top-k or
     * min-p cut unless asked; penalties as given. */
    sp.temperature = (float)r->temperature;
    sp.top_p = (float)r->top_p;
    sp.top_k = 0;
    sp.min_p = 0;
    sp.repeat_penalty = 1;
    sp.presence_penalty = (float)r->presence_penalty;
    sp.frequency_penalty = (float)r->frequency_penalty;
    sp.seed = r->has_seed ? r->seed : ((uint64_t)(mb_now() * 1e9) ^ (uint64_t)(uintptr_t)j);
    mb_sampler *sampler = NULL;
    gen_ctx g = {.j = j, .sl = sl, .model = e->model, .t_first = -1};
    mb_generate_params gp = {.struct_size = sizeof gp,
                             .n_predict = j->max_tokens,
                             .stop = (const char *const *)r->stop,
                             .on_text = on_text,
                             .on_token = on_token,
                             .user = &g};
    mb_generate_stats st = {0};
    /* The longest prefix the slot holds, less the prompt's last token (its
     * logits start the generation). */
    size_t keep = r->cache_prompt ? cached_prefix(sl, j) : 0;
    if (keep > 0 && keep == j->n_prompt) keep--;
    /* A windowed model whose ring no longer holds the prefix's window would
     * re-evaluate all of it: then nothing is cached, and the usage says so. */
    if (keep > 0 && mb_session_rewind_replays(sl->s, (int)keep)) keep = 0;
    gp.n_cached = keep;
    mb_status status = mb_session_rewind(sl->s, (int)keep);
    sl->n_written = j->n_prompt < sl->cap_kv ? j->n_prompt : sl->cap_kv;
    memcpy(sl->kv, j->prompt, sl->n_written * sizeof *sl->kv);
    if (!status) status = mb_sampler_new(&sp, mb_model_n_vocab(e->model), &sampler);
    if (!status) status = mb_generate(sl->s, sampler, j->prompt, j->n_prompt, &gp, &st);
    const size_t n_past = (size_t)mb_session_n_past(sl->s);
    sl->n_kv = status || n_past > sl->n_written ? 0 : n_past;
    if (e->batcher) mb_batcher_leave(&sl->seat);
    mb_sampler_free(sampler);
    pthread_mutex_lock(&j->mu);
    j->n_generated = st.n_generated;
    j->n_cached = st.n_cached;
    if (status) {
        j->finish = MB_FINISH_ERROR;
        snprintf(j->error, sizeof j->error, "%s", mb_last_error());
    } else if (st.stop_reason == MB_STOP_CALLBACK || st.stop_reason == MB_STOP_ABORTED) {
        j->finish = MB_FINISH_CANCELLED;
    } else {
        j->finish = (st.stop_reason == MB_STOP_EOG || st.stop_reason == MB_STOP_STRING)
                        ? MB_FINISH_STOP
                        : MB_FINISH_LENGTH;
    }
    j->done = 1;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
    mb_metrics_generation(e->metrics, st.n_prompt, st.n_cached, st.n_generated, st.prefill_seconds,
                          st.decode_seconds, g.t_first);
    if (j->finish == MB_FINISH_CANCELLED) {
        pthread_mutex_lock(&e->metrics->mu);
        e->metrics->cancelled++;
        pthread_mutex_unlock(&e->metrics->mu);
    }
}

static void publish_load(mb_engine *e) {
    pthread_mutex_lock(&e->metrics->mu);
    e->metrics->busy = e->busy;
    e->metrics->queued = e->queued;
    if (e->batcher) mb_batcher_stats(e->batcher, &e->metrics->batch_steps, &e->metrics->batch_rows);
    pthread_mutex_unlock(&e->metrics->mu);
}

/* The waiting slot whose cache holds the longest prefix of J's prompt, or
 * SELF when none holds more than SELF does (under the engine's lock). */
static slot *best_slot(mb_engine *e, slot *self, const mb_job *j) {
    slot *best = self;
    size_t best_k = j->req.cache_prompt ? cached_prefix(self, j) : 0;
    for (int i = 0; j->req.cache_prompt && i < e->n_slots; i++) {
        slot *o = &e->slots[i];
        if (o == self || !o->waiting || o->assigned) continue;
        const size_t k = cached_prefix(o, j);
        if (k > best_k) best = o, best_k = k;
    }
    return best;
}

static void *slot_main(void *arg) {
    slot *sl = arg;
    mb_engine *e = sl->e;
    pthread_mutex_lock(&e->mu);
    for (;;) {
        sl->waiting = 1;
        while (!sl->assigned && !e->head && !e->stopping)
            pthread_cond_wait(&e->work, &e->mu);
        mb_job *j = sl->assigned;
        if (j) {
            sl->assigned = NULL; /* counted as busy by the slot that handed it over */
        } else {
            if (!e->head) break; /* stopping, and nothing left */
            j = e->head;
            e->head = j->next;
            if (!e->head) e->tail = NULL;
            e->queued--;
            e->busy++;
            publish_load(e);
            /* The prompt cache: a waiting slot that holds more of this
             * prompt runs it instead (the next turn of a chat finds its
             * conversation whichever slot woke first). */
            slot *to = best_slot(e, sl, j);
            if (to != sl) {
                to->assigned = j;
                to->waiting = 0;
                pthread_cond_broadcast(&e->work);
                continue;
            }
        }
        sl->waiting = 0;
        pthread_mutex_unlock(&e->mu);
        /* A client that left while its request waited costs no decoding. */
        if (atomic_load(&j->cancelled)) {
            pthread_mutex_lock(&j->mu);
            j->finish = MB_FINISH_CANCELLED;
            j->done = 1;
            pthread_cond_broadcast(&j->cv);
            pthread_mutex_unlock(&j->mu);
        } else {
            run_job(sl, j);
        }
        mb_job_release(j);
        pthread_mutex_lock(&e->mu);
        e->busy--;
        publish_load(e);
        if (!e->busy && !e->head) pthread_cond_broadcast(&e->idle);
    }
    sl->waiting = 0;
    pthread_mutex_unlock(&e->mu);
    return NULL;
}

mb_status mb_engine_new(mb_model *model, int n_slots, int n_queue, const mb_session_params *session,
                        int batch_threads, mb_metrics *metrics, mb_engine **out) {
    *out = NULL;
    if (n_slots < 1 || n_slots > 256 || n_queue < 0 || n_queue > 65536)
        return mb_errorf(MB_ERR_INVALID_ARG, "slots %d (1..256) or queue %d (0..65536)", n_slots,
                         n_queue);
    /* Each slot's session checks that its own KV cache fits; the slots
     * together must fit too, before any is made. */
    const mb_hparams *hp = &model->hp;
    int n_ctx = session ? session->n_ctx : 0;
    if (n_ctx == 0) n_ctx = hp->n_ctx_train < 4096 ? hp->n_ctx_train : 4096;
    if (n_slots > 1 && !model->vocab_only && n_ctx > 0 && n_ctx <= (1 << 24)) {
        const int n_batch = n_ctx < 512 ? n_ctx : 512; /* as mb_session_new sizes it */
        const uint64_t kv = mb_kv_cache_bytes(hp, n_ctx, n_batch, session ? session->swa_full : 0);
        const uint64_t need = kv * (uint64_t)n_slots + (model->is_mmap ? model->weight_bytes : 0);
        const uint64_t avail = mb_mem_available();
        if (avail > 0 && need > avail)
            return mb_errorf(MB_ERR_NO_MEMORY,
                             "%d slots of %d positions need %llu bytes of KV cache (%llu each)%s, "
                             "but only %llu bytes are available; use fewer --slots or a smaller -c",
                             n_slots, n_ctx, (unsigned long long)(kv * (uint64_t)n_slots),
                             (unsigned long long)kv,
                             model->is_mmap ? " plus the mapped weights" : "",
                             (unsigned long long)avail);
    }
    mb_engine *e = calloc(1, sizeof *e);
    if (!e || !(e->slots = calloc((size_t)n_slots, sizeof *e->slots))) {
        free(e);
        return mb_errorf(MB_ERR_NO_MEMORY, "out of memory for %d slots", n_slots);
    }
    e->model = model;
    e->metrics = metrics;
    e->n_slots = n_slots;
    e->n_queue = n_queue;
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->work, NULL);
    pthread_cond_init(&e->idle, NULL);
    for (int i = 0; i < n_slots; i++) {
        e->slots[i].e = e;
        mb_status st = mb_session_new(model, session, &e->slots[i].s);
        if (!st) {
            e->slots[i].cap_kv = (size_t)mb_session_n_ctx(e->slots[i].s);
            e->slots[i].kv = malloc(e->slots[i].cap_kv * sizeof *e->slots[i].kv);
            if (!e->slots[i].kv) st = mb_errorf(MB_ERR_NO_MEMORY, "out of memory");
        }
        if (!st && i == 0 && batch_threads >= 0 && n_slots > 1)
            st = mb_batcher_new(model, n_slots, mb_session_n_ctx(e->slots[0].s), batch_threads,
                                &e->batcher);
        if (st) {
            mb_error_prefix(st, "slot %d of %d", i + 1, n_slots);
            mb_engine_free(e);
            return st;
        }
        if (e->batcher) mb_batcher_attach(e->batcher, &e->slots[i].seat, e->slots[i].s);
        if (pthread_create(&e->slots[i].thread, NULL, slot_main, &e->slots[i]) != 0) {
            mb_engine_free(e);
            return mb_errorf(MB_ERR_NO_MEMORY, "cannot start the thread of slot %d", i + 1);
        }
        e->slots[i].started = 1;
    }
    *out = e;
    return MB_OK;
}

int mb_engine_n_ctx(const mb_engine *e) {
    return mb_session_n_ctx(e->slots[0].s);
}

int mb_engine_submit(mb_engine *e, mb_job *j) {
    pthread_mutex_lock(&e->mu);
    if (e->stopping || e->busy + e->queued >= e->n_slots + e->n_queue) {
        pthread_mutex_unlock(&e->mu);
        return 1;
    }
    atomic_fetch_add(&j->refs, 1);
    j->next = NULL;
    if (e->tail)
        e->tail->next = j;
    else
        e->head = j;
    e->tail = j;
    e->queued++;
    publish_load(e);
    pthread_cond_signal(&e->work);
    pthread_mutex_unlock(&e->mu);
    return 0;
}

int mb_engine_withdraw(mb_engine *e, mb_job *j) {
    pthread_mutex_lock(&e->mu);
    mb_job **at = &e->head, *prev = NULL;
    while (*at && *at != j)
        prev = *at, at = &(*at)->next;
    int found = *at == j;
    if (found) {
        *at = j->next;
        if (e->tail == j) e->tail = prev;
        j->next = NULL;
        e->queued--;
        publish_load(e);
        if (!e->busy && !e->head) pthread_cond_broadcast(&e->idle);
    }
    pthread_mutex_unlock(&e->mu);
    if (!found) return 0;
    atomic_store(&j->cancelled, 1);
    pthread_mutex_lock(&j->mu);
    j->finish = MB_FINISH_CANCELLED;
    j->done = 1;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
    pthread_mutex_lock(&e->metrics->mu);
    e->metrics->cancelled++;
    pthread_mutex_unlock(&e->metrics->mu);
    mb_job_release(j); /* the queue's reference */
    return 1;
}

void mb_engine_drain(mb_engine *e) {
    pthread_mutex_lock(&e->mu);
    while (e->busy || e->head)
        pthread_cond_wait(&e->idle, &e->mu);
    pthread_mutex_unlock(&e->mu);
}

void mb_engine_load(mb_engine *e, int *busy, int *queued) {
    pthread_mutex_lock(&e->mu);
    *busy = e->busy;
    *queued = e->queued;
    pthread_mutex_unlock(&e->mu);
}

void mb_engine_free(mb_engine *e) {
    if (!e) return;
    pthread_mutex_lock(&e->mu);
    e->stopping = 1;
    pthread_cond_broadcast(&e->work);
    pthread_mutex_unlock(&e->mu);
    for (int i = 0; i < e->n_slots; i++) {
        if (e->slots[i].started) pthread_join(e->slots[i].thread, NULL);
        mb_session_free(e->slots[i].s);
        free(e->slots[i].kv);
    }
    mb_batcher_free(e->batcher);
    pthread_mutex_destroy(&e->mu);
    pthread_cond_destroy(&e->work);
    pthread_cond_destroy(&e->idle);
    free(e->slots);
    free(e);
}
