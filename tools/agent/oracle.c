/* The oracle client (oracle.h). One libcurl easy handle per call, so calls
 * from several threads (the server's connections) never share state. TLS
 * verification is never turned off: libcurl's defaults (peer and host
 * verified) are set explicitly so no environment can weaken them. */
#include "agent/oracle.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/tool_error.h"

enum { MAX_BODY = 16 << 20, MAX_LINE = 1 << 20 };

struct mb_oracle {
    char *url;          /* {base}/chat/completions */
    char *model, *auth; /* auth: "Authorization: Bearer KEY", NULL when no key */
    long connect_ms, total_ms;
    int max_retries;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_OK;

static void curl_init(void) {
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static char *dup_str(const char *s) {
    size_t n = strlen(s);
    char *d = malloc(n + 1);
    if (d) memcpy(d, s, n + 1);
    return d;
}

mb_status mb_oracle_new(const mb_oracle_config *c, mb_oracle **out) {
    *out = NULL;
    if (!c || !c->base_url || !*c->base_url)
        return tool_errorf(MB_ERR_INVALID_ARG, "oracle: no base URL (e.g. http://127.0.0.1:8081/v1)");
    if (strncmp(c->base_url, "http://", 7) != 0 && strncmp(c->base_url, "https://", 8) != 0)
        return tool_errorf(MB_ERR_INVALID_ARG, "oracle: the URL '%s' is not http:// or https://",
                         c->base_url);
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK)
        return tool_errorf(MB_ERR_IO, "oracle: libcurl did not initialize: %s",
                         curl_easy_strerror(curl_init_rc));
    mb_oracle *o = calloc(1, sizeof *o);
    if (!o) return tool_errorf(MB_ERR_NO_MEMORY, "oracle: out of memory");
    size_t n = strlen(c->base_url);
    while (n > 0 && c->base_url[n - 1] == '/')
        n--;
    o->url = malloc(n + sizeof "/chat/completions");
    if (o->url) {
        memcpy(o->url, c->base_url, n);
        memcpy(o->url + n, "/chat/completions", sizeof "/chat/completions");
    }
    o->model = dup_str(c->model && *c->model ? c->model : "default");
    if (c->api_key && *c->api_key) {
        size_t kn = strlen(c->api_key);
        if (strpbrk(c->api_key, "\r\n")) {
            mb_oracle_free(o);
            return tool_errorf(MB_ERR_INVALID_ARG, "oracle: the API key holds a line break");
        }
        o->auth = malloc(kn + sizeof "Authorization: Bearer ");
        if (o->auth)
            snprintf(o->auth, kn + sizeof "Authorization: Bearer ", "Authorization: Bearer %s",
                     c->api_key);
        if (!o->auth) {
            mb_oracle_free(o);
            return tool_errorf(MB_ERR_NO_MEMORY, "oracle: out of memory");
        }
    }
    if (!o->url || !o->model) {
        mb_oracle_free(o);
        return tool_errorf(MB_ERR_NO_MEMORY, "oracle: out of memory");
    }
    o->connect_ms = (long)((c->connect_timeout_s > 0 ? c->connect_timeout_s : 10) * 1000);
    o->total_ms = (long)((c->timeout_s > 0 ? c->timeout_s : 120) * 1000);
    o->max_retries = c->max_retries < 0 ? 3 : c->max_retries;
    *out = o;
    return MB_OK;
}

void mb_oracle_free(mb_oracle *o) {
    if (!o) return;
    if (o->auth) { /* the key does not linger in freed memory */
        volatile char *p = o->auth;
        while (*p)
            *p++ = 0;
    }
    free(o->auth);
    free(o->url);
    free(o->model);
    free(o);
}

void mb_oracle_reply_free(mb_oracle_reply *reply) {
    if (!reply) return;
    free(reply->content);
    reply->content = NULL;
}

/* ---- one exchange -------------------------------------------------------- */

typedef struct {
    char *p;
    size_t len, cap;
} buf;

static int buf_put(buf *b, const char *s, size_t n) {
    if (n > MAX_BODY || b->len + n > MAX_BODY) return 1;
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->len + n + 1) * 2;
        char *t = realloc(b->p, cap);
        if (!t) return 1;
        b->p = t;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

typedef struct {
    CURL *curl;
    int stream, stopped, failed;
    buf raw;     /* the body (non-streaming or an error) */
    buf line;    /* the SSE line being read */
    buf content; /* the answer so far */
    int n_pieces;
    mb_oracle_piece_fn on_piece;
    void *user;
    mb_oracle_reply *reply;
} exchange;

static void read_usage(const cJSON *root, mb_oracle_reply *r) {
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(root, "usage");
    if (!cJSON_IsObject(u)) return;
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(u, "prompt_tokens");
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(u, "completion_tokens");
    if (cJSON_IsNumber(p) && p->valuedouble >= 0 && p->valuedouble < 1e9)
        r->prompt_tokens = (int)p->valuedouble;
    if (cJSON_IsNumber(c) && c->valuedouble >= 0 && c->valuedouble < 1e9)
        r->completion_tokens = (int)c->valuedouble;
}

static void read_finish(const cJSON *choice, mb_oracle_reply *r) {
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(choice, "finish_reason");
    if (cJSON_IsString(f))
        snprintf(r->finish_reason, sizeof r->finish_reason, "%s", f->valuestring);
}

/* One "data: ..." event of a stream. */
static void sse_event(exchange *x, const char *data) {
    if (!strcmp(data, "[DONE]")) return;
    cJSON *root = cJSON_Parse(data);
    if (!root) return; /* comments and keep-alives carry no JSON */
    const cJSON *choices = cJSON_GetObjectItemCaseSensitive(root, "choices");
    const cJSON *choice = cJSON_IsArray(choices) ? cJSON_GetArrayItem(choices, 0) : NULL;
    if (choice) {
        const cJSON *delta = cJSON_GetObjectItemCaseSensitive(choice, "delta");
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(delta, "content");
        if (cJSON_IsString(text) && *text->valuestring) {
            size_t n = strlen(text->valuestring);
            if (buf_put(&x->content, text->valuestring, n)) x->failed = 1;
            x->n_pieces++;
            if (x->on_piece && !x->on_piece(x->user, text->valuestring, n)) x->stopped = 1;
        }
        read_finish(choice, x->reply);
    }
    read_usage(root, x->reply);
    cJSON_Delete(root);
}

static size_t on_write(char *data, size_t size, size_t n, void *user) {
    exchange *x = user;
    size_t len = size * n;
    long code = 0;
    curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &code);
    if (!x->stream || code != 200) return buf_put(&x->raw, data, len) ? 0 : len;
    for (size_t i = 0; i < len; i++) {
        if (data[i] != '\n') {
            if (data[i] != '\r' && (x->line.len >= MAX_LINE || buf_put(&x->line, data + i, 1)))
                return 0;
            continue;
        }
        if (x->line.len >= 5 && !strncmp(x->line.p, "data:", 5)) {
            const char *d = x->line.p + 5;
            while (*d == ' ')
                d++;
            sse_event(x, d);
        }
        x->line.len = 0;
        if (x->line.p) x->line.p[0] = '\0';
        if (x->stopped || x->failed) return 0; /* aborts the transfer */
    }
    return len;
}

static void parse_whole(exchange *x) {
    cJSON *root = x->raw.p ? cJSON_Parse(x->raw.p) : NULL;
    const cJSON *choices = cJSON_GetObjectItemCaseSensitive(root, "choices");
    const cJSON *choice = cJSON_IsArray(choices) ? cJSON_GetArrayItem(choices, 0) : NULL;
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(choice, "message");
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(msg, "content");
    if (!cJSON_IsString(text)) {
        x->failed = 2;
    } else {
        if (buf_put(&x->content, text->valuestring, strlen(text->valuestring))) x->failed = 1;
        read_finish(choice, x->reply);
        read_usage(root, x->reply);
    }
    cJSON_Delete(root);
}

/* The server's "error.message", or the start of its body. */
static void error_detail(const exchange *x, char *out, size_t cap) {
    out[0] = '\0';
    cJSON *root = x->raw.p ? cJSON_Parse(x->raw.p) : NULL;
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "error");
    const cJSON *m = cJSON_IsObject(e) ? cJSON_GetObjectItemCaseSensitive(e, "message") : e;
    if (cJSON_IsString(m))
        snprintf(out, cap, "%s", m->valuestring);
    else if (x->raw.p)
        snprintf(out, cap, "%.160s", x->raw.p);
    cJSON_Delete(root);
}

static char *request_body(const mb_oracle *o, const mb_oracle_msg *msgs, int n_msgs, int max_tokens,
                          float temperature, int stream) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "model", o->model);
    cJSON *arr = cJSON_AddArrayToObject(root, "messages");
    for (int i = 0; i < n_msgs; i++) {
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "role", msgs[i].role);
        cJSON_AddStringToObject(m, "content", msgs[i].content ? msgs[i].content : "");
        cJSON_AddItemToArray(arr, m);
    }
    if (max_tokens > 0) cJSON_AddNumberToObject(root, "max_tokens", max_tokens);
    if (temperature >= 0) cJSON_AddNumberToObject(root, "temperature", temperature);
    cJSON_AddBoolToObject(root, "stream", stream);
    if (stream) {
        cJSON *so = cJSON_AddObjectToObject(root, "stream_options");
        cJSON_AddBoolToObject(so, "include_usage", 1);
    }
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}

/* Sleep for the backoff of retry ATTEMPT (0-based): 0.25 s doubling, at most
 * 8 s, with "equal jitter" (half fixed, half random) so clients that failed
 * together do not retry together. */
static void backoff(int attempt, uint64_t *rng) {
    double base = 0.25 * (double)(1u << (attempt < 5 ? attempt : 5));
    if (base > 8) base = 8;
    *rng ^= *rng << 13;
    *rng ^= *rng >> 7;
    *rng ^= *rng << 17;
    double d = base / 2 + base / 2 * (double)(*rng >> 11) / 9007199254740992.0;
    struct timespec ts = {(time_t)d, (long)((d - (double)(time_t)d) * 1e9)};
    nanosleep(&ts, NULL);
}

static int retryable(CURLcode rc) {
    return rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
           rc == CURLE_COULDNT_RESOLVE_PROXY || rc == CURLE_OPERATION_TIMEDOUT ||
           rc == CURLE_SEND_ERROR || rc == CURLE_RECV_ERROR || rc == CURLE_GOT_NOTHING ||
           rc == CURLE_PARTIAL_FILE;
}

mb_status mb_oracle_chat(mb_oracle *o, const mb_oracle_msg *msgs, int n_msgs, int max_tokens,
                         float temperature, mb_oracle_piece_fn on_piece, void *user,
                         mb_oracle_reply *reply) {
    memset(reply, 0, sizeof *reply);
    reply->prompt_tokens = reply->completion_tokens = -1;
    if (!o || !msgs || n_msgs <= 0)
        return tool_errorf(MB_ERR_INVALID_ARG, "oracle: no messages to send");
    int stream = on_piece != NULL;
    char *body = request_body(o, msgs, n_msgs, max_tokens, temperature, stream);
    CURL *curl = body ? curl_easy_init() : NULL;
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    if (hdr && o->auth) {
        struct curl_slist *h2 = curl_slist_append(hdr, o->auth);
        if (!h2) curl_slist_free_all(hdr);
        hdr = h2;
    }
    if (!body || !curl || !hdr) {
        free(body);
        if (curl) curl_easy_cleanup(curl);
        curl_slist_free_all(hdr);
        return tool_errorf(MB_ERR_NO_MEMORY, "oracle %s: out of memory", o->url);
    }
    uint64_t rng = (uint64_t)time(NULL) ^ ((uint64_t)(uintptr_t)reply << 16) ^ 0x9E3779B97F4A7C15u;
    char errbuf[CURL_ERROR_SIZE], detail[200];
    mb_status status = MB_OK;
    for (int attempt = 0;; attempt++) {
        exchange x = {
            .curl = curl, .stream = stream, .on_piece = on_piece, .user = user, .reply = reply};
        errbuf[0] = '\0';
        curl_easy_reset(curl);
        curl_easy_setopt(curl, CURLOPT_URL, o->url);
        curl_easy_setopt(curl, CURLOPT_POST, 1L);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdr);
        curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
        curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
        curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, o->connect_ms);
        curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, o->total_ms);
        curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_write);
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, &x);
        curl_easy_setopt(curl, CURLOPT_USERAGENT, "matchbox/" MB_VERSION);
#if LIBCURL_VERSION_NUM >= 0x075500
        curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
#endif
        CURLcode rc = curl_easy_perform(curl);
        long code = 0;
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
        int stopped = x.stopped && !x.failed;
        if ((rc == CURLE_OK || (rc == CURLE_WRITE_ERROR && stopped)) && code == 200) {
            if (!stream) parse_whole(&x);
            if (x.failed == 2) {
                status =
                    tool_errorf(MB_ERR_FORMAT,
                              "oracle %s: the answer has no choices[0].message.content", o->url);
            } else if (x.failed) {
                status = tool_errorf(MB_ERR_NO_MEMORY,
                                   "oracle %s: the answer is over %d bytes or out of memory",
                                   o->url, MAX_BODY);
            } else {
                buf_put(&x.content, "", 0); /* "" for an empty answer */
                reply->content = x.content.p;
                x.content.p = NULL;
                if (!reply->content)
                    status = tool_errorf(MB_ERR_NO_MEMORY, "oracle %s: out of memory", o->url);
            }
        } else if (rc != CURLE_OK && code == 0) {
            status = tool_errorf(MB_ERR_IO, "oracle %s: %s", o->url,
                               errbuf[0] ? errbuf : curl_easy_strerror(rc));
        } else if (rc != CURLE_OK && code == 200) {
            status = tool_errorf(MB_ERR_IO, "oracle %s: the stream broke: %s", o->url,
                               errbuf[0] ? errbuf : curl_easy_strerror(rc));
        } else {
            error_detail(&x, detail, sizeof detail);
            status =
                tool_errorf(code >= 500 || code == 429 ? MB_ERR_IO : MB_ERR_INVALID_ARG,
                          "oracle %s: HTTP %ld%s%s", o->url, code, detail[0] ? ": " : "", detail);
        }
        int again = status != MB_OK && attempt < o->max_retries && x.n_pieces == 0 &&
                    ((code == 0 && retryable(rc)) || code == 429 || code >= 500);
        free(x.raw.p);
        free(x.line.p);
        free(x.content.p);
        if (!again) break;
        if (reply->content) free(reply->content), reply->content = NULL;
        reply->prompt_tokens = reply->completion_tokens = -1;
        reply->finish_reason[0] = '\0';
        backoff(attempt, &rng);
    }
    curl_easy_cleanup(curl);
    curl_slist_free_all(hdr);
    free(body);
    return status;
}
