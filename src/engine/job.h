/* The engine's shared state (engine.c runs the slots, job.c the jobs). */
#ifndef MB_ENGINE_JOB_H
#define MB_ENGINE_JOB_H

#include <pthread.h>
#include <stdatomic.h>

#include "engine/batcher.h"
#include "matchbox/engine.h"

struct mb_engine_job {
    mb_engine *e;
    /* Inputs, fixed once submitted: REQ with its pointers replaced by the
     * job's own copies. */
    mb_engine_request req;
    mb_sampler_params sampler;
    mb_grammar *grammar; /* request.grammar compiled; NULL: none */
    mb_token *prompt;
    size_t n_prompt;
    char **stop; /* NULL-terminated, or NULL */
    double t_submit;
    /* Outputs, under mu; cv signals each change. */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char *text;
    size_t len, cap;
    mb_engine_finish finish; /* set after on_done has returned */
    mb_engine_job_stats stats;
    mb_engine_job_spec_stats spec; /* written before mb_ejob_finish */
    char error[256];
    atomic_int cancelled;
    atomic_int started;         /* a slot took it (mb_engine_job_started) */
    atomic_int refs;            /* the caller's handle, and the engine's until the end */
    struct mb_engine_job *next; /* FIFO link, under the engine's lock */
};

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
    mb_engine_job *assigned;
    /* Speculative decoding (mb_engine_params): the slot's own draft
     * session, and the params its generations take (draft and lookup both
     * off: plain generation). */
    mb_session *draft;
    mb_speculative_params spec;
    /* Paged KV (engine.h, kv_budget): the prompt positions admission found
     * in the shared cache for the job this slot took. */
    int adopted;
} slot;

struct mb_engine {
    mb_model *model;
    mb_batcher *batcher; /* NULL: each slot decodes alone */
    slot *slots;
    int n_slots, n_queue;
    pthread_mutex_t mu;
    pthread_cond_t work, idle;
    mb_engine_job *head, *tail;
    int queued, busy, stopping;
    int n_ctx;
    /* The slots' shared paged KV cache (paged.c), or NULL: each slot's
     * session has its own. */
    struct mb_kv_pool *pool;
    int spec_extra; /* positions a speculative step may write past the text */
    /* queue_timeout_ms > 0: a thread ends the jobs that waited too long. */
    int queue_timeout_ms;
    pthread_t reaper;
    pthread_cond_t reap;
    int reaper_started;
};

/* ---- paged KV (paged.c) ---- */
/* Make E's pool when P asks for one and the model can page (no windowed
 * layer, or SP's swa_full); E->pool stays NULL otherwise. Before the
 * slots' sessions are made. */
mb_status mb_engine_pool_new(mb_engine *e, const mb_engine_params *p, const mb_session_params *sp);
/* The bytes of the pool P would get on M (0: none: per-slot caches, or a
 * budget mb_engine_pool_new refuses). */
uint64_t mb_engine_pool_bytes(const mb_model *m, const mb_engine_params *p,
                              const mb_session_params *sp);
/* Positions J may reach: its prompt, max_tokens (the rest of the context
 * when < 0) and a speculative step's overshoot, at most the context. */
int mb_engine_job_positions(const mb_engine *e, const mb_engine_job *j);
/* Under E's lock: admit J into SL's session (prefix adopted, blocks
 * promised, SL->adopted set): 1, or 0 when the pool cannot promise them
 * now. */
int mb_engine_pool_admit(mb_engine *e, slot *sl, mb_engine_job *j);

/* A job for R with one reference (the caller's), R's contents copied. */
mb_status mb_ejob_new(mb_engine *e, const mb_engine_request *r, mb_engine_job **out);
void mb_ejob_release(mb_engine_job *j);
/* Add released text; 1 when out of memory. */
int mb_ejob_append(mb_engine_job *j, const char *text, size_t len);
/* End J: record STATS and ERROR (NULL: none), call on_done, then wake the
 * waiters. */
void mb_ejob_finish(mb_engine_job *j, mb_engine_finish finish, const mb_engine_job_stats *stats,
                    const char *error);
/* log-softmax of the chosen token and the K most likely ones into T. */
void mb_ejob_logprobs(const float *logits, int n_vocab, mb_token id, int k, mb_engine_token *t);

#endif
