/* Chat-template families, recognized by markers and rendered in C.
 *
 * Each renderer follows the family's published template (the Jinja in the
 * model cards) for system / user / assistant messages:
 *
 *   ChatML   <|im_start|>{role}\n{content}<|im_end|>\n ... <|im_start|>assistant\n
 *   Llama 2  <s>[INST] <<SYS>>\n{sys}\n<</SYS>>\n\n{user} [/INST] {asst} </s><s>[INST] ...
 *   Llama 3  <|begin_of_text|><|start_header_id|>{role}<|end_header_id|>\n\n{content}<|eot_id|>
 *   Mistral  <s>[INST] {user}[/INST] {asst}</s>[INST] {sys}\n\n{user}[/INST]  (v3: the
 *            system prompt goes before the LAST user message; v1 puts it before the
 *            first, tekken drops the spaces, v7 has [SYSTEM_PROMPT] tags in place)
 *   Gemma    <bos><start_of_turn>user\n{sys}\n\n{user}<end_of_turn>\n<start_of_turn>model\n
 *   Phi-3    <|system|>\n{sys}<|end|>\n<|user|>\n{user}<|end|>\n<|assistant|>\n
 *
 * Llama 2, Llama 3 and Gemma strip the content as their templates do (trim). */
#include "tokenizer/chat_template.h"

#include <stdio.h>
#include <string.h>

#include "core/error.h"

static const char *const k_names[MB_CHAT_FAMILY_COUNT] = {
    [MB_CHAT_UNKNOWN] = "unknown",
    [MB_CHAT_CHATML] = "chatml",
    [MB_CHAT_LLAMA2] = "llama2",
    [MB_CHAT_LLAMA3] = "llama3",
    [MB_CHAT_MISTRAL] = "mistral",
    [MB_CHAT_MISTRAL_V1] = "mistral-v1",
    [MB_CHAT_MISTRAL_TEKKEN] = "mistral-tekken",
    [MB_CHAT_MISTRAL_V7] = "mistral-v7",
    [MB_CHAT_GEMMA] = "gemma",
    [MB_CHAT_PHI3] = "phi3",
};

const char *mb_chat_family_list(void) {
    return "chatml, llama2, llama3, mistral, mistral-v1, mistral-tekken, mistral-v7, gemma, phi3";
}

const char *mb_chat_family_name(mb_chat_family f) {
    return f > MB_CHAT_UNKNOWN && f < MB_CHAT_FAMILY_COUNT ? k_names[f] : k_names[0];
}

mb_chat_family mb_chat_family_from_name(const char *name) {
    for (int f = 1; name && f < MB_CHAT_FAMILY_COUNT; f++)
        if (strcmp(name, k_names[f]) == 0) return (mb_chat_family)f;
    return MB_CHAT_UNKNOWN;
}

static int has(const char *t, size_t len, const char *marker) {
    size_t m = strlen(marker);
    return len >= m && memmem(t, len, marker, m) != NULL;
}

/* A Jinja string literal that is exactly MARKER, in either quote style, or
 * MARKER directly followed by / preceded by a quote: how the Mistral
 * variants differ ("[INST]" + vs "[INST] " +, " [/INST]" vs "[/INST]"). */
static int has_quoted(const char *t, size_t len, const char *before, const char *after) {
    char a[64], b[64];
    snprintf(a, sizeof a, "%s'%s", before, after);
    snprintf(b, sizeof b, "%s\"%s", before, after);
    return has(t, len, a) || has(t, len, b);
}

mb_chat_family mb_chat_family_detect(const char *t, size_t len) {
    if (!t || len == 0) return MB_CHAT_UNKNOWN;
    if (has(t, len, "<|im_start|>")) return MB_CHAT_CHATML;
    if (has(t, len, "<|start_header_id|>")) return MB_CHAT_LLAMA3;
    if (has(t, len, "<start_of_turn>")) return MB_CHAT_GEMMA;
    if (has(t, len, "<|user|>") && has(t, len, "<|end|>")) return MB_CHAT_PHI3;
    if (!has(t, len, "[INST]")) return MB_CHAT_UNKNOWN;
    if (has(t, len, "<<SYS>>")) return MB_CHAT_LLAMA2;
    if (has(t, len, "[SYSTEM_PROMPT]")) return MB_CHAT_MISTRAL_V7;
    if (has_quoted(t, len, "[INST]", "")) return MB_CHAT_MISTRAL_TEKKEN; /* '[INST]' + */
    if (has_quoted(t, len, "", " [/INST]")) return MB_CHAT_MISTRAL_V1;   /* ' [/INST]' */
    return MB_CHAT_MISTRAL;
}

/* ---- rendering ------------------------------------------------------------ */

typedef struct {
    char *buf;
    size_t cap, len;
} out_text;

static void put_n(out_text *o, const char *s, size_t n) {
    if (o->len < o->cap && n > 0) {
        size_t room = o->cap - o->len;
        memcpy(o->buf + o->len, s, n < room ? n : room);
    }
    o->len += n; /* counts on past CAP, so a short buffer measures */
}

static void put(out_text *o, const char *s) {
    put_n(o, s, strlen(s));
}

static int is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Python's strip() over the concatenation of PARTS (NULL-terminated). */
static void put_stripped_parts(out_text *o, const char *const *parts) {
    size_t total = 0, a = 0, b;
    for (const char *const *p = parts; *p; p++)
        total += strlen(*p);
    /* Positions are into the concatenation; find its first and last
     * non-space bytes, then copy the part of each piece inside them. */
    size_t pos = 0;
    a = total, b = 0;
    for (const char *const *p = parts; *p; p++)
        for (const char *c = *p; *c; c++, pos++)
            if (!is_space(*c)) {
                if (a == total) a = pos;
                b = pos + 1;
            }
    pos = 0;
    for (const char *const *p = parts; *p; p++) {
        size_t len = strlen(*p), lo = a > pos ? a - pos : 0, hi = b > pos ? b - pos : 0;
        if (hi > len) hi = len;
        if (lo < hi) put_n(o, *p + lo, hi - lo);
        pos += len;
    }
}

/* Jinja's trim / Python's strip(): whitespace off both ends. */
static void put_trimmed(out_text *o, const char *s) {
    const char *parts[] = {s, NULL};
    put_stripped_parts(o, parts);
}

typedef enum { ROLE_SYSTEM, ROLE_USER, ROLE_ASSISTANT } role_id;

static mb_status role_of(const mb_chat_message *m, size_t i, role_id *out) {
    const char *r = m->role ? m->role : "";
    if (!m->content) return mb_errorf(MB_ERR_INVALID_ARG, "chat message %zu has no content", i);
    if (strcmp(r, "system") == 0)
        *out = ROLE_SYSTEM;
    else if (strcmp(r, "user") == 0)
        *out = ROLE_USER;
    else if (strcmp(r, "assistant") == 0)
        *out = ROLE_ASSISTANT;
    else
        return mb_errorf(MB_ERR_INVALID_ARG,
                         "chat message %zu: role '%s' is not system, user or assistant", i, r);
    return MB_OK;
}

/* Only after role_of() accepted every message. */
static role_id role_at(const mb_chat_message *msgs, size_t i) {
    return msgs[i].role[0] == 's'   ? ROLE_SYSTEM
           : msgs[i].role[0] == 'u' ? ROLE_USER
                                    : ROLE_ASSISTANT;
}

/* Families where every role has a header of its own: ChatML, Llama 3, Phi-3. */
static void render_headed(mb_chat_family f, out_text *o, const mb_chat_message *msgs, size_t n,
                          int add_gen) {
    for (size_t i = 0; i < n; i++) {
        const char *role = msgs[i].role;
        if (f == MB_CHAT_CHATML) {
            put(o, "<|im_start|>"), put(o, role), put(o, "\n");
            put(o, msgs[i].content), put(o, "<|im_end|>\n");
        } else if (f == MB_CHAT_LLAMA3) {
            put(o, "<|start_header_id|>"), put(o, role), put(o, "<|end_header_id|>\n\n");
            put_trimmed(o, msgs[i].content), put(o, "<|eot_id|>");
        } else {
            put(o, "<|"), put(o, role), put(o, "|>\n");
            put(o, msgs[i].content), put(o, "<|end|>\n");
        }
    }
    if (!add_gen) return;
    if (f == MB_CHAT_CHATML)
        put(o, "<|im_start|>assistant\n");
    else if (f == MB_CHAT_LLAMA3)
        put(o, "<|start_header_id|>assistant<|end_header_id|>\n\n");
    else
        put(o, "<|assistant|>\n");
}

/* Gemma has no system role: its template puts the system text, then a blank
 * line, in front of the first user message. */
static void render_gemma(out_text *o, const mb_chat_message *msgs, size_t n, int add_gen) {
    const char *pending = NULL;
    for (size_t i = 0; i < n; i++) {
        if (role_at(msgs, i) == ROLE_SYSTEM) {
            pending = msgs[i].content;
            continue;
        }
        put(o, role_at(msgs, i) == ROLE_USER ? "<start_of_turn>user\n" : "<start_of_turn>model\n");
        if (pending && role_at(msgs, i) == ROLE_USER)
            put(o, pending), put(o, "\n\n"), pending = NULL;
        put_trimmed(o, msgs[i].content);
        put(o, "<end_of_turn>\n");
    }
    if (add_gen) put(o, "<start_of_turn>model\n");
}

/* Llama 2: the system prompt is wrapped in <<SYS>> tags inside the first
 * [INST]; every user turn opens with BOS, every answer closes with EOS. The
 * template strips the combined text, and has no generation prompt. */
static void render_llama2(out_text *o, const mb_chat_tokens *tok, const mb_chat_message *msgs,
                          size_t n) {
    const char *sys = NULL;
    int first = 1;
    for (size_t i = 0; i < n; i++) {
        if (role_at(msgs, i) == ROLE_SYSTEM) {
            sys = msgs[i].content;
        } else if (role_at(msgs, i) == ROLE_USER) {
            if (!first || tok->use_bos) put(o, tok->bos);
            first = 0;
            put(o, "[INST] ");
            const char *parts[] = {"<<SYS>>\n", sys, "\n<</SYS>>\n\n", msgs[i].content, NULL};
            put_stripped_parts(o, sys ? parts : parts + 3);
            sys = NULL;
            put(o, " [/INST]");
        } else {
            put(o, " "), put_trimmed(o, msgs[i].content), put(o, " "), put(o, tok->eos);
        }
    }
}

/* The Mistral variants differ in spacing and in where the system prompt
 * goes; none has a generation prompt. */
static void render_mistral(mb_chat_family f, out_text *o, const mb_chat_tokens *tok,
                           const mb_chat_message *msgs, size_t n) {
    int spaced = f == MB_CHAT_MISTRAL || f == MB_CHAT_MISTRAL_V1;
    const char *open = spaced ? "[INST] " : "[INST]";
    const char *close = f == MB_CHAT_MISTRAL_V1 ? " [/INST]" : "[/INST]";
    size_t last_user = n, first_user = n;
    const char *sys = NULL;
    for (size_t i = 0; i < n; i++)
        if (role_at(msgs, i) == ROLE_USER) {
            last_user = i;
            if (first_user == n) first_user = i;
        }
    for (size_t i = 0; i < n; i++) {
        if (role_at(msgs, i) == ROLE_SYSTEM) {
            if (f == MB_CHAT_MISTRAL_V7)
                put(o, "[SYSTEM_PROMPT]"), put(o, msgs[i].content), put(o, "[/SYSTEM_PROMPT]");
            else
                sys = msgs[i].content;
        } else if (role_at(msgs, i) == ROLE_USER) {
            put(o, open);
            size_t sys_at = f == MB_CHAT_MISTRAL_V1 ? first_user : last_user;
            if (sys && i == sys_at) put(o, sys), put(o, "\n\n");
            put(o, msgs[i].content), put(o, close);
        } else {
            if (spaced) put(o, " ");
            put(o, msgs[i].content), put(o, tok->eos);
        }
    }
}

mb_status mb_chat_render(mb_chat_family f, const mb_chat_tokens *tok, const mb_chat_message *msgs,
                         size_t n, int add_gen, char *buf, size_t cap, size_t *n_out) {
    *n_out = 0;
    if (f <= MB_CHAT_UNKNOWN || f >= MB_CHAT_FAMILY_COUNT)
        return mb_errorf(MB_ERR_INVALID_ARG, "no chat-template family given (choose one of: %s)",
                         mb_chat_family_list());
    if (n > 0 && !msgs) return mb_errorf(MB_ERR_INVALID_ARG, "%zu chat messages but no array", n);
    mb_chat_tokens none = {"", "", 0};
    if (!tok) tok = &none;
    for (size_t i = 0; i < n; i++) {
        role_id r;
        mb_status st = role_of(&msgs[i], i, &r);
        if (st) return st;
    }
    out_text o = {buf, buf ? cap : 0, 0};
    if (tok->use_bos && f != MB_CHAT_LLAMA2) put(&o, tok->bos);
    switch (f) {
    case MB_CHAT_LLAMA2: render_llama2(&o, tok, msgs, n); break;
    case MB_CHAT_MISTRAL:
    case MB_CHAT_MISTRAL_V1:
    case MB_CHAT_MISTRAL_TEKKEN:
    case MB_CHAT_MISTRAL_V7: render_mistral(f, &o, tok, msgs, n); break;
    case MB_CHAT_GEMMA: render_gemma(&o, msgs, n, add_gen); break;
    default: render_headed(f, &o, msgs, n, add_gen); break;
    }
    *n_out = o.len;
    if (o.len >= o.cap) {
        if (buf && cap > 0 && o.len == cap) return MB_OK; /* fits, no room for the NUL */
        return mb_errorf(MB_ERR_INVALID_ARG, "the chat text needs %zu bytes, the buffer has %zu",
                         o.len + 1, cap);
    }
    buf[o.len] = '\0';
    return MB_OK;
}
