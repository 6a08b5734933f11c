/* The server's jobs: what a request asked for and what answers it, the
 * channel between the HTTP side (http.c, stream.c, route.c) and whoever
 * writes the answer: the engine (include/matchbox/engine.h), through the
 * callbacks in gen.c, or the oracle's relay (route.c). */
#ifndef MB_SERVER_GEN_H
#define MB_SERVER_GEN_H

#include <matchbox.h>
#include <matchbox/engine.h>
#include <pthread.h>
#include <stdatomic.h>

#include "agent/router.h"
#include "server/metrics.h"
#include "server/request.h"

typedef struct {
    mb_token id;
    float logprob;
    int n_top;
    mb_token top_id[MB_REQ_MAX_TOP_LOGPROBS];
    float top_lp[MB_REQ_MAX_TOP_LOGPROBS];
} mb_job_logprob;

/* MB_FINISH_TIMEOUT: it waited past the queue's limit and never ran (503). */
enum { MB_FINISH_LENGTH, MB_FINISH_STOP, MB_FINISH_CANCELLED, MB_FINISH_ERROR, MB_FINISH_TIMEOUT };

typedef struct mb_job {
    /* Inputs, fixed once submitted. */
    mb_server_request req;
    mb_token *prompt;
    size_t n_prompt;
    int max_tokens; /* resolved against the context */
    double t_arrival;
    /* Set by mb_job_submit: the engine's job (freed with this one), the
     * model and the counters it reports to. */
    mb_engine_job *ej;
    const mb_model *model;
    mb_metrics *metrics;
    double t_first; /* seconds from arrival to the first token, -1 before it */
    /* Outputs, under mu; cv signals each change. */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char *text;
    size_t len, cap;
    mb_job_logprob *lp;
    size_t n_lp, cap_lp;
    int done, finish, n_generated;
    int n_cached;              /* prompt tokens reused from the slot's previous request */
    int n_drafted, n_accepted; /* speculative decoding: tokens drafted, accepted */
    char error[256];
    atomic_int cancelled; /* set by the client side; generation stops at the next token */
    atomic_int refs;
    /* Routing (route.c): DRAFT scores each token's confidence;
     * ANSWERED_BY non-NULL adds the "matchbox" object to the response. */
    int draft, redactions, settled;
    mb_confidence_acc conf;
    const char *answered_by;
    char route_reason[512];
    char features[512]; /* the guardian's features as JSON ("": not scored) */
} mb_job;

/* A job with one reference, owning REQ's contents (REQ is cleared) and
 * PROMPT. */
mb_job *mb_job_new(mb_server_request *req, mb_token *prompt, size_t n_prompt, int max_tokens,
                   double t_arrival);
void mb_job_release(mb_job *j);
/* Append LEN bytes of TEXT to J's answer and wake its readers; J's lock
 * held. 1 when out of memory (nothing appended). */
int mb_job_append_locked(mb_job *j, const char *text, size_t len);

/* Queue J on engine E (J's output and end come back through callbacks).
 * 0 when queued; 1 when the slots and the queue are all taken (the caller
 * answers 503) or the job could not be made; 2 when the request could
 * never fit the shared KV cache (the caller answers 400 with
 * mb_last_error()). At most once per job. */
int mb_job_submit(mb_engine *e, const mb_model *model, mb_metrics *metrics, mb_job *j);
/* The client left: a job still queued gives its place to the next request
 * (and is done, cancelled, on return); one generating stops at its next
 * token. Call without J's lock. */
void mb_job_cancel(mb_job *j);

#endif
