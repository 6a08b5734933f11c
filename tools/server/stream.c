/* Server-sent events: one "data: {chunk}" event per batch of new text, a
 * final chunk with finish_reason and usage, then "data: [DONE]".
 *
 * libmicrohttpd runs each connection on its own thread and pulls bytes from
 * the reader below, which blocks until the job has more. When the client
 * goes away the next write fails, the connection closes and the response is
 * freed: stream_free() cancels the job, so its slot is free at the next
 * token. A comment line every second keeps writes going while a request
 * waits in the queue, so a client gone then is noticed too. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/http_internal.h"

enum { KEEPALIVE_SECONDS = 1 };

typedef struct {
    mb_job *j;
    mb_resp_meta meta;
    char id[64];
    size_t sent_text, sent_lp;
    size_t seen_text, seen_lp; /* tool calls: what the job had when last looked at */
    int opened, finished;
    char *out;
    size_t out_len, out_pos, out_cap;
} stream_state;

static int out_put(stream_state *st, const char *a, size_t na, const char *b, size_t nb,
                   const char *c, size_t nc) {
    size_t need = st->out_len + na + nb + nc;
    if (need > st->out_cap) {
        size_t cap = need * 2;
        char *t = realloc(st->out, cap);
        if (!t) return 1;
        st->out = t;
        st->out_cap = cap;
    }
    memcpy(st->out + st->out_len, a, na);
    if (nb) memcpy(st->out + st->out_len + na, b, nb);
    if (nc) memcpy(st->out + st->out_len + na + nb, c, nc);
    st->out_len = need;
    return 0;
}

/* "data: JSON\n\n", taking JSON; 1 when out of memory. */
static int put_event(stream_state *st, char *json) {
    if (!json) return 1;
    int rc = out_put(st, "data: ", 6, json, strlen(json), "\n\n", 2);
    free(json);
    return rc;
}

/* The end of the word that starts at TEXT[a] and the spaces after it;
 * ASCII whitespace only, so a UTF-8 character is never split. */
static size_t word_end(const char *text, size_t a, size_t len) {
    size_t i = a;
    while (i < len && (text[i] == ' ' || text[i] == '\n'))
        i++;
    while (i < len && text[i] != ' ' && text[i] != '\n')
        i++;
    return i;
}

static int finish_events(stream_state *st, int finish) {
    mb_job *j = st->j;
    char *last = j->finish >= MB_FINISH_ERROR
                     ? mb_resp_error(j->error, "server_error", NULL, NULL)
                     : mb_resp_chunk(&st->meta, j, "", 0, 0, 0, 0, finish, 1);
    if (put_event(st, last)) return 1;
    return out_put(st, "data: [DONE]\n\n", 14, "", 0, "", 0);
}

/* A chat with tools: text is sent as far as it cannot be call markup
 * (mb_tool_text_safe); at the end the answer is parsed, the rest of its
 * text sent, then its calls as delta.tool_calls. */
static int tool_events(stream_state *st) {
    mb_job *j = st->j;
    const mb_tool_format f = (mb_tool_format)j->req.tool_format;
    st->seen_text = j->len;
    st->seen_lp = j->n_lp;
    if (!j->done) {
        size_t safe = mb_tool_text_safe(f, j->text ? j->text : "", j->len);
        if (safe <= st->sent_text) return 0;
        size_t lp1 = safe == j->len ? j->n_lp : st->sent_lp;
        char *json = mb_resp_chunk(&st->meta, j, j->text + st->sent_text, safe - st->sent_text,
                                   st->sent_lp, lp1, 0, -1, 0);
        st->sent_text = safe;
        st->sent_lp = lp1;
        return put_event(st, json);
    }
    st->finished = 1;
    if (j->finish == MB_FINISH_CANCELLED) return 1;
    if (j->finish >= MB_FINISH_ERROR) return finish_events(st, j->finish);
    mb_tool_parse_result tr;
    if (mb_resp_tool_parse(j, &tr)) return 1;
    /* The parsed text starts with what was sent (tools.h). */
    size_t n = strlen(tr.content), sent = st->sent_text < n ? st->sent_text : n;
    int rc = 0, calls_only = tr.n_calls && sent == 0;
    for (size_t i = 0; calls_only && i < n; i++)
        calls_only = strchr(" \n\r\t", tr.content[i]) != NULL;
    if ((n > sent && !calls_only) || j->n_lp > st->sent_lp)
        rc = put_event(st, mb_resp_chunk(&st->meta, j, tr.content + sent, calls_only ? 0 : n - sent,
                                         st->sent_lp, j->n_lp, 0, -1, 0));
    if (!rc && tr.n_calls) rc = put_event(st, mb_resp_tool_chunk(&st->meta, j, &tr, 0));
    int finish = tr.n_calls ? MB_RESP_FINISH_TOOL_CALLS : j->finish;
    mb_tool_parse_free(&tr);
    return rc || finish_events(st, finish);
}

/* Format whatever the job has that the client has not seen. Called with the
 * job's lock held; returns 1 on an error that ends the stream. */
static int next_events(stream_state *st) {
    mb_job *j = st->j;
    if (!st->opened) {
        st->opened = 1;
        if (j->req.is_chat)
            return put_event(st, mb_resp_chunk(&st->meta, j, "", 0, 0, 0, 1, -1, 0));
    }
    if (j->req.is_chat && j->req.tool_format) return tool_events(st);
    if (j->len > st->sent_text || j->n_lp > st->sent_lp) {
        size_t end = j->len;
        /* A routed answer (its who-answers known before the stream began) goes
         * a word a chunk, however much of it is already there, so a fast
         * guardian's answer does not arrive in one lump. */
        if (j->answered_by) end = word_end(j->text, st->sent_text, j->len);
        size_t lp1 = end == j->len ? j->n_lp : st->sent_lp;
        char *json = mb_resp_chunk(&st->meta, j, j->text + st->sent_text, end - st->sent_text,
                                   st->sent_lp, lp1, 0, -1, 0);
        st->sent_text = end;
        st->sent_lp = lp1;
        return put_event(st, json);
    }
    if (!j->done) return 0;
    st->finished = 1;
    /* Cancelled: the client left. No made-up finish reason; the stream
     * just ends. */
    if (j->finish == MB_FINISH_CANCELLED) return 1;
    return finish_events(st, j->finish);
}

static int has_news(const stream_state *st) {
    const mb_job *j = st->j;
    if (st->opened && j->req.is_chat && j->req.tool_format) /* text may be held back */
        return j->done || j->len != st->seen_text || j->n_lp != st->seen_lp;
    return !st->opened || j->done || j->len > st->sent_text || j->n_lp > st->sent_lp;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    stream_state *st = cls;
    for (;;) {
        if (st->out_pos < st->out_len) {
            size_t n = st->out_len - st->out_pos < max ? st->out_len - st->out_pos : max;
            memcpy(buf, st->out + st->out_pos, n);
            st->out_pos += n;
            return (ssize_t)n;
        }
        st->out_len = st->out_pos = 0;
        if (st->finished) return MHD_CONTENT_READER_END_OF_STREAM;
        mb_job *j = st->j;
        pthread_mutex_lock(&j->mu);
        int timed_out = 0;
        if (!has_news(st)) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += KEEPALIVE_SECONDS;
            while (!has_news(st) && !timed_out)
                timed_out = pthread_cond_timedwait(&j->cv, &j->mu, &until) == ETIMEDOUT;
        }
        int err =
            has_news(st) ? next_events(st) : out_put(st, ": keep-alive\n\n", 14, "", 0, "", 0);
        pthread_mutex_unlock(&j->mu);
        if (err) return MHD_CONTENT_READER_END_WITH_ERROR;
    }
}

static void stream_free(void *cls) {
    stream_state *st = cls;
    /* A job still queued gives its place to the next request. */
    mb_job_cancel(st->j); /* no effect once the job is done */
    mb_job_release(st->j);
    free(st->out);
    free(st);
}

enum MHD_Result mb_http_stream(mb_server *s, struct MHD_Connection *c, mb_http_req *r, mb_job *j,
                               const mb_resp_meta *meta) {
    /* With a queue timeout the headers wait until a slot takes the job:
     * one that times out in the queue gets its 503, not a 200 stream. */
    if (s->p.queue_timeout_ms > 0 && j->ej) {
        pthread_mutex_lock(&j->mu);
        mb_http_wait(c, r, j, MB_WAIT_STARTED);
        const int finish = j->done ? j->finish : -1;
        char why[300];
        snprintf(why, sizeof why, "%s", j->error);
        pthread_mutex_unlock(&j->mu);
        if (finish == MB_FINISH_CANCELLED) return MHD_NO; /* the client left */
        if (finish == MB_FINISH_TIMEOUT) return mb_http_send_timeout(c, r, why);
    }
    stream_state *st = calloc(1, sizeof *st);
    if (!st) return MHD_NO;
    st->j = j;
    atomic_fetch_add(&j->refs, 1);
    st->meta = *meta;
    snprintf(st->id, sizeof st->id, "%s", meta->id);
    st->meta.id = st->id;
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024,
                                                                  stream_read, st, stream_free);
    if (!resp) {
        stream_free(st);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "text/event-stream");
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    if (j->answered_by) MHD_add_response_header(resp, "X-Matchbox-Answered-By", j->answered_by);
    mb_http_common_headers(r, resp);
    r->status = 200;
    r->streamed = 1;
    enum MHD_Result ret = MHD_queue_response(c, 200, resp);
    MHD_destroy_response(resp);
    return ret;
}
