/* Jobs: a request's copy, its output text and its end, shared by the
 * caller's handle and the slot that runs it (reference counted). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "core/params.h"
#include "engine/job.h"
#include "runtime/log_softmax.h"

mb_engine_request mb_engine_default_request(void) {
    return (mb_engine_request){
        .struct_size = sizeof(mb_engine_request), .max_tokens = -1, .cache_prompt = 1};
}

static char **copy_stop(const char *const *stop, int *fail) {
    size_t n = 0;
    while (stop && stop[n])
        n++;
    if (!n) return NULL;
    char **out = calloc(n + 1, sizeof *out);
    for (size_t i = 0; out && i < n; i++)
        if (!(out[i] = strdup(stop[i]))) {
            *fail = 1;
            return out;
        }
    if (!out) *fail = 1;
    return out;
}

mb_status mb_ejob_new(mb_engine *e, const mb_engine_request *r, mb_engine_job **out) {
    *out = NULL;
    mb_engine_request req = mb_engine_default_request();
    mb_status st = mb_params_merge(&req, r, sizeof req, sizeof req, "mb_engine_request");
    if (st) return st;
    r = &req;
    if (!r->prompt || r->n_prompt == 0)
        return mb_errorf(MB_ERR_INVALID_ARG, "a request needs a prompt of at least one token");
    if (r->logprobs && (r->n_top_logprobs < 0 || r->n_top_logprobs > MB_ENGINE_MAX_TOP_LOGPROBS))
        return mb_errorf(MB_ERR_INVALID_ARG, "n_top_logprobs %d is not in 0..%d", r->n_top_logprobs,
                         MB_ENGINE_MAX_TOP_LOGPROBS);
    mb_grammar *grammar = NULL;
    if (r->grammar && (st = mb_grammar_parse(r->grammar, strlen(r->grammar), NULL, &grammar)))
        return mb_error_prefix(MB_ERR_INVALID_ARG, "the request's grammar");
    mb_engine_job *j = calloc(1, sizeof *j);
    int fail = !j;
    if (!j) mb_grammar_free(grammar);
    if (j) {
        j->e = e;
        j->req = *r;
        j->n_prompt = r->n_prompt;
        j->prompt = malloc(r->n_prompt * sizeof *j->prompt);
        if (j->prompt) memcpy(j->prompt, r->prompt, r->n_prompt * sizeof *j->prompt);
        fail = !j->prompt;
        j->stop = copy_stop(r->stop, &fail);
        j->req.prompt = j->prompt;
        j->req.stop = (const char *const *)j->stop;
        j->sampler = r->sampler ? *r->sampler : mb_sampler_default_params();
        j->req.sampler = &j->sampler;
        j->grammar = grammar;
        j->req.grammar = NULL; /* not kept: the compiled one is */
        pthread_mutex_init(&j->mu, NULL);
        pthread_cond_init(&j->cv, NULL);
        atomic_init(&j->refs, 1);
        atomic_init(&j->cancelled, 0);
    }
    if (fail) {
        mb_ejob_release(j);
        return mb_errorf(MB_ERR_NO_MEMORY, "out of memory for a job of %zu tokens", r->n_prompt);
    }
    *out = j;
    return MB_OK;
}

void mb_ejob_release(mb_engine_job *j) {
    if (!j || atomic_fetch_sub(&j->refs, 1) != 1) return;
    for (size_t i = 0; j->stop && j->stop[i]; i++)
        free(j->stop[i]);
    free(j->stop);
    free(j->prompt);
    free(j->text);
    mb_grammar_free(j->grammar);
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cv);
    free(j);
}

int mb_ejob_append(mb_engine_job *j, const char *text, size_t len) {
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
    return 0;
}

void mb_ejob_finish(mb_engine_job *j, mb_engine_finish finish, const mb_engine_job_stats *stats,
                    const char *error) {
    pthread_mutex_lock(&j->mu);
    j->stats = *stats;
    snprintf(j->error, sizeof j->error, "%s", error ? error : "");
    pthread_mutex_unlock(&j->mu);
    /* Before the waiters wake, so one that frees the callbacks' data after
     * mb_engine_job_wait finds on_done returned. */
    if (j->req.on_done) j->req.on_done(j, finish, j->req.user);
    pthread_mutex_lock(&j->mu);
    j->finish = finish;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
}

void mb_ejob_logprobs(const float *logits, int n_vocab, mb_token id, int k, mb_engine_token *t) {
    const double lse = mb_log_sum_exp(logits, n_vocab, 1.0f);
    t->logprob = (float)(logits[id] - lse);
    t->n_top = 0;
    for (int i = 0; i < n_vocab; i++) { /* insertion into a short sorted list */
        const float v = logits[i];
        if (t->n_top == k && (k == 0 || v <= t->top_logprob[k - 1])) continue;
        int at = t->n_top < k ? t->n_top++ : k - 1;
        while (at > 0 && t->top_logprob[at - 1] < v) {
            t->top_logprob[at] = t->top_logprob[at - 1];
            t->top_id[at] = t->top_id[at - 1];
            at--;
        }
        t->top_logprob[at] = v;
        t->top_id[at] = i;
    }
    for (int i = 0; i < t->n_top; i++)
        t->top_logprob[i] = (float)(t->top_logprob[i] - lse);
}

/* ---- the caller's side --------------------------------------------------- */

/* Wait on J's condition until PRED holds or the deadline passes; J's lock
 * held. Returns PRED's last value. */
static int wait_until(mb_engine_job *j, int (*pred)(const mb_engine_job *, size_t), size_t arg,
                      int timeout_ms) {
    struct timespec until;
    if (timeout_ms >= 0) {
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += timeout_ms / 1000;
        until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) until.tv_sec++, until.tv_nsec -= 1000000000L;
    }
    while (!pred(j, arg)) {
        if (timeout_ms < 0)
            pthread_cond_wait(&j->cv, &j->mu);
        else if (pthread_cond_timedwait(&j->cv, &j->mu, &until) == ETIMEDOUT)
            return pred(j, arg);
    }
    return 1;
}

static int is_done(const mb_engine_job *j, size_t unused) {
    (void)unused;
    return j->finish != MB_ENGINE_RUNNING;
}

static int has_text(const mb_engine_job *j, size_t offset) {
    return j->len > offset || j->finish != MB_ENGINE_RUNNING;
}

mb_engine_finish mb_engine_job_wait(mb_engine_job *j, int timeout_ms) {
    pthread_mutex_lock(&j->mu);
    wait_until(j, is_done, 0, timeout_ms);
    const mb_engine_finish f = j->finish;
    pthread_mutex_unlock(&j->mu);
    return f;
}

size_t mb_engine_job_read(mb_engine_job *j, size_t offset, char *buf, size_t cap, int timeout_ms) {
    pthread_mutex_lock(&j->mu);
    wait_until(j, has_text, offset, timeout_ms);
    size_t n = j->len > offset ? j->len - offset : 0;
    if (n > cap) n = cap;
    if (n) memcpy(buf, j->text + offset, n);
    pthread_mutex_unlock(&j->mu);
    return n;
}

void mb_engine_job_get_stats(mb_engine_job *j, mb_engine_job_stats *out) {
    pthread_mutex_lock(&j->mu);
    *out = j->stats;
    pthread_mutex_unlock(&j->mu);
}

void mb_engine_job_get_spec_stats(mb_engine_job *j, mb_engine_job_spec_stats *out) {
    pthread_mutex_lock(&j->mu);
    *out = j->spec;
    pthread_mutex_unlock(&j->mu);
}

int mb_engine_job_started(mb_engine_job *j) {
    return atomic_load(&j->started) || mb_engine_job_wait(j, 0) != MB_ENGINE_RUNNING;
}

const char *mb_engine_job_error(mb_engine_job *j) {
    return j->error; /* written once, before the job counts as finished */
}

void mb_engine_job_free(mb_engine_job *j) {
    if (!j) return;
    if (mb_engine_job_wait(j, 0) == MB_ENGINE_RUNNING) mb_engine_job_cancel(j);
    mb_ejob_release(j);
}
