/* Response bodies, built with cJSON so every string is escaped correctly. */
#include "server/respond.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

const char *mb_resp_finish_reason(int finish) {
    if (finish == MB_RESP_FINISH_TOOL_CALLS) return "tool_calls";
    return finish == MB_FINISH_STOP ? "stop" : finish == MB_FINISH_LENGTH ? "length" : "abort";
}

int mb_resp_tool_parse(const mb_job *j, mb_tool_parse_result *out) {
    if (mb_tool_parse((mb_tool_format)j->req.tool_format, j->text ? j->text : "", j->len, out))
        return 1;
    if (j->req.tool_choice == MB_TOOL_CHOICE_NONE) { /* no calls: the markup only goes */
        for (int i = 0; i < out->n_calls; i++)
            free(out->calls[i].name), free(out->calls[i].arguments);
        out->n_calls = 0;
    }
    return 0;
}

/* The calls as OpenAI's message.tool_calls (WITH_INDEX: as a stream's
 * delta.tool_calls, from index FIRST). */
static void add_tool_calls(cJSON *msg, const mb_tool_parse_result *r, int with_index, int first) {
    cJSON *list = cJSON_AddArrayToObject(msg, "tool_calls");
    for (int i = first; i < r->n_calls; i++) {
        cJSON *c = cJSON_CreateObject(), *f;
        cJSON_AddItemToArray(list, c);
        if (with_index) cJSON_AddNumberToObject(c, "index", i);
        cJSON_AddStringToObject(c, "id", r->calls[i].id);
        cJSON_AddStringToObject(c, "type", "function");
        f = cJSON_AddObjectToObject(c, "function");
        cJSON_AddStringToObject(f, "name", r->calls[i].name);
        cJSON_AddStringToObject(f, "arguments", r->calls[i].arguments);
    }
}

/* Whether TEXT is empty or only white space. */
static int blank(const char *text) {
    while (*text == ' ' || *text == '\n' || *text == '\r' || *text == '\t')
        text++;
    return !*text;
}

static char *print_free(cJSON *root) {
    char *s = root ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    return s;
}

char *mb_resp_error(const char *message, const char *type, const char *param, const char *code) {
    cJSON *root = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(root, "error");
    cJSON_AddStringToObject(e, "message", message);
    cJSON_AddStringToObject(e, "type", type);
    if (param && *param)
        cJSON_AddStringToObject(e, "param", param);
    else
        cJSON_AddNullToObject(e, "param");
    if (code)
        cJSON_AddStringToObject(e, "code", code);
    else
        cJSON_AddNullToObject(e, "code");
    return print_free(root);
}

/* Copy TEXT[0..len) to OUT (room for 3 x len + 1) with every byte that is
 * not part of a well-formed UTF-8 character replaced by U+FFFD: JSON text
 * must be UTF-8, and a byte token can be half a character. */
static void utf8_clean(const char *text, size_t len, char *out) {
    const unsigned char *s = (const unsigned char *)text;
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        unsigned c = s[i];
        size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        int ok = n > 0 && i + n <= len && c != 0 && c != 0xC0 && c != 0xC1 && c < 0xF5;
        for (size_t k = 1; ok && k < n; k++)
            ok = (s[i + k] & 0xC0) == 0x80;
        if (ok && n == 3) { /* no overlong forms, no surrogates */
            unsigned cp = ((c & 15u) << 12) | ((s[i + 1] & 63u) << 6);
            ok = cp >= 0x800 && (cp < 0xD800 || cp > 0xDFFF);
        }
        if (ok && n == 4) ok = !(c == 0xF0 && s[i + 1] < 0x90) && !(c == 0xF4 && s[i + 1] > 0x8F);
        if (ok) {
            memcpy(out + o, s + i, n);
            o += n;
            i += n;
        } else {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        }
    }
    out[o] = '\0';
}

/* TEXT[0..len) as a JSON string. */
static void add_text(cJSON *obj, const char *name, const char *text, size_t len) {
    char *s = len < ((size_t)-1) / 4 ? malloc(len * 3 + 1) : NULL;
    if (!s) return;
    utf8_clean(text, len, s);
    cJSON_AddStringToObject(obj, name, s);
    free(s);
}

enum { PIECE_CAP = 256 };

/* A token's bytes, and its text as valid UTF-8 (room for 3 x PIECE_CAP + 1). */
static size_t token_text(const mb_model *model, mb_token id, char *piece, char *text) {
    size_t n = 0;
    if (mb_token_to_piece(model, id, 0, piece, PIECE_CAP, &n) != MB_OK) n = 0;
    utf8_clean(piece, n, text);
    return n;
}

/* A token's text; a piece that is part of a UTF-8 character shows U+FFFD,
 * its exact bytes are in "bytes". */
static cJSON *token_entry(const mb_model *model, mb_token id, float logprob, int with_bytes) {
    char piece[PIECE_CAP], text[3 * PIECE_CAP + 1];
    size_t n = token_text(model, id, piece, text);
    cJSON *t = cJSON_CreateObject();
    cJSON_AddStringToObject(t, "token", text);
    cJSON_AddNumberToObject(t, "logprob", logprob);
    if (with_bytes) {
        cJSON *b = cJSON_AddArrayToObject(t, "bytes");
        for (size_t i = 0; i < n; i++)
            cJSON_AddItemToArray(b, cJSON_CreateNumber((unsigned char)piece[i]));
    }
    return t;
}

/* Chat: {"content": [{token, logprob, bytes, top_logprobs: [...]}, ...]}. */
static cJSON *chat_logprobs(const mb_model *model, const mb_job *j, size_t a, size_t b) {
    cJSON *lp = cJSON_CreateObject(), *content = cJSON_AddArrayToObject(lp, "content");
    for (size_t i = a; i < b; i++) {
        const mb_job_logprob *p = &j->lp[i];
        cJSON *t = token_entry(model, p->id, p->logprob, 1);
        cJSON *top = cJSON_AddArrayToObject(t, "top_logprobs");
        for (int k = 0; k < p->n_top; k++)
            cJSON_AddItemToArray(top, token_entry(model, p->top_id[k], p->top_lp[k], 1));
        cJSON_AddItemToArray(content, t);
    }
    return lp;
}

/* Legacy completions: parallel arrays of tokens and their log-probabilities. */
static cJSON *text_logprobs(const mb_model *model, const mb_job *j, size_t a, size_t b) {
    cJSON *lp = cJSON_CreateObject();
    cJSON *tokens = cJSON_AddArrayToObject(lp, "tokens");
    cJSON *values = cJSON_AddArrayToObject(lp, "token_logprobs");
    cJSON *tops = cJSON_AddArrayToObject(lp, "top_logprobs");
    for (size_t i = a; i < b; i++) {
        const mb_job_logprob *p = &j->lp[i];
        char piece[PIECE_CAP], text[3 * PIECE_CAP + 1];
        token_text(model, p->id, piece, text);
        cJSON_AddItemToArray(tokens, cJSON_CreateString(text));
        cJSON_AddItemToArray(values, cJSON_CreateNumber(p->logprob));
        cJSON *top = cJSON_CreateObject();
        for (int k = 0; k < p->n_top; k++) {
            token_text(model, p->top_id[k], piece, text);
            if (!cJSON_GetObjectItemCaseSensitive(top, text))
                cJSON_AddNumberToObject(top, text, p->top_lp[k]);
        }
        cJSON_AddItemToArray(tops, top);
    }
    return lp;
}

static cJSON *logprobs(const mb_resp_meta *m, const mb_job *j, size_t a, size_t b) {
    if (!j->req.logprobs) return cJSON_CreateNull();
    return j->req.is_chat ? chat_logprobs(m->model, j, a, b) : text_logprobs(m->model, j, a, b);
}

static void add_usage(cJSON *root, const mb_job *j) {
    cJSON *u = cJSON_AddObjectToObject(root, "usage");
    cJSON_AddNumberToObject(u, "prompt_tokens", (double)j->n_prompt);
    cJSON_AddNumberToObject(u, "completion_tokens", j->n_generated);
    cJSON_AddNumberToObject(u, "total_tokens", (double)j->n_prompt + j->n_generated);
    /* As the OpenAI API reports a prompt-cache hit. */
    cJSON *d = cJSON_AddObjectToObject(u, "prompt_tokens_details");
    cJSON_AddNumberToObject(d, "cached_tokens", (double)j->n_cached);
    /* Speculative decoding, as the OpenAI API reports a prediction's
     * tokens: drafted tokens the model kept and those it rejected. */
    if (j->n_drafted > 0) {
        cJSON *c = cJSON_AddObjectToObject(u, "completion_tokens_details");
        cJSON_AddNumberToObject(c, "accepted_prediction_tokens", j->n_accepted);
        cJSON_AddNumberToObject(c, "rejected_prediction_tokens", j->n_drafted - j->n_accepted);
    }
}

/* The router's extension object; standard clients ignore it. */
static void add_routing(cJSON *root, const mb_job *j) {
    if (!j->answered_by) return;
    cJSON *r = cJSON_AddObjectToObject(root, "matchbox");
    cJSON_AddStringToObject(r, "answered_by", j->answered_by);
    cJSON_AddStringToObject(r, "reason", j->route_reason);
    cJSON_AddNumberToObject(r, "redactions", j->redactions);
    /* The features the router read, so a client (and the tests) can see
     * that both endpoints and the CLI score the same text. */
    cJSON *f = j->features[0] ? cJSON_Parse(j->features) : NULL;
    if (f) cJSON_AddItemToObject(r, "features", f);
}

static cJSON *envelope(const mb_resp_meta *m, const mb_job *j, int chunk, cJSON **choice) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "id", m->id);
    const char *object =
        j->req.is_chat ? (chunk ? "chat.completion.chunk" : "chat.completion") : "text_completion";
    cJSON_AddStringToObject(root, "object", object);
    cJSON_AddNumberToObject(root, "created", (double)m->created);
    cJSON_AddStringToObject(root, "model", m->model_id);
    cJSON_AddStringToObject(root, "system_fingerprint", "matchbox-" MB_VERSION);
    cJSON *choices = cJSON_AddArrayToObject(root, "choices");
    *choice = cJSON_CreateObject();
    cJSON_AddItemToArray(choices, *choice);
    cJSON_AddNumberToObject(*choice, "index", 0);
    add_routing(root, j);
    return root;
}

char *mb_resp_completion(const mb_resp_meta *m, const mb_job *j) {
    cJSON *choice, *root = envelope(m, j, 0, &choice);
    const char *text = j->text ? j->text : "";
    int finish = j->finish;
    if (j->req.is_chat && j->req.tool_format) {
        /* Tool calls parsed out; content null when the answer is only calls. */
        mb_tool_parse_result tr;
        if (mb_resp_tool_parse(j, &tr)) {
            cJSON_Delete(root);
            return NULL;
        }
        cJSON *msg = cJSON_AddObjectToObject(choice, "message");
        cJSON_AddStringToObject(msg, "role", "assistant");
        if (tr.n_calls && blank(tr.content))
            cJSON_AddNullToObject(msg, "content");
        else
            add_text(msg, "content", tr.content, strlen(tr.content));
        if (tr.n_calls) {
            add_tool_calls(msg, &tr, 0, 0);
            finish = MB_RESP_FINISH_TOOL_CALLS;
        }
        mb_tool_parse_free(&tr);
    } else if (j->req.is_chat) {
        cJSON *msg = cJSON_AddObjectToObject(choice, "message");
        cJSON_AddStringToObject(msg, "role", "assistant");
        add_text(msg, "content", text, j->len);
    } else {
        add_text(choice, "text", text, j->len);
    }
    cJSON_AddItemToObject(choice, "logprobs", logprobs(m, j, 0, j->n_lp));
    cJSON_AddStringToObject(choice, "finish_reason", mb_resp_finish_reason(finish));
    add_usage(root, j);
    return print_free(root);
}

char *mb_resp_chunk(const mb_resp_meta *m, const mb_job *j, const char *text, size_t len,
                    size_t lp0, size_t lp1, int role, int finish, int usage) {
    cJSON *choice, *root = envelope(m, j, 1, &choice);
    if (j->req.is_chat) {
        cJSON *delta = cJSON_AddObjectToObject(choice, "delta");
        if (role) cJSON_AddStringToObject(delta, "role", "assistant");
        if (role || len) add_text(delta, "content", text, len);
    } else {
        add_text(choice, "text", text, len);
    }
    cJSON_AddItemToObject(choice, "logprobs",
                          lp1 > lp0 ? logprobs(m, j, lp0, lp1) : cJSON_CreateNull());
    if (finish >= 0)
        cJSON_AddStringToObject(choice, "finish_reason", mb_resp_finish_reason(finish));
    else
        cJSON_AddNullToObject(choice, "finish_reason");
    if (usage) add_usage(root, j);
    return print_free(root);
}

char *mb_resp_tool_chunk(const mb_resp_meta *m, const mb_job *j, const mb_tool_parse_result *r,
                         int first) {
    cJSON *choice, *root = envelope(m, j, 1, &choice);
    add_tool_calls(cJSON_AddObjectToObject(choice, "delta"), r, 1, first);
    cJSON_AddNullToObject(choice, "logprobs");
    cJSON_AddNullToObject(choice, "finish_reason");
    return print_free(root);
}

char *mb_resp_models(const char *model_id, long created, int n_ctx) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "object", "list");
    cJSON *data = cJSON_AddArrayToObject(root, "data"), *m = cJSON_CreateObject();
    cJSON_AddItemToArray(data, m);
    cJSON_AddStringToObject(m, "id", model_id);
    cJSON_AddStringToObject(m, "object", "model");
    cJSON_AddNumberToObject(m, "created", (double)created);
    cJSON_AddStringToObject(m, "owned_by", "matchbox");
    cJSON_AddNumberToObject(m, "context_length", n_ctx);
    return print_free(root);
}
