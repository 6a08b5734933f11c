/* The HTTP side of the server: routing, authentication, body limits, and
 * turning a parsed request into a job for the engine. */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "core/timer.h"
#include "server/http_internal.h"
#include "server/request.h"

mb_server_params mb_server_default_params(void) {
    return (mb_server_params){.host = "127.0.0.1",
                              .port = 8080,
                              .n_slots = 4,
                              .n_queue = 64,
                              .max_body = 1 << 20,
                              .model_id = "model",
                              .batch = 1,
                              .session = mb_session_default_params()};
}

/* Seconds between checks that a client waiting for a whole answer is there. */
static const double CLIENT_CHECK_S = 0.1;

/* ---- responses ----------------------------------------------------------- */

/* Queue BODY (malloc'ed JSON or text, taken) with STATUS. */
static enum MHD_Result send_body(struct MHD_Connection *c, mb_http_req *r, int status, char *body,
                                 const char *type, int retry_after) {
    if (!body) return MHD_NO;
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", type);
    if (retry_after) MHD_add_response_header(resp, "Retry-After", "1");
    if (status == 401) MHD_add_response_header(resp, "WWW-Authenticate", "Bearer");
    r->status = status;
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result send_error(struct MHD_Connection *c, mb_http_req *r, int status,
                                  const char *type, const char *param, const char *code,
                                  const char *message) {
    return send_body(c, r, status, mb_resp_error(message, type, param, code), "application/json",
                     status == 503);
}

/* ---- access -------------------------------------------------------------- */

/* The key comparison takes the same time wherever the first difference is,
 * so response timing does not reveal a key's prefix. */
static int key_matches(const char *expected, const char *header) {
    if (!header || strncmp(header, "Bearer ", 7) != 0) return 0;
    const char *got = header + 7;
    size_t ne = strlen(expected), ng = strlen(got);
    volatile unsigned char diff = ne != ng;
    for (size_t i = 0; i < ne; i++)
        diff |= (unsigned char)expected[i] ^ (unsigned char)(i < ng ? got[i] : 0);
    return diff == 0;
}

static int model_matches(const mb_server *s, const char *name) {
    size_t n = strlen(s->p.model_id);
    return !strcmp(name, s->p.model_id) ||
           (!strncmp(name, s->p.model_id, n) && !strcmp(name + n, ".gguf"));
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
static mb_token *prompt_tokens(mb_server *s, const mb_server_request *q, size_t *n) {
    if (!q->is_chat) return tokenize(s->model, q->prompt, 1, 0, n);
    size_t need = 0;
    mb_chat_apply(s->model, s->tmpl, q->messages, q->n_messages, 1, NULL, 0, &need);
    char *text = need + 1 > need ? malloc(need + 1) : NULL;
    if (!text) return NULL;
    mb_token *ids = NULL;
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

/* True once the client has closed or reset its connection. */
static int client_gone(struct MHD_Connection *c) {
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci) return 0;
    struct pollfd p = {.fd = ci->connect_fd, .events = POLLRDHUP};
    return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

/* Wait for a whole answer. Nothing is written meanwhile, so the socket is
 * watched instead: a client that leaves cancels its generation. */
static enum MHD_Result wait_and_answer(struct MHD_Connection *c, mb_http_req *r, mb_job *j,
                                       const mb_resp_meta *meta) {
    pthread_mutex_lock(&j->mu);
    double next_check = mb_now() + CLIENT_CHECK_S;
    while (!j->done) {
        /* Woken by every token, so the socket is checked by the clock. */
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += (long)(CLIENT_CHECK_S * 1e9);
        if (until.tv_nsec >= 1000000000L) until.tv_sec++, until.tv_nsec -= 1000000000L;
        pthread_cond_timedwait(&j->cv, &j->mu, &until);
        if (mb_now() >= next_check) {
            next_check = mb_now() + CLIENT_CHECK_S;
            if (client_gone(c)) atomic_store(&j->cancelled, 1);
        }
    }
    char *body = j->finish == MB_FINISH_ERROR ? NULL : mb_resp_completion(meta, j);
    char msg[300];
    snprintf(msg, sizeof msg, "generation failed: %s", j->error);
    pthread_mutex_unlock(&j->mu);
    if (!body) return send_error(c, r, 500, "server_error", NULL, NULL, msg);
    return send_body(c, r, 200, body, "application/json", 0);
}

static enum MHD_Result complete(mb_server *s, struct MHD_Connection *c, mb_http_req *r,
                                int is_chat) {
    mb_server_request q;
    mb_server_error err;
    if (mb_server_request_parse(r->body, r->len, is_chat, &q, &err) != MB_OK)
        return send_error(c, r, err.http_status, err.type, err.param, err.code, err.message);
    char msg[512];
    if (q.model && !model_matches(s, q.model)) {
        snprintf(msg, sizeof msg, "the model '%.200s' does not exist; this server has '%s'",
                 q.model, s->p.model_id);
        mb_server_request_free(&q);
        return send_error(c, r, 404, "invalid_request_error", "model", "model_not_found", msg);
    }
    if (is_chat && !s->tmpl) {
        mb_server_request_free(&q);
        return send_error(c, r, 500, "server_error", NULL, NULL, s->tmpl_error);
    }
    size_t n_prompt = 0;
    mb_token *prompt = prompt_tokens(s, &q, &n_prompt);
    long room = prompt ? (long)s->n_ctx - (long)n_prompt : 0;
    const char *param = NULL, *code = NULL;
    int bad = 1, too_long = 0;
    if (!prompt) {
        snprintf(msg, sizeof msg, "the prompt could not be tokenized: %s", mb_last_error());
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
        return send_error(c, r, 400, "invalid_request_error", param, code, msg);
    }
    int max_tokens = (int)(q.max_tokens >= 0 ? q.max_tokens : too_long ? 512 : room);
    mb_job *j = mb_job_new(&q, prompt, n_prompt, max_tokens, r->t0);
    if (!j) {
        free(prompt);
        mb_server_request_free(&q);
        return send_error(c, r, 500, "server_error", NULL, NULL, "out of memory");
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
    if (atomic_load(&s->draining) || mb_engine_submit(s->engine, j)) {
        mb_job_release(j);
        return send_error(c, r, 503, "server_error", NULL, "server_busy",
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

static enum MHD_Result route(mb_server *s, struct MHD_Connection *c, mb_http_req *r,
                             const char *url, const char *method) {
    int get = !strcmp(method, "GET") || !strcmp(method, "HEAD"), post = !strcmp(method, "POST");
    int known = r->endpoint != MB_METRIC_ENDPOINTS - 1, wants_post = r->endpoint <= 1;
    if (!known)
        return send_error(c, r, 404, "invalid_request_error", NULL, "not_found",
                          "no such endpoint; see docs/SERVER.md");
    if (wants_post ? !post : !get)
        return send_error(c, r, 405, "invalid_request_error", NULL, "method_not_allowed",
                          wants_post ? "this endpoint takes POST" : "this endpoint takes GET");
    if (!strcmp(url, "/health")) return health(s, c, r);
    if (s->p.api_key && !key_matches(s->p.api_key, MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                                               "Authorization")))
        return send_error(c, r, 401, "invalid_request_error", NULL, "invalid_api_key",
                          "a valid API key is needed: Authorization: Bearer KEY");
    if (!strcmp(url, "/metrics")) {
        size_t len = 0;
        char *text = mb_metrics_render(&s->metrics, &len);
        return send_body(c, r, 200, text, "text/plain; version=0.0.4", 0);
    }
    if (!strcmp(url, "/v1/models"))
        return send_body(c, r, 200, mb_resp_models(s->p.model_id, s->started, s->n_ctx),
                         "application/json", 0);
    return complete(s, c, r, r->endpoint == 0);
}

static enum MHD_Result too_large(mb_server *s, struct MHD_Connection *c, mb_http_req *r) {
    char msg[128];
    snprintf(msg, sizeof msg, "the request body is larger than the limit of %zu bytes",
             s->p.max_body);
    return send_error(c, r, 413, "invalid_request_error", NULL, "request_too_large", msg);
}

enum MHD_Result mb_http_on_request(void *cls, struct MHD_Connection *c, const char *url,
                                   const char *method, const char *version, const char *upload,
                                   size_t *upload_size, void **con_cls) {
    (void)version;
    mb_server *s = cls;
    mb_http_req *r = *con_cls;
    if (!r) {
        if (!(r = calloc(1, sizeof *r))) return MHD_NO;
        r->t0 = mb_now();
        r->endpoint = mb_metrics_endpoint(url);
        *con_cls = r;
        atomic_fetch_add(&s->requests, 1);
        /* Refuse an announced oversized body before reading any of it:
         * libmicrohttpd then closes the connection instead of reading on. */
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > s->p.max_body) return too_large(s, c, r);
        return MHD_YES;
    }
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        if (r->too_large) return MHD_YES; /* read and dropped */
        if (n > s->p.max_body - r->len) {
            r->too_large = 1;
            free(r->body);
            r->body = NULL;
            r->len = r->cap = 0;
            return MHD_YES;
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
    if (r->too_large) return too_large(s, c, r);
    return route(s, c, r, url, method);
}

void mb_http_on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                          enum MHD_RequestTerminationCode toe) {
    (void)c;
    mb_server *s = cls;
    mb_http_req *r = *con_cls;
    if (!r) return;
    /* A stream the client left is counted as 499, nginx's "client closed". */
    int status = r->streamed && toe != MHD_REQUEST_TERMINATED_COMPLETED_OK ? 499 : r->status;
    double dt = mb_now() - r->t0;
    mb_metrics_request(&s->metrics, r->endpoint, status, dt);
    if (s->p.verbose) fprintf(stderr, "serve: %d %.3fs endpoint %d\n", status, dt, r->endpoint);
    free(r->body);
    free(r);
    *con_cls = NULL;
    atomic_fetch_sub(&s->requests, 1);
}
