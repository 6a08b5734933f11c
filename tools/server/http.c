/* The HTTP side of the server: responses, body limits, routing, and
 * turning a parsed request into a job for the engine (what is checked
 * before the body is read: admit.c). */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/tool_error.h"
#include "common/tool_clock.h"
#include "server/http_internal.h"
#include "server/request.h"
#include "server/tool_render.h"

mb_server_params mb_server_default_params(void) {
    return (mb_server_params){.host = "127.0.0.1",
                              .port = 8080,
                              .n_slots = 4,
                              .n_queue = 64,
                              .max_body = 1 << 20,
                              .header_timeout = 10,
                              .model_id = "model",
                              .batch = 1,
                              .session = mb_session_default_params(),
                              .draft_max = 6,
                              .draft_min = 1};
}

/* Seconds between checks that a client waiting for a whole answer is there. */
static const double CLIENT_CHECK_S = 0.1;

/* ---- responses ----------------------------------------------------------- */

void mb_http_common_headers(const mb_http_req *r, struct MHD_Response *resp) {
    if (!r->cors_origin) return;
    MHD_add_response_header(resp, "Access-Control-Allow-Origin", r->cors_origin);
    MHD_add_response_header(resp, "Vary", "Origin");
}

/* The endpoints answered after a POST: completions, chat and embeddings. */
int mb_http_takes_post(int endpoint) {
    return endpoint <= 1 || endpoint == MB_ENDPOINT_EMBEDDINGS;
}

/* The methods an endpoint takes, for Allow. */
const char *mb_http_allowed_methods(int endpoint) {
    return mb_http_takes_post(endpoint) ? "POST, OPTIONS" : "GET, HEAD, OPTIONS";
}

enum MHD_Result mb_http_send(struct MHD_Connection *c, mb_http_req *r, int status, char *body,
                             const char *type, int retry_after, const char *answered_by) {
    if (!body) return MHD_NO;
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", type);
    if (answered_by) MHD_add_response_header(resp, "X-Matchbox-Answered-By", answered_by);
    if (retry_after) MHD_add_response_header(resp, "Retry-After", "1");
    if (status == 401) MHD_add_response_header(resp, "WWW-Authenticate", "Bearer");
    if (status == 405) MHD_add_response_header(resp, "Allow", mb_http_allowed_methods(r->endpoint));
    mb_http_common_headers(r, resp);
    r->status = status;
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result send_body(struct MHD_Connection *c, mb_http_req *r, int status, char *body,
                                 const char *type, int retry_after) {
    return mb_http_send(c, r, status, body, type, retry_after, NULL);
}

enum MHD_Result mb_http_send_error(struct MHD_Connection *c, mb_http_req *r, int status,
                                   const char *type, const char *param, const char *code,
                                   const char *message) {
    return send_body(c, r, status, mb_resp_error(message, type, param, code), "application/json",
                     status == 503);
}

enum MHD_Result mb_http_send_timeout(struct MHD_Connection *c, mb_http_req *r, const char *why) {
    char msg[400];
    snprintf(msg, sizeof msg, "the server is busy: the request %s; retry later", why);
    return mb_http_send_error(c, r, 503, "server_error", NULL, "server_busy", msg);
}

/* ---- completions --------------------------------------------------------- */

static mb_token *tokenize(const mb_model *m, const char *text, int add_special, int parse_special,
                          size_t *n) {
    size_t len = strlen(text), need = 0;
    mb_tokenize(m, text, len, add_special, parse_special, NULL, 0, &need);
    mb_token *ids = malloc((need + 1) * sizeof *ids);
    if (!ids) return NULL;
    if (mb_tokenize(m, text, len, add_special, parse_special, ids, need, n) != MB_OK) {
        free(ids);
        return NULL;
    }
    return ids;
}

/* The prompt's tokens: a chat rendered in the model's template, or the
 * completion prompt as given (control-token text stays text). */
static mb_token *prompt_tokens(mb_server *s, mb_server_request *q, size_t *n) {
    if (s->p.oracle && !q->messages_json) {
        /* the guardian reads what it scores: one rendering path (score.h) */
        mb_chat_message m = {"user", q->prompt};
        return q->is_chat ? mb_agent_render(s->model, s->tmpl_fallback ? NULL : s->tmpl,
                                            q->messages, q->n_messages, 1, n)
                          : mb_agent_render(s->model, NULL, &m, 1, 0, n);
    }
    if (!q->is_chat) return tokenize(s->model, q->prompt, 1, 0, n);
    mb_token *ids = NULL;
    if (q->messages_json) { /* tools or tool messages: tool_render.c */
        char *text = mb_tool_render(s->model, s->tmpl, s->tool_format, q);
        if (text)
            ids = tokenize(s->model, text, mb_chat_add_special(s->model, text, strlen(text)), 1, n);
        free(text);
        return ids;
    }
    size_t need = 0;
    mb_chat_apply(s->model, s->tmpl, q->messages, q->n_messages, 1, NULL, 0, &need);
    char *text = need + 1 > need ? malloc(need + 1) : NULL;
    if (!text) return NULL;
    size_t len = 0;
    if (mb_chat_apply(s->model, s->tmpl, q->messages, q->n_messages, 1, text, need + 1, &len) ==
        MB_OK)
        ids = tokenize(s->model, text, mb_chat_add_special(s->model, text, len), 1, n);
    free(text);
    if (ids && s->p.verbose_prompt) {
        /* One write, so that concurrent requests' lines do not interleave. */
        char *line = malloc(*n * 12 + 32);
        if (line) {
            size_t k = (size_t)sprintf(line, "prompt tokens:");
            for (size_t i = 0; i < *n; i++)
                k += (size_t)sprintf(line + k, " %d", ids[i]);
            line[k++] = '\n';
            fwrite(line, 1, k, stderr);
            free(line);
        }
    }
    return ids;
}

/* A client whose input has ended (POLLRDHUP) either left or half-closed its
 * socket after sending, and still reads. Writing tells them apart: an
 * interim "100 Continue" (which HTTP/1.1 clients must skip) is taken by a
 * half-closed socket and answered with a reset by a closed one, which the
 * next check sees. An HTTP/1.0 client gets no interim answer: its end of
 * input counts as leaving. */
int mb_http_client_gone(struct MHD_Connection *c, mb_http_req *r) {
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci) return 0;
    struct pollfd p = {.fd = ci->connect_fd, .events = POLLRDHUP};
    if (poll(&p, 1, 0) <= 0) return 0;
    if (p.revents & (POLLHUP | POLLERR)) return 1;
    if (!(p.revents & POLLRDHUP)) return 0;
    if (!r || !r->http11) return 1;
    if (!r->probed) {
        static const char probe[] = "HTTP/1.1 100 Continue\r\n\r\n";
        r->probed = 1;
        if (send(ci->connect_fd, probe, sizeof probe - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
            return 1;
    }
    return 0;
}

void mb_http_wait(struct MHD_Connection *c, mb_http_req *r, mb_job *j, int until_what) {
    double next_check = tool_now() + CLIENT_CHECK_S;
    while (!(j->done || (until_what == MB_WAIT_SETTLED && j->settled) ||
             (until_what == MB_WAIT_STARTED && j->ej && mb_engine_job_started(j->ej)))) {
        /* Woken by every token, so the socket is checked by the clock; a
         * start is not signalled, so it is polled, every 5 ms. */
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += until_what == MB_WAIT_STARTED ? 5000000L : (long)(CLIENT_CHECK_S * 1e9);
        if (until.tv_nsec >= 1000000000L) until.tv_sec++, until.tv_nsec -= 1000000000L;
        pthread_cond_timedwait(&j->cv, &j->mu, &until);
        if (tool_now() >= next_check) {
            next_check = tool_now() + CLIENT_CHECK_S;
            if (!atomic_load(&j->cancelled) && mb_http_client_gone(c, r)) {
                /* One waiting in the queue gives its place to the next (a
                 * queued job's end takes the lock). */
                pthread_mutex_unlock(&j->mu);
                mb_job_cancel(j);
                pthread_mutex_lock(&j->mu);
            }
        }
    }
}

/* Wait for a whole answer. Nothing is written meanwhile, so the socket is
 * watched instead: a client that leaves cancels its generation. */
static enum MHD_Result wait_and_answer(struct MHD_Connection *c, mb_http_req *r, mb_job *j,
                                       const mb_resp_meta *meta) {
    pthread_mutex_lock(&j->mu);
    mb_http_wait(c, r, j, MB_WAIT_DONE);
    if (j->finish == MB_FINISH_CANCELLED) { /* the client left: nobody to answer */
        pthread_mutex_unlock(&j->mu);
        return MHD_NO;
    }
    const int timeout = j->finish == MB_FINISH_TIMEOUT;
    char *body = j->finish >= MB_FINISH_ERROR ? NULL : mb_resp_completion(meta, j);
    char msg[300];
    snprintf(msg, sizeof msg, "%s%s", timeout ? "" : "generation failed: ", j->error);
    pthread_mutex_unlock(&j->mu);
    if (timeout) return mb_http_send_timeout(c, r, msg);
    if (!body) return mb_http_send_error(c, r, 500, "server_error", NULL, NULL, msg);
    return send_body(c, r, 200, body, "application/json", 0);
}

static enum MHD_Result complete(mb_server *s, struct MHD_Connection *c, mb_http_req *r,
                                int is_chat) {
    mb_server_request q;
    mb_server_error err;
    if (mb_server_request_parse(r->body, r->len, is_chat, &q, &err) != MB_OK)
        return mb_http_send_error(c, r, err.http_status, err.type, err.param, err.code,
                                  err.message);
    char msg[512];
    if (q.model && !mb_server_model_matches(s, q.model)) {
        snprintf(msg, sizeof msg, "the model '%.200s' does not exist; this server has '%s'",
                 q.model, s->p.model_id);
        mb_server_request_free(&q);
        return mb_http_send_error(c, r, 404, "invalid_request_error", "model", "model_not_found",
                                  msg);
    }
    if (is_chat && !s->tmpl) {
        mb_server_request_free(&q);
        return mb_http_send_error(c, r, 500, "server_error", NULL, NULL, s->tmpl_error);
    }
    size_t n_prompt = 0;
    mb_token *prompt = prompt_tokens(s, &q, &n_prompt);
    long room = prompt ? (long)s->n_ctx - (long)n_prompt : 0;
    const char *param = NULL, *code = NULL;
    int bad = 1, too_long = 0;
    if (!prompt) {
        snprintf(msg, sizeof msg, "the prompt could not be %s: %s",
                 q.messages_json ? "rendered with the tools" : "tokenized", tool_last_error());
        param = q.messages_json ? "messages" : NULL;
    } else if (n_prompt == 0) {
        snprintf(msg, sizeof msg, "the prompt has no tokens");
        param = is_chat ? "messages" : "prompt";
    } else if (s->p.oracle && (room < 1 || (q.max_tokens >= 0 && q.max_tokens > room))) {
        bad = 0, too_long = 1; /* the router sends it to the oracle */
    } else if (room < 1 || (q.max_tokens >= 0 && q.max_tokens > room)) {
        long want = q.max_tokens < 0 ? 1 : q.max_tokens;
        snprintf(msg, sizeof msg,
                 "this model's context is %d tokens; the prompt has %zu and max_tokens asks for "
                 "%ld more: shorten the prompt or lower max_tokens",
                 s->n_ctx, n_prompt, want);
        param = room < 1 ? (is_chat ? "messages" : "prompt") : "max_tokens";
        code = "context_length_exceeded";
    } else {
        bad = 0;
    }
    if (bad) {
        free(prompt);
        mb_server_request_free(&q);
        return mb_http_send_error(c, r, 400, "invalid_request_error", param, code, msg);
    }
    int max_tokens = (int)(q.max_tokens >= 0 ? q.max_tokens : too_long ? 512 : room);
    mb_job *j = mb_job_new(&q, prompt, n_prompt, max_tokens, r->t0);
    if (!j) {
        free(prompt);
        mb_server_request_free(&q);
        return mb_http_send_error(c, r, 500, "server_error", NULL, NULL, "out of memory");
    }
    if (s->p.oracle) {
        char rid[64];
        snprintf(rid, sizeof rid, "%s-%lx%06lx", is_chat ? "chatcmpl" : "cmpl", (long)s->started,
                 (unsigned long)atomic_fetch_add(&s->next_id, 1));
        mb_resp_meta rmeta = {s->model, s->p.model_id, rid, (long)time(NULL)};
        enum MHD_Result ret = mb_http_routed(s, c, r, j, &rmeta, too_long);
        mb_job_release(j);
        return ret;
    }
    const int refused =
        atomic_load(&s->draining) ? 1 : mb_job_submit(s->engine, s->model, &s->metrics, j);
    if (refused == 2) {
        snprintf(msg, sizeof msg, "%s", mb_last_error());
        mb_job_release(j);
        return mb_http_send_error(c, r, 400, "invalid_request_error", "max_tokens",
                                  "kv_budget_exceeded", msg);
    }
    if (refused) {
        mb_job_release(j);
        return mb_http_send_error(c, r, 503, "server_error", NULL, "server_busy",
                                  atomic_load(&s->draining)
                                      ? "the server is shutting down"
                                      : "every slot is busy and the queue is full; retry later");
    }
    char id[64];
    snprintf(id, sizeof id, "%s-%lx%06lx", is_chat ? "chatcmpl" : "cmpl", (long)s->started,
             (unsigned long)atomic_fetch_add(&s->next_id, 1));
    mb_resp_meta meta = {s->model, s->p.model_id, id, (long)time(NULL)};
    enum MHD_Result ret =
        j->req.stream ? mb_http_stream(s, c, r, j, &meta) : wait_and_answer(c, r, j, &meta);
    mb_job_release(j);
    return ret;
}

/* ---- routing ------------------------------------------------------------- */

static enum MHD_Result health(mb_server *s, struct MHD_Connection *c, mb_http_req *r) {
    int busy = 0, queued = 0;
    mb_engine_load(s->engine, &busy, &queued);
    int draining = atomic_load(&s->draining);
    char *body = malloc(160);
    if (body)
        snprintf(body, 160,
                 "{\"status\":\"%s\",\"slots_total\":%d,\"slots_busy\":%d,\"slots_idle\":%d,"
                 "\"queued\":%d}",
                 draining ? "draining" : "ok", s->p.n_slots, busy, s->p.n_slots - busy, queued);
    return send_body(c, r, draining ? 503 : 200, body, "application/json", 0);
}

enum MHD_Result mb_http_too_large(mb_server *s, struct MHD_Connection *c, mb_http_req *r) {
    char msg[128];
    snprintf(msg, sizeof msg, "the request body is larger than the limit of %zu bytes",
             s->p.max_body);
    return mb_http_send_error(c, r, 413, "invalid_request_error", NULL, "request_too_large", msg);
}

/* The answer once the whole request is in: its method, endpoint and key
 * were checked before the body was read (admit). */
static enum MHD_Result route(mb_server *s, struct MHD_Connection *c, mb_http_req *r,
                             const char *url) {
    if (!strcmp(url, "/health")) return health(s, c, r);
    if (!strcmp(url, "/metrics")) {
        size_t len = 0;
        int busy = 0, queued = 0;
        unsigned long long steps = 0, rows = 0;
        mb_engine_load(s->engine, &busy, &queued);
        mb_engine_batch_stats(s->engine, &steps, &rows);
        pthread_mutex_lock(&s->metrics.mu);
        s->metrics.busy = busy;
        s->metrics.queued = queued;
        s->metrics.batch_steps = steps;
        s->metrics.batch_rows = rows;
        mb_engine_kv_get_stats(s->engine, &s->metrics.kv);
        pthread_mutex_unlock(&s->metrics.mu);
        char *text = mb_metrics_render(&s->metrics, &len);
        return send_body(c, r, 200, text, "text/plain; version=0.0.4", 0);
    }
    if (!strcmp(url, "/v1/models"))
        return send_body(c, r, 200, mb_resp_models(s->p.model_id, s->started, s->n_ctx),
                         "application/json", 0);
    if (r->endpoint == MB_ENDPOINT_EMBEDDINGS) return mb_http_embeddings(s, c, r);
    return complete(s, c, r, r->endpoint == 0);
}

/* The 413 for a body found too large in mid-read, written on the socket
 * (libmicrohttpd queues no answer then; the caller makes it close the
 * connection). What the client sends meanwhile is read and dropped for a
 * moment (at most LINGER_BYTES, LINGER_S), so that closing with unread bytes
 * does not reset the connection before the client has read the 413. */
static void too_large_now(mb_server *s, struct MHD_Connection *c, mb_http_req *r) {
    enum { LINGER_BYTES = 1 << 20 };
    const double LINGER_S = 0.5;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    char msg[128];
    snprintf(msg, sizeof msg, "the request body is larger than the limit of %zu bytes",
             s->p.max_body);
    char *body = mb_resp_error(msg, "invalid_request_error", NULL, "request_too_large");
    r->status = 413;
    if (!ci || !body) {
        free(body);
        return;
    }
    char head[512];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 413 Content Too Large\r\nConnection: close\r\n"
                     "Content-Type: application/json\r\n%s%s%sContent-Length: %zu\r\n\r\n",
                     r->cors_origin ? "Access-Control-Allow-Origin: " : "",
                     r->cors_origin ? r->cors_origin : "",
                     r->cors_origin ? "\r\nVary: Origin\r\n" : "", strlen(body));
    int fd = ci->connect_fd;
    if (n > 0 && (size_t)n < sizeof head && send(fd, head, (size_t)n, MSG_NOSIGNAL) == n &&
        send(fd, body, strlen(body), MSG_NOSIGNAL) == (ssize_t)strlen(body)) {
        shutdown(fd, SHUT_WR);
        size_t dropped = 0;
        double until = tool_now() + LINGER_S;
        char buf[16384];
        while (dropped < LINGER_BYTES && tool_now() < until) {
            struct pollfd p = {.fd = fd, .events = POLLIN};
            if (poll(&p, 1, 50) <= 0) continue;
            ssize_t k = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
            if (k <= 0) break;
            dropped += (size_t)k;
        }
    }
    free(body);
}

enum MHD_Result mb_http_on_request(void *cls, struct MHD_Connection *c, const char *url,
                                   const char *method, const char *version, const char *upload,
                                   size_t *upload_size, void **con_cls) {
    mb_server *s = cls;
    mb_http_req *r = *con_cls;
    if (!r) {
        if (!(r = calloc(1, sizeof *r))) return MHD_NO;
        r->t0 = tool_now();
        r->endpoint = mb_metrics_endpoint(url);
        r->http11 = version && !strcmp(version, MHD_HTTP_VERSION_1_1);
        *con_cls = r;
        mb_http_watch_mark(s, c, 1);
        atomic_fetch_add(&s->requests, 1);
        return mb_http_admit(s, c, r, method);
    }
    if (r->status) { /* answered before the body: none of it is kept */
        *upload_size = 0;
        return MHD_YES;
    }
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        if (n > s->p.max_body - r->len) {
            /* A body without a length (chunked) past the limit: stop
             * reading now. libmicrohttpd takes no answer in mid-body, so
             * the 413 is written here and the connection closed. */
            r->too_large = 1;
            free(r->body);
            r->body = NULL;
            r->len = r->cap = 0;
            too_large_now(s, c, r);
            return MHD_NO;
        }
        if (r->len + n > r->cap) {
            size_t cap = r->cap ? r->cap * 2 : 4096;
            while (cap < r->len + n)
                cap *= 2;
            char *b = realloc(r->body, cap);
            if (!b) return MHD_NO;
            r->body = b;
            r->cap = cap;
        }
        memcpy(r->body + r->len, upload, n);
        r->len += n;
        return MHD_YES;
    }
    if (r->too_large) return MHD_YES;
    return route(s, c, r, url);
}

void mb_http_on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                          enum MHD_RequestTerminationCode toe) {
    mb_server *s = cls;
    mb_http_req *r = *con_cls;
    mb_http_watch_mark(s, c, 0); /* the next request's headers are due in time */
    if (!r) return;
    /* A stream the client left, or a request dropped before its answer
     * (mid-body), is counted as 499, nginx's "client closed". */
    int status =
        (r->streamed || !r->status) && toe != MHD_REQUEST_TERMINATED_COMPLETED_OK ? 499 : r->status;
    double dt = tool_now() - r->t0;
    mb_metrics_request(&s->metrics, r->endpoint, status, dt);
    if (s->p.verbose) fprintf(stderr, "serve: %d %.3fs endpoint %d\n", status, dt, r->endpoint);
    free(r->body);
    free(r);
    *con_cls = NULL;
    atomic_fetch_sub(&s->requests, 1);
}
