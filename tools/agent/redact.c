/* The redactor: the detectors of pii_detect.c find the spans, a hash table
 * gives each distinct (kind, value) one numbered placeholder for the
 * redactor's life, and mb_unredact maps the placeholders it issued back.
 * Lookups are by hash, so thousands of values cost linear time too. */
#include "agent/redact.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/pii_detect.h"
#include "common/tool_error.h"

typedef struct {
    char *value;
    size_t len;
    mb_pii_kind kind;
    int number; /* 1-based, per kind */
} pii_entry;

struct mb_redactor {
    pii_entry *entries;
    size_t n_entries, cap_entries;
    int32_t *slots;                        /* open addressing over entries; -1 empty */
    size_t n_slots;                        /* a power of two, at least twice n_entries */
    int32_t *by_number[MB_PII_KIND_COUNT]; /* number - 1 -> entry */
    int count[MB_PII_KIND_COUNT];
};

static const char *const k_kind_names[MB_PII_KIND_COUNT] = {
    "EMAIL", "PHONE", "CARD", "IBAN", "ADDRESS", "NAME", "ID", "DOB", "IP", "SECRET"};

const char *mb_pii_kind_name(mb_pii_kind kind) {
    return (unsigned)kind < MB_PII_KIND_COUNT ? k_kind_names[kind] : "?";
}

mb_status mb_redactor_new(mb_redactor **out) {
    *out = NULL;
    mb_redactor *r = calloc(1, sizeof *r);
    if (!r) return tool_errorf(MB_ERR_NO_MEMORY, "redactor: out of memory");
    r->n_slots = 64;
    r->slots = malloc(r->n_slots * sizeof *r->slots);
    if (!r->slots) {
        free(r);
        return tool_errorf(MB_ERR_NO_MEMORY, "redactor: out of memory");
    }
    memset(r->slots, 0xff, r->n_slots * sizeof *r->slots);
    *out = r;
    return MB_OK;
}

void mb_redactor_free(mb_redactor *r) {
    if (!r) return;
    for (size_t i = 0; i < r->n_entries; i++)
        free(r->entries[i].value);
    free(r->entries);
    free(r->slots);
    for (int k = 0; k < MB_PII_KIND_COUNT; k++)
        free(r->by_number[k]);
    free(r);
}

int mb_redactor_count(const mb_redactor *r) {
    return r ? (int)r->n_entries : 0;
}

int mb_redactor_count_kind(const mb_redactor *r, mb_pii_kind kind) {
    return r && (unsigned)kind < MB_PII_KIND_COUNT ? r->count[kind] : 0;
}

static uint64_t hash(mb_pii_kind kind, const char *s, size_t n) {
    uint64_t h = 1469598103934665603ULL ^ (uint64_t)kind; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

static void find_slot(const mb_redactor *r, mb_pii_kind kind, const char *s, size_t n,
                      size_t *slot) {
    size_t mask = r->n_slots - 1, i = (size_t)hash(kind, s, n) & mask;
    for (;; i = (i + 1) & mask) {
        int32_t e = r->slots[i];
        if (e < 0) break;
        const pii_entry *p = &r->entries[e];
        if (p->kind == kind && p->len == n && !memcmp(p->value, s, n)) break;
    }
    *slot = i;
}

static mb_status grow_slots(mb_redactor *r) {
    size_t ns = r->n_slots * 2;
    int32_t *slots = malloc(ns * sizeof *slots);
    if (!slots) return tool_errorf(MB_ERR_NO_MEMORY, "redactor: out of memory");
    memset(slots, 0xff, ns * sizeof *slots);
    free(r->slots);
    r->slots = slots;
    r->n_slots = ns;
    for (size_t e = 0; e < r->n_entries; e++) {
        size_t slot;
        find_slot(r, r->entries[e].kind, r->entries[e].value, r->entries[e].len, &slot);
        r->slots[slot] = (int32_t)e;
    }
    return MB_OK;
}

/* The entry for (KIND, S), added when new. */
static mb_status intern(mb_redactor *r, mb_pii_kind kind, const char *s, size_t n,
                        const pii_entry **out) {
    size_t slot;
    find_slot(r, kind, s, n, &slot);
    if (r->slots[slot] >= 0) {
        *out = &r->entries[r->slots[slot]];
        return MB_OK;
    }
    if (r->n_entries >= INT32_MAX / 4)
        return tool_errorf(MB_ERR_NO_MEMORY, "redactor: too many distinct values");
    if (r->n_entries == r->cap_entries) {
        size_t nc = r->cap_entries ? r->cap_entries * 2 : 16;
        pii_entry *grown = realloc(r->entries, nc * sizeof *grown);
        if (!grown) return tool_errorf(MB_ERR_NO_MEMORY, "redactor: out of memory");
        r->entries = grown;
        for (int k = 0; k < MB_PII_KIND_COUNT; k++) {
            int32_t *bn = realloc(r->by_number[k], nc * sizeof *bn);
            if (!bn) return tool_errorf(MB_ERR_NO_MEMORY, "redactor: out of memory");
            r->by_number[k] = bn;
        }
        r->cap_entries = nc; /* only once every array holds NC */
    }
    char *copy = malloc(n + 1);
    if (!copy) return tool_errorf(MB_ERR_NO_MEMORY, "redactor: out of memory");
    memcpy(copy, s, n);
    copy[n] = '\0';
    int32_t e = (int32_t)r->n_entries++;
    int number = ++r->count[kind];
    r->entries[e] = (pii_entry){copy, n, kind, number};
    r->by_number[kind][number - 1] = e;
    r->slots[slot] = e;
    *out = &r->entries[e];
    if (r->n_entries * 2 > r->n_slots) return grow_slots(r);
    return MB_OK;
}

/* A growing output buffer. */
typedef struct {
    char *p;
    size_t n, cap;
    bool failed;
} outbuf;

static void put(outbuf *b, const char *s, size_t n) {
    if (b->failed) return;
    if (n > SIZE_MAX - 1 - b->n) {
        b->failed = true;
        return;
    }
    if (b->n + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 64;
        while (nc < b->n + n + 1)
            nc = nc > SIZE_MAX / 2 ? b->n + n + 1 : nc * 2;
        char *g = realloc(b->p, nc);
        if (!g) {
            b->failed = true;
            return;
        }
        b->p = g, b->cap = nc;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static mb_status finish(outbuf *b, char **out, size_t *out_len, const char *what) {
    if (!b->failed && !b->p) put(b, "", 0);
    if (b->failed) {
        free(b->p);
        return tool_errorf(MB_ERR_NO_MEMORY, "%s: out of memory", what);
    }
    *out = b->p;
    if (out_len) *out_len = b->n;
    return MB_OK;
}

mb_status mb_redact(mb_redactor *r, const char *text, size_t len, char **out, size_t *out_len) {
    if (!r || !out || (!text && len))
        return tool_errorf(MB_ERR_INVALID_ARG, "mb_redact: NULL argument");
    *out = NULL;
    mb_pii_span *spans;
    size_t n_spans;
    mb_status st = mb_pii_find(text, len, &spans, &n_spans);
    if (st != MB_OK) return st;
    outbuf b = {0};
    size_t at = 0;
    for (size_t i = 0; i < n_spans && !b.failed; i++) {
        const pii_entry *e = NULL;
        st = intern(r, spans[i].kind, text + spans[i].start, spans[i].end - spans[i].start, &e);
        if (st != MB_OK) {
            free(spans);
            free(b.p);
            return st;
        }
        char ph[32];
        int k = snprintf(ph, sizeof ph, "[%s_%d]", k_kind_names[e->kind], e->number);
        put(&b, text + at, spans[i].start - at);
        put(&b, ph, (size_t)k);
        at = spans[i].end;
    }
    put(&b, text + at, len - at);
    free(spans);
    return finish(&b, out, out_len, "mb_redact");
}

/* The entry a placeholder at T[i..] names, with *END after its ']'; NULL
 * when T[i..] is not a placeholder this redactor issued. */
static const pii_entry *placeholder_at(const mb_redactor *r, const char *t, size_t n, size_t i,
                                       size_t *end) {
    size_t j = i + 1, k0 = j;
    while (j < n && j - k0 < 8 && t[j] >= 'A' && t[j] <= 'Z')
        j++;
    if (j >= n || t[j] != '_') return NULL;
    int kind = -1;
    for (int k = 0; k < MB_PII_KIND_COUNT; k++)
        if (strlen(k_kind_names[k]) == j - k0 && !memcmp(t + k0, k_kind_names[k], j - k0)) kind = k;
    if (kind < 0) return NULL;
    long num = 0;
    size_t d = ++j;
    while (j < n && j - d < 9 && t[j] >= '0' && t[j] <= '9')
        num = num * 10 + (t[j++] - '0');
    if (j == d || t[d] == '0' || j >= n || t[j] != ']') return NULL;
    if (num > r->count[kind]) return NULL;
    *end = j + 1;
    return &r->entries[r->by_number[kind][num - 1]];
}

mb_status mb_unredact(const mb_redactor *r, const char *text, size_t len, char **out,
                      size_t *out_len) {
    if (!r || !out || (!text && len))
        return tool_errorf(MB_ERR_INVALID_ARG, "mb_unredact: NULL argument");
    *out = NULL;
    outbuf b = {0};
    size_t at = 0, i = 0;
    while (i < len) {
        const char *br = memchr(text + i, '[', len - i);
        if (!br) break;
        i = (size_t)(br - text);
        size_t end;
        const pii_entry *e = placeholder_at(r, text, len, i, &end);
        if (!e) {
            i++;
            continue;
        }
        put(&b, text + at, i - at);
        put(&b, e->value, e->len);
        at = i = end;
    }
    put(&b, text + at, len - at);
    return finish(&b, out, out_len, "mb_unredact");
}

bool mb_text_has_pii(const char *text, size_t len) {
    mb_pii_span *spans;
    size_t n;
    if (!text || mb_pii_find(text, len, &spans, &n) != MB_OK) return false;
    free(spans);
    return n > 0;
}
