/* Filters ("x | name(args)"), with jinja2's semantics and the tojson of
 * Hugging Face's chat templates (json.dumps with ensure_ascii=False). */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jinja/internal.h"

#define ARG(i, name) jarg(args, n_pos, kw, n_kw, i, name)

/* What jinja2's generator filters (map, select, unique, ...) return. */
static mb_jv *generator(mb_jv *l) {
    l->gen = 1;
    return l;
}

static mb_jv *to_str(jstate *s, const mb_jv *v) {
    if (v->t == JV_STR) return (mb_jv *)v;
    jbuf b = {0};
    jv_str(&b, v);
    return jstr_take(s, &b);
}

/* An attribute path "a.b.0" of V, as jinja2's make_attrgetter reads it. */
static mb_jv *attr_path(jstate *s, mb_jv *v, const mb_jv *path) {
    jwant_str(s, path, "the attribute");
    const char *p = path->s.p, *e = p + path->s.n;
    while (p <= e && v->t != JV_UNDEF) {
        const char *dot = memchr(p, '.', (size_t)(e - p));
        const char *q = dot ? dot : e;
        char *end;
        char tmp[32];
        long long idx = 0;
        int is_idx = q - p > 0 && q - p < 20;
        if (is_idx) {
            snprintf(tmp, sizeof tmp, "%.*s", (int)(q - p), p);
            idx = strtoll(tmp, &end, 10);
            is_idx = *end == '\0';
        }
        v = is_idx ? jgetitem(s, v, mb_jv_int(s->c, idx))
                   : jgetitem(s, v, mb_jv_str(s->c, p, (size_t)(q - p)));
        if (!dot) break;
        p = dot + 1;
    }
    return v;
}

static mb_jv *json_filter(jstate *s, mb_jv *v, mb_jv *indent, mb_jv *seps, mb_jv *sort,
                          mb_jv *ascii) {
    json_style st = {.indent = -1, .item_sep = ", ", .key_sep = ": "};
    if (indent && indent->t == JV_INT) st.indent = (int)indent->i, st.item_sep = ",";
    if (indent && indent->t == JV_STR) jfail(s, "tojson: a string indent is not supported");
    if (seps && seps->t == JV_LIST && seps->list.n == 2 && seps->list.v[0]->t == JV_STR &&
        seps->list.v[1]->t == JV_STR) {
        st.item_sep = jv_strdup(s->c, seps->list.v[0]->s.p, seps->list.v[0]->s.n);
        st.key_sep = jv_strdup(s->c, seps->list.v[1]->s.p, seps->list.v[1]->s.n);
    }
    st.sort_keys = sort && jv_truthy(sort);
    st.ensure_ascii = ascii && jv_truthy(ascii);
    jbuf b = {0};
    if (!jv_json(&b, v, &st, 0)) {
        free(b.p);
        jfail(s, "Object of type %s is not JSON serializable", jv_type_name(v));
    }
    return jstr_take(s, &b);
}

/* jinja2's indent: every line but the first gets WIDTH spaces (or the
 * string WIDTH), blank lines only with BLANK; with FIRST the first line too
 * (blank or not). Lines are the text split at newlines. */
static mb_jv *indent(jstate *s, mb_jv *v, mb_jv *width, mb_jv *first, mb_jv *blank) {
    v = to_str(s, v);
    jbuf pad = {0}, b = {0};
    if (width && width->t == JV_STR)
        jbuf_put(&pad, width->s.p, width->s.n);
    else
        for (long long i = 0; i < (width && width->t == JV_INT ? width->i : 4) && i < 1000; i++)
            jbuf_put(&pad, " ", 1);
    if (first && jv_truthy(first)) jbuf_put(&b, pad.p, pad.n);
    const char *p = v->s.p, *e = p + v->s.n;
    for (int line_no = 0;; line_no++) {
        const char *q = memchr(p, '\n', (size_t)(e - p));
        if (!q) q = e;
        if (line_no > 0) {
            jbuf_put(&b, "\n", 1);
            if (q > p || (blank && jv_truthy(blank))) jbuf_put(&b, pad.p, pad.n);
        }
        jbuf_put(&b, p, (size_t)(q - p));
        if (q == e) break;
        p = q + 1;
    }
    free(pad.p);
    return jstr_take(s, &b);
}

/* Items of V kept (keep 1) or dropped by the test NAME(args) of ITEM or of
 * its attribute ATTR. */
static mb_jv *select_items(jstate *s, jframe *f, mb_jv *v, mb_jv **args, int n_args, int by_attr,
                           int keep) {
    /* jinja2 looks only into a true value: none selects nothing. */
    mb_jv *items = jv_truthy(v) ? jto_list(s, v) : mb_jv_list(s->c), *out = mb_jv_list(s->c);
    if (by_attr && n_args < 1) jfail(s, "selectattr needs an attribute");
    mb_jv *attr = by_attr ? args[0] : NULL;
    mb_jv *test = n_args > by_attr ? args[by_attr] : NULL;
    if (test) jwant_str(s, test, "the test's name");
    for (size_t i = 0; i < items->list.n; i++) {
        mb_jv *x = attr ? attr_path(s, items->list.v[i], attr) : items->list.v[i];
        int r = test
                    ? jtest(s, f, test->s.p, test->s.n, x, args + by_attr + 1, n_args - by_attr - 1)
                    : jv_truthy(x);
        if (r == keep) mb_jv_list_push(s->c, out, items->list.v[i]);
    }
    return generator(out);
}

static int sort_cmp(jstate *s, mb_jv *a, mb_jv *b, int case_sensitive) {
    if (!case_sensitive && a->t == JV_STR && b->t == JV_STR) a = jcase(s, a, 0), b = jcase(s, b, 0);
    int ok, r = jv_compare(a, b, &ok);
    if (!ok)
        jfail(s, "'<' not supported between instances of '%s' and '%s'", jv_type_name(a),
              jv_type_name(b));
    return r;
}

/* Stable insertion sort of V's items by KEY (an attribute path) or themselves. */
typedef struct {
    jstate *s;
    mb_jv **keys;
    int rev;
} sort_ctx;

static int sort_key_cmp(void *ctx, size_t a, size_t b) {
    sort_ctx *c = ctx;
    int ok, r = jv_compare(c->keys[a], c->keys[b], &ok);
    if (!ok)
        jfail(c->s, "'<' not supported between instances of '%s' and '%s'",
              jv_type_name(c->keys[a]), jv_type_name(c->keys[b]));
    return c->rev ? -r : r;
}

static mb_jv *sort(jstate *s, mb_jv *v, mb_jv *reverse, mb_jv *cs, mb_jv *attr,
                   int by_key_of_pair) {
    mb_jv *items = jto_list(s, v), *out = mb_jv_list(s->c);
    const size_t n = items->list.n;
    sort_ctx sc = {.s = s, .rev = reverse && jv_truthy(reverse)};
    sc.keys = jv_alloc(s->c, (n + 1) * sizeof *sc.keys);
    size_t *idx = jv_alloc(s->c, (2 * n + 1) * sizeof *idx);
    for (size_t i = 0; i < n; i++) { /* each item's key once: attribute, pair key, case */
        mb_jv *k = attr ? attr_path(s, items->list.v[i], attr) : items->list.v[i];
        if (by_key_of_pair) k = k->list.v[0];
        if (!(cs && jv_truthy(cs)) && k->t == JV_STR) k = jcase(s, k, 0);
        sc.keys[i] = k, idx[i] = i;
    }
    jv_sort_idx(idx, idx + n, n, sort_key_cmp, &sc);
    for (size_t i = 0; i < n; i++)
        mb_jv_list_push(s->c, out, items->list.v[idx[i]]);
    return out;
}

static mb_jv *f_join(jstate *s, mb_jv *v, mb_jv *sep, mb_jv *attr) {
    mb_jv *items = jto_list(s, v);
    mb_jv **parts = jv_alloc(s->c, (items->list.n + 1) * sizeof *parts);
    if (!parts) jfail(s, "out of memory");
    for (size_t i = 0; i < items->list.n; i++) /* lookups first: they may fail */
        parts[i] = attr ? attr_path(s, items->list.v[i], attr) : items->list.v[i];
    jbuf b = {0};
    for (size_t i = 0; i < items->list.n; i++) {
        if (i && sep) jv_str(&b, sep);
        jv_str(&b, parts[i]);
    }
    return jstr_take(s, &b);
}

static mb_jv *f_map(jstate *s, jframe *f, mb_jv *v, mb_jv **args, int n_pos, const char **kw,
                    int n_kw) {
    mb_jv *items = jv_truthy(v) ? jto_list(s, v) : mb_jv_list(s->c), *out = mb_jv_list(s->c);
    mb_jv *attr = jarg(args, n_pos, kw, n_kw, -1, "attribute");
    mb_jv *dflt = jarg(args, n_pos, kw, n_kw, -1, "default");
    for (size_t i = 0; i < items->list.n; i++) {
        mb_jv *x = items->list.v[i];
        if (attr) {
            x = attr_path(s, x, attr);
            if (x->t == JV_UNDEF && dflt) x = dflt;
        } else {
            if (n_pos < 1) jfail(s, "map needs a filter name or attribute=");
            jwant_str(s, args[0], "the filter's name");
            x = jfilter(s, f, args[0]->s.p, args[0]->s.n, x, args + 1, n_pos - 1, kw, n_kw);
        }
        mb_jv_list_push(s->c, out, x);
    }
    return generator(out);
}

static mb_jv *f_int(jstate *s, mb_jv *v, mb_jv *dflt) {
    mb_jinja_ctx *c = s->c;
    if (v->t == JV_INT) return v;
    if (v->t == JV_BOOL) return mb_jv_int(c, v->b);
    if (v->t == JV_FLOAT) return mb_jv_int(c, jint_from_double(s, v->f));
    if (v->t == JV_STR) {
        char tmp[64], *end;
        snprintf(tmp, sizeof tmp, "%.*s", (int)(v->s.n < 63 ? v->s.n : 63), v->s.p);
        long long i = strtoll(tmp, &end, 10);
        while (*end && jv_is_space((unsigned char)*end))
            end++;
        if (end != tmp && !*end) return mb_jv_int(c, i);
        double d = strtod(tmp, &end);
        if (end != tmp && !*end) return mb_jv_int(c, jint_from_double(s, d));
    }
    return dflt ? dflt : mb_jv_int(c, 0);
}

static mb_jv *minmax(jstate *s, mb_jv *v, mb_jv *attr, int want) {
    mb_jv *items = jto_list(s, v), *best = NULL, *bk = NULL;
    for (size_t i = 0; i < items->list.n; i++) {
        mb_jv *k = attr ? attr_path(s, items->list.v[i], attr) : items->list.v[i];
        if (!best || sort_cmp(s, k, bk, 0) * want > 0) best = items->list.v[i], bk = k;
    }
    return best ? best : jv_undef(s->c, "no item");
}

mb_jv *jfilter(jstate *s, jframe *f, const char *name, size_t n, mb_jv *v, mb_jv **args, int n_pos,
               const char **kw, int n_kw) {
    mb_jinja_ctx *c = s->c;
    char t[24];
    snprintf(t, sizeof t, "%.*s", (int)(n < 23 ? n : 23), name);
    const int n_args = n_pos + n_kw;
    if (!strcmp(t, "default") || !strcmp(t, "d")) {
        mb_jv *d = ARG(0, "default_value"), *boolean = ARG(1, "boolean");
        int use = v->t == JV_UNDEF || (boolean && jv_truthy(boolean) && !jv_truthy(v));
        return use ? (d ? d : mb_jv_str(c, "", 0)) : v;
    }
    if (!strcmp(t, "length") || !strcmp(t, "count")) {
        if (v->t == JV_STR) return mb_jv_int(c, (long long)utf8_len(v->s.p, v->s.n));
        if (v->t == JV_LIST && v->gen == 1) jfail(s, "object of type 'generator' has no len()");
        if (v->t == JV_LIST) return mb_jv_int(c, (long long)v->list.n);
        if (v->t == JV_DICT || v->t == JV_NS) return mb_jv_int(c, (long long)v->dict.n);
        if (v->t == JV_UNDEF) return mb_jv_int(c, 0);
        jfail(s, "object of type '%s' has no len()", jv_type_name(v));
    }
    if (!strcmp(t, "tojson"))
        return json_filter(s, v, ARG(0, "indent"), ARG(1, "separators"), ARG(2, "sort_keys"),
                           ARG(-1, "ensure_ascii"));
    if (!strcmp(t, "safe") || !strcmp(t, "list") || !strcmp(t, "string") || !strcmp(t, "trim") ||
        !strcmp(t, "upper") || !strcmp(t, "lower") || !strcmp(t, "capitalize") ||
        !strcmp(t, "title") || !strcmp(t, "escape") || !strcmp(t, "e") || !strcmp(t, "reverse")) {
        if (!strcmp(t, "safe")) {
            mb_jv *str = to_str(s, v), *m = mb_jv_str(c, str->s.p, str->s.n);
            if (!m) jfail(s, "out of memory");
            m->markup = 1;
            return m;
        }
        if (!strcmp(t, "list")) {
            if (v->t == JV_LIST && !v->gen) return v;
            mb_jv *items = jto_list(s, v), *out = mb_jv_list(c);
            for (size_t i = 0; i < items->list.n; i++)
                mb_jv_list_push(c, out, items->list.v[i]);
            return out;
        }
        if (!strcmp(t, "reverse")) {
            if (v->t == JV_STR) {
                mb_jv *chars = jto_list(s, v);
                jbuf b = {0};
                for (size_t i = chars->list.n; i-- > 0;)
                    jbuf_put(&b, chars->list.v[i]->s.p, chars->list.v[i]->s.n);
                return jstr_take(s, &b);
            }
            mb_jv *items = jto_list(s, v), *out = mb_jv_list(c);
            for (size_t i = items->list.n; i-- > 0;)
                mb_jv_list_push(c, out, items->list.v[i]);
            return generator(out); /* reversed(): an iterator */
        }
        mb_jv *str = to_str(s, v);
        if (!strcmp(t, "string")) return str;
        if (!strcmp(t, "trim")) {
            mb_jv *chars = ARG(0, "chars");
            const char *p = str->s.p, *e = p + str->s.n;
            if (chars && chars->t == JV_STR) {
                while (p < e && memchr(chars->s.p, *p, chars->s.n))
                    p++;
                while (e > p && memchr(chars->s.p, e[-1], chars->s.n))
                    e--;
            } else {
                while (p < e && jv_is_space((unsigned char)*p))
                    p++;
                while (e > p && jv_is_space((unsigned char)e[-1]))
                    e--;
            }
            return mb_jv_str(c, p, (size_t)(e - p));
        }
        if (!strcmp(t, "escape") || !strcmp(t, "e")) {
            if (str->markup) return str;
            jbuf b = {0};
            jv_html_escape(&b, str->s.p, str->s.n);
            mb_jv *r = jstr_take(s, &b);
            r->markup = 1;
            return r;
        }
        if (!strcmp(t, "title")) { /* jinja2's title: words split at blanks, -, ( { [ < */
            char *d = jv_strdup(c, str->s.p, str->s.n);
            int start = 1;
            for (size_t i = 0; d && i < str->s.n; i++) {
                unsigned char ch = (unsigned char)d[i];
                if (jv_is_space(ch) || strchr("-({[<", ch)) {
                    start = 1;
                    continue;
                }
                if (ch < 0x80) d[i] = (char)(start ? toupper(ch) : tolower(ch));
                start = 0;
            }
            return mb_jv_str(c, d ? d : "", str->s.n);
        }
        return jcase(s, str, t[0] == 'l' ? 0 : t[0] == 'u' ? 1 : 3);
    }
    if (!strcmp(t, "first") || !strcmp(t, "last")) {
        mb_jv *items = jto_list(s, v);
        if (items->list.n == 0) return jv_undef(c, "no first item");
        return items->list.v[t[0] == 'f' ? 0 : items->list.n - 1];
    }
    if (!strcmp(t, "items")) {
        if (v->t == JV_UNDEF) return mb_jv_list(c);
        if (v->t != JV_DICT && v->t != JV_NS)
            jfail(s, "items: expected a mapping, got %s", jv_type_name(v));
        return generator(jitems(s, v));
    }
    if (!strcmp(t, "join")) return f_join(s, v, ARG(0, "d"), ARG(1, "attribute"));
    if (!strcmp(t, "map")) return f_map(s, f, v, args, n_pos, kw, n_kw);
    if (!strcmp(t, "select") || !strcmp(t, "reject"))
        return select_items(s, f, v, args, n_args, 0, t[0] == 's');
    if (!strcmp(t, "selectattr") || !strcmp(t, "rejectattr"))
        return select_items(s, f, v, args, n_args, 1, t[0] == 's');
    if (!strcmp(t, "replace")) {
        mb_jv *o = ARG(0, "old"), *nw = ARG(1, "new"), *cnt = ARG(2, "count");
        if (!o || !nw) jfail(s, "replace needs old and new");
        return jreplace(s, to_str(s, v), o, nw, cnt && cnt->t == JV_INT ? cnt->i : -1);
    }
    if (!strcmp(t, "int")) return f_int(s, v, ARG(0, "default"));
    if (!strcmp(t, "float")) {
        if (v->t == JV_FLOAT) return v;
        if (v->t == JV_INT || v->t == JV_BOOL)
            return jv_float(c, v->t == JV_INT ? (double)v->i : v->b);
        if (v->t == JV_STR) {
            char tmp[64], *end;
            snprintf(tmp, sizeof tmp, "%.*s", (int)(v->s.n < 63 ? v->s.n : 63), v->s.p);
            double d = strtod(tmp, &end);
            if (end != tmp && !*end) return jv_float(c, d);
        }
        mb_jv *d = ARG(0, "default");
        return d ? d : jv_float(c, 0.0);
    }
    if (!strcmp(t, "abs")) {
        if (v->t == JV_INT) return mb_jv_int(c, v->i < 0 ? -v->i : v->i);
        if (v->t == JV_FLOAT) return jv_float(c, fabs(v->f));
        jfail(s, "bad operand type for abs(): '%s'", jv_type_name(v));
    }
    if (!strcmp(t, "round")) {
        mb_jv *prec = ARG(0, "precision"), *method = ARG(1, "method");
        double x = v->t == JV_FLOAT ? v->f : v->t == JV_INT ? (double)v->i : 0, m = 1;
        for (long long i = 0; prec && prec->t == JV_INT && i < prec->i && i < 300; i++)
            m *= 10;
        const char *how = method && method->t == JV_STR ? method->s.p : "common";
        double r = !strncmp(how, "floor", 5)  ? floor(x * m) / m
                   : !strncmp(how, "ceil", 4) ? ceil(x * m) / m
                                              : round(x * m) / m;
        return jv_float(c, r);
    }
    if (!strcmp(t, "sort"))
        return sort(s, v, ARG(0, "reverse"), ARG(1, "case_sensitive"), ARG(2, "attribute"), 0);
    if (!strcmp(t, "dictsort")) {
        if (v->t != JV_DICT) jfail(s, "dictsort: expected a mapping");
        return sort(s, jitems(s, v), ARG(2, "reverse"), ARG(0, "case_sensitive"), NULL, 1);
    }
    if (!strcmp(t, "unique")) {
        mb_jv *items = jto_list(s, v), *out = mb_jv_list(c);
        for (size_t i = 0; i < items->list.n; i++) {
            int seen = 0;
            for (size_t j = 0; j < out->list.n && !seen; j++)
                seen = jv_equal(out->list.v[j], items->list.v[i]);
            if (!seen) mb_jv_list_push(c, out, items->list.v[i]);
        }
        return generator(out);
    }
    if (!strcmp(t, "sum")) {
        mb_jv *items = jto_list(s, v), *attr = ARG(0, "attribute"), *acc = ARG(1, "start");
        if (!acc) acc = mb_jv_int(c, 0);
        for (size_t i = 0; i < items->list.n; i++) {
            mb_jv *x = attr ? attr_path(s, items->list.v[i], attr) : items->list.v[i];
            int ints = acc->t == JV_INT && x->t == JV_INT;
            if ((acc->t != JV_INT && acc->t != JV_FLOAT) || (x->t != JV_INT && x->t != JV_FLOAT))
                jfail(s, "sum: items must be numbers");
            acc = ints ? mb_jv_int(c, jint_add(s, acc->i, x->i))
                       : jv_float(c, (acc->t == JV_INT ? (double)acc->i : acc->f) +
                                         (x->t == JV_INT ? (double)x->i : x->f));
        }
        return acc;
    }
    if (!strcmp(t, "min") || !strcmp(t, "max"))
        return minmax(s, v, ARG(-1, "attribute"), t[1] == 'a' ? 1 : -1);
    if (!strcmp(t, "attr")) {
        mb_jv *a = ARG(0, "name");
        if (!a) jfail(s, "attr needs a name");
        jwant_str(s, a, "the attribute");
        return jgetattr(s, v, a->s.p, a->s.n);
    }
    if (!strcmp(t, "indent"))
        return indent(s, v, ARG(0, "width"), ARG(1, "first"), ARG(2, "blank"));
    if (!strcmp(t, "format")) {
        mb_jv *fmt = to_str(s, v), *l = mb_jv_list(c);
        for (int i = 0; i < n_pos; i++)
            mb_jv_list_push(c, l, args[i]);
        return jformat_percent(s, fmt, l);
    }
    if (!strcmp(t, "wordcount")) {
        mb_jv *str = to_str(s, v);
        long long words = 0;
        for (size_t i = 0; i < str->s.n; i++)
            words += !jv_is_space((unsigned char)str->s.p[i]) &&
                     (i == 0 || jv_is_space((unsigned char)str->s.p[i - 1]));
        return mb_jv_int(c, words);
    }
    jfail(s, "no filter named '%s'", t);
}
