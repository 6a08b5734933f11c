/* Request parsing. Every field is checked for type and range here, so the
 * rest of the server handles only well-formed parameters. Unknown fields are
 * ignored, as client libraries send extras the server has no use for. */
#include "server/request.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/tool_error.h"
#include "server/tools.h"

/* A 400 naming PARAM (may be NULL) with a printf-style message. */
mb_status mb_server_fail(mb_server_error *err, const char *param, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    snprintf(err->param, sizeof err->param, "%s", param ? param : "");
    err->http_status = 400;
    err->type = "invalid_request_error";
    err->code = NULL;
    return MB_ERR_INVALID_ARG;
}

mb_status mb_server_oom(mb_server_error *err) {
    mb_server_fail(err, NULL, "out of memory while reading the request");
    err->http_status = 500;
    err->type = "server_error";
    return MB_ERR_NO_MEMORY;
}

/* A number field within [lo, hi]; absent or null leaves *out as it is. */
static mb_status get_number(const cJSON *root, const char *name, double lo, double hi, double *out,
                            mb_server_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, name);
    if (!v || cJSON_IsNull(v)) return MB_OK;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
        return mb_server_fail(err, name, "'%s' must be a number", name);
    if (v->valuedouble < lo || v->valuedouble > hi)
        return mb_server_fail(err, name, "'%s' is %g; it must be between %g and %g", name,
                              v->valuedouble, lo, hi);
    *out = v->valuedouble;
    return MB_OK;
}

/* An integer field within [lo, hi]; sets *given when present. */
static mb_status get_int(const cJSON *root, const char *name, double lo, double hi, double *out,
                         int *given, mb_server_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, name);
    if (!v || cJSON_IsNull(v)) return MB_OK;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || floor(v->valuedouble) != v->valuedouble)
        return mb_server_fail(err, name, "'%s' must be an integer", name);
    if (v->valuedouble < lo || v->valuedouble > hi)
        return mb_server_fail(err, name, "'%s' is %.0f; it must be between %.0f and %.0f", name,
                              v->valuedouble, lo, hi);
    *out = v->valuedouble;
    if (given) *given = 1;
    return MB_OK;
}

static mb_status get_bool(const cJSON *root, const char *name, int *out, mb_server_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, name);
    if (!v || cJSON_IsNull(v)) return MB_OK;
    if (!cJSON_IsBool(v)) return mb_server_fail(err, name, "'%s' must be true or false", name);
    *out = cJSON_IsTrue(v);
    return MB_OK;
}

static char *dup_str(const char *s) {
    size_t n = strlen(s);
    char *d = malloc(n + 1);
    if (d) memcpy(d, s, n + 1);
    return d;
}

static mb_status parse_stop(const cJSON *root, mb_server_request *r, mb_server_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "stop");
    if (!v || cJSON_IsNull(v)) return MB_OK;
    const cJSON *one[1] = {v};
    int n = 1;
    if (cJSON_IsArray(v)) {
        n = cJSON_GetArraySize(v);
        if (n > MB_REQ_MAX_STOP)
            return mb_server_fail(err, "stop", "'stop' has %d strings; at most %d are allowed", n,
                                  MB_REQ_MAX_STOP);
    } else if (!cJSON_IsString(v)) {
        return mb_server_fail(err, "stop", "'stop' must be a string or an array of strings");
    }
    int k = 0;
    for (int i = 0; i < n; i++) {
        const cJSON *s = cJSON_IsArray(v) ? cJSON_GetArrayItem(v, i) : one[0];
        if (!cJSON_IsString(s))
            return mb_server_fail(err, "stop", "'stop' must be a string or an array of strings");
        size_t len = strlen(s->valuestring);
        if (len > MB_REQ_MAX_STOP_BYTES)
            return mb_server_fail(err, "stop",
                                  "a stop string has %zu bytes; at most %d are allowed", len,
                                  MB_REQ_MAX_STOP_BYTES);
        if (len == 0) continue; /* an empty stop string would stop before any text */
        if (!(r->stop[k++] = dup_str(s->valuestring))) return mb_server_oom(err);
    }
    return MB_OK;
}

static const char *role_name(const char *s) {
    static const char *const roles[] = {"system", "user", "assistant", "tool", "developer"};
    for (size_t i = 0; i < sizeof roles / sizeof *roles; i++)
        if (!strcmp(s, roles[i])) return i == 4 ? "system" : roles[i];
    return NULL;
}

/* A message's content: a string, or an array of {"type":"text","text":...}
 * parts that are joined. */
static mb_status message_content(const cJSON *c, int i, char **out, mb_server_error *err) {
    char param[48];
    snprintf(param, sizeof param, "messages[%d].content", i);
    if (cJSON_IsString(c)) return (*out = dup_str(c->valuestring)) ? MB_OK : mb_server_oom(err);
    if (!cJSON_IsArray(c))
        return mb_server_fail(err, param, "'%s' must be a string or an array", param);
    size_t total = 0;
    const cJSON *part;
    cJSON_ArrayForEach(part, c) {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(part, "type");
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(part, "text");
        if (!cJSON_IsString(type) || strcmp(type->valuestring, "text") || !cJSON_IsString(text))
            return mb_server_fail(err, param,
                                  "'%s' parts must be {\"type\": \"text\", \"text\": ...}", param);
        total += strlen(text->valuestring); /* each below the body size: cannot overflow */
    }
    char *s = malloc(total + 1);
    if (!s) return mb_server_oom(err);
    size_t at = 0;
    cJSON_ArrayForEach(part, c) {
        const char *t = cJSON_GetObjectItemCaseSensitive(part, "text")->valuestring;
        size_t n = strlen(t);
        memcpy(s + at, t, n);
        at += n;
    }
    s[at] = '\0';
    *out = s;
    return MB_OK;
}

static mb_status parse_messages(const cJSON *root, mb_server_request *r, mb_server_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "messages");
    if (!v) return mb_server_fail(err, "messages", "'messages' is required");
    if (!cJSON_IsArray(v)) return mb_server_fail(err, "messages", "'messages' must be an array");
    int n = cJSON_GetArraySize(v);
    if (n == 0) return mb_server_fail(err, "messages", "'messages' is empty");
    if (n > MB_REQ_MAX_MESSAGES)
        return mb_server_fail(err, "messages", "'messages' has %d entries; at most %d are allowed",
                              n, MB_REQ_MAX_MESSAGES);
    if (!(r->messages = calloc((size_t)n, sizeof *r->messages))) return mb_server_oom(err);
    int i = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, v) {
        char param[48];
        snprintf(param, sizeof param, "messages[%d]", i);
        if (!cJSON_IsObject(m)) return mb_server_fail(err, param, "'%s' must be an object", param);
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
        const char *name = cJSON_IsString(role) ? role_name(role->valuestring) : NULL;
        if (!name)
            return mb_server_fail(err, param, "'%s.role' must be system, user, assistant or tool",
                                  param);
        /* An assistant's tool calls may come without content (null). */
        const int calls = !strcmp(name, "assistant") &&
                          cJSON_GetObjectItemCaseSensitive(m, "tool_calls") &&
                          (!content || cJSON_IsNull(content));
        if (!content && !calls)
            return mb_server_fail(err, param, "'%s.content' is required", param);
        char *text = NULL;
        mb_status st = calls ? ((text = dup_str("")) ? MB_OK : mb_server_oom(err))
                             : message_content(content, i, &text, err);
        if (st) return st;
        r->messages[i].role = name;
        r->messages[i].content = text;
        r->n_messages = (size_t)++i;
    }
    return MB_OK;
}

static mb_status parse_prompt(const cJSON *root, mb_server_request *r, mb_server_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "prompt");
    if (!v) return mb_server_fail(err, "prompt", "'prompt' is required");
    if (cJSON_IsArray(v)) {
        /* One prompt per choice; only n = 1 is served, so only one prompt. */
        if (cJSON_GetArraySize(v) != 1)
            return mb_server_fail(err, "prompt",
                                  "'prompt' must be a string or an array of one string");
        v = cJSON_GetArrayItem(v, 0);
    }
    if (!cJSON_IsString(v))
        return mb_server_fail(err, "prompt", "'prompt' must be a string or an array of one string");
    if (v->valuestring[0] == '\0') return mb_server_fail(err, "prompt", "'prompt' is empty");
    return (r->prompt = dup_str(v->valuestring)) ? MB_OK : mb_server_oom(err);
}

/* logprobs is a boolean in chat and a count (0..5) in legacy completions. */
static mb_status parse_logprobs(const cJSON *root, mb_server_request *r, mb_server_error *err) {
    double top = 0;
    if (!r->is_chat) {
        int given = 0;
        mb_status st = get_int(root, "logprobs", 0, 5, &top, &given, err);
        if (st) return st;
        r->logprobs = given;
        r->top_logprobs = (int)top;
        return MB_OK;
    }
    mb_status st = get_bool(root, "logprobs", &r->logprobs, err);
    if (!st) st = get_int(root, "top_logprobs", 0, MB_REQ_MAX_TOP_LOGPROBS, &top, NULL, err);
    if (st) return st;
    r->top_logprobs = (int)top;
    if (r->top_logprobs > 0 && !r->logprobs)
        return mb_server_fail(err, "top_logprobs", "'top_logprobs' needs 'logprobs': true");
    return MB_OK;
}

static mb_status parse_fields(const cJSON *root, mb_server_request *r, mb_server_error *err) {
    if (!cJSON_IsObject(root))
        return mb_server_fail(err, NULL, "the request body must be a JSON object");
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (model && !cJSON_IsNull(model)) {
        if (!cJSON_IsString(model)) return mb_server_fail(err, "model", "'model' must be a string");
        if (!(r->model = dup_str(model->valuestring))) return mb_server_oom(err);
    }
    mb_status st = r->is_chat ? parse_messages(root, r, err) : parse_prompt(root, r, err);
    if (st) return st;
    double n = 1, max_tokens = -1, seed = 0;
    if ((st = get_bool(root, "stream", &r->stream, err))) return st;
    r->cache_prompt = 1;
    if ((st = get_bool(root, "cache_prompt", &r->cache_prompt, err))) return st;
    const cJSON *so = cJSON_GetObjectItemCaseSensitive(root, "stream_options");
    if (so && !cJSON_IsNull(so)) {
        if (!cJSON_IsObject(so))
            return mb_server_fail(err, "stream_options", "'stream_options' must be an object");
        if ((st = get_bool(so, "include_usage", &r->include_usage, err))) return st;
    }
    if ((st = get_int(root, "n", 1, 1, &n, NULL, err))) {
        snprintf(err->message, sizeof err->message, "'n' must be 1: one choice per request");
        return st;
    }
    /* max_completion_tokens is the newer name of the same limit. */
    if ((st = get_int(root, "max_tokens", 0, 1 << 30, &max_tokens, NULL, err)) ||
        (st = get_int(root, "max_completion_tokens", 0, 1 << 30, &max_tokens, NULL, err)))
        return st;
    r->max_tokens = (long)max_tokens;
    if ((st = get_number(root, "temperature", 0, 2, &r->temperature, err)) ||
        (st = get_number(root, "top_p", 0, 1, &r->top_p, err)) ||
        (st = get_number(root, "presence_penalty", -2, 2, &r->presence_penalty, err)) ||
        (st = get_number(root, "frequency_penalty", -2, 2, &r->frequency_penalty, err)))
        return st;
    /* 2^53: every integer up to it is exact in a JSON number (a double). */
    if ((st = get_int(root, "seed", -9007199254740992.0, 9007199254740992.0, &seed, &r->has_seed,
                      err)))
        return st;
    r->seed = (uint64_t)(int64_t)seed;
    if ((st = parse_stop(root, r, err))) return st;
    if ((st = mb_server_request_parse_format(root, r, err))) return st;
    if ((st = parse_logprobs(root, r, err))) return st;
    return r->is_chat ? mb_server_request_tools(root, r, err) : MB_OK;
}

/* Whether a JSON string in BODY holds an escaped NUL (\u0000). The parsed
 * strings are C strings, so text after it would be cut silently. Escapes
 * are read in pairs, so "\\u0000" (a backslash, then "u0000") is none. */
static int has_escaped_nul(const char *body, size_t len) {
    for (size_t i = 0; i + 1 < len; i++) {
        if (body[i] != '\\') continue;
        if (body[i + 1] == 'u' && i + 5 < len && !memcmp(body + i + 2, "0000", 4)) return 1;
        i++; /* the escaped character */
    }
    return 0;
}

mb_status mb_server_request_parse(const char *body, size_t len, int is_chat, mb_server_request *out,
                                  mb_server_error *err) {
    memset(out, 0, sizeof *out);
    memset(err, 0, sizeof *err);
    out->is_chat = is_chat;
    out->max_tokens = -1;
    out->temperature = 1.0;
    out->top_p = 1.0;
    if (!body || len == 0) return mb_server_fail(err, NULL, "the request body is empty");
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    if (!root) {
        size_t at = end && end >= body ? (size_t)(end - body) : 0;
        if (at < len && memchr(body, '\0', len))
            return mb_server_fail(err, NULL, "the request body is not valid JSON (a NUL byte)");
        return mb_server_fail(err, NULL, "the request body is not valid JSON (near byte %zu)", at);
    }
    if (has_escaped_nul(body, len)) {
        cJSON_Delete(root);
        return mb_server_fail(
            err, NULL,
            "a string in the request holds a NUL character (\\u0000), which the model "
            "cannot be given: remove it");
    }
    size_t at = (size_t)(end - body);
    while (at < len && strchr(" \t\r\n", body[at]) && body[at] != '\0')
        at++;
    if (at < len) {
        cJSON_Delete(root);
        return mb_server_fail(err, NULL,
                              "the request body has bytes after the JSON value (at byte %zu)", at);
    }
    mb_status st = parse_fields(root, out, err);
    cJSON_Delete(root);
    if (st) mb_server_request_free(out);
    return st;
}

void mb_server_request_free(mb_server_request *r) {
    if (!r) return;
    free(r->model);
    free(r->prompt);
    for (size_t i = 0; i < r->n_messages; i++)
        free((char *)r->messages[i].content);
    free(r->messages);
    free(r->grammar);
    for (int i = 0; i < MB_REQ_MAX_STOP; i++)
        free(r->stop[i]);
    free(r->tools_json);
    free(r->tool_choice_name);
    free(r->messages_json);
    free(r->tool_grammar);
    int is_chat = r->is_chat;
    memset(r, 0, sizeof *r);
    r->is_chat = is_chat;
}
