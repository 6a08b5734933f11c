/* Shared between the request handler (http.c) and the SSE stream
 * (stream.c): the server's state and one connection's request. */
#ifndef MB_SERVER_HTTP_INTERNAL_H
#define MB_SERVER_HTTP_INTERNAL_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>

#include "server/gen.h"
#include "server/metrics.h"
#include "server/respond.h"
#include "server/server.h"

/* Connections served at once, and connections being screened at once
 * (accept.c), each. */
enum { MB_SERVER_CONNECTION_LIMIT = 512 };

/* A connection the header deadline watches (server.c). */
typedef struct mb_conn_watch {
    int fd;
    double t0;        /* when the connection opened, or its last request ended */
    int headers_done; /* the current request's headers are all in */
    int cut;          /* shut down for missing the deadline */
    struct mb_conn_watch *prev, *next;
} mb_conn_watch;

struct mb_server {
    struct MHD_Daemon *daemon;
    /* The header deadline: open connections, and the thread that cuts
     * those still without a request's headers after p.header_timeout. */
    pthread_mutex_t watch_mu;
    pthread_cond_t watch_cv;
    mb_conn_watch *watched;
    pthread_t watchdog;
    int watchdog_started, watchdog_stop;
    mb_engine *engine;
    mb_metrics metrics;
    mb_model *model;
    mb_server_params p;
    const char *tmpl;  /* the chat template family, NULL when none fits */
    int tmpl_fallback; /* the model has no template: ChatML stands in */
    /* With an oracle: the guardian's scoring session (route.c), one request
     * at a time, and the prompt format the guardian reads (score.h). */
    mb_session *scorer;
    pthread_mutex_t scorer_mu;
    char tmpl_error[256]; /* why there is none */
    int tool_format;      /* mb_tool_format of the template's tool calls (tool_render.c) */
    long started;         /* Unix seconds, for /v1/models */
    int port, n_ctx;
    atomic_int draining;
    atomic_int requests; /* HTTP requests begun and not yet completed */
    atomic_ulong next_id;
    /* accept.c: the listening socket, its thread, and the connections
     * whose first headers are being screened. */
    int listen_fd, wake[2], acceptor_started, n_screening;
    pthread_t acceptor;
    pthread_mutex_t screen_mu;
    pthread_cond_t screen_cv;
    /* POST /v1/embeddings (embed.c): a session of its own, made at the
     * first request, used by one request at a time. */
    pthread_mutex_t embed_mu;
    mb_session *embed;
};

/* One HTTP request, from its first byte to the end of its response. */
typedef struct {
    char *body;
    size_t len, cap;
    int too_large;
    double t0;
    int endpoint, status, streamed;
    const char *cors_origin; /* an allowed Origin to echo; NULL: none */
    int http11;              /* HTTP/1.1: an interim 1xx answer may be sent */
    int probed;              /* the interim answer that tells a half-close from a leave went */
} mb_http_req;

/* True once the client has gone (closed or reset its connection). A client
 * that only half-closed (shut down its sending side) is still there. */
int mb_http_client_gone(struct MHD_Connection *c, mb_http_req *r);

/* Headers every response carries: CORS for an allowed origin. */
void mb_http_common_headers(const mb_http_req *r, struct MHD_Response *resp);
/* Queue BODY (malloc'ed, taken; NULL: MHD_NO) with STATUS and Content-Type
 * TYPE, the common headers, Retry-After when RETRY_AFTER, the header naming
 * the model that answered when ANSWERED_BY, and what 401 and 405 need. */
/* What mb_http_wait waits for: J done; or settled (who answers is known);
 * or started (a slot took it, so it can no longer time out in the queue). */
enum { MB_WAIT_DONE, MB_WAIT_SETTLED, MB_WAIT_STARTED };
/* Wait, J's lock held, until UNTIL holds (or J is done); a client that
 * leaves meanwhile cancels J. */
void mb_http_wait(struct MHD_Connection *c, mb_http_req *r, mb_job *j, int until);
/* The answer to a job that timed out in the queue (MB_FINISH_TIMEOUT):
 * 503 with Retry-After. */
enum MHD_Result mb_http_send_timeout(struct MHD_Connection *c, mb_http_req *r, const char *why);
/* An OpenAI-style error body with STATUS (503 adds Retry-After). */
enum MHD_Result mb_http_send_error(struct MHD_Connection *c, mb_http_req *r, int status,
                                   const char *type, const char *param, const char *code,
                                   const char *message);
/* 413: the body is larger than --max-body. */
enum MHD_Result mb_http_too_large(mb_server *s, struct MHD_Connection *c, mb_http_req *r);
/* Whether ENDPOINT takes POST (else GET/HEAD), and its Allow header. */
int mb_http_takes_post(int endpoint);
const char *mb_http_allowed_methods(int endpoint);
/* Checks on the request line and headers, before any of the body is read
 * (admit.c). Returns MHD_YES with r->status 0 when the body is to be read. */
enum MHD_Result mb_http_admit(mb_server *s, struct MHD_Connection *c, mb_http_req *r,
                              const char *method);
enum MHD_Result mb_http_send(struct MHD_Connection *c, mb_http_req *r, int status, char *body,
                             const char *type, int retry_after, const char *answered_by);

/* Queue an SSE response for J, which the stream takes a reference of. */
enum MHD_Result mb_http_stream(mb_server *s, struct MHD_Connection *c, mb_http_req *r, mb_job *j,
                               const mb_resp_meta *meta);

/* Answer J through the router: the guardian, or the oracle (route.c).
 * TOO_LONG: the prompt does not fit the context (only the oracle can answer). */
enum MHD_Result mb_http_routed(mb_server *s, struct MHD_Connection *c, mb_http_req *r, mb_job *j,
                               const mb_resp_meta *meta, int too_long);

/* The header deadline's marks: headers in (DONE 1), or a request ended and
 * the next one's clock starts (DONE 0). */
void mb_http_watch_mark(mb_server *s, struct MHD_Connection *c, int done);

/* Listen on ADDR and hand screened connections to s->daemon (accept.c);
 * sets s->port. mb_http_unlisten closes the socket and waits for the
 * connections being screened (set s->draining first, or it waits up to the
 * header deadline). */
mb_status mb_http_listen(mb_server *s, const struct sockaddr *addr, socklen_t addrlen);
void mb_http_unlisten(mb_server *s);
/* Content-Length headers checked one by one, by the screen (accept.c, from
 * the raw header block) and by the request handler (http.c, from
 * libmicrohttpd's parse), with one rule: each is 1 to 19 digits (spaces
 * around allowed), all the same number. Start from {0}. */
typedef struct {
    int n;                    /* headers accepted */
    unsigned long long value; /* their number */
    const char *problem;      /* the first thing wrong; NULL while nothing is */
} mb_http_length;
void mb_http_length_add(mb_http_length *l, const char *v, size_t len);
/* What is wrong with the Content-Length headers of the header block
 * B..END (request line first), or NULL when nothing is. */
const char *mb_http_content_length_problem(const char *b, const char *end);

/* Whether a request's `model` NAME is this server's (model_name.c): with
 * --strict-model-name the file's name (with or without .gguf) or the
 * alias, else any name. */
int mb_server_model_matches(const mb_server *s, const char *name);

/* Answer POST /v1/embeddings (embed.c). */
enum MHD_Result mb_http_embeddings(mb_server *s, struct MHD_Connection *c, mb_http_req *r);

/* libmicrohttpd's callbacks (http.c). */
enum MHD_Result mb_http_on_request(void *cls, struct MHD_Connection *c, const char *url,
                                   const char *method, const char *version, const char *upload,
                                   size_t *upload_size, void **con_cls);
void mb_http_on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                          enum MHD_RequestTerminationCode toe);

#endif
