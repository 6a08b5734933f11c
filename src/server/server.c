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

#include "core/error.h"
#include "server/http_internal.h"

enum { CONNECTION_LIMIT = 512, IDLE_TIMEOUT_SECONDS = 120, DRAIN_SEND_MS = 30000 };

static void free_server(mb_server *s) {
    if (!s) return;
    if (s->daemon) MHD_stop_daemon(s->daemon);
    mb_engine_free(s->engine);
    mb_metrics_destroy(&s->metrics);
    free(s);
}

static mb_status resolve_template(mb_server *s) {
    const char *name = NULL;
    mb_status st = mb_chat_template_name(s->model, s->p.chat_template, &name, NULL);
    if (st == MB_OK) {
        s->tmpl = name;
        return MB_OK;
    }
    /* A bad --chat-template is the user's to fix now; a model whose own
     * template is of no known family can still serve completions. */
    if (s->p.chat_template) return st;
    snprintf(s->tmpl_error, sizeof s->tmpl_error,
             "chat is unavailable: %s (start the server with --chat-template)", mb_last_error());
    fprintf(stderr, "warning: %s\n", s->tmpl_error);
    return MB_OK;
}

mb_status mb_server_start(mb_model *model, const mb_server_params *p, mb_server **out) {
    *out = NULL;
    mb_server *s = calloc(1, sizeof *s);
    if (!s) return mb_errorf(MB_ERR_NO_MEMORY, "out of memory");
    s->model = model;
    s->p = *p;
    s->started = (long)time(NULL);
    mb_metrics_init(&s->metrics, p->n_slots, p->n_queue);
    mb_status st = resolve_template(s);
    if (!st)
        st = mb_engine_new(model, p->n_slots, p->n_queue, &p->session,
                           p->batch ? p->batch_threads : -1, &s->metrics, &s->engine);
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
        return mb_errorf(MB_ERR_INVALID_ARG, "--host '%s' is not a numeric IPv4 or IPv6 address",
                         p->host);
    }
    /* A thread per connection: a stream's reader may block until the next
     * token, and a slow client never holds up another. */
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_POLL | MHD_USE_ITC | MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0);
    s->daemon = MHD_start_daemon(
        flags, (uint16_t)p->port, NULL, NULL, mb_http_on_request, s, MHD_OPTION_SOCK_ADDR,
        v6 ? (struct sockaddr *)&a6 : (struct sockaddr *)&a4, MHD_OPTION_NOTIFY_COMPLETED,
        mb_http_on_completed, s, MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONNECTION_LIMIT,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)IDLE_TIMEOUT_SECONDS, MHD_OPTION_END);
    if (!s->daemon) {
        free_server(s);
        return mb_errorf(MB_ERR_IO, "cannot listen on %s port %d (in use, or not permitted?)",
                         p->host, p->port);
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : p->port;
    *out = s;
    return MB_OK;
}

int mb_server_port(const mb_server *s) {
    return s->port;
}

int mb_server_n_ctx(const mb_server *s) {
    return s->n_ctx;
}

void mb_server_stop(mb_server *s) {
    if (!s) return;
    MHD_socket fd = MHD_quiesce_daemon(s->daemon);
    if (fd != MHD_INVALID_SOCKET) close(fd);
    atomic_store(&s->draining, 1);
    mb_engine_drain(s->engine);
    /* The jobs are done; let their answers reach the clients before the
     * connections are closed (bounded, for a client that stops reading). */
    for (int i = 0; i < DRAIN_SEND_MS && atomic_load(&s->requests) > 0; i++)
        usleep(1000);
    free_server(s);
}
