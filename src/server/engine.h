/* The generation engine of the server: slots that share one model's
 * weights, each with its own session (KV cache) and thread, fed from one
 * bounded FIFO of jobs. A job is the text a request asked for, produced as
 * it is generated so a stream can send it on. */
#ifndef MB_SERVER_ENGINE_H
#define MB_SERVER_ENGINE_H

#include <pthread.h>
#include <stdatomic.h>

#include "agent/router.h"
#include "matchbox.h"
#include "server/metrics.h"
#include "server/request.h"

typedef struct {
    mb_token id;
    float logprob;
    int n_top;
    mb_token top_id[MB_REQ_MAX_TOP_LOGPROBS];
    float top_lp[MB_REQ_MAX_TOP_LOGPROBS];
} mb_job_logprob;

enum { MB_FINISH_LENGTH, MB_FINISH_STOP, MB_FINISH_CANCELLED, MB_FINISH_ERROR };

typedef struct mb_job {
    /* Inputs, fixed once submitted. */
    mb_server_request req;
    mb_token *prompt;
    size_t n_prompt;
    int max_tokens; /* resolved against the context */
    double t_arrival;
    /* Outputs, under mu; cv signals each change. */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char *text;
    size_t len, cap;
    mb_job_logprob *lp;
    size_t n_lp, cap_lp;
    int done, finish, n_generated;
    int n_cached; /* prompt tokens reused from the slot's previous request */
    char error[256];
    atomic_int cancelled; /* set by the client side; generation stops at the next token */
    atomic_int refs;
    struct mb_job *next; /* FIFO link, under the engine's lock */
    /* Routing (src/server/route.c): DRAFT scores each token's confidence;
     * ANSWERED_BY non-NULL adds the "matchbox" object to the response. */
    int draft, redactions, settled;
    mb_confidence_acc conf;
    const char *answered_by;
    char route_reason[512];
} mb_job;

typedef struct mb_engine mb_engine;

/* BATCH_THREADS >= 0: the slots' decode steps run together, one batched
 * pass over the weights per step, on that many threads (0: one per physical
 * core); -1: each slot decodes alone on its own session's threads. */
mb_status mb_engine_new(mb_model *model, int n_slots, int n_queue, const mb_session_params *session,
                        int batch_threads, mb_metrics *metrics, mb_engine **out);
/* Stops the slots after the jobs in hand are finished. */
void mb_engine_free(mb_engine *e);
int mb_engine_n_ctx(const mb_engine *e);

/* A job with one reference, owning REQ's contents (REQ is cleared). */
mb_job *mb_job_new(mb_server_request *req, mb_token *prompt, size_t n_prompt, int max_tokens,
                   double t_arrival);
void mb_job_release(mb_job *j);

/* Queue J (the engine takes a reference). 0 when queued; 1 when the slots
 * and the queue are all taken (the caller answers 503). */
int mb_engine_submit(mb_engine *e, mb_job *j);
/* Take J out of the queue if it is still waiting there (its client left):
 * its place goes to the next request. J is then done, cancelled. Returns 1
 * when it was withdrawn, 0 when a slot has it already (or it is done). */
int mb_engine_withdraw(mb_engine *e, mb_job *j);
/* Block until every submitted job is finished. */
void mb_engine_drain(mb_engine *e);
/* Slots generating now and jobs waiting. */
void mb_engine_load(mb_engine *e, int *busy, int *queued);

#endif
