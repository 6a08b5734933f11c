/* Starting and stopping the server: bind, start the slots, and on stop
 * refuse new connections, finish the requests in flight, then close. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/tool_error.h"
#include "common/tool_clock.h"
#include "server/http_internal.h"
#include "server/tool_render.h"

enum { IDLE_TIMEOUT_SECONDS = 120, DRAIN_SEND_MS = 30000 };

/* ---- the header deadline ---------------------------------------------------
 * libmicrohttpd's connection timeout counts idle time only, so a client
 * that trickles its headers a byte at a time would hold a connection (and
 * its thread) for ever. Every connection is watched from its opening (and
 * from the end of each request on it) until its next request's headers are
 * in; one that takes longer than p.header_timeout is shut down. */

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code) {
    mb_server *s = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        mb_conn_watch *w = ci ? calloc(1, sizeof *w) : NULL;
        *socket_context = w;
        if (!w) return;
        w->fd = ci->connect_fd;
        w->t0 = tool_now();
        pthread_mutex_lock(&s->watch_mu);
        w->next = s->watched;
        if (s->watched) s->watched->prev = w;
        s->watched = w;
        pthread_mutex_unlock(&s->watch_mu);
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        mb_conn_watch *w = *socket_context;
        if (!w) return;
        pthread_mutex_lock(&s->watch_mu); /* the fd is not shut down once closed */
        if (w->prev)
            w->prev->next = w->next;
        else
            s->watched = w->next;
        if (w->next) w->next->prev = w->prev;
        pthread_mutex_unlock(&s->watch_mu);
        free(w);
        *socket_context = NULL;
    }
}

void mb_http_watch_mark(mb_server *s, struct MHD_Connection *c, int done) {
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    mb_conn_watch *w = ci ? ci->socket_context : NULL;
    if (!w) return;
    pthread_mutex_lock(&s->watch_mu);
    w->headers_done = done;
    if (!done) w->t0 = tool_now();
    pthread_mutex_unlock(&s->watch_mu);
}

static void *watchdog_main(void *arg) {
    mb_server *s = arg;
    pthread_mutex_lock(&s->watch_mu);
    while (!s->watchdog_stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 250000000L;
        if (until.tv_nsec >= 1000000000L) until.tv_sec++, until.tv_nsec -= 1000000000L;
        pthread_cond_timedwait(&s->watch_cv, &s->watch_mu, &until);
        double now = tool_now();
        for (mb_conn_watch *w = s->watched; w; w = w->next)
            if (!w->headers_done && !w->cut && now - w->t0 > s->p.header_timeout) {
                w->cut = 1;
                shutdown(w->fd, SHUT_RDWR);
            }
    }
    pthread_mutex_unlock(&s->watch_mu);
    return NULL;
}

static void free_server(mb_server *s) {
    if (!s) return;
    atomic_store(&s->draining, 1);
    mb_http_unlisten(s);
    if (s->daemon) MHD_stop_daemon(s->daemon);
    if (s->watchdog_started) {
        pthread_mutex_lock(&s->watch_mu);
        s->watchdog_stop = 1;
        pthread_cond_signal(&s->watch_cv);
        pthread_mutex_unlock(&s->watch_mu);
        pthread_join(s->watchdog, NULL);
    }
    pthread_mutex_destroy(&s->watch_mu);
    pthread_cond_destroy(&s->watch_cv);
    pthread_mutex_destroy(&s->screen_mu);
    pthread_cond_destroy(&s->screen_cv);
    mb_session_free(s->embed);
    pthread_mutex_destroy(&s->embed_mu);
    mb_engine_free(s->engine);
    mb_session_free(s->scorer);
    pthread_mutex_destroy(&s->scorer_mu);
    mb_metrics_destroy(&s->metrics);
    free(s);
}

static mb_status resolve_template(mb_server *s) {
    const char *name = NULL;
    mb_status st = mb_chat_template_name(s->model, s->p.chat_template, &name, &s->tmpl_fallback);
    if (st == MB_OK) {
        s->tmpl = name;
        s->tool_format = mb_tool_format_detect(s->model, name);
        if (s->p.verbose)
            fprintf(stderr, "serve: tool calls in the %s format\n",
                    mb_tool_format_name(s->tool_format));
        return MB_OK;
    }
    /* A bad --chat-template is the user's to fix now; a model whose own
     * template is of no known family can still serve completions. */
    if (s->p.chat_template) return st;
    snprintf(s->tmpl_error, sizeof s->tmpl_error,
             "chat is unavailable: %s (start the server with --chat-template)", tool_last_error());
    fprintf(stderr, "warning: %s\n", s->tmpl_error);
    return MB_OK;
}

static mb_status start_engine(mb_server *s) {
    mb_engine_params ep = mb_engine_default_params();
    ep.n_slots = s->p.n_slots;
    ep.n_queue = s->p.n_queue;
    ep.session = &s->p.session;
    ep.batch = s->p.batch;
    ep.batch_threads = s->p.batch_threads;
    ep.draft_model = s->p.draft_model;
    ep.draft_max = s->p.draft_max;
    ep.draft_min = s->p.draft_min;
    ep.lookup_n = s->p.lookup_n;
    ep.kv_budget = s->p.kv_budget;
    ep.queue_timeout_ms = s->p.queue_timeout_ms;
    return mb_engine_new(s->model, &ep, &s->engine);
}

mb_status mb_server_start(mb_model *model, const mb_server_params *p, mb_server **out) {
    *out = NULL;
    mb_server *s = calloc(1, sizeof *s);
    if (!s) return tool_errorf(MB_ERR_NO_MEMORY, "out of memory");
    s->model = model;
    s->p = *p;
    s->started = (long)time(NULL);
    if (s->p.header_timeout < 1) s->p.header_timeout = 10;
    s->listen_fd = -1;
    pthread_mutex_init(&s->watch_mu, NULL);
    pthread_cond_init(&s->watch_cv, NULL);
    pthread_mutex_init(&s->screen_mu, NULL);
    pthread_cond_init(&s->screen_cv, NULL);
    pthread_mutex_init(&s->embed_mu, NULL);
    mb_metrics_init(&s->metrics, p->n_slots, p->n_queue);
    pthread_mutex_init(&s->scorer_mu, NULL);
    mb_status st = resolve_template(s);
    if (!st) st = start_engine(s);
    if (!st && p->oracle) { /* the guardian scores in its own session, as the CLI does */
        mb_session_params sp = p->session;
        sp.n_ctx = mb_engine_n_ctx(s->engine);
        st = mb_session_new(model, &sp, &s->scorer);
    }
    if (st) {
        free_server(s);
        return st;
    }
    s->n_ctx = mb_engine_n_ctx(s->engine);
    struct sockaddr_in a4 = {.sin_family = AF_INET, .sin_port = htons((uint16_t)p->port)};
    struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)p->port)};
    int v6 = strchr(p->host, ':') != NULL;
    if (v6 ? inet_pton(AF_INET6, p->host, &a6.sin6_addr) != 1
           : inet_pton(AF_INET, p->host, &a4.sin_addr) != 1) {
        free_server(s);
        return tool_errorf(MB_ERR_INVALID_ARG, "--host '%s' is not a numeric IPv4 or IPv6 address",
                           p->host);
    }
    if (pthread_create(&s->watchdog, NULL, watchdog_main, s) != 0) {
        free_server(s);
        return tool_errorf(MB_ERR_NO_MEMORY, "cannot start the server's watchdog thread");
    }
    s->watchdog_started = 1;
    /* A thread per connection: a stream's reader may block until the next
     * token, and a slow client never holds up another. The server listens
     * itself (accept.c) and hands MHD each connection once its first
     * request's headers are screened. */
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_POLL | MHD_USE_ITC | MHD_USE_ERROR_LOG | MHD_USE_NO_LISTEN_SOCKET;
    s->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, mb_http_on_request, s, MHD_OPTION_NOTIFY_COMPLETED,
        mb_http_on_completed, s, MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)MB_SERVER_CONNECTION_LIMIT,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)IDLE_TIMEOUT_SECONDS, MHD_OPTION_END);
    if (!s->daemon) {
        free_server(s);
        return tool_errorf(MB_ERR_IO, "cannot start the HTTP daemon");
    }
    st = v6 ? mb_http_listen(s, (struct sockaddr *)&a6, sizeof a6)
            : mb_http_listen(s, (struct sockaddr *)&a4, sizeof a4);
    if (st) {
        free_server(s);
        return st;
    }
    *out = s;
    return MB_OK;
}

int mb_server_port(const mb_server *s) {
    return s->port;
}

void mb_server_kv_stats(const mb_server *s, mb_engine_kv_stats *out) {
    mb_engine_kv_get_stats(s->engine, out);
}

int mb_server_n_threads(const mb_server *s) {
    return mb_engine_n_threads(s->engine);
}

int mb_server_n_ctx(const mb_server *s) {
    return s->n_ctx;
}

void mb_server_stop(mb_server *s) {
    if (!s) return;
    atomic_store(&s->draining, 1);
    mb_http_unlisten(s); /* no new connections */
    mb_engine_drain(s->engine);
    /* The jobs are done; let their answers reach the clients before the
     * connections are closed (bounded, for a client that stops reading). */
    for (int i = 0; i < DRAIN_SEND_MS && atomic_load(&s->requests) > 0; i++)
        usleep(1000);
    free_server(s);
}
