/* Values: the arena that owns them, their constructors, and what Python
 * does with them (truth, equality, ordering, str() and repr()). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "jinja/internal.h"

struct arena_block {
    arena_block *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
};

enum { ARENA_BLOCK = 64 * 1024 };

void *jv_alloc(mb_jinja_ctx *c, size_t n) {
    n = (n + 15) & ~(size_t)15;
    arena_block *b = c->blocks;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > ARENA_BLOCK ? n : ARENA_BLOCK;
        /* During a render, running out ends it with a message; the values
         * built before it (the variables) are not capped. */
        if (c->active && c->limit && c->used + cap > c->limit) {
            if (c->soft) return NULL;
            jfail(c->active, "the template needs more than %zu MiB of values", c->limit >> 20);
        }
        arena_block *nb = malloc(sizeof *nb + cap);
        if (!nb && c->active && !c->soft) jfail(c->active, "out of memory");
        if (!nb) return NULL;
        c->used += cap;
        nb->next = c->blocks, nb->used = 0, nb->cap = cap;
        c->blocks = b = nb;
    }
    void *p = b->data + b->used;
    b->used += n;
    memset(p, 0, n);
    return p;
}

mb_jinja_ctx *mb_jinja_new(void) {
    mb_jinja_ctx *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->undef.t = JV_UNDEF;
    c->none.t = JV_NONE;
    c->t.t = c->f.t = JV_BOOL;
    c->t.b = 1;
    return c;
}

void mb_jinja_free(mb_jinja_ctx *c) {
    if (!c) return;
    for (arena_block *b = c->blocks, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    free(c);
}

char *jv_strdup(mb_jinja_ctx *c, const char *s, size_t n) {
    char *p = jv_alloc(c, n + 1);
    if (p && n) memcpy(p, s, n);
    return p;
}

mb_jv *jv_new(mb_jinja_ctx *c, jv_type t) {
    mb_jv *v = jv_alloc(c, sizeof *v);
    if (v) v->t = t;
    return v;
}

mb_jv *mb_jv_none(mb_jinja_ctx *c) {
    return &c->none;
}
mb_jv *mb_jv_bool(mb_jinja_ctx *c, int b) {
    return b ? &c->t : &c->f;
}
mb_jv *mb_jv_int(mb_jinja_ctx *c, long long i) {
    mb_jv *v = jv_new(c, JV_INT);
    if (v) v->i = i;
    return v;
}
mb_jv *jv_float(mb_jinja_ctx *c, double f) {
    mb_jv *v = jv_new(c, JV_FLOAT);
    if (v) v->f = f;
    return v;
}
mb_jv *mb_jv_str(mb_jinja_ctx *c, const char *s, size_t n) {
    mb_jv *v = jv_new(c, JV_STR);
    if (!v || !(v->s.p = jv_strdup(c, s, n))) return NULL;
    v->s.n = n;
    return v;
}
mb_jv *jstr_take(jstate *s, jbuf *b) {
    s->c->soft = 1;
    mb_jv *v = b->failed ? NULL : mb_jv_str(s->c, b->p ? b->p : "", b->n);
    s->c->soft = 0;
    free(b->p);
    b->p = NULL;
    if (!v && s->c->used + b->n + 16 > s->c->limit)
        jfail(s, "the template needs more than %zu MiB of values", s->c->limit >> 20);
    if (!v) jfail(s, "out of memory");
    return v;
}

mb_jv *jv_undef(mb_jinja_ctx *c, const char *name) {
    mb_jv *v = jv_new(c, JV_UNDEF);
    if (v) v->undef_name = name;
    return v ? v : &c->undef;
}
mb_jv *mb_jv_list(mb_jinja_ctx *c) {
    return jv_new(c, JV_LIST);
}
mb_jv *mb_jv_dict(mb_jinja_ctx *c) {
    return jv_new(c, JV_DICT);
}

/* Arrays grow by doubling inside the arena (the old copy stays there). */
static int grow(mb_jinja_ctx *c, mb_jv ***a, size_t n, size_t *cap) {
    if (n < *cap) return 1;
    size_t nc = *cap ? *cap * 2 : 4;
    mb_jv **na = jv_alloc(c, nc * sizeof *na);
    if (!na) return 0;
    if (n) memcpy(na, *a, n * sizeof *na);
    *a = na, *cap = nc;
    return 1;
}

mb_status mb_jv_list_push(mb_jinja_ctx *c, mb_jv *list, mb_jv *v) {
    if (!grow(c, &list->list.v, list->list.n, &list->list.cap))
        return mb_errorf(MB_ERR_NO_MEMORY, "out of memory");
    list->list.v[list->list.n++] = v;
    return MB_OK;
}

mb_jv *jv_dict_get(const mb_jv *d, const char *key, size_t n) {
    for (size_t i = 0; i < d->dict.n; i++) {
        const mb_jv *k = d->dict.k[i];
        if (k->t == JV_STR && k->s.n == n && memcmp(k->s.p, key, n) == 0) return d->dict.v[i];
    }
    return NULL;
}

mb_status jv_dict_put(mb_jinja_ctx *c, mb_jv *d, mb_jv *key, mb_jv *v) {
    for (size_t i = 0; i < d->dict.n; i++)
        if (jv_equal(d->dict.k[i], key)) {
            d->dict.v[i] = v;
            return MB_OK;
        }
    size_t cap = d->dict.cap;
    if (!grow(c, &d->dict.k, d->dict.n, &cap) || !grow(c, &d->dict.v, d->dict.n, &d->dict.cap))
        return mb_errorf(MB_ERR_NO_MEMORY, "out of memory");
    d->dict.k[d->dict.n] = key;
    d->dict.v[d->dict.n++] = v;
    return MB_OK;
}

mb_status mb_jv_dict_set(mb_jinja_ctx *c, mb_jv *d, const char *key, mb_jv *v) {
    size_t n = strlen(key);
    for (size_t i = 0; i < d->dict.n; i++) {
        const mb_jv *k = d->dict.k[i];
        if (k->t == JV_STR && k->s.n == n && memcmp(k->s.p, key, n) == 0) {
            d->dict.v[i] = v;
            return MB_OK;
        }
    }
    mb_jv *ks = mb_jv_str(c, key, n);
    if (!ks) return mb_errorf(MB_ERR_NO_MEMORY, "out of memory");
    return jv_dict_put(c, d, ks, v);
}

void jv_html_escape(jbuf *b, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        const char ch = s[i];
        const char *rep = ch == '&'    ? "&amp;"
                          : ch == '<'  ? "&lt;"
                          : ch == '>'  ? "&gt;"
                          : ch == '"'  ? "&#34;"
                          : ch == '\'' ? "&#39;"
                                       : NULL;
        if (rep)
            jbuf_puts(b, rep);
        else
            jbuf_put(b, &ch, 1);
    }
}

mb_status mb_jv_dict_merge(mb_jinja_ctx *c, mb_jv *dst, const mb_jv *src) {
    if (src->t != JV_DICT) return mb_errorf(MB_ERR_INVALID_ARG, "expected a JSON object");
    for (size_t i = 0; i < src->dict.n; i++) {
        const mb_jv *k = src->dict.k[i];
        char *key = jv_strdup(c, k->s.p, k->s.n);
        mb_status st = key ? mb_jv_dict_set(c, dst, key, src->dict.v[i]) : MB_ERR_NO_MEMORY;
        if (st) return st;
    }
    return MB_OK;
}

int jv_truthy(const mb_jv *v) {
    switch (v->t) {
    case JV_UNDEF:
    case JV_NONE: return 0;
    case JV_BOOL: return v->b;
    case JV_INT: return v->i != 0;
    case JV_FLOAT: return v->f != 0.0;
    case JV_STR: return v->s.n > 0;
    case JV_LIST: return v->gen == 1 || v->list.n > 0;
    case JV_DICT: return v->dict.n > 0;
    default: return 1;
    }
}

static int is_num(const mb_jv *v) {
    return v->t == JV_BOOL || v->t == JV_INT || v->t == JV_FLOAT;
}
static double num(const mb_jv *v) {
    return v->t == JV_FLOAT ? v->f : v->t == JV_INT ? (double)v->i : v->b;
}

void jv_sort_idx(size_t *idx, size_t *tmp, size_t n, int (*cmp)(void *ctx, size_t a, size_t b),
                 void *ctx) {
    for (size_t width = 1; width < n; width *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * width) {
            size_t mid = lo + width < n ? lo + width : n,
                   hi = lo + 2 * width < n ? lo + 2 * width : n;
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi)
                tmp[k++] = cmp(ctx, idx[j], idx[i]) < 0 ? idx[j++] : idx[i++];
            while (i < mid)
                tmp[k++] = idx[i++];
            while (j < hi)
                tmp[k++] = idx[j++];
        }
        memcpy(idx, tmp, n * sizeof *idx);
    }
}

static int key_cmp(void *ctx, size_t a, size_t b) {
    const mb_jv *d = ctx;
    int ok;
    return jv_compare(d->dict.k[a], d->dict.k[b], &ok);
}

int jv_is_space(unsigned char ch) {
    return ch == ' ' || (ch >= '\t' && ch <= '\r') || (ch >= 0x1c && ch <= 0x1f);
}

int jv_equal(const mb_jv *a, const mb_jv *b) {
    if (is_num(a) && is_num(b)) {
        if (a->t != JV_FLOAT && b->t != JV_FLOAT)
            return (a->t == JV_INT ? a->i : a->b) == (b->t == JV_INT ? b->i : b->b);
        return num(a) == num(b);
    }
    if (a->t != b->t) return 0;
    if (a->t == JV_LIST && (a->gen || b->gen)) return a == b;
    switch (a->t) {
    case JV_UNDEF:
    case JV_NONE: return 1;
    case JV_STR: return a->s.n == b->s.n && memcmp(a->s.p, b->s.p, a->s.n) == 0;
    case JV_LIST:
        if (a->list.n != b->list.n) return 0;
        for (size_t i = 0; i < a->list.n; i++)
            if (!jv_equal(a->list.v[i], b->list.v[i])) return 0;
        return 1;
    case JV_DICT:
    case JV_NS:
        if (a->dict.n != b->dict.n) return 0;
        for (size_t i = 0; i < a->dict.n; i++) {
            const mb_jv *k = a->dict.k[i];
            const mb_jv *o = jv_dict_get(b, k->s.p, k->s.n);
            if (!o || !jv_equal(a->dict.v[i], o)) return 0;
        }
        return 1;
    default: return a == b;
    }
}

int jv_compare(const mb_jv *a, const mb_jv *b, int *ok) {
    *ok = 1;
    if (is_num(a) && is_num(b)) {
        double x = num(a), y = num(b);
        return x < y ? -1 : x > y;
    }
    if (a->t == JV_STR && b->t == JV_STR) {
        size_t n = a->s.n < b->s.n ? a->s.n : b->s.n;
        int r = memcmp(a->s.p, b->s.p, n);
        return r ? (r < 0 ? -1 : 1) : (a->s.n > b->s.n) - (a->s.n < b->s.n);
    }
    if (a->t == JV_LIST && b->t == JV_LIST) {
        for (size_t i = 0; i < a->list.n && i < b->list.n; i++) {
            if (jv_equal(a->list.v[i], b->list.v[i])) continue;
            return jv_compare(a->list.v[i], b->list.v[i], ok);
        }
        return (a->list.n > b->list.n) - (a->list.n < b->list.n);
    }
    *ok = 0;
    return 0;
}

const char *jv_type_name(const mb_jv *v) {
    if (v->t == JV_LIST && v->gen) return v->gen == 1 ? "generator" : "dict_items";
    static const char *names[] = {"Undefined", "NoneType", "bool",      "int",   "float",   "str",
                                  "list",      "dict",     "Namespace", "Macro", "function"};
    return names[v->t];
}

size_t utf8_len(const char *s, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += ((unsigned char)s[i] & 0xC0) != 0x80;
    return k;
}

size_t utf8_offset(const char *s, size_t n, size_t i) {
    size_t k = 0;
    for (size_t b = 0; b < n; b++)
        if (((unsigned char)s[b] & 0xC0) != 0x80 && k++ == i) return b;
    return n;
}

/* ---- buffers ------------------------------------------------------------ */

void jbuf_put(jbuf *b, const char *s, size_t n) {
    if (b->failed || n == 0) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->failed = 1;
            return;
        }
        b->p = p, b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

void jbuf_puts(jbuf *b, const char *s) {
    jbuf_put(b, s, strlen(s));
}

void jbuf_printf(jbuf *b, const char *fmt, ...) {
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0) jbuf_put(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* ---- str(), repr() -------------------------------------------------------- */

/* Python's repr of a float: the shortest digits that read back the same,
 * fixed notation for exponents -4..15, else d.ddde+XX. */
static void float_repr(jbuf *b, double x) {
    if (isnan(x)) return jbuf_puts(b, "nan");
    if (isinf(x)) return jbuf_puts(b, x < 0 ? "-inf" : "inf");
    char e[40];
    int p = 1;
    for (; p <= 17; p++) {
        snprintf(e, sizeof e, "%.*e", p - 1, x);
        if (strtod(e, NULL) == x) break;
    }
    char digits[24];
    int nd = 0, neg = e[0] == '-';
    const char *q = e + neg;
    for (; *q && *q != 'e'; q++)
        if (*q >= '0' && *q <= '9') digits[nd++] = *q;
    int exp = atoi(q + 1);
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    if (neg) jbuf_put(b, "-", 1);
    if (exp >= -4 && exp < 16) {
        if (exp < 0) {
            jbuf_put(b, "0.", 2);
            for (int i = 0; i < -exp - 1; i++)
                jbuf_put(b, "0", 1);
            jbuf_put(b, digits, (size_t)nd);
            return;
        }
        for (int i = 0; i <= exp; i++)
            jbuf_put(b, i < nd ? &digits[i] : "0", 1);
        jbuf_put(b, ".", 1);
        if (nd > exp + 1)
            jbuf_put(b, digits + exp + 1, (size_t)(nd - exp - 1));
        else
            jbuf_put(b, "0", 1);
        return;
    }
    jbuf_put(b, digits, 1);
    if (nd > 1) {
        jbuf_put(b, ".", 1);
        jbuf_put(b, digits + 1, (size_t)(nd - 1));
    }
    jbuf_printf(b, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
}

static void str_repr(jbuf *b, const char *s, size_t n) {
    int has_sq = memchr(s, '\'', n) != NULL, has_dq = memchr(s, '"', n) != NULL;
    const char q = has_sq && !has_dq ? '"' : '\'';
    jbuf_put(b, &q, 1);
    for (size_t i = 0; i < n; i++) {
        const unsigned char ch = (unsigned char)s[i];
        if (ch == '\\' || ch == (unsigned char)q) {
            jbuf_put(b, "\\", 1);
            jbuf_put(b, &s[i], 1);
        } else if (ch == '\n') {
            jbuf_puts(b, "\\n");
        } else if (ch == '\r') {
            jbuf_puts(b, "\\r");
        } else if (ch == '\t') {
            jbuf_puts(b, "\\t");
        } else if (ch < 0x20 || ch == 0x7f) {
            jbuf_printf(b, "\\x%02x", ch);
        } else {
            jbuf_put(b, &s[i], 1);
        }
    }
    jbuf_put(b, &q, 1);
}

int jv_repr(jbuf *b, const mb_jv *v) {
    if (v->t == JV_LIST && v->gen == 1) return jbuf_puts(b, "<generator object>"), 1;
    switch (v->t) {
    case JV_STR: str_repr(b, v->s.p, v->s.n); return 1;
    case JV_LIST:
        jbuf_put(b, v->tuple ? "(" : "[", 1);
        for (size_t i = 0; i < v->list.n; i++) {
            if (i) jbuf_put(b, ", ", 2);
            jv_repr(b, v->list.v[i]);
        }
        if (v->tuple && v->list.n == 1) jbuf_put(b, ",", 1);
        jbuf_put(b, v->tuple ? ")" : "]", 1);
        return 1;
    case JV_DICT:
        jbuf_put(b, "{", 1);
        for (size_t i = 0; i < v->dict.n; i++) {
            if (i) jbuf_put(b, ", ", 2);
            jv_repr(b, v->dict.k[i]);
            jbuf_put(b, ": ", 2);
            jv_repr(b, v->dict.v[i]);
        }
        jbuf_put(b, "}", 1);
        return 1;
    default: return jv_str(b, v);
    }
}

int jv_str(jbuf *b, const mb_jv *v) {
    switch (v->t) {
    case JV_UNDEF: return 1;
    case JV_NONE: jbuf_puts(b, "None"); return 1;
    case JV_BOOL: jbuf_puts(b, v->b ? "True" : "False"); return 1;
    case JV_INT: jbuf_printf(b, "%lld", v->i); return 1;
    case JV_FLOAT: float_repr(b, v->f); return 1;
    case JV_STR: jbuf_put(b, v->s.p, v->s.n); return 1;
    case JV_LIST:
    case JV_DICT: return jv_repr(b, v);
    case JV_NS: jbuf_puts(b, "<Namespace>"); return 1;
    case JV_MACRO: jbuf_puts(b, "<Macro>"); return 1;
    case JV_FUNC: jbuf_puts(b, "<function>"); return 1;
    }
    return 0;
}

/* ---- json.dumps ---------------------------------------------------------- */

static void json_str(jbuf *b, const char *s, size_t n, int ensure_ascii) {
    jbuf_put(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        const unsigned char ch = (unsigned char)s[i];
        switch (ch) {
        case '"': jbuf_puts(b, "\\\""); continue;
        case '\\': jbuf_puts(b, "\\\\"); continue;
        case '\n': jbuf_puts(b, "\\n"); continue;
        case '\r': jbuf_puts(b, "\\r"); continue;
        case '\t': jbuf_puts(b, "\\t"); continue;
        case '\b': jbuf_puts(b, "\\b"); continue;
        case '\f': jbuf_puts(b, "\\f"); continue;
        default: break;
        }
        if (ch < 0x20) {
            jbuf_printf(b, "\\u%04x", ch);
        } else if (ch >= 0x80 && ensure_ascii) {
            /* Decode one UTF-8 sequence; above U+FFFF as a surrogate pair. */
            int len = ch >= 0xF0 ? 4 : ch >= 0xE0 ? 3 : 2;
            unsigned cp = ch & (0x3F >> (len - 1));
            for (int k = 1; k < len && i + 1 < n; k++)
                cp = (cp << 6) | ((unsigned char)s[++i] & 0x3F);
            if (cp >= 0x10000) {
                cp -= 0x10000;
                jbuf_printf(b, "\\u%04x\\u%04x", 0xD800 + (cp >> 10), 0xDC00 + (cp & 0x3FF));
            } else {
                jbuf_printf(b, "\\u%04x", cp);
            }
        } else {
            jbuf_put(b, &s[i], 1);
        }
    }
    jbuf_put(b, "\"", 1);
}

static void json_newline(jbuf *b, const json_style *st, int depth) {
    jbuf_put(b, "\n", 1);
    for (int i = 0; i < st->indent * depth; i++)
        jbuf_put(b, " ", 1);
}

int jv_json(jbuf *b, const mb_jv *v, const json_style *st, int depth) {
    if (depth > 200) return 0;
    switch (v->t) {
    case JV_NONE: jbuf_puts(b, "null"); return 1;
    case JV_BOOL: jbuf_puts(b, v->b ? "true" : "false"); return 1;
    case JV_INT: jbuf_printf(b, "%lld", v->i); return 1;
    case JV_FLOAT:
        if (isnan(v->f))
            jbuf_puts(b, "NaN");
        else if (isinf(v->f))
            jbuf_puts(b, v->f < 0 ? "-Infinity" : "Infinity");
        else
            float_repr(b, v->f);
        return 1;
    case JV_STR: json_str(b, v->s.p, v->s.n, st->ensure_ascii); return 1;
    case JV_LIST:
        if (v->gen) return 0; /* a generator or a view is not JSON */
        if (v->list.n == 0) return jbuf_puts(b, "[]"), 1;
        jbuf_put(b, "[", 1);
        for (size_t i = 0; i < v->list.n; i++) {
            if (i) jbuf_puts(b, st->item_sep);
            if (st->indent >= 0) json_newline(b, st, depth + 1);
            if (!jv_json(b, v->list.v[i], st, depth + 1)) return 0;
        }
        if (st->indent >= 0) json_newline(b, st, depth);
        jbuf_put(b, "]", 1);
        return 1;
    case JV_DICT: {
        if (v->dict.n == 0) return jbuf_puts(b, "{}"), 1;
        size_t *order = malloc(2 * v->dict.n * sizeof *order); /* no VLA: dicts can be large */
        if (!order) return 0;
        for (size_t i = 0; i < v->dict.n; i++)
            order[i] = i;
        if (st->sort_keys) jv_sort_idx(order, order + v->dict.n, v->dict.n, key_cmp, (void *)v);
        jbuf_put(b, "{", 1);
        for (size_t i = 0; i < v->dict.n; i++) {
            const mb_jv *k = v->dict.k[order[i]];
            if (i) jbuf_puts(b, st->item_sep);
            if (st->indent >= 0) json_newline(b, st, depth + 1);
            if (k->t == JV_STR) {
                json_str(b, k->s.p, k->s.n, st->ensure_ascii);
            } else {
                jbuf put = {0};
                jv_json(&put, k, st, depth + 1);
                json_str(b, put.p ? put.p : "", put.n, st->ensure_ascii);
                free(put.p);
            }
            jbuf_puts(b, st->key_sep);
            if (!jv_json(b, v->dict.v[order[i]], st, depth + 1)) {
                free(order);
                return 0;
            }
        }
        free(order);
        if (st->indent >= 0) json_newline(b, st, depth);
        jbuf_put(b, "}", 1);
        return 1;
    }
    default: return 0;
    }
}
