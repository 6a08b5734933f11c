/* POST /v1/embeddings: each input's pooled final hidden state
 * (mb_session_embed), L2-normalized as OpenAI's embeddings are.
 *
 * Embeddings run on a session of their own, apart from the engine's slots
 * (whose caches hold conversations): made at the first request, sized to
 * the slots' context, used by one request at a time under a mutex, on the
 * HTTP connection's thread; a request's inputs are evaluated one after
 * another. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/tool_error.h"
#include "server/embed_request.h"
#include "server/http_internal.h"

static enum MHD_Result send_error(struct MHD_Connection *c, mb_http_req *r, int status,
                                  const char *type, const char *param, const char *code,
                                  const char *message) {
    return mb_http_send(c, r, status, mb_resp_error(message, type, param, code), "application/json",
                        status == 503, NULL);
}

/* The tokens of every input: texts tokenized as completions prompts are
 * (BOS added where the model wants it, special tokens as text). 0 with MSG
 * (and *CODE for a context overflow) set when one is empty, does not fit,
 * holds an id outside the vocabulary or cannot be tokenized. */
static int tokenize_inputs(const mb_server *s, mb_embed_request *q, char *msg, size_t cap,
                           const char **code) {
    const int n_vocab = mb_model_n_vocab(s->model);
    for (size_t i = 0; i < q->n_inputs; i++) {
        mb_embed_input *in = &q->inputs[i];
        if (in->text) {
            size_t len = strlen(in->text), need = 0, n = 0;
            mb_tokenize(s->model, in->text, len, 1, 0, NULL, 0, &need);
            if (!(in->ids = malloc((need + 1) * sizeof *in->ids)) ||
                mb_tokenize(s->model, in->text, len, 1, 0, in->ids, need, &n) != MB_OK) {
                snprintf(msg, cap, "input %zu could not be tokenized: %s", i, tool_last_error());
                return 0;
            }
            in->n_ids = n;
        }
        if (in->n_ids == 0) {
            snprintf(msg, cap, "input %zu has no tokens", i);
            return 0;
        }
        if (in->n_ids > (size_t)s->n_ctx) {
            snprintf(msg, cap,
                     "input %zu has %zu tokens; this model's context is %d tokens: shorten it", i,
                     in->n_ids, s->n_ctx);
            *code = "context_length_exceeded";
            return 0;
        }
        for (size_t k = 0; k < in->n_ids; k++)
            if (in->ids[k] >= n_vocab) {
                snprintf(msg, cap, "input %zu: token id %d is outside the vocabulary (0..%d)", i,
                         in->ids[k], n_vocab - 1);
                return 0;
            }
    }
    return 1;
}

/* The embedding session, made on first use (s->embed_mu held). */
static mb_status embed_session(mb_server *s) {
    if (s->embed) return MB_OK;
    mb_session_params sp = s->p.session;
    sp.n_ctx = s->n_ctx;
    sp.n_threads = 0; /* the physical cores, as the batched decode step */
    sp.verbose = 0;
    mb_status st = mb_session_new(s->model, &sp, &s->embed);
    if (st) return st;
    fprintf(stderr,
            "matchbox serve: embeddings: a session of its own, context %d, KV cache %.1f MiB\n",
            s->n_ctx, (double)mb_session_kv_bytes(s->embed) / (1 << 20));
    return MB_OK;
}

/* A growing text buffer; OK drops to 0 when memory runs out. */
typedef struct {
    char *p;
    size_t len, cap;
    int ok;
} buf;

static void reserve(buf *b, size_t more) {
    if (!b->ok || b->len + more + 1 <= b->cap) return;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more + 1)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->ok = 0;
        return;
    }
    b->p = p, b->cap = cap;
}

static void put(buf *b, const char *text) {
    size_t n = strlen(text);
    reserve(b, n);
    if (!b->ok) return;
    memcpy(b->p + b->len, text, n + 1);
    b->len += n;
}

/* V as little-endian float32 bytes in base64 (RFC 4648), as OpenAI sends
 * encoding_format "base64". */
static void put_base64(buf *b, const float *v, int n) {
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const size_t bytes = (size_t)n * 4;
    reserve(b, (bytes + 2) / 3 * 4);
    if (!b->ok) return;
    uint32_t acc = 0;
    int bits = 0;
    char *o = b->p + b->len;
    for (int i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &v[i], 4);
        for (int k = 0; k < 4; k++) {
            acc = acc << 8 | ((u >> (8 * k)) & 0xff);
            bits += 8;
            while (bits >= 6) {
                bits -= 6;
                *o++ = abc[(acc >> bits) & 63];
            }
            acc &= (1u << bits) - 1;
        }
    }
    if (bits) {
        *o++ = abc[(acc << (6 - bits)) & 63];
        for (size_t pad = bits == 2 ? 2 : 1; pad; pad--)
            *o++ = '=';
    }
    *o = '\0';
    b->len = (size_t)(o - b->p);
}

static char *answer(const mb_server *s, const mb_embed_request *q, const float *out, int d,
                    size_t n_tokens) {
    buf b = {.ok = 1};
    put(&b, "{\"object\":\"list\",\"data\":[");
    char num[128];
    for (size_t i = 0; i < q->n_inputs; i++) {
        snprintf(num, sizeof num,
                 "%s{\"object\":\"embedding\",\"index\":%zu,\"embedding\":", i ? "," : "", i);
        put(&b, num);
        const float *v = out + i * (size_t)d;
        if (q->base64) {
            put(&b, "\"");
            put_base64(&b, v, d);
            put(&b, "\"");
        } else {
            put(&b, "[");
            for (int k = 0; k < d; k++) {
                /* 9 significant digits give the float back exactly. */
                snprintf(num, sizeof num, "%s%.9g", k ? "," : "", (double)v[k]);
                put(&b, num);
            }
            put(&b, "]");
        }
        put(&b, "}");
    }
    put(&b, "],\"model\":");
    cJSON *name = cJSON_CreateString(s->p.model_id);
    char *id = name ? cJSON_PrintUnformatted(name) : NULL;
    put(&b, id ? id : "\"\"");
    free(id);
    cJSON_Delete(name);
    snprintf(num, sizeof num, ",\"usage\":{\"prompt_tokens\":%zu,\"total_tokens\":%zu}}", n_tokens,
             n_tokens);
    put(&b, num);
    if (!b.ok) free(b.p);
    return b.ok ? b.p : NULL;
}

enum MHD_Result mb_http_embeddings(mb_server *s, struct MHD_Connection *c, mb_http_req *r) {
    mb_embed_request q;
    mb_server_error err;
    if (mb_embed_request_parse(r->body, r->len, &q, &err) != MB_OK)
        return send_error(c, r, err.http_status, err.type, err.param[0] ? err.param : NULL,
                          err.code, err.message);
    char msg[512];
    if (q.model && !mb_server_model_matches(s, q.model)) {
        snprintf(msg, sizeof msg, "the model '%.200s' does not exist; this server has '%s'",
                 q.model, s->p.model_id);
        mb_embed_request_free(&q);
        return send_error(c, r, 404, "invalid_request_error", "model", "model_not_found", msg);
    }
    const char *code = NULL;
    if (!tokenize_inputs(s, &q, msg, sizeof msg, &code)) {
        mb_embed_request_free(&q);
        return send_error(c, r, 400, "invalid_request_error", "input", code, msg);
    }
    const int d = mb_model_n_embd(s->model);
    float *out = malloc(q.n_inputs * (size_t)d * sizeof *out);
    if (!out) {
        mb_embed_request_free(&q);
        return send_error(c, r, 500, "server_error", NULL, NULL, "out of memory");
    }
    size_t n_tokens = 0;
    int status = 200, gone = 0;
    pthread_mutex_lock(&s->embed_mu);
    mb_status st = embed_session(s);
    if (st) {
        status = 503;
        snprintf(msg, sizeof msg,
                 "embeddings need a session of their own (context %d), which cannot be made: %s",
                 s->n_ctx, tool_last_error());
    }
    for (size_t i = 0; i < q.n_inputs && !st; i++) {
        /* A client that left between two inputs has nobody to answer. */
        if (i > 0 && mb_http_client_gone(c, r)) {
            gone = 1;
            break;
        }
        st = mb_session_embed(s->embed, q.inputs[i].ids, q.inputs[i].n_ids, q.pooling, 1,
                              out + i * (size_t)d);
        if (st) {
            status = 500;
            snprintf(msg, sizeof msg, "embedding input %zu failed: %s", i, tool_last_error());
        }
        n_tokens += q.inputs[i].n_ids;
    }
    pthread_mutex_unlock(&s->embed_mu);
    char *body = status == 200 && !gone ? answer(s, &q, out, d, n_tokens) : NULL;
    free(out);
    mb_embed_request_free(&q);
    if (gone) return MHD_NO;
    if (status != 200)
        return send_error(c, r, status, "server_error", NULL, status == 503 ? "server_busy" : NULL,
                          msg);
    if (!body) return send_error(c, r, 500, "server_error", NULL, NULL, "out of memory");
    return mb_http_send(c, r, 200, body, "application/json", 0, NULL);
}
