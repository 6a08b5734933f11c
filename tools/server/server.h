/* matchbox's OpenAI-compatible HTTP server (libmicrohttpd). */
#ifndef MB_SERVER_SERVER_H
#define MB_SERVER_SERVER_H

#include <stddef.h>

#include <matchbox.h>
#include <matchbox/engine.h>

#include "agent/escalate.h"
#include "agent/router.h"
#include "agent/router_lr.h"

typedef struct {
    const char *host;     /* address to bind; "127.0.0.1" by default */
    int port;             /* 0: any free port (see mb_server_port) */
    int n_slots, n_queue; /* concurrent generations; requests that may wait */
    const char *api_key;  /* NULL: no authentication */
    size_t max_body;      /* bytes of request body accepted */
    /* Browser origins allowed to call the server (CORS): a comma-separated
     * list of exact origins ("http://localhost:3000"), or "*" for any.
     * NULL: none, so a request with an Origin header is refused (403). */
    const char *allowed_origins;
    int header_timeout;        /* seconds a connection may take to send a request's headers */
    const char *chat_template; /* NULL: the model's own */
    const char *model_id;      /* the name /v1/models lists and answers carry: the alias,
                                  else the file's name without .gguf */
    const char *model_file;    /* the file's name without .gguf, also answered to; NULL:
                                  model_id only */
    int strict_model_name;     /* a request naming another model gets 404 (else any name
                                  is this model, as llama.cpp's server does) */
    mb_session_params session; /* each slot's session */
    int batch;                 /* batch the slots' decode steps (else each decodes alone) */
    int batch_threads;         /* threads of the batched pass; 0: physical cores */
    /* Speculative decoding per slot (mb_engine_params): a draft model (NULL:
     * none; it must outlive the server) or prompt lookup (lookup_n > 0). */
    mb_model *draft_model;
    int draft_max, draft_min, lookup_n;
    /* The slots' shared paged KV cache (mb_engine_params): its bytes (0:
     * a full context per slot; < 0: per-slot caches) and how long a
     * request may wait in the queue for a slot or blocks before its 503
     * (milliseconds; 0: no limit). */
    long long kv_budget;
    int queue_timeout_ms;
    int verbose;        /* log each request to stderr */
    int verbose_prompt; /* log each request's prompt token ids to stderr */
    /* The agent (docs/AGENT.md): with an oracle, every completion goes
     * through the router (src/server/route.c). NULL: plain serving. */
    const mb_agent_oracle *oracle;
    mb_router_thresholds thresholds;
    int private_by_default, private_if_pii;
    /* The learned router (NULL: the thresholds decide) and the length of
     * the draft the guardian scores (0: the router's, else 32). */
    const mb_router_lr *router;
    int agent_n_draft;
} mb_server_params;

mb_server_params mb_server_default_params(void);

typedef struct mb_server mb_server;

/* Start the slots and listen. The model must outlive the server. */
mb_status mb_server_start(mb_model *model, const mb_server_params *p, mb_server **out);
int mb_server_port(const mb_server *s);
/* Each slot's context, in tokens. */
int mb_server_n_ctx(const mb_server *s);
/* The slots' shared KV cache (all 0 when each slot has its own). */
void mb_server_kv_stats(const mb_server *s, mb_engine_kv_stats *out);
/* Each slot's threads. */
int mb_server_n_threads(const mb_server *s);
/* Stop accepting connections, let the requests in flight finish, then stop.
 * Safe to call once, from any thread other than the server's own. */
void mb_server_stop(mb_server *s);

#endif
