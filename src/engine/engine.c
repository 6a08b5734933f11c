/* Slots and their threads (include/matchbox/engine.h). Each slot runs
 * mb_generate on its own session; the weights are shared read-only, so
 * slots decode in parallel. A request that finds every slot busy waits in
 * the FIFO; past the queue limit it is refused, so memory and latency stay
 * bounded under any load. The job objects and their output are in job.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "core/params.h"
#include "core/file_map.h"
#include "core/timer.h"
#include "engine/batcher.h"
#include "engine/job.h"
#include "model/forward.h"
#include "model/model.h"
#include "runtime/generate.h"
#include "runtime/kv_pool.h"
#include "runtime/mem_plan.h"
#include "runtime/session.h"

mb_engine_params mb_engine_default_params(void) {
    return (mb_engine_params){.struct_size = sizeof(mb_engine_params),
                              .n_slots = 1,
                              .n_queue = 16,
                              .session = NULL,
                              .batch = 1,
                              .batch_threads = 0,
                              .draft_model = NULL,
                              .draft_max = 6,
                              .draft_min = 1,
                              .lookup_n = 0,
                              .kv_budget = 0,
                              .queue_timeout_ms = 0};
}

/* ---- generation callbacks ------------------------------------------------ */

typedef struct {
    mb_engine_job *j;
    slot *sl;
    int published; /* paged: the prompt's whole blocks were offered to others */
} gen_ctx;

static int on_token(mb_token id, const float *logits, int n_vocab, void *user) {
    gen_ctx *g = user;
    mb_engine_job *j = g->j;
    if (atomic_load(&j->cancelled)) return 1;
    /* The first token: the prompt is in the cache, so requests that start
     * with it can share its whole blocks from now on, not only after this
     * one ends. */
    if (g->sl->e->pool && !g->published) {
        g->published = 1;
        mb_session_kv_publish(g->sl->s, (int)j->n_prompt / MB_KV_BLOCK * MB_KV_BLOCK);
    }
    if (g->sl->n_written < g->sl->cap_kv) g->sl->kv[g->sl->n_written++] = id;
    if (!j->req.on_token) return 0;
    mb_engine_token t = {.id = id, .logits = logits, .n_vocab = n_vocab};
    char piece[256];
    size_t n = 0;
    if (mb_token_to_piece(g->sl->e->model, id, 0, piece, sizeof piece - 1, &n)) n = 0;
    piece[n] = '\0';
    t.piece = piece;
    t.piece_len = n;
    if (j->req.logprobs && !mb_token_is_eog(g->sl->e->model, id))
        mb_ejob_logprobs(logits, n_vocab, id, j->req.n_top_logprobs, &t);
    return j->req.on_token(j, &t, j->req.user);
}

/* The session's abort callback while a slot runs J: a cancel stops the
 * prefill between layers, not only at the next token. */
static int job_cancelled(void *user) {
    mb_engine_job *j = user;
    return atomic_load(&j->cancelled);
}

static int on_text(const char *text, size_t len, void *user) {
    gen_ctx *g = user;
    mb_engine_job *j = g->j;
    if (mb_ejob_append(j, text, len)) return 1;
    if (j->req.on_text && j->req.on_text(j, text, len, j->req.user)) return 1;
    return atomic_load(&j->cancelled);
}

/* Tokens of J's prompt the slot's cache holds (their common prefix). */
static size_t cached_prefix(const slot *sl, const mb_engine_job *j) {
    size_t k = 0;
    while (k < sl->n_kv && k < j->n_prompt && sl->kv[k] == j->prompt[k])
        k++;
    return k;
}

static void run_job(slot *sl, mb_engine_job *j) {
    mb_engine *e = sl->e;
    const double t_start = mb_now();
    mb_sampler *sampler = NULL;
    gen_ctx g = {.j = j, .sl = sl};
    mb_generate_params gp = mb_generate_default_params();
    gp.n_predict = j->req.max_tokens;
    gp.stop = (const char *const *)j->stop;
    gp.on_text = on_text;
    gp.on_token = on_token;
    gp.user = &g;
    gp.speculative = &sl->spec; /* draft and lookup both off: plain generation */
    /* A cancel stops a long prompt's prefill too, between layers. */
    mb_session_set_abort(sl->s, job_cancelled, j);
    mb_generate_stats st = {0};
    mb_status status = MB_OK;
    size_t keep;
    if (e->pool) {
        /* Paged: admission adopted the prefix the shared cache holds. */
        keep = (size_t)sl->adopted;
        mb_session_kv_adopt(sl->s, j->prompt, sl->adopted);
    } else {
        /* The longest prefix the slot holds, less the prompt's last token
         * (its logits start the generation). */
        keep = j->req.cache_prompt ? cached_prefix(sl, j) : 0;
        if (keep > 0 && keep == j->n_prompt) keep--;
        /* A windowed model whose ring no longer holds the prefix's window
         * would re-evaluate all of it: then nothing is cached, and the
         * stats say so. */
        if (keep > 0 && mb_session_rewind_replays(sl->s, (int)keep)) keep = 0;
        status = mb_session_rewind(sl->s, (int)keep);
    }
    gp.n_cached = keep;
    sl->n_written = j->n_prompt < sl->cap_kv ? j->n_prompt : sl->cap_kv;
    memcpy(sl->kv, j->prompt, sl->n_written * sizeof *sl->kv);
    if (!status) status = mb_sampler_new(&j->sampler, mb_model_n_vocab(e->model), &sampler);
    if (!status && j->grammar) status = mb_sampler_set_grammar(sampler, e->model, j->grammar);
    if (!status) status = mb_generate(sl->s, sampler, j->prompt, j->n_prompt, &gp, &st);
    const size_t n_past = (size_t)mb_session_n_past(sl->s);
    sl->n_kv = status || n_past > sl->n_written ? 0 : n_past;
    if (e->batcher) mb_batcher_leave(&sl->seat);
    if (e->pool) {
        /* What it computed stays cached for later prompts (unless it
         * failed: then its blocks may be half written); its blocks and
         * the rest of its promise go back to the pool. */
        mb_session_kv_release(sl->s, status == MB_OK);
        sl->n_kv = 0;
        pthread_mutex_lock(&e->mu);
        pthread_cond_broadcast(&e->work); /* queued jobs may fit now */
        pthread_mutex_unlock(&e->mu);
    }
    mb_sampler_free(sampler);
    mb_engine_job_stats stats = {.n_prompt = st.n_prompt,
                                 .n_cached = st.n_cached,
                                 .n_generated = st.n_generated,
                                 .queue_seconds = t_start - j->t_submit,
                                 .prefill_seconds = st.prefill_seconds,
                                 .decode_seconds = st.decode_seconds};
    pthread_mutex_lock(&j->mu);
    j->spec = (mb_engine_job_spec_stats){st.n_drafted, st.n_accepted, st.n_forwards};
    pthread_mutex_unlock(&j->mu);
    mb_session_set_abort(sl->s, NULL, NULL);
    mb_engine_finish finish;
    if (status == MB_ERR_ABORTED)
        finish = MB_ENGINE_CANCELLED, status = MB_OK;
    else if (status)
        finish = MB_ENGINE_ERROR;
    else if (st.stop_reason == MB_STOP_CALLBACK || st.stop_reason == MB_STOP_ABORTED)
        finish = MB_ENGINE_CANCELLED; /* a cancel seen at a token or between layers */
    else
        finish = (st.stop_reason == MB_STOP_EOG || st.stop_reason == MB_STOP_STRING)
                     ? MB_ENGINE_STOP
                     : MB_ENGINE_LENGTH;
    mb_ejob_finish(j, finish, &stats, status ? mb_last_error() : NULL);
}

/* The waiting slot whose cache holds the longest prefix of J's prompt, or
 * SELF when none holds more than SELF does (under the engine's lock). */
static slot *best_slot(mb_engine *e, slot *self, const mb_engine_job *j) {
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
        /* With a paged cache, the job at the head waits until the pool can
         * promise its blocks (in order: later jobs do not overtake it). */
        while (!sl->assigned && !(e->head && (!e->pool || mb_engine_pool_admit(e, sl, e->head))) &&
               !(e->stopping && !e->head))
            pthread_cond_wait(&e->work, &e->mu);
        mb_engine_job *j = sl->assigned;
        if (j) {
            sl->assigned = NULL; /* counted as busy by the slot that handed it over */
        } else {
            if (!e->head) break; /* stopping, and nothing left */
            j = e->head;
            e->head = j->next;
            if (!e->head) e->tail = NULL;
            e->queued--;
            e->busy++;
            /* The prompt cache: a waiting slot that holds more of this
             * prompt runs it instead (the next turn of a chat finds its
             * conversation whichever slot woke first). A paged cache
             * shares prefixes among all slots instead. */
            slot *to = e->pool ? sl : best_slot(e, sl, j);
            if (to != sl) {
                to->assigned = j;
                to->waiting = 0;
                pthread_cond_broadcast(&e->work);
                continue;
            }
        }
        sl->waiting = 0;
        atomic_store(&j->started, 1);
        pthread_mutex_unlock(&e->mu);
        /* A job cancelled while it waited costs no decoding. */
        if (atomic_load(&j->cancelled)) {
            if (e->pool) mb_session_kv_release(sl->s, 0);
            mb_engine_job_stats stats = {.n_prompt = (int)j->n_prompt,
                                         .queue_seconds = mb_now() - j->t_submit};
            mb_ejob_finish(j, MB_ENGINE_CANCELLED, &stats, NULL);
        } else {
            run_job(sl, j);
        }
        mb_ejob_release(j);
        pthread_mutex_lock(&e->mu);
        e->busy--;
        if (!e->busy && !e->head) pthread_cond_broadcast(&e->idle);
    }
    sl->waiting = 0;
    pthread_mutex_unlock(&e->mu);
    return NULL;
}

/* The slots together must fit, before any is made (each session checks only
 * its own): the memory plan matchbox fit --slots prints (runtime/mem_plan.c). */
static mb_status check_memory(const mb_model *model, const mb_engine_params *p,
                              const mb_session_params *sp) {
    if (model->vocab_only || sp->n_ctx < 0 || sp->n_ctx > (1 << 24)) return MB_OK;
    mb_fit_params fp = mb_fit_default_params();
    fp.n_ctx = sp->n_ctx;
    fp.n_threads = sp->n_threads;
    fp.n_slots = p->n_slots;
    fp.swa_full = sp->swa_full;
    fp.kv_type_k = (int)sp->kv_type_k;
    fp.kv_type_v = (int)sp->kv_type_v;
    /* A paged engine's slots share the KV budget (paged.c sizes it). */
    fp.kv_budget = mb_engine_pool_bytes(model, p, sp);
    /* One slot with its own cache is its session's to check. */
    if (p->n_slots < 2 && !fp.kv_budget) return MB_OK;
    char what[64];
    snprintf(what, sizeof what, "%d slots of %d positions", p->n_slots,
             sp->n_ctx > 0 ? sp->n_ctx : mb_mem_n_ctx(&model->hp, 0));
    return mb_mem_check(model, &fp, what);
}

/* SL's speculative params, and its draft session (one thread: the slot's
 * threads are the model's) when P has a draft model; refused here, before
 * any job, when the draft does not fit the model (mb_speculative_check).
 * Without a draft or a lookup the params say "off". */
static mb_status speculative_slot(slot *sl, const mb_engine_params *p,
                                  const mb_session_params *sp) {
    sl->spec = mb_speculative_default_params();
    sl->spec.draft_max = p->draft_max;
    sl->spec.draft_min = p->draft_min;
    sl->spec.lookup_n = p->lookup_n;
    if (!p->draft_model && p->lookup_n <= 0) return MB_OK; /* off */
    if (p->draft_model) {
        mb_session_params dsp = *sp;
        dsp.n_threads = 1;
        /* The draft's cache is small: F16 keeps its acceptance, and a
         * draft whose head size no 32-value block divides still runs. */
        dsp.kv_type_k = dsp.kv_type_v = MB_KV_TYPE_F16;
        mb_status st = mb_session_new(p->draft_model, &dsp, &sl->draft);
        if (st) return mb_error_prefix(st, "the draft model's session");
        sl->spec.draft = sl->draft;
    }
    return mb_speculative_check(sl->s, &sl->spec, NULL);
}

/* The queue's timeout (queue_timeout_ms > 0): jobs that waited too long
 * leave the queue and end MB_ENGINE_TIMEOUT, their callbacks called
 * without the engine's lock (they may submit). */
static void *reaper_main(void *arg) {
    mb_engine *e = arg;
    const double limit = e->queue_timeout_ms / 1000.0;
    pthread_mutex_lock(&e->mu);
    while (!e->stopping) {
        const double now = mb_now();
        mb_engine_job *expired = NULL, **at = &e->head, *prev = NULL;
        double next = now + limit;
        while (*at) {
            mb_engine_job *j = *at;
            if (now - j->t_submit < limit) {
                if (j->t_submit + limit < next) next = j->t_submit + limit;
                prev = j, at = &j->next;
                continue;
            }
            *at = j->next;
            if (e->tail == j) e->tail = prev;
            e->queued--;
            j->next = expired;
            expired = j;
        }
        if (expired) {
            if (!e->busy && !e->head) pthread_cond_broadcast(&e->idle);
            pthread_mutex_unlock(&e->mu);
            while (expired) {
                mb_engine_job *j = expired;
                expired = j->next;
                j->next = NULL;
                mb_engine_job_stats stats = {.n_prompt = (int)j->n_prompt,
                                             .queue_seconds = mb_now() - j->t_submit};
                char why[160];
                snprintf(why, sizeof why,
                         "waited %.1f s in the queue (the limit) for a slot or KV cache blocks",
                         stats.queue_seconds);
                mb_ejob_finish(j, MB_ENGINE_TIMEOUT, &stats, why);
                mb_ejob_release(j); /* the queue's reference */
            }
            pthread_mutex_lock(&e->mu);
            continue;
        }
        /* Its own condition: a submit's signal must wake a slot, not this. */
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        const double wait = next - now + 0.001;
        until.tv_sec += (time_t)wait;
        until.tv_nsec += (long)((wait - (double)(time_t)wait) * 1e9);
        if (until.tv_nsec >= 1000000000L) until.tv_sec++, until.tv_nsec -= 1000000000L;
        pthread_cond_timedwait(&e->reap, &e->mu, &until);
    }
    pthread_mutex_unlock(&e->mu);
    return NULL;
}

mb_status mb_engine_new(mb_model *model, const mb_engine_params *params, mb_engine **out) {
    *out = NULL;
    mb_engine_params p = mb_engine_default_params();
    mb_status st =
        mb_params_merge(&p, params, sizeof p, MB_PARAMS_SIZE_UPTO(mb_engine_params, batch_threads),
                        "mb_engine_params");
    /* A caller built before 0.4 gets per-slot caches, as it always had. */
    if (!st && params && params->struct_size < MB_PARAMS_SIZE_UPTO(mb_engine_params, kv_budget))
        p.kv_budget = -1;
    if (st) return st;
    mb_session_params sp = mb_session_default_params();
    st = mb_params_merge(&sp, p.session, sizeof sp,
                         MB_PARAMS_SIZE_UPTO(mb_session_params, swa_full), "mb_session_params");
    if (st) return st;
    if (!model) return mb_errorf(MB_ERR_INVALID_ARG, "no model");
    /* Slots share the cores: by default each gets its share of them. */
    if (sp.n_threads <= 0) {
        const int share = mb_n_physical_cores() / (p.n_slots > 0 ? p.n_slots : 1);
        sp.n_threads = share > 1 ? share : 1;
    }
    if (p.n_slots < 1 || p.n_slots > 256 || p.n_queue < 0 || p.n_queue > 65536 ||
        p.queue_timeout_ms < 0)
        return mb_errorf(MB_ERR_INVALID_ARG,
                         "slots %d (1..256), queue %d (0..65536) or queue timeout %d ms (>= 0)",
                         p.n_slots, p.n_queue, p.queue_timeout_ms);
    st = check_memory(model, &p, &sp);
    if (st) return st;
    const int speculate = p.draft_model || p.lookup_n > 0;
    if (speculate) p.batch = 0; /* verification passes are each slot's own */
    mb_engine *e = calloc(1, sizeof *e);
    if (!e || !(e->slots = calloc((size_t)p.n_slots, sizeof *e->slots))) {
        free(e);
        return mb_errorf(MB_ERR_NO_MEMORY, "out of memory for %d slots", p.n_slots);
    }
    e->model = model;
    e->n_slots = p.n_slots;
    e->n_queue = p.n_queue;
    e->queue_timeout_ms = p.queue_timeout_ms;
    e->spec_extra = speculate ? p.draft_max + 1 : 0;
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->work, NULL);
    pthread_cond_init(&e->idle, NULL);
    pthread_cond_init(&e->reap, NULL);
    st = mb_engine_pool_new(e, &p, &sp);
    if (st) {
        mb_engine_free(e);
        return st;
    }
    for (int i = 0; i < p.n_slots; i++) {
        slot *sl = &e->slots[i];
        sl->e = e;
        /* With a pool, the slot's cache is pages of it. */
        st = mb_session_make(model, &sp, e->pool, &sl->s);
        if (!st) {
            sl->cap_kv = (size_t)mb_session_n_ctx(sl->s);
            sl->kv = malloc(sl->cap_kv * sizeof *sl->kv);
            if (!sl->kv) st = mb_errorf(MB_ERR_NO_MEMORY, "out of memory");
        }
        if (!st) st = speculative_slot(sl, &p, &sp);
        if (!st && i == 0 && p.batch && p.n_slots > 1)
            st = mb_batcher_new(model, p.n_slots, mb_session_n_ctx(sl->s),
                                p.batch_threads > 0 ? p.batch_threads : 0, &e->batcher);
        if (st) {
            mb_error_prefix(st, "slot %d of %d", i + 1, p.n_slots);
            mb_engine_free(e);
            return st;
        }
        if (e->batcher) mb_batcher_attach(e->batcher, &sl->seat, sl->s);
        if (pthread_create(&sl->thread, NULL, slot_main, sl) != 0) {
            mb_engine_free(e);
            return mb_errorf(MB_ERR_NO_MEMORY, "cannot start the thread of slot %d", i + 1);
        }
        sl->started = 1;
    }
    e->n_ctx = mb_session_n_ctx(e->slots[0].s);
    if (e->queue_timeout_ms > 0) {
        if (pthread_create(&e->reaper, NULL, reaper_main, e) != 0) {
            mb_engine_free(e);
            return mb_errorf(MB_ERR_NO_MEMORY, "cannot start the queue's timeout thread");
        }
        e->reaper_started = 1;
    }
    *out = e;
    return MB_OK;
}

int mb_engine_n_ctx(const mb_engine *e) {
    return mb_session_n_ctx(e->slots[0].s);
}

int mb_engine_n_threads(const mb_engine *e) {
    return mb_session_n_threads(e->slots[0].s);
}

int mb_engine_n_slots(const mb_engine *e) {
    return e->n_slots;
}

mb_status mb_engine_submit(mb_engine *e, const mb_engine_request *r, mb_engine_job **out) {
    *out = NULL;
    mb_engine_job *j = NULL;
    mb_status st = mb_ejob_new(e, r, &j);
    if (st) return st;
    if (e->pool) {
        /* One that the whole cache could not hold would wait forever. */
        const int positions = mb_engine_job_positions(e, j);
        const int need = mb_kv_blocks_for(positions);
        const int have = mb_kv_pool_n_blocks(e->pool);
        if (need > have) {
            mb_ejob_release(j);
            return mb_errorf(MB_ERR_NO_MEMORY,
                             "the request may reach %d positions, %d blocks of KV cache, but the "
                             "cache holds %d blocks of %d positions: lower max_tokens or raise "
                             "the KV budget",
                             positions, need, have, MB_KV_BLOCK);
        }
    }
    pthread_mutex_lock(&e->mu);
    if (e->stopping || e->busy + e->queued >= e->n_slots + e->n_queue) {
        pthread_mutex_unlock(&e->mu);
        mb_ejob_release(j);
        return mb_errorf(MB_ERR_BUSY, "every slot is busy and the queue of %d is full", e->n_queue);
    }
    atomic_fetch_add(&j->refs, 1); /* the engine's, until the job ends */
    j->t_submit = mb_now();
    if (e->tail)
        e->tail->next = j;
    else
        e->head = j;
    e->tail = j;
    e->queued++;
    pthread_cond_signal(&e->work);
    pthread_mutex_unlock(&e->mu);
    *out = j;
    return MB_OK;
}

int mb_engine_job_cancel(mb_engine_job *j) {
    /* A finished job needs nothing of its engine, which may be gone. */
    if (mb_engine_job_wait(j, 0) != MB_ENGINE_RUNNING) return 0;
    mb_engine *e = j->e;
    atomic_store(&j->cancelled, 1); /* a slot that has it stops at the next token */
    pthread_mutex_lock(&e->mu);
    mb_engine_job **at = &e->head, *prev = NULL;
    while (*at && *at != j)
        prev = *at, at = &(*at)->next;
    const int found = *at == j;
    if (found) {
        *at = j->next;
        if (e->tail == j) e->tail = prev;
        j->next = NULL;
        e->queued--;
        if (!e->busy && !e->head) pthread_cond_broadcast(&e->idle);
    }
    pthread_mutex_unlock(&e->mu);
    if (!found) return 0;
    mb_engine_job_stats stats = {.n_prompt = (int)j->n_prompt,
                                 .queue_seconds = mb_now() - j->t_submit};
    mb_ejob_finish(j, MB_ENGINE_CANCELLED, &stats, NULL);
    mb_ejob_release(j); /* the queue's reference */
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

void mb_engine_batch_stats(mb_engine *e, unsigned long long *steps, unsigned long long *rows) {
    *steps = *rows = 0;
    if (e->batcher) mb_batcher_stats(e->batcher, steps, rows);
}

void mb_engine_free(mb_engine *e) {
    if (!e) return;
    pthread_mutex_lock(&e->mu);
    e->stopping = 1;
    pthread_cond_broadcast(&e->work);
    pthread_cond_broadcast(&e->reap);
    pthread_mutex_unlock(&e->mu);
    if (e->reaper_started) pthread_join(e->reaper, NULL);
    for (int i = 0; i < e->n_slots; i++) {
        if (e->slots[i].started) pthread_join(e->slots[i].thread, NULL);
        mb_session_free(e->slots[i].s);
        mb_session_free(e->slots[i].draft);
        free(e->slots[i].kv);
    }
    mb_batcher_free(e->batcher);
    mb_kv_pool_free(e->pool);
    pthread_mutex_destroy(&e->mu);
    pthread_cond_destroy(&e->work);
    pthread_cond_destroy(&e->idle);
    pthread_cond_destroy(&e->reap);
    free(e->slots);
    free(e);
}
