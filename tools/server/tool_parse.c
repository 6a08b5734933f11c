/* A model's answer split into text and tool calls, per format (tools.h).
 * Pure functions over the answer's bytes; tests/test_server_tools.c feeds
 * them answers written in each format, malformed ones included. */
#include <cjson/cJSON.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/tools.h"

const char *mb_tool_format_name(mb_tool_format f) {
    static const char *const names[] = {"none", "generic", "hermes", "llama3", "mistral"};
    return (unsigned)f < sizeof names / sizeof *names ? names[f] : "?";
}

static const char HERMES_OPEN[] = "<tool_call>", HERMES_CLOSE[] = "</tool_call>";
static const char PYTHON_TAG[] = "<|python_tag|>", MISTRAL_CALLS[] = "[TOOL_CALLS]";
static const char MISTRAL_ARGS[] = "[ARGS]", MISTRAL_ID[] = "[CALL_ID]";

int mb_tool_is_marker(const char *piece, size_t len) {
    static const char *const markers[] = {HERMES_OPEN,   HERMES_CLOSE, PYTHON_TAG,
                                          MISTRAL_CALLS, MISTRAL_ARGS, MISTRAL_ID};
    for (size_t i = 0; i < sizeof markers / sizeof *markers; i++)
        if (len == strlen(markers[i]) && !memcmp(piece, markers[i], len)) return 1;
    return 0;
}

/* ---- small helpers -------------------------------------------------------- */

static const char *find(const char *s, size_t len, const char *what) {
    size_t n = strlen(what);
    for (size_t i = 0; n <= len && i <= len - n; i++)
        if (s[i] == what[0] && !memcmp(s + i, what, n)) return s + i;
    return NULL;
}

static int is_space(char c) {
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

static const char *skip_space(const char *p, const char *end) {
    while (p < end && is_space(*p))
        p++;
    return p;
}

static int all_space(const char *p, const char *end) {
    return skip_space(p, end) == end;
}

/* The length of the longest end of TEXT that is a beginning of WHAT. */
static size_t partial_suffix(const char *text, size_t len, const char *what) {
    size_t n = strlen(what);
    for (size_t k = n - 1 < len ? n - 1 : len; k > 0; k--)
        if (!memcmp(text + len - k, what, k)) return k;
    return 0;
}

typedef struct {
    char *s;
    size_t len, cap;
    int oom;
} sbuf;

static void put(sbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->len + n + 1) * 2;
        char *t = realloc(b->s, cap);
        if (!t) {
            b->oom = 1;
            return;
        }
        b->s = t, b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

/* Unique ids: a counter mixed with the start time, through splitmix64. */
static void make_id(mb_tool_format f, char *id, size_t cap) {
    static atomic_ullong counter;
    static const char alnum[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    uint64_t x = (uint64_t)atomic_fetch_add(&counter, 1) * 0x9E3779B97F4A7C15ull ^
                 ((uint64_t)time(NULL) << 20) ^ (uint64_t)clock();
    size_t at = 0, n = f == MB_TOOL_FORMAT_MISTRAL ? 9 : 24;
    if (f != MB_TOOL_FORMAT_MISTRAL) at = (size_t)snprintf(id, cap, "call_");
    for (size_t i = 0; i < n && at + 1 < cap; i++) {
        x += 0x9E3779B97F4A7C15ull;
        uint64_t z = x;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        id[at++] = alnum[z % (sizeof alnum - 1)];
    }
    id[at] = '\0';
}

/* OBJ as a call: a non-empty "name" and "arguments" (or "parameters", as
 * Llama writes them) that are an object or a string holding one; absent
 * arguments are {}. 1 when it was one (added), 0 when not, -1 out of
 * memory. */
static int add_call(mb_tool_format f, const cJSON *obj, mb_tool_parse_result *r) {
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(obj, "name");
    if (!cJSON_IsObject(obj) || !cJSON_IsString(name) || !name->valuestring[0]) return 0;
    const cJSON *args = cJSON_GetObjectItemCaseSensitive(obj, "arguments");
    if (!args) args = cJSON_GetObjectItemCaseSensitive(obj, "parameters");
    char *text = NULL;
    if (!args || cJSON_IsNull(args)) {
        text = strdup("{}");
    } else if (cJSON_IsObject(args)) {
        text = cJSON_PrintUnformatted(args);
    } else if (cJSON_IsString(args)) {
        cJSON *inner = cJSON_Parse(args->valuestring);
        if (!cJSON_IsObject(inner)) {
            cJSON_Delete(inner);
            return 0;
        }
        text = cJSON_PrintUnformatted(inner);
        cJSON_Delete(inner);
    } else {
        return 0;
    }
    char *nm = strdup(name->valuestring);
    mb_tool_call *c = realloc(r->calls, (size_t)(r->n_calls + 1) * sizeof *c);
    if (!text || !nm || !c) {
        free(text), free(nm);
        if (c) r->calls = c;
        return -1;
    }
    r->calls = c;
    c[r->n_calls] = (mb_tool_call){.name = nm, .arguments = text};
    make_id(f, c[r->n_calls].id, sizeof c[r->n_calls].id);
    r->n_calls++;
    return 1;
}

/* One JSON value at P (before END); *next gets where it ends. NULL when
 * none parses. */
static cJSON *parse_at(const char *p, const char *end, const char **next) {
    const char *e = NULL;
    cJSON *v = cJSON_ParseWithLengthOpts(p, (size_t)(end - p), &e, 0);
    *next = v && e ? e : end;
    return v;
}

/* Each object of V (an object, or an array of them) as a call; -1 on OOM. */
static int add_calls(mb_tool_format f, const cJSON *v, mb_tool_parse_result *r) {
    if (!cJSON_IsArray(v)) return add_call(f, v, r);
    const cJSON *e;
    cJSON_ArrayForEach(e, v) {
        if (add_call(f, e, r) < 0) return -1;
    }
    return 1;
}

/* The whole calls of an array cut short at END (P at its '['): a parallel
 * answer that ran out of tokens keeps the calls it finished. -1 on OOM. */
static int salvage_array(mb_tool_format f, const char *p, const char *end,
                         mb_tool_parse_result *r) {
    for (p = skip_space(p + 1, end); p < end && *p == '{';) {
        const char *next;
        cJSON *v = parse_at(p, end, &next);
        int rc = v ? add_call(f, v, r) : 0;
        cJSON_Delete(v);
        if (rc <= 0) return rc;
        p = skip_space(next, end);
        if (p >= end || *p != ',') return 0;
        p = skip_space(p + 1, end);
    }
    return 0;
}

/* ---- formats --------------------------------------------------------------- */

/* <tool_call>JSON</tool_call>, repeated; the last may lack its closing tag
 * (the generation ended there). */
static int parse_hermes(const char *s, const char *end, mb_tool_parse_result *r, sbuf *content) {
    const char *p = s;
    for (;;) {
        const char *open = find(p, (size_t)(end - p), HERMES_OPEN);
        const char *text_end = open ? open : end;
        if (p == s || !all_space(p, text_end)) put(content, p, (size_t)(text_end - p));
        if (!open) return 0;
        const char *body = open + strlen(HERMES_OPEN);
        const char *close = find(body, (size_t)(end - body), HERMES_CLOSE);
        const char *body_end = close ? close : end, *next;
        cJSON *v = parse_at(skip_space(body, body_end), body_end, &next);
        int rc = v ? add_calls(MB_TOOL_FORMAT_HERMES, v, r) : 0;
        cJSON_Delete(v);
        if (rc < 0) return 1;
        p = close ? close + strlen(HERMES_CLOSE) : end;
    }
}

/* [TOOL_CALLS][{...}, ...] or [TOOL_CALLS]name[ARGS]{...} (optionally with
 * [CALL_ID]id before [ARGS]), repeated. */
static int parse_mistral(const char *s, const char *end, mb_tool_parse_result *r, sbuf *content) {
    const char *p = s;
    for (;;) {
        const char *mark = find(p, (size_t)(end - p), MISTRAL_CALLS);
        const char *text_end = mark ? mark : end;
        if (p == s || !all_space(p, text_end)) put(content, p, (size_t)(text_end - p));
        if (!mark) return 0;
        p = skip_space(mark + strlen(MISTRAL_CALLS), end);
        const char *next = end;
        cJSON *v = NULL;
        int rc = 0;
        if (p < end && *p == '[') {
            v = parse_at(p, end, &next);
            rc = v ? add_calls(MB_TOOL_FORMAT_MISTRAL, v, r)
                   : salvage_array(MB_TOOL_FORMAT_MISTRAL, p, end, r);
        } else {
            const char *args = find(p, (size_t)(end - p), MISTRAL_ARGS);
            const char *name_end = args ? args : end;
            const char *id = find(p, (size_t)(name_end - p), MISTRAL_ID);
            if (id) name_end = id;
            while (name_end > p && is_space(name_end[-1]))
                name_end--;
            if (args && name_end > p) {
                v = parse_at(skip_space(args + strlen(MISTRAL_ARGS), end), end, &next);
                cJSON *call = cJSON_CreateObject();
                char *name = strndup(p, (size_t)(name_end - p));
                if (!call || !name) rc = -1;
                if (v && call && name && cJSON_IsObject(v)) {
                    cJSON_AddStringToObject(call, "name", name);
                    cJSON_AddItemReferenceToObject(call, "arguments", v);
                    rc = add_call(MB_TOOL_FORMAT_MISTRAL, call, r);
                }
                free(name);
                cJSON_Delete(call);
            }
        }
        cJSON_Delete(v);
        if (rc < 0) return 1;
        /* Markup that did not parse is dropped up to the next call. */
        if (!v || rc == 0) {
            const char *again = find(p, (size_t)(end - p), MISTRAL_CALLS);
            next = again ? again : end;
        }
        p = next;
    }
}

/* Whether P starts like a call object: '{' then "name". */
static int looks_like_call(const char *p, const char *end) {
    p = skip_space(p, end);
    if (p >= end || *p != '{') return 0;
    p = skip_space(p + 1, end);
    return end - p >= 6 && !memcmp(p, "\"name\"", 6);
}

/* JSON call objects from P to END, separated by spaces or ';'. 1 when all
 * of it is calls, 0 when not (nothing added), -1 out of memory. */
static int json_calls(mb_tool_format f, const char *p, const char *end, mb_tool_parse_result *r) {
    int before = r->n_calls;
    for (p = skip_space(p, end); p < end;) {
        const char *next;
        cJSON *v = parse_at(p, end, &next);
        int rc = v ? add_calls(f, v, r) : 0;
        cJSON_Delete(v);
        if (rc < 0) return -1;
        if (rc == 0) {
            while (r->n_calls > before) {
                r->n_calls--;
                free(r->calls[r->n_calls].name), free(r->calls[r->n_calls].arguments);
            }
            return 0;
        }
        p = skip_space(next, end);
        if (p < end && *p == ';') p = skip_space(p + 1, end);
    }
    return r->n_calls > before;
}

/* Llama 3.x: the whole answer a call object (or several), or text and then
 * <|python_tag|> and the call. */
static int parse_llama3(const char *s, const char *end, mb_tool_parse_result *r, sbuf *content) {
    const char *tag = find(s, (size_t)(end - s), PYTHON_TAG);
    const char *pre_end = tag ? tag : end;
    const char *first = skip_space(s, pre_end);
    int rc =
        first < pre_end && *first == '{' ? json_calls(MB_TOOL_FORMAT_LLAMA3, s, pre_end, r) : 0;
    if (rc < 0) return 1;
    /* A call that did not parse is markup: dropped; other text is text. */
    if (rc == 0 && !looks_like_call(s, pre_end)) put(content, s, (size_t)(pre_end - s));
    if (tag && json_calls(MB_TOOL_FORMAT_LLAMA3, tag + strlen(PYTHON_TAG), end, r) < 0) return 1;
    return 0;
}

/* The string value of "response" in a JSON text cut short: what of it
 * decodes, as far as it goes. */
static void partial_response(const char *s, const char *end, sbuf *content) {
    const char *k = find(s, (size_t)(end - s), "\"response\"");
    if (!k) return;
    const char *p = skip_space(k + 10, end);
    if (p >= end || *p != ':') return;
    p = skip_space(p + 1, end);
    if (p >= end || *p != '"') return;
    size_t n = (size_t)(end - p);
    char *buf = malloc(n + 2);
    if (!buf) return;
    /* Close the string where the text stops, dropping up to 6 bytes of an
     * escape cut in the middle, until it parses. */
    for (size_t cut = 0; cut <= 6 && cut < n; cut++) {
        memcpy(buf, p, n - cut);
        buf[n - cut] = '"';
        buf[n - cut + 1] = '\0';
        cJSON *v = cJSON_Parse(buf);
        if (cJSON_IsString(v)) {
            put(content, v->valuestring, strlen(v->valuestring));
            cJSON_Delete(v);
            break;
        }
        cJSON_Delete(v);
    }
    free(buf);
}

/* The generic format: one JSON object, {"tool_call": {...}},
 * {"tool_calls": [...]} or {"response": "..."}. An answer that is not a
 * JSON object is text. */
static int parse_generic(const char *s, const char *end, mb_tool_parse_result *r, sbuf *content) {
    const char *p = skip_space(s, end), *next;
    if (p >= end || *p != '{') {
        put(content, s, (size_t)(end - s));
        return 0;
    }
    cJSON *v = parse_at(p, end, &next);
    if (!v) { /* cut short: a response keeps what it has, whole calls stay */
        const char *k = find(p, (size_t)(end - p), "\"tool_calls\"");
        const char *a = k ? skip_space(k + 12, end) : end;
        if (a < end && *a == ':') a = skip_space(a + 1, end);
        if (a < end && *a == '[') return salvage_array(MB_TOOL_FORMAT_GENERIC, a, end, r) < 0;
        partial_response(p, end, content);
        return 0;
    }
    const cJSON *one = cJSON_GetObjectItemCaseSensitive(v, "tool_call");
    const cJSON *many = cJSON_GetObjectItemCaseSensitive(v, "tool_calls");
    const cJSON *resp = cJSON_GetObjectItemCaseSensitive(v, "response");
    int rc = 0;
    if (cJSON_IsObject(one) || cJSON_IsArray(many))
        rc = add_calls(MB_TOOL_FORMAT_GENERIC, one ? one : many, r);
    else if (cJSON_IsString(resp))
        put(content, resp->valuestring, strlen(resp->valuestring));
    else if (cJSON_IsString(cJSON_GetObjectItemCaseSensitive(v, "name")))
        rc = add_call(MB_TOOL_FORMAT_GENERIC, v, r);
    else
        put(content, s, (size_t)(end - s)); /* some other JSON: the model's text */
    cJSON_Delete(v);
    return rc < 0;
}

int mb_tool_parse(mb_tool_format f, const char *text, size_t len, mb_tool_parse_result *out) {
    memset(out, 0, sizeof *out);
    sbuf content = {0};
    put(&content, "", 0);
    const char *end = text + len;
    int oom = 0;
    switch (f) {
    case MB_TOOL_FORMAT_HERMES: oom = parse_hermes(text, end, out, &content); break;
    case MB_TOOL_FORMAT_MISTRAL: oom = parse_mistral(text, end, out, &content); break;
    case MB_TOOL_FORMAT_LLAMA3: oom = parse_llama3(text, end, out, &content); break;
    case MB_TOOL_FORMAT_GENERIC: oom = parse_generic(text, end, out, &content); break;
    default: put(&content, text, len); break;
    }
    out->content = content.s;
    if (oom || content.oom) {
        mb_tool_parse_free(out);
        return 1;
    }
    return 0;
}

void mb_tool_parse_free(mb_tool_parse_result *r) {
    for (int i = 0; i < r->n_calls; i++)
        free(r->calls[i].name), free(r->calls[i].arguments);
    free(r->calls);
    free(r->content);
    memset(r, 0, sizeof *r);
}

/* Text up to MARKER (or up to what may be its beginning at the end). */
static size_t safe_before(const char *text, size_t len, const char *marker) {
    const char *m = find(text, len, marker);
    return m ? (size_t)(m - text) : len - partial_suffix(text, len, marker);
}

size_t mb_tool_text_safe(mb_tool_format f, const char *text, size_t len) {
    const char *first = skip_space(text, text + len);
    switch (f) {
    case MB_TOOL_FORMAT_HERMES: return safe_before(text, len, HERMES_OPEN);
    case MB_TOOL_FORMAT_MISTRAL: return safe_before(text, len, MISTRAL_CALLS);
    case MB_TOOL_FORMAT_LLAMA3:
        /* An answer that opens with '{' may be a call to its end. */
        if (first == text + len || *first == '{') return 0;
        return safe_before(text, len, PYTHON_TAG);
    case MB_TOOL_FORMAT_GENERIC: return first == text + len || *first == '{' ? 0 : len;
    default: return len;
    }
}
