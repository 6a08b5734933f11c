/* The server's jobs on the public engine: the engine's callbacks write the
 * tokens, text and end of a generation into the server's job, under its
 * lock, where the HTTP side reads them (gen.h). */
#include "server/gen.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/tool_clock.h"
#include "server/tools.h"

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
    j->t_first = -1;
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cv, NULL);
    atomic_init(&j->refs, 1);
    atomic_init(&j->cancelled, 0);
    return j;
}

void mb_job_release(mb_job *j) {
    if (!j || atomic_fetch_sub(&j->refs, 1) != 1) return;
    mb_engine_job_free(j->ej);
    mb_server_request_free(&j->req);
    free(j->prompt);
    free(j->text);
    free(j->lp);
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cv);
    free(j);
}

/* ---- the engine's callbacks (on the slot's thread) ----------------------- */

static int on_token(mb_engine_job *ej, const mb_engine_token *t, void *user) {
    (void)ej;
    mb_job *j = user;
    if (atomic_load(&j->cancelled)) return 1;
    if (j->t_first < 0) j->t_first = tool_now() - j->t_arrival;
    const int eog = mb_token_is_eog(j->model, t->id);
    if (j->draft && !eog) mb_confidence_add(&j->conf, t->logits, t->n_vocab, t->id);
    if (j->req.tool_format && !eog && t->piece_len == 0) {
        /* A control token that marks a tool call ([TOOL_CALLS],
         * <|python_tag|>) has no text; its text is put back for the parser
         * (where text held back for a stop string waits, it lands before it). */
        char piece[64];
        size_t n = 0;
        if (mb_token_to_piece(j->model, t->id, 1, piece, sizeof piece, &n) == MB_OK &&
            mb_tool_is_marker(piece, n)) {
            pthread_mutex_lock(&j->mu);
            int failed = mb_job_append_locked(j, piece, n);
            pthread_mutex_unlock(&j->mu);
            if (failed) return 1;
        }
    }
    if (!j->req.logprobs || eog) return 0;
    mb_job_logprob lp = {.id = t->id, .logprob = t->logprob, .n_top = t->n_top};
    memcpy(lp.top_id, t->top_id, (size_t)t->n_top * sizeof *lp.top_id);
    memcpy(lp.top_lp, t->top_logprob, (size_t)t->n_top * sizeof *lp.top_lp);
    pthread_mutex_lock(&j->mu);
    if (j->n_lp == j->cap_lp) {
        size_t cap = j->cap_lp ? j->cap_lp * 2 : 64;
        mb_job_logprob *p = realloc(j->lp, cap * sizeof *p);
        if (p) j->lp = p, j->cap_lp = cap;
    }
    if (j->n_lp < j->cap_lp) j->lp[j->n_lp++] = lp;
    pthread_mutex_unlock(&j->mu);
    return 0;
}

int mb_job_append_locked(mb_job *j, const char *text, size_t len) {
    if (j->len + len + 1 > j->cap) {
        size_t cap = (j->len + len + 1) * 2;
        char *t = realloc(j->text, cap);
        if (!t) return 1;
        j->text = t;
        j->cap = cap;
    }
    memcpy(j->text + j->len, text, len);
    j->len += len;
    j->text[j->len] = '\0';
    pthread_cond_broadcast(&j->cv);
    return 0;
}

static int on_text(mb_engine_job *ej, const char *text, size_t len, void *user) {
    (void)ej;
    mb_job *j = user;
    pthread_mutex_lock(&j->mu);
    const int failed = mb_job_append_locked(j, text, len);
    pthread_mutex_unlock(&j->mu);
    return failed || atomic_load(&j->cancelled);
}

/* Also on the thread of mb_job_cancel, for a job withdrawn from the queue. */
static void on_done(mb_engine_job *ej, mb_engine_finish finish, void *user) {
    mb_job *j = user;
    mb_engine_job_stats st;
    mb_engine_job_get_stats(ej, &st);
    mb_engine_job_spec_stats sp;
    mb_engine_job_get_spec_stats(ej, &sp);
    pthread_mutex_lock(&j->mu);
    j->n_generated = st.n_generated;
    j->n_cached = st.n_cached;
    j->n_drafted = sp.n_drafted;
    j->n_accepted = sp.n_accepted;
    switch (finish) {
    case MB_ENGINE_STOP: j->finish = MB_FINISH_STOP; break;
    case MB_ENGINE_CANCELLED: j->finish = MB_FINISH_CANCELLED; break;
    case MB_ENGINE_ERROR:
    case MB_ENGINE_TIMEOUT:
        j->finish = finish == MB_ENGINE_ERROR ? MB_FINISH_ERROR : MB_FINISH_TIMEOUT;
        snprintf(j->error, sizeof j->error, "%s", mb_engine_job_error(ej));
        break;
    default: j->finish = MB_FINISH_LENGTH; break;
    }
    j->done = 1;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
    mb_metrics *m = j->metrics;
    if (finish != MB_ENGINE_CANCELLED || st.n_generated > 0 || st.prefill_seconds > 0) {
        mb_metrics_generation(m, st.n_prompt, st.n_cached, st.n_generated, st.prefill_seconds,
                              st.decode_seconds, j->t_first);
        mb_metrics_speculative(m, sp.n_drafted, sp.n_accepted, sp.n_forwards);
    }
    if (finish == MB_ENGINE_CANCELLED) {
        pthread_mutex_lock(&m->mu);
        m->cancelled++;
        pthread_mutex_unlock(&m->mu);
    }
    mb_job_release(j); /* the engine's reference, taken by mb_job_submit */
}

int mb_job_submit(mb_engine *e, const mb_model *model, mb_metrics *metrics, mb_job *j) {
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
    sp.seed = r->has_seed ? r->seed : ((uint64_t)(tool_now() * 1e9) ^ (uint64_t)(uintptr_t)j);
    mb_engine_request q = mb_engine_default_request();
    q.prompt = j->prompt;
    q.n_prompt = j->n_prompt;
    q.sampler = &sp;
    q.max_tokens = j->max_tokens;
    q.stop = (const char *const *)r->stop;
    q.logprobs = r->logprobs;
    q.n_top_logprobs = r->top_logprobs;
    q.cache_prompt = r->cache_prompt;
    /* tool_choice required or named: the calls' grammar; else response_format's */
    q.grammar = r->tool_grammar ? r->tool_grammar : r->grammar;
    q.on_token = on_token;
    q.on_text = on_text;
    q.on_done = on_done;
    q.user = j;
    j->model = model;
    j->metrics = metrics;
    j->t_first = -1;
    /* The engine's reference: the callbacks write into J until on_done. */
    atomic_fetch_add(&j->refs, 1);
    mb_engine_job *ej = NULL;
    pthread_mutex_lock(&j->mu); /* the callbacks wait for ej to be set */
    const mb_status st = mb_engine_submit(e, &q, &ej);
    if (st != MB_OK) {
        pthread_mutex_unlock(&j->mu);
        atomic_fetch_sub(&j->refs, 1);
        return st == MB_ERR_NO_MEMORY ? 2 : 1;
    }
    mb_engine_job_free(j->ej); /* none: a job is submitted once */
    j->ej = ej;
    pthread_mutex_unlock(&j->mu);
    return 0;
}

void mb_job_cancel(mb_job *j) {
    atomic_store(&j->cancelled, 1);
    pthread_mutex_lock(&j->mu);
    mb_engine_job *ej = j->ej; /* set once, freed with J, which the caller holds */
    pthread_mutex_unlock(&j->mu);
    if (ej) mb_engine_job_cancel(ej);
}
