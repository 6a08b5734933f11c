/* The server's own listening socket and a screen in front of
 * libmicrohttpd. Each new connection is held by a short-lived thread until
 * its first request's headers are in (peeked, not read: MHD reads them
 * again), so two things are decided before MHD sees the request:
 *
 * - the header deadline for the first request (a client that trickles its
 *   headers is closed after p.header_timeout; later requests on the
 *   connection are watched by server.c's watchdog);
 * - a malformed or conflicting Content-Length gets the server's own JSON
 *   400. libmicrohttpd 0.9.75 (Debian 12) answers such a request itself,
 *   before the request handler runs, with its status line and headers
 *   written twice (its error path builds the reply's header, then its state
 *   machine builds it again). A connection's later requests reach MHD
 *   directly; MHD >= 1.0 answers those correctly.
 *
 * Everything else (a request that passes, headers larger than the peek
 * window) is handed to MHD with MHD_add_connection unchanged. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/tool_clock.h"
#include "common/tool_error.h"
#include "server/http_internal.h"
#include "server/respond.h"

/* Bytes of headers looked at; a longer header block goes to MHD unscreened
 * (it answers 431 past its own limit). */
enum { PEEK_BYTES = 16384, LISTEN_BACKLOG = 128 };

typedef struct {
    mb_server *s;
    int fd;
    struct sockaddr_storage addr;
    socklen_t addrlen;
} screen_job;

/* Where the header block ends (just past its blank line), or NULL. */
static const char *headers_end(const char *b, size_t n) {
    for (size_t i = 0; i + 1 < n; i++) {
        if (b[i] != '\n') continue;
        if (b[i + 1] == '\n') return b + i + 2;
        if (i + 2 < n && b[i + 1] == '\r' && b[i + 2] == '\n') return b + i + 3;
    }
    return NULL;
}

void mb_http_length_add(mb_http_length *l, const char *v, size_t len) {
    const char *e = v + len;
    while (v < e && (*v == ' ' || *v == '\t'))
        v++;
    while (e > v && (e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
        e--;
    size_t digits = 0;
    unsigned long long value = 0;
    while (v + digits < e && v[digits] >= '0' && v[digits] <= '9' && digits < 20)
        value = value * 10 + (unsigned long long)(v[digits++] - '0');
    if (l->problem) return;
    if (digits == 0 || v + digits != e)
        l->problem = "the Content-Length header is not a number";
    else if (digits > 19)
        l->problem = "the Content-Length header is too large a number";
    else if (l->n++ == 0)
        l->value = value;
    else if (value != l->value)
        l->problem = "the request has Content-Length headers that differ";
}

const char *mb_http_content_length_problem(const char *b, const char *end) {
    mb_http_length l = {0};
    const char *line = memchr(b, '\n', (size_t)(end - b)); /* skip the request line */
    while (line && ++line < end) {
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        if (!eol) break;
        static const char name[] = "content-length:";
        const size_t nn = sizeof name - 1;
        if ((size_t)(eol - line) >= nn && !strncasecmp(line, name, nn))
            mb_http_length_add(&l, line + nn, (size_t)(eol - line) - nn);
        line = eol;
    }
    return l.problem;
}

/* The server's JSON 400, written whole before the connection is closed. */
static void refuse(mb_server *s, int fd, const char *path, const char *problem, double t0) {
    char *body = mb_resp_error(problem, "invalid_request_error", NULL, "bad_content_length");
    if (!body) return;
    size_t blen = strlen(body);
    char head[256];
    int hlen = snprintf(head, sizeof head,
                        "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n"
                        "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                        blen);
    send(fd, head, (size_t)hlen, MSG_NOSIGNAL);
    send(fd, body, blen, MSG_NOSIGNAL);
    free(body);
    shutdown(fd, SHUT_WR);
    /* Read what the client sent (briefly, and not without bound) so that
     * closing a socket with unread data does not reset the connection
     * before the client has read the answer. */
    char sink[4096];
    for (size_t drained = 0; drained < (256u << 10);) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, 200) <= 0) break;
        ssize_t got = recv(fd, sink, sizeof sink, MSG_DONTWAIT);
        if (got <= 0) break;
        drained += (size_t)got;
    }
    mb_metrics_request(&s->metrics, mb_metrics_endpoint(path), 400, tool_now() - t0);
}

/* Peek until the first request's headers are in. Returns 1 when they are
 * (or the peek window is full: MHD decides), 0 when the connection is to be
 * closed (deadline, the client left, or the server stops). *PROBLEM gets
 * what is wrong with their Content-Length, if anything. */
static int screen_headers(mb_server *s, int fd, const char **problem, char path[64]) {
    char *buf = malloc(PEEK_BYTES);
    if (!buf) return 1;
    const double deadline = tool_now() + s->p.header_timeout;
    size_t have = 0;
    int ok = 0;
    while (!atomic_load(&s->draining)) {
        double left = deadline - tool_now();
        if (left <= 0) break;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int r = poll(&pfd, 1, left > 0.25 ? 250 : (int)(left * 1000) + 1);
        if (r < 0 && errno != EINTR) break;
        if (r <= 0) continue;
        ssize_t got = recv(fd, buf, PEEK_BYTES, MSG_PEEK | MSG_DONTWAIT);
        if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) break;
        if (got <= 0) continue;
        if ((size_t)got == have) {
            /* Nothing new since the last look (poll says readable while
             * unread data waits): sleep rather than spin. */
            nanosleep(&(struct timespec){0, 5000000L}, NULL);
            continue;
        }
        have = (size_t)got;
        /* Have poll wait for more than what is already there. */
        int lowat = (int)have + 1;
        setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &lowat, sizeof lowat);
        const char *end = headers_end(buf, have);
        if (end) {
            *problem = mb_http_content_length_problem(buf, end);
            const char *p = memchr(buf, ' ', (size_t)(end - buf)); /* the path, for /metrics */
            if (p) {
                size_t n = strcspn(++p, " ?\r\n");
                if (n < 64) memcpy(path, p, n), path[n] = 0;
            }
            ok = 1;
            break;
        }
        if (have == PEEK_BYTES) {
            ok = 1;
            break;
        }
    }
    free(buf);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof one);
    return ok;
}

static void screen_done(mb_server *s) {
    pthread_mutex_lock(&s->screen_mu);
    s->n_screening--;
    pthread_cond_broadcast(&s->screen_cv);
    pthread_mutex_unlock(&s->screen_mu);
}

static void *screen_main(void *arg) {
    screen_job *job = arg;
    mb_server *s = job->s;
    const double t0 = tool_now();
    const char *problem = NULL;
    char path[64] = "";
    if (!screen_headers(s, job->fd, &problem, path)) {
        close(job->fd);
    } else if (problem) {
        refuse(s, job->fd, path, problem, t0);
        close(job->fd);
    } else if (atomic_load(&s->draining)) {
        close(job->fd);
    } else {
        /* On failure MHD_add_connection has closed the socket itself. */
        MHD_add_connection(s->daemon, job->fd, (const struct sockaddr *)&job->addr, job->addrlen);
    }
    free(job);
    screen_done(s);
    return NULL;
}

static void *accept_main(void *arg) {
    mb_server *s = arg;
    for (;;) {
        struct pollfd pfd[2] = {{.fd = s->listen_fd, .events = POLLIN},
                                {.fd = s->wake[0], .events = POLLIN}};
        if (poll(pfd, 2, -1) < 0 && errno != EINTR) break;
        if (pfd[1].revents) break;
        if (!(pfd[0].revents & POLLIN)) continue;
        screen_job *job = calloc(1, sizeof *job);
        if (!job) continue;
        job->s = s;
        job->addrlen = sizeof job->addr;
        job->fd = accept4(s->listen_fd, (struct sockaddr *)&job->addr, &job->addrlen, SOCK_CLOEXEC);
        if (job->fd < 0) {
            free(job);
            if (errno == EMFILE || errno == ENFILE) usleep(10000);
            continue;
        }
        pthread_mutex_lock(&s->screen_mu);
        int room = s->n_screening < MB_SERVER_CONNECTION_LIMIT;
        if (room) s->n_screening++;
        pthread_mutex_unlock(&s->screen_mu);
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&attr, 256 * 1024);
        if (!room || pthread_create(&t, &attr, screen_main, job) != 0) {
            close(job->fd);
            free(job);
            if (room) screen_done(s);
        }
        pthread_attr_destroy(&attr);
    }
    return NULL;
}

mb_status mb_http_listen(mb_server *s, const struct sockaddr *addr, socklen_t addrlen) {
    const int v6 = addr->sa_family == AF_INET6, one = 1;
    s->listen_fd = socket(addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s->listen_fd < 0)
        return tool_errorf(MB_ERR_IO, "cannot open a socket: %s", strerror(errno));
    setsockopt(s->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (v6) setsockopt(s->listen_fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(s->listen_fd, addr, addrlen) != 0 || listen(s->listen_fd, LISTEN_BACKLOG) != 0) {
        int e = errno;
        close(s->listen_fd);
        s->listen_fd = -1;
        return tool_errorf(MB_ERR_IO, "cannot listen on %s port %d: %s", s->p.host, s->p.port,
                           strerror(e));
    }
    struct sockaddr_storage got;
    socklen_t glen = sizeof got;
    if (getsockname(s->listen_fd, (struct sockaddr *)&got, &glen) == 0)
        s->port = ntohs(v6 ? ((struct sockaddr_in6 *)&got)->sin6_port
                           : ((struct sockaddr_in *)&got)->sin_port);
    if (pipe(s->wake) != 0 || pthread_create(&s->acceptor, NULL, accept_main, s) != 0) {
        close(s->listen_fd);
        s->listen_fd = -1;
        return tool_errorf(MB_ERR_NO_MEMORY, "cannot start the server's accept thread");
    }
    s->acceptor_started = 1;
    return MB_OK;
}

void mb_http_unlisten(mb_server *s) {
    if (s->acceptor_started) {
        if (write(s->wake[1], "x", 1) != 1) { /* the thread then never wakes: not expected */
        }
        pthread_join(s->acceptor, NULL);
        s->acceptor_started = 0;
        close(s->wake[0]);
        close(s->wake[1]);
    }
    if (s->listen_fd >= 0) close(s->listen_fd);
    s->listen_fd = -1;
    /* Connections still being screened finish (they see draining, or their
     * deadline) before MHD goes away: they hand their socket to it. */
    pthread_mutex_lock(&s->screen_mu);
    while (s->n_screening > 0)
        pthread_cond_wait(&s->screen_cv, &s->screen_mu);
    pthread_mutex_unlock(&s->screen_mu);
}
