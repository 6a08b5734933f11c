/* The server's admission of a request, from its request line and headers
 * before any of the body is read (a refused request costs no memory for
 * its body): the Host a loopback server answers (DNS rebinding), the
 * allowed Origins and CORS preflights, Content-Length, the endpoint and
 * method, and the API key. */
#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <string.h>
#include <strings.h>

#include "server/http_internal.h"

/* The key comparison takes the same time wherever the first difference is,
 * so response timing does not reveal a key's prefix. */
static int key_matches(const char *expected, const char *header) {
    /* The scheme is case-insensitive (RFC 7235); spaces may follow it. */
    if (!header || strncasecmp(header, "Bearer ", 7) != 0) return 0;
    const char *got = header + 7;
    while (*got == ' ')
        got++;
    size_t ne = strlen(expected), ng = strlen(got);
    volatile unsigned char diff = ne != ng;
    for (size_t i = 0; i < ne; i++)
        diff |= (unsigned char)expected[i] ^ (unsigned char)(i < ng ? got[i] : 0);
    return diff == 0;
}

static int is_loopback_v4(const char *a) {
    struct in_addr v4;
    return inet_pton(AF_INET, a, &v4) == 1 && (ntohl(v4.s_addr) >> 24) == 127;
}

static int is_loopback_v6(const char *a) {
    struct in6_addr v6;
    if (inet_pton(AF_INET6, a, &v6) != 1) return 0;
    if (IN6_IS_ADDR_LOOPBACK(&v6)) return 1;
    return IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127;
}

/* True when the server listens on a loopback address only. */
static int bound_to_loopback(const mb_server *s) {
    return is_loopback_v4(s->p.host) || is_loopback_v6(s->p.host);
}

/* A Host header that names this machine: localhost (or a name under
 * .localhost), 127.0.0.0/8 or [::1], with an optional port. A web page's
 * own name (DNS rebinding) is none of these. */
static int host_is_loopback(const char *host) {
    char name[256];
    size_t n = strlen(host);
    if (n == 0 || n >= sizeof name) return 0;
    const char *port = NULL;
    if (host[0] == '[') {
        const char *end = strchr(host, ']');
        if (!end || (end[1] && end[1] != ':')) return 0;
        memcpy(name, host + 1, (size_t)(end - host - 1));
        name[end - host - 1] = '\0';
        if (end[1] == ':') port = end + 2;
        if (!is_loopback_v6(name)) return 0;
    } else {
        const char *colon = strchr(host, ':');
        if (colon && strchr(colon + 1, ':')) return 0;
        size_t k = colon ? (size_t)(colon - host) : n;
        memcpy(name, host, k);
        name[k] = '\0';
        if (colon) port = colon + 1;
        if (k > 0 && name[k - 1] == '.') name[--k] = '\0';
        int local = !strcasecmp(name, "localhost") ||
                    (k > 10 && !strcasecmp(name + k - 10, ".localhost")) || is_loopback_v4(name);
        if (!local) return 0;
    }
    if (port) {
        if (!*port || strlen(port) > 5) return 0;
        for (const char *p = port; *p; p++)
            if (!isdigit((unsigned char)*p)) return 0;
    }
    return 1;
}

/* ORIGIN is in the comma-separated LIST (exact, case-insensitive), or LIST is "*". */
static int origin_allowed(const char *list, const char *origin) {
    if (!list) return 0;
    size_t no = strlen(origin);
    for (const char *p = list; *p;) {
        while (*p == ',' || *p == ' ')
            p++;
        const char *e = p;
        while (*e && *e != ',')
            e++;
        size_t k = (size_t)(e - p);
        while (k > 0 && p[k - 1] == ' ')
            k--;
        if ((k == 1 && *p == '*') || (k == no && k > 0 && !strncasecmp(p, origin, k))) return 1;
        p = e;
    }
    return 0;
}

static enum MHD_Result count_length(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value) {
    (void)kind;
    if (key && !strcasecmp(key, "Content-Length"))
        mb_http_length_add(cls, value ? value : "", value ? strlen(value) : 0);
    return MHD_YES;
}

static enum MHD_Result preflight(struct MHD_Connection *c, mb_http_req *r) {
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
    if (!resp) return MHD_NO;
    const char *methods = mb_http_allowed_methods(r->endpoint);
    MHD_add_response_header(resp, "Allow", methods);
    if (r->cors_origin) {
        const char *want =
            MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Access-Control-Request-Headers");
        MHD_add_response_header(resp, "Access-Control-Allow-Methods", methods);
        MHD_add_response_header(resp, "Access-Control-Allow-Headers",
                                want && *want ? want : "Authorization, Content-Type");
        MHD_add_response_header(resp, "Access-Control-Max-Age", "600");
    }
    mb_http_common_headers(r, resp);
    r->status = 204;
    enum MHD_Result ret = MHD_queue_response(c, 204, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* Checks on the request line and headers, before any of the body is read:
 * a refused request costs no memory for its body. Returns MHD_YES with
 * r->status 0 when the body is to be read. */
enum MHD_Result mb_http_admit(mb_server *s, struct MHD_Connection *c, mb_http_req *r,
                              const char *method) {
    const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host");
    if (host && bound_to_loopback(s) && !host_is_loopback(host))
        return mb_http_send_error(c, r, 403, "invalid_request_error", NULL, "forbidden_host",
                                  "this server listens on loopback and answers only requests for "
                                  "localhost, 127.0.0.1 or [::1] (the Host header names another)");
    const char *origin = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin");
    if (origin) {
        if (!origin_allowed(s->p.allowed_origins, origin))
            return mb_http_send_error(c, r, 403, "invalid_request_error", NULL, "forbidden_origin",
                                      "requests from this Origin are not allowed (start the server "
                                      "with --allowed-origins)");
        r->cors_origin = origin;
    }
    mb_http_length lh = {0};
    MHD_get_connection_values(c, MHD_HEADER_KIND, count_length, &lh);
    if (lh.problem)
        return mb_http_send_error(c, r, 400, "invalid_request_error", NULL, "bad_content_length",
                                  lh.problem);
    int known = r->endpoint != MB_METRIC_ENDPOINTS - 1,
        wants_post = mb_http_takes_post(r->endpoint);
    if (!known)
        return mb_http_send_error(c, r, 404, "invalid_request_error", NULL, "not_found",
                                  "no such endpoint; see docs/SERVER.md");
    if (!strcmp(method, "OPTIONS")) return preflight(c, r);
    int get = !strcmp(method, "GET") || !strcmp(method, "HEAD"), post = !strcmp(method, "POST");
    if (wants_post ? !post : !get)
        return mb_http_send_error(c, r, 405, "invalid_request_error", NULL, "method_not_allowed",
                                  wants_post ? "this endpoint takes POST"
                                             : "this endpoint takes GET");
    if (r->endpoint != mb_metrics_endpoint("/health") && s->p.api_key &&
        !key_matches(s->p.api_key,
                     MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization")))
        return mb_http_send_error(c, r, 401, "invalid_request_error", NULL, "invalid_api_key",
                                  "a valid API key is needed: Authorization: Bearer KEY");
    /* An announced oversized body is refused before any of it is read:
     * libmicrohttpd then closes the connection instead of reading on. */
    if (lh.n > 0 && lh.value > s->p.max_body) return mb_http_too_large(s, c, r);
    return MHD_YES;
}
