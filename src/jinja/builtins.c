/* Global functions (range, namespace, dict, raise_exception,
 * strftime_now), the methods of strings, dicts and lists, and the tests
 * ("x is defined"). Lists and dicts are immutable, as in the sandbox that
 * renders chat templates: their mutating methods fail when called. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jinja/internal.h"

mb_jv *jarg(mb_jv **args, int n_pos, const char **kw, int n_kw, int i, const char *name) {
    for (int k = 0; name && k < n_kw; k++)
        if (!strcmp(kw[k], name)) return args[n_pos + k];
    return i >= 0 && i < n_pos ? args[i] : NULL;
}

void jwant_str(jstate *s, const mb_jv *v, const char *what) {
    if (v->t != JV_STR) jfail(s, "%s must be a string, not %s", what, jv_type_name(v));
}

#define ARGS jstate *s, mb_jv *self, mb_jv **args, int n_pos, const char **kw, int n_kw
#define ARG(i, name) jarg(args, n_pos, kw, n_kw, i, name)

/* ---- globals ------------------------------------------------------------ */

static mb_jv *g_range(ARGS) {
    (void)self;
    long long a = 0, b, st = 1;
    for (int i = 0; i < n_pos; i++)
        if (args[i]->t != JV_INT) jfail(s, "range() takes integers");
    if (n_pos == 1)
        b = args[0]->i;
    else if (n_pos >= 2)
        a = args[0]->i, b = args[1]->i, st = n_pos > 2 ? args[2]->i : 1;
    else
        jfail(s, "range expected 1 to 3 arguments");
    (void)kw, (void)n_kw;
    if (st == 0) jfail(s, "range() step must not be zero");
    mb_jv *l = mb_jv_list(s->c);
    for (long long i = a, n = 0; st > 0 ? i < b : i > b; i = jint_add(s, i, st)) {
        if (++n > 100000) jfail(s, "range too large (more than 100000 items)");
        mb_jv_list_push(s->c, l, mb_jv_int(s->c, i));
    }
    return l;
}

static mb_jv *g_namespace(ARGS) {
    (void)self;
    mb_jv *ns = jv_new(s->c, JV_NS);
    if (!ns) jfail(s, "out of memory");
    for (int i = 0; i < n_pos; i++) /* namespace(a_dict) copies it */
        if (args[i]->t == JV_DICT)
            for (size_t k = 0; k < args[i]->dict.n; k++)
                mb_jv_dict_set(s->c, ns, args[i]->dict.k[k]->s.p, args[i]->dict.v[k]);
    for (int k = 0; k < n_kw; k++)
        mb_jv_dict_set(s->c, ns, kw[k], args[n_pos + k]);
    return ns;
}

static mb_jv *g_dict(ARGS) {
    mb_jv *d = g_namespace(s, self, args, n_pos, kw, n_kw);
    d->t = JV_DICT;
    return d;
}

static mb_jv *g_raise(ARGS) {
    (void)self;
    mb_jv *m = ARG(0, "message");
    jbuf b = {0};
    if (m) jv_str(&b, m);
    char msg[400];
    snprintf(msg, sizeof msg, "%.*s", (int)b.n, b.p ? b.p : "");
    free(b.p);
    jfail_raw(s, msg, strlen(msg));
}

static mb_jv *g_strftime(ARGS) {
    (void)self;
    mb_jv *fmt = ARG(0, "format");
    if (!fmt) jfail(s, "strftime_now() needs a format");
    jwant_str(s, fmt, "the format");
    struct tm tm = {0};
    if (s->now) {
        int y, mo, d, h = 0, mi = 0, sec = 0;
        if (sscanf(s->now, "%d-%d-%d%*c%d:%d:%d", &y, &mo, &d, &h, &mi, &sec) < 3)
            jfail(s, "bad fixed time '%s' (want YYYY-MM-DDTHH:MM:SS)", s->now);
        tm.tm_year = y - 1900, tm.tm_mon = mo - 1, tm.tm_mday = d;
        tm.tm_hour = h, tm.tm_min = mi, tm.tm_sec = sec, tm.tm_isdst = -1;
        time_t t = mktime(&tm); /* fills in the weekday and day of the year */
        localtime_r(&t, &tm);
    } else {
        time_t t = time(NULL);
        localtime_r(&t, &tm);
    }
    char f[256], out[512];
    snprintf(f, sizeof f, "%.*s", (int)fmt->s.n, fmt->s.p);
    size_t n = strftime(out, sizeof out, f, &tm);
    return mb_jv_str(s->c, out, n);
}

static const jv_func GLOBALS[] = {{"range", g_range},
                                  {"namespace", g_namespace},
                                  {"dict", g_dict},
                                  {"raise_exception", g_raise},
                                  {"strftime_now", g_strftime}};

mb_jv *jglobal(jstate *s, const char *name, size_t n) {
    for (size_t i = 0; i < sizeof GLOBALS / sizeof *GLOBALS; i++)
        if (strlen(GLOBALS[i].name) == n && !memcmp(GLOBALS[i].name, name, n)) {
            mb_jv *f = jv_new(s->c, JV_FUNC);
            if (!f) jfail(s, "out of memory");
            f->func.fn = &GLOBALS[i];
            return f;
        }
    return NULL;
}

/* ---- string methods ----------------------------------------------------- */

/* Strip from the left (1), right (2) or both (3): white space, or CHARS. */
static mb_jv *strip(jstate *s, const mb_jv *v, const mb_jv *chars, int sides) {
    const char *p = v->s.p, *e = p + v->s.n;
    const int ws = !chars || chars->t == JV_NONE;
    if (!ws) jwant_str(s, chars, "the characters to strip");
#define STRIPPABLE(ch)                                                                             \
    (ws ? jv_is_space((unsigned char)(ch)) : memchr(chars->s.p, (ch), chars->s.n) != NULL)
    if (sides & 1)
        while (p < e && STRIPPABLE(*p))
            p++;
    if (sides & 2)
        while (e > p && STRIPPABLE(e[-1]))
            e--;
#undef STRIPPABLE
    return mb_jv_str(s->c, p, (size_t)(e - p));
}

static int affix(const mb_jv *v, const mb_jv *a, int end) {
    if (a->t != JV_STR || a->s.n > v->s.n) return 0;
    return memcmp(v->s.p + (end ? v->s.n - a->s.n : 0), a->s.p, a->s.n) == 0;
}

/* startswith / endswith: a string or a tuple (list) of them. */
static mb_jv *m_affix(jstate *s, mb_jv *self, mb_jv **args, int n_pos, int end) {
    if (n_pos < 1) jfail(s, "%s() takes at least 1 argument", end ? "endswith" : "startswith");
    int r = 0;
    if (args[0]->t == JV_LIST) {
        for (size_t i = 0; i < args[0]->list.n; i++)
            r |= affix(self, args[0]->list.v[i], end);
    } else {
        jwant_str(s, args[0], "the prefix");
        r = affix(self, args[0], end);
    }
    return mb_jv_bool(s->c, r);
}
static mb_jv *m_startswith(ARGS) {
    (void)kw, (void)n_kw;
    return m_affix(s, self, args, n_pos, 0);
}
static mb_jv *m_endswith(ARGS) {
    (void)kw, (void)n_kw;
    return m_affix(s, self, args, n_pos, 1);
}
static mb_jv *m_strip(ARGS) {
    return strip(s, self, ARG(0, "chars"), 3);
}
static mb_jv *m_lstrip(ARGS) {
    return strip(s, self, ARG(0, "chars"), 1);
}
static mb_jv *m_rstrip(ARGS) {
    return strip(s, self, ARG(0, "chars"), 2);
}

static mb_jv *split(jstate *s, mb_jv *self, mb_jv *sep, mb_jv *max, int from_right) {
    mb_jinja_ctx *c = s->c;
    long long limit = max && max->t == JV_INT ? max->i : -1;
    mb_jv *parts = mb_jv_list(c);
    const char *p = self->s.p, *e = p + self->s.n;
    if (!sep || sep->t == JV_NONE) { /* runs of white space; none at the ends */
        mb_jv *tmp = mb_jv_list(c);
        while (p < e) {
            while (p < e && jv_is_space((unsigned char)*p))
                p++;
            if (p >= e) break;
            const char *w = p;
            while (p < e && !jv_is_space((unsigned char)*p))
                p++;
            mb_jv_list_push(c, tmp, mb_jv_str(c, w, (size_t)(p - w)));
        }
        return tmp; /* maxsplit with white space: rare in templates, not applied */
    }
    jwant_str(s, sep, "the separator");
    if (sep->s.n == 0) jfail(s, "empty separator");
    if (from_right && limit >= 0) {
        /* rsplit with a limit: cut from the end, then reverse. */
        mb_jv *rev = mb_jv_list(c);
        const char *q = e;
        while (limit-- > 0) {
            const char *hit = NULL;
            for (const char *t = q - sep->s.n; t >= p; t--)
                if (!memcmp(t, sep->s.p, sep->s.n)) {
                    hit = t;
                    break;
                }
            if (!hit) break;
            mb_jv_list_push(c, rev, mb_jv_str(c, hit + sep->s.n, (size_t)(q - hit - sep->s.n)));
            q = hit;
        }
        mb_jv_list_push(c, parts, mb_jv_str(c, p, (size_t)(q - p)));
        for (size_t i = rev->list.n; i-- > 0;)
            mb_jv_list_push(c, parts, rev->list.v[i]);
        return parts;
    }
    const char *w = p;
    for (const char *t = p; t + sep->s.n <= e;) {
        if (limit != 0 && !memcmp(t, sep->s.p, sep->s.n)) {
            mb_jv_list_push(c, parts, mb_jv_str(c, w, (size_t)(t - w)));
            t += sep->s.n, w = t;
            if (limit > 0) limit--;
        } else {
            t++;
        }
    }
    mb_jv_list_push(c, parts, mb_jv_str(c, w, (size_t)(e - w)));
    return parts;
}
static mb_jv *m_split(ARGS) {
    return split(s, self, ARG(0, "sep"), ARG(1, "maxsplit"), 0);
}
static mb_jv *m_rsplit(ARGS) {
    return split(s, self, ARG(0, "sep"), ARG(1, "maxsplit"), 1);
}
static mb_jv *m_splitlines(ARGS) {
    (void)args, (void)n_pos, (void)kw, (void)n_kw;
    mb_jv *l = mb_jv_list(s->c);
    const char *p = self->s.p, *e = p + self->s.n, *w = p;
    while (p < e) {
        if (*p == '\n' || *p == '\r') {
            mb_jv_list_push(s->c, l, mb_jv_str(s->c, w, (size_t)(p - w)));
            if (*p == '\r' && p + 1 < e && p[1] == '\n') p++;
            w = ++p;
        } else {
            p++;
        }
    }
    if (w < e) mb_jv_list_push(s->c, l, mb_jv_str(s->c, w, (size_t)(e - w)));
    return l;
}

/* ASCII case mapping (templates change the case of role names and the
 * like); MODE 0 lower, 1 upper, 2 title (Python's str.title), 3 capitalize. */
mb_jv *jcase(jstate *s, const mb_jv *v, int mode) {
    char *d = jv_strdup(s->c, v->s.p, v->s.n);
    if (!d) jfail(s, "out of memory");
    int prev_alpha = 0;
    for (size_t i = 0; i < v->s.n; i++) {
        unsigned char ch = (unsigned char)d[i];
        int up = mode == 1 || (mode == 2 && !prev_alpha) || (mode == 3 && i == 0);
        if (ch < 0x80) d[i] = (char)(up ? toupper(ch) : tolower(ch));
        prev_alpha = isalpha(ch) || ch >= 0x80;
    }
    mb_jv *r = jv_new(s->c, JV_STR);
    if (!r) jfail(s, "out of memory");
    r->s.p = d, r->s.n = v->s.n;
    return r;
}
static mb_jv *m_lower(ARGS) {
    (void)args, (void)n_pos, (void)kw, (void)n_kw;
    return jcase(s, self, 0);
}
static mb_jv *m_upper(ARGS) {
    (void)args, (void)n_pos, (void)kw, (void)n_kw;
    return jcase(s, self, 1);
}
static mb_jv *m_title(ARGS) {
    (void)args, (void)n_pos, (void)kw, (void)n_kw;
    return jcase(s, self, 2);
}
static mb_jv *m_capitalize(ARGS) {
    (void)args, (void)n_pos, (void)kw, (void)n_kw;
    return jcase(s, self, 3);
}

mb_jv *jreplace(jstate *s, const mb_jv *v, const mb_jv *old, const mb_jv *new_, long long count) {
    jwant_str(s, old, "the old text");
    jwant_str(s, new_, "the new text");
    jbuf b = {0};
    const char *p = v->s.p, *e = p + v->s.n;
    if (old->s.n == 0) { /* Python inserts NEW between every character */
        size_t chars = 0;
        for (; p <= e; chars++) {
            if (count >= 0 && (long long)chars >= count) break;
            jbuf_put(&b, new_->s.p, new_->s.n);
            if (p == e) {
                p++;
                break;
            }
            const char *q = p + 1;
            while (q < e && ((unsigned char)*q & 0xC0) == 0x80)
                q++;
            jbuf_put(&b, p, (size_t)(q - p));
            p = q;
        }
        if (p < e) jbuf_put(&b, p, (size_t)(e - p));
        return jstr_take(s, &b);
    }
    while (p < e) {
        const char *hit = NULL;
        if (count != 0)
            for (const char *t = p; t + old->s.n <= e; t++)
                if (!memcmp(t, old->s.p, old->s.n)) {
                    hit = t;
                    break;
                }
        if (!hit) break;
        jbuf_put(&b, p, (size_t)(hit - p));
        jbuf_put(&b, new_->s.p, new_->s.n);
        p = hit + old->s.n;
        if (count > 0) count--;
    }
    jbuf_put(&b, p, (size_t)(e - p));
    return jstr_take(s, &b);
}
static mb_jv *m_replace(ARGS) {
    mb_jv *o = ARG(0, "old"), *n = ARG(1, "new"), *cnt = ARG(2, "count");
    if (!o || !n) jfail(s, "replace() takes at least 2 arguments");
    return jreplace(s, self, o, n, cnt && cnt->t == JV_INT ? cnt->i : -1);
}

static long long find(const mb_jv *v, const mb_jv *sub, int from_right) {
    if (sub->s.n > v->s.n) return -1;
    for (size_t k = 0; k + sub->s.n <= v->s.n; k++) {
        size_t i = from_right ? v->s.n - sub->s.n - k : k;
        if (!memcmp(v->s.p + i, sub->s.p, sub->s.n)) return (long long)utf8_len(v->s.p, i);
    }
    return -1;
}
static mb_jv *m_find(ARGS) {
    mb_jv *sub = ARG(0, "sub");
    if (!sub) jfail(s, "find() takes 1 argument");
    jwant_str(s, sub, "the text to find");
    return mb_jv_int(s->c, find(self, sub, 0));
}
static mb_jv *m_rfind(ARGS) {
    mb_jv *sub = ARG(0, "sub");
    if (!sub) jfail(s, "rfind() takes 1 argument");
    jwant_str(s, sub, "the text to find");
    return mb_jv_int(s->c, find(self, sub, 1));
}
static mb_jv *m_count(ARGS) {
    mb_jv *x = ARG(0, "x");
    if (!x) jfail(s, "count() takes 1 argument");
    long long n = 0;
    if (self->t == JV_LIST) {
        for (size_t i = 0; i < self->list.n; i++)
            n += jv_equal(self->list.v[i], x);
        return mb_jv_int(s->c, n);
    }
    jwant_str(s, x, "the text to count");
    if (x->s.n == 0) return mb_jv_int(s->c, (long long)utf8_len(self->s.p, self->s.n) + 1);
    for (size_t i = 0; i + x->s.n <= self->s.n;)
        if (!memcmp(self->s.p + i, x->s.p, x->s.n))
            n++, i += x->s.n;
        else
            i++;
    return mb_jv_int(s->c, n);
}
static mb_jv *m_join(ARGS) {
    mb_jv *items = ARG(0, "iterable");
    if (!items) jfail(s, "join() takes 1 argument");
    items = jto_list(s, items);
    jbuf b = {0};
    for (size_t i = 0; i < items->list.n; i++) {
        if (items->list.v[i]->t != JV_STR) {
            free(b.p);
            jfail(s, "sequence item %zu: expected str instance, %s found", i,
                  jv_type_name(items->list.v[i]));
        }
        if (i) jbuf_put(&b, self->s.p, self->s.n);
        jbuf_put(&b, items->list.v[i]->s.p, items->list.v[i]->s.n);
    }
    return jstr_take(s, &b);
}
static mb_jv *m_is(jstate *s, const mb_jv *v, int (*pred)(int), int need_cased) {
    int any = 0, cased = 0;
    for (size_t i = 0; i < v->s.n; i++) {
        int ch = (unsigned char)v->s.p[i];
        if (need_cased) {
            if (isalpha(ch)) cased = 1;
            if (isalpha(ch) && !pred(ch)) return mb_jv_bool(s->c, 0);
            continue;
        }
        if (!pred(ch)) return mb_jv_bool(s->c, 0);
        any = 1;
    }
    return mb_jv_bool(s->c, need_cased ? cased : any);
}
/* str.isdigit() and its kind, one line each. */
#define IS_METHOD(name, pred, cased)                                                               \
    static mb_jv *m_##name(ARGS) {                                                                 \
        (void)args, (void)n_pos, (void)kw, (void)n_kw;                                             \
        return m_is(s, self, pred, cased);                                                         \
    }
IS_METHOD(isdigit, isdigit, 0)
IS_METHOD(isalpha, isalpha, 0)
IS_METHOD(isspace, isspace, 0)
IS_METHOD(islower, islower, 1)
IS_METHOD(isupper, isupper, 1)
#undef IS_METHOD

/* ---- dict and list methods ---------------------------------------------- */

mb_jv *jitems(jstate *s, const mb_jv *d) {
    mb_jv *l = mb_jv_list(s->c);
    for (size_t i = 0; i < d->dict.n; i++) {
        mb_jv *pair = mb_jv_list(s->c);
        mb_jv_list_push(s->c, pair, d->dict.k[i]);
        mb_jv_list_push(s->c, pair, d->dict.v[i]);
        pair->tuple = 1;
        mb_jv_list_push(s->c, l, pair);
    }
    return l;
}
/* A dict's views: lists that are not JSON (dict_items etc. in Python). */
static mb_jv *view(mb_jv *l) {
    l->gen = 2;
    return l;
}
static mb_jv *m_items(ARGS) {
    (void)args, (void)n_pos, (void)kw, (void)n_kw;
    return view(jitems(s, self));
}
static mb_jv *m_keys(ARGS) {
    (void)args, (void)n_pos, (void)kw, (void)n_kw;
    mb_jv *l = mb_jv_list(s->c);
    for (size_t i = 0; i < self->dict.n; i++)
        mb_jv_list_push(s->c, l, self->dict.k[i]);
    return view(l);
}
static mb_jv *m_values(ARGS) {
    (void)args, (void)n_pos, (void)kw, (void)n_kw;
    mb_jv *l = mb_jv_list(s->c);
    for (size_t i = 0; i < self->dict.n; i++)
        mb_jv_list_push(s->c, l, self->dict.v[i]);
    return view(l);
}
static mb_jv *m_get(ARGS) {
    mb_jv *k = ARG(0, "key"), *d = ARG(1, "default");
    if (!k) jfail(s, "get() takes at least 1 argument");
    for (size_t i = 0; i < self->dict.n; i++)
        if (jv_equal(self->dict.k[i], k)) return self->dict.v[i];
    return d ? d : mb_jv_none(s->c);
}
static mb_jv *m_index(ARGS) {
    mb_jv *x = ARG(0, "x");
    if (!x) jfail(s, "index() takes 1 argument");
    if (self->t == JV_STR) {
        jwant_str(s, x, "the text to find");
        long long i = find(self, x, 0);
        if (i < 0) jfail(s, "substring not found");
        return mb_jv_int(s->c, i);
    }
    for (size_t i = 0; i < self->list.n; i++)
        if (jv_equal(self->list.v[i], x)) return mb_jv_int(s->c, (long long)i);
    jfail(s, "value is not in list");
}
static mb_jv *m_unsafe(ARGS) {
    (void)args, (void)n_pos, (void)kw, (void)n_kw;
    jfail(s, "access to a method that changes a %s is unsafe (the sandbox keeps values immutable)",
          jv_type_name(self));
}

typedef struct {
    jv_type on;
    jv_func f;
} method;

static const method METHODS[] = {
    {JV_STR, {"startswith", m_startswith}},
    {JV_STR, {"endswith", m_endswith}},
    {JV_STR, {"strip", m_strip}},
    {JV_STR, {"lstrip", m_lstrip}},
    {JV_STR, {"rstrip", m_rstrip}},
    {JV_STR, {"split", m_split}},
    {JV_STR, {"rsplit", m_rsplit}},
    {JV_STR, {"splitlines", m_splitlines}},
    {JV_STR, {"lower", m_lower}},
    {JV_STR, {"upper", m_upper}},
    {JV_STR, {"title", m_title}},
    {JV_STR, {"capitalize", m_capitalize}},
    {JV_STR, {"replace", m_replace}},
    {JV_STR, {"find", m_find}},
    {JV_STR, {"rfind", m_rfind}},
    {JV_STR, {"index", m_index}},
    {JV_STR, {"count", m_count}},
    {JV_STR, {"join", m_join}},
    {JV_STR, {"isdigit", m_isdigit}},
    {JV_STR, {"isalpha", m_isalpha}},
    {JV_STR, {"isspace", m_isspace}},
    {JV_STR, {"islower", m_islower}},
    {JV_STR, {"isupper", m_isupper}},
    {JV_DICT, {"items", m_items}},
    {JV_DICT, {"keys", m_keys}},
    {JV_DICT, {"values", m_values}},
    {JV_DICT, {"get", m_get}},
    {JV_DICT, {"update", m_unsafe}},
    {JV_DICT, {"pop", m_unsafe}},
    {JV_DICT, {"setdefault", m_unsafe}},
    {JV_DICT, {"clear", m_unsafe}},
    {JV_LIST, {"index", m_index}},
    {JV_LIST, {"count", m_count}},
    {JV_LIST, {"append", m_unsafe}},
    {JV_LIST, {"extend", m_unsafe}},
    {JV_LIST, {"insert", m_unsafe}},
    {JV_LIST, {"pop", m_unsafe}},
    {JV_LIST, {"remove", m_unsafe}},
    {JV_LIST, {"sort", m_unsafe}},
    {JV_LIST, {"reverse", m_unsafe}},
    {JV_LIST, {"clear", m_unsafe}},
};

mb_jv *jmethod(jstate *s, mb_jv *obj, const char *name, size_t n) {
    for (size_t i = 0; i < sizeof METHODS / sizeof *METHODS; i++)
        if (METHODS[i].on == obj->t && strlen(METHODS[i].f.name) == n &&
            !memcmp(METHODS[i].f.name, name, n)) {
            mb_jv *f = jv_new(s->c, JV_FUNC);
            if (!f) jfail(s, "out of memory");
            f->func.fn = &METHODS[i].f, f->func.self = obj;
            return f;
        }
    return NULL;
}

/* ---- tests ---------------------------------------------------------------- */

static int is_int(const mb_jv *v) {
    return v->t == JV_INT;
}

int jtest(jstate *s, jframe *f, const char *name, size_t n, mb_jv *v, mb_jv **args, int n_args) {
    (void)f;
    char t[24];
    snprintf(t, sizeof t, "%.*s", (int)(n < 23 ? n : 23), name);
    mb_jv *a = n_args > 0 ? args[0] : NULL;
    int ok;
    if (!strcmp(t, "defined")) return v->t != JV_UNDEF;
    if (!strcmp(t, "undefined")) return v->t == JV_UNDEF;
    if (!strcmp(t, "none")) return v->t == JV_NONE;
    if (!strcmp(t, "boolean")) return v->t == JV_BOOL;
    if (!strcmp(t, "true")) return v->t == JV_BOOL && v->b;
    if (!strcmp(t, "false")) return v->t == JV_BOOL && !v->b;
    if (!strcmp(t, "string")) return v->t == JV_STR;
    if (!strcmp(t, "number")) return v->t == JV_INT || v->t == JV_FLOAT || v->t == JV_BOOL;
    if (!strcmp(t, "integer")) return is_int(v);
    if (!strcmp(t, "float")) return v->t == JV_FLOAT;
    if (!strcmp(t, "mapping")) return v->t == JV_DICT;
    if (!strcmp(t, "iterable"))
        return v->t == JV_LIST || v->t == JV_DICT || v->t == JV_STR || v->t == JV_UNDEF;
    if (!strcmp(t, "sequence"))
        return v->t == JV_LIST || v->t == JV_DICT || v->t == JV_STR || v->t == JV_UNDEF;
    if (!strcmp(t, "callable")) return v->t == JV_MACRO || v->t == JV_FUNC;
    if (!strcmp(t, "lower") || !strcmp(t, "upper")) {
        if (v->t != JV_STR) jfail(s, "'%s' test needs a string", t);
        return jv_truthy(m_is(s, v, t[0] == 'l' ? islower : isupper, 1));
    }
    if (!strcmp(t, "odd") || !strcmp(t, "even")) {
        if (!is_int(v)) jfail(s, "'%s' test needs an integer", t);
        return (v->i % 2 != 0) == (t[0] == 'o');
    }
    if (!a) jfail(s, "the test '%s' is unknown or needs an argument", t);
    if (!strcmp(t, "sameas")) return v == a || (v->t == a->t && v->t <= JV_BOOL && jv_equal(v, a));
    if (!strcmp(t, "eq") || !strcmp(t, "equalto") || !strcmp(t, "==")) return jv_equal(v, a);
    if (!strcmp(t, "ne") || !strcmp(t, "!=")) return !jv_equal(v, a);
    if (!strcmp(t, "in")) {
        if (a->t == JV_STR && v->t == JV_STR) return v->s.n == 0 || find(a, v, 0) >= 0;
        a = jto_list(s, a);
        for (size_t i = 0; i < a->list.n; i++)
            if (jv_equal(a->list.v[i], v)) return 1;
        return 0;
    }
    if (!strcmp(t, "divisibleby")) {
        if (!is_int(v) || !is_int(a) || a->i == 0) jfail(s, "divisibleby needs integers");
        return v->i % a->i == 0;
    }
    int r = jv_compare(v, a, &ok);
    if (!ok && (!strcmp(t, "lt") || !strcmp(t, "le") || !strcmp(t, "gt") || !strcmp(t, "ge") ||
                !strcmp(t, "<") || !strcmp(t, ">") || !strcmp(t, "<=") || !strcmp(t, ">=")))
        jfail(s, "cannot compare %s and %s", jv_type_name(v), jv_type_name(a));
    if (!strcmp(t, "lt") || !strcmp(t, "<") || !strcmp(t, "lessthan")) return r < 0;
    if (!strcmp(t, "le") || !strcmp(t, "<=")) return r <= 0;
    if (!strcmp(t, "gt") || !strcmp(t, ">") || !strcmp(t, "greaterthan")) return r > 0;
    if (!strcmp(t, "ge") || !strcmp(t, ">=")) return r >= 0;
    jfail(s, "no test named '%s'", t);
}
