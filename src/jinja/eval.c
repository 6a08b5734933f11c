/* Expressions: names through the scopes, attributes and items as Jinja's
 * sandbox looks them up, Python's operators, calls of macros and
 * functions. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jinja/internal.h"

_Noreturn void jfail(jstate *s, const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(s->err, sizeof s->err, "template line %d: %s", s->line, msg);
    longjmp(s->fail, 1);
}

_Noreturn void jfail_raw(jstate *s, const char *msg, size_t n) {
    if (n >= sizeof s->err) n = sizeof s->err - 1;
    memcpy(s->err, msg, n);
    s->err[n] = '\0';
    longjmp(s->fail, 2);
}

mb_jv *jlookup(jstate *s, jframe *f, const char *name, size_t n) {
    for (; f; f = f->parent) {
        mb_jv *v = jv_dict_get(f->vars, name, n);
        if (v) return v;
    }
    mb_jv *g = jglobal(s, name, n);
    return g ? g : jv_undef(s->c, jv_strdup(s->c, name, n));
}

/* Undefined values may be printed, tested and iterated (as nothing), but
 * not looked into. */
static _Noreturn void undefined_error(jstate *s, const mb_jv *v) {
    if (v->undef_name) jfail(s, "'%s' is undefined", v->undef_name);
    jfail(s, "a value is undefined");
}

mb_jv *jgetattr(jstate *s, mb_jv *obj, const char *name, size_t n) {
    if (obj->t == JV_UNDEF) undefined_error(s, obj);
    mb_jv *m = jmethod(s, obj, name, n);
    if (m) return m;
    if (obj->t == JV_DICT || obj->t == JV_NS) {
        mb_jv *v = jv_dict_get(obj, name, n);
        if (v) return v;
    }
    char *what = jv_alloc(s->c, n + 64);
    if (what)
        snprintf(what, n + 64, "%s object' has no attribute '%.*s", jv_type_name(obj), (int)n,
                 name);
    return jv_undef(s->c, what);
}

mb_jv *jgetitem(jstate *s, mb_jv *obj, mb_jv *key) {
    if (obj->t == JV_UNDEF) undefined_error(s, obj);
    if (obj->t == JV_DICT || obj->t == JV_NS) {
        for (size_t i = 0; i < obj->dict.n; i++)
            if (jv_equal(obj->dict.k[i], key)) return obj->dict.v[i];
    } else if (((obj->t == JV_LIST && !obj->gen) || obj->t == JV_STR) &&
               (key->t == JV_INT || key->t == JV_BOOL)) {
        long long i = key->t == JV_INT ? key->i : key->b;
        size_t len = obj->t == JV_LIST ? obj->list.n : utf8_len(obj->s.p, obj->s.n);
        if (i < 0) i += (long long)len;
        if (i >= 0 && (size_t)i < len) {
            if (obj->t == JV_LIST) return obj->list.v[i];
            size_t a = utf8_offset(obj->s.p, obj->s.n, (size_t)i);
            size_t b = utf8_offset(obj->s.p, obj->s.n, (size_t)i + 1);
            return mb_jv_str(s->c, obj->s.p + a, b - a);
        }
    } else if (key->t == JV_STR) {
        return jgetattr(s, obj, key->s.p, key->s.n);
    }
    return jv_undef(s->c, NULL);
}

/* Python's slice indices for a sequence of LEN. */
static void slice_range(jstate *s, mb_jv **part, long long len, long long *start, long long *stop,
                        long long *step) {
    *step = 1;
    if (part[2] && part[2]->t != JV_NONE) {
        if (part[2]->t != JV_INT || part[2]->i == 0)
            jfail(s, "slice step must be a non-zero integer");
        *step = part[2]->i;
    }
    long long lo = *step < 0 ? -1 : 0, hi = *step < 0 ? len - 1 : len;
    long long v[2] = {*step < 0 ? hi : lo, *step < 0 ? lo : hi};
    for (int k = 0; k < 2; k++) {
        if (!part[k] || part[k]->t == JV_NONE) continue;
        if (part[k]->t != JV_INT) jfail(s, "slice indices must be integers");
        long long x = part[k]->i;
        if (x < 0) x += len;
        v[k] = x < lo ? lo : x > hi ? hi : x;
    }
    *start = v[0], *stop = v[1];
}

static mb_jv *slice(jstate *s, mb_jv *obj, mb_jv **part) {
    if (obj->t == JV_UNDEF) undefined_error(s, obj);
    if (obj->t != JV_LIST && obj->t != JV_STR) jfail(s, "cannot slice a %s", jv_type_name(obj));
    long long len =
        obj->t == JV_LIST ? (long long)obj->list.n : (long long)utf8_len(obj->s.p, obj->s.n);
    long long a, b, st;
    slice_range(s, part, len, &a, &b, &st);
    if (obj->t == JV_LIST) {
        mb_jv *out = mb_jv_list(s->c);
        /* a step past the end stops, as Python's does (i + st may not fit) */
        for (long long i = a; st > 0 ? i < b : i > b;) {
            mb_jv_list_push(s->c, out, obj->list.v[i]);
            if (__builtin_add_overflow(i, st, &i)) break;
        }
        return out;
    }
    jbuf buf = {0};
    for (long long i = a; st > 0 ? i < b : i > b;) {
        size_t x = utf8_offset(obj->s.p, obj->s.n, (size_t)i);
        size_t y = utf8_offset(obj->s.p, obj->s.n, (size_t)i + 1);
        jbuf_put(&buf, obj->s.p + x, y - x);
        if (__builtin_add_overflow(i, st, &i)) break; /* a step past the end stops */
    }
    mb_jv *out = jstr_take(s, &buf);
    return out;
}

long long jint_add(jstate *s, long long a, long long b) {
    long long r;
    if (__builtin_add_overflow(a, b, &r))
        jfail(s, "integer overflow (matchbox's integers are 64-bit)");
    return r;
}
long long jint_mul(jstate *s, long long a, long long b) {
    long long r;
    if (__builtin_mul_overflow(a, b, &r))
        jfail(s, "integer overflow (matchbox's integers are 64-bit)");
    return r;
}
long long jint_from_double(jstate *s, double d) {
    if (!(d > -9.2e18 && d < 9.2e18)) jfail(s, "cannot convert %g to a 64-bit integer", d);
    return (long long)d;
}

static int is_number(const mb_jv *v) {
    return v->t == JV_INT || v->t == JV_FLOAT || v->t == JV_BOOL;
}
static double as_double(const mb_jv *v) {
    return v->t == JV_FLOAT ? v->f : v->t == JV_INT ? (double)v->i : v->b;
}
static long long as_int(const mb_jv *v) {
    return v->t == JV_INT ? v->i : v->b;
}

static mb_jv *concat_str(jstate *s, const mb_jv *a, const mb_jv *b) {
    jbuf buf = {0};
    jv_str(&buf, a);
    jv_str(&buf, b);
    mb_jv *v = jstr_take(s, &buf);
    return v;
}

/* "%s" % value: the conversions templates use (s, d, i, r, f, %). */
mb_jv *jformat_percent(jstate *s, const mb_jv *fmt, mb_jv *args) {
    jbuf out = {0};
    size_t k = 0;
    for (size_t i = 0; i < fmt->s.n; i++) {
        char ch = fmt->s.p[i];
        if (ch != '%' || i + 1 >= fmt->s.n) {
            jbuf_put(&out, &ch, 1);
            continue;
        }
        char conv = fmt->s.p[++i];
        if (conv == '%') {
            jbuf_put(&out, "%", 1);
            continue;
        }
        mb_jv *v = args->t == JV_LIST ? (k < args->list.n ? args->list.v[k] : NULL)
                   : k == 0           ? args
                                      : NULL;
        k++;
        if (!v || !(conv == 'r' || conv == 's' ||
                    ((conv == 'd' || conv == 'i' || conv == 'f') && is_number(v)))) {
            free(out.p);
            if (!v) jfail(s, "not enough arguments for format string");
            jfail(s, "unsupported format '%%%c' for %s", conv, jv_type_name(v));
        }
        if (conv == 'r')
            jv_repr(&out, v);
        else if ((conv == 'd' || conv == 'i') && is_number(v))
            jbuf_printf(&out, "%lld", v->t == JV_FLOAT ? jint_from_double(s, v->f) : as_int(v));
        else if (conv == 'f' && is_number(v))
            jbuf_printf(&out, "%f", as_double(v));
        else
            jv_str(&out, v);
    }
    mb_jv *r = jstr_take(s, &out);
    return r;
}

static int contains(jstate *s, mb_jv *hay, mb_jv *needle) {
    if (hay->t == JV_STR) {
        if (needle->t != JV_STR) jfail(s, "'in <string>' requires a string");
        if (needle->s.n == 0) return 1;
        for (size_t i = 0; i + needle->s.n <= hay->s.n; i++)
            if (memcmp(hay->s.p + i, needle->s.p, needle->s.n) == 0) return 1;
        return 0;
    }
    if (hay->t == JV_LIST) {
        for (size_t i = 0; i < hay->list.n; i++)
            if (jv_equal(hay->list.v[i], needle)) return 1;
        return 0;
    }
    if (hay->t == JV_DICT || hay->t == JV_NS) {
        for (size_t i = 0; i < hay->dict.n; i++)
            if (jv_equal(hay->dict.k[i], needle)) return 1;
        return 0;
    }
    if (hay->t == JV_UNDEF) return 0; /* iterates as nothing */
    jfail(s, "argument of type '%s' is not iterable", jv_type_name(hay));
}

static mb_jv *arith(jstate *s, int op, mb_jv *a, mb_jv *b) {
    mb_jinja_ctx *c = s->c;
    if (a->t == JV_UNDEF) undefined_error(s, a);
    if (b->t == JV_UNDEF) undefined_error(s, b);
    if (op == '+' && (a->markup || b->markup)) {
        /* Markup + str escapes the str (markupsafe); the result is Markup. */
        if (a->t != JV_STR || b->t != JV_STR)
            jfail(s, "unsupported operand types for +: '%s' and '%s'", jv_type_name(a),
                  jv_type_name(b));
        jbuf buf = {0};
        if (a->markup)
            jbuf_put(&buf, a->s.p, a->s.n);
        else
            jv_html_escape(&buf, a->s.p, a->s.n);
        if (b->markup)
            jbuf_put(&buf, b->s.p, b->s.n);
        else
            jv_html_escape(&buf, b->s.p, b->s.n);
        mb_jv *r = jstr_take(s, &buf);
        if (!r) jfail(s, "out of memory");
        r->markup = 1;
        return r;
    }
    if (op == '+' && a->t == JV_STR && b->t == JV_STR) return concat_str(s, a, b);
    if (op == '+' && a->t == JV_LIST && b->t == JV_LIST && !a->gen && !b->gen) {
        mb_jv *l = mb_jv_list(c);
        for (size_t i = 0; i < a->list.n; i++)
            mb_jv_list_push(c, l, a->list.v[i]);
        for (size_t i = 0; i < b->list.n; i++)
            mb_jv_list_push(c, l, b->list.v[i]);
        return l;
    }
    if (op == '*' && (a->t == JV_STR || a->t == JV_LIST) && (b->t == JV_INT || b->t == JV_BOOL)) {
        long long n = as_int(b);
        if (n > 100000 || (a->t == JV_STR && (double)n * (double)a->s.n > 1e7))
            jfail(s, "repetition too large");
        if (a->t == JV_LIST) {
            mb_jv *l = mb_jv_list(c);
            for (long long k = 0; k < n; k++)
                for (size_t i = 0; i < a->list.n; i++)
                    mb_jv_list_push(c, l, a->list.v[i]);
            return l;
        }
        jbuf buf = {0};
        for (long long k = 0; k < n; k++)
            jbuf_put(&buf, a->s.p, a->s.n);
        mb_jv *r = jstr_take(s, &buf);
        return r;
    }
    if (op == '%' && a->t == JV_STR) return jformat_percent(s, a, b);
    if (!is_number(a) || !is_number(b))
        jfail(s, "unsupported operand types for %c: '%s' and '%s'", op < 256 ? op : '?',
              jv_type_name(a), jv_type_name(b));
    const int ints = a->t != JV_FLOAT && b->t != JV_FLOAT;
    const double x = as_double(a), y = as_double(b);
    switch (op) {
    case '+': return ints ? mb_jv_int(c, jint_add(s, as_int(a), as_int(b))) : jv_float(c, x + y);
    case '-':
        return ints ? mb_jv_int(c, jint_add(s, as_int(a), jint_mul(s, -1, as_int(b))))
                    : jv_float(c, x - y);
    case '*': return ints ? mb_jv_int(c, jint_mul(s, as_int(a), as_int(b))) : jv_float(c, x * y);
    case '/':
        if (y == 0) jfail(s, "division by zero");
        return jv_float(c, x / y);
    case OP_FLOORDIV:
    case '%': {
        if (y == 0) jfail(s, "integer division or modulo by zero");
        if (ints) {
            if (as_int(a) == LLONG_MIN && as_int(b) == -1) jfail(s, "integer overflow");
            long long p = as_int(a), q = as_int(b), d = p / q, r = p % q;
            if (r != 0 && ((r < 0) != (q < 0))) d--, r += q;
            return mb_jv_int(c, op == '%' ? r : d);
        }
        double d = floor(x / y);
        return jv_float(c, op == '%' ? x - d * y : d);
    }
    case OP_POW:
        if (ints && as_int(b) >= 0) {
            long long r = 1, base = as_int(a);
            for (long long k = 0; k < as_int(b) && k < 64; k++)
                r = jint_mul(s, r, base);
            return mb_jv_int(c, r);
        }
        return jv_float(c, pow(x, y));
    }
    jfail(s, "unknown operator");
}

static mb_jv *binary(jstate *s, jframe *f, const jnode *n) {
    mb_jv *a = jeval(s, f, n->a), *b = jeval(s, f, n->b);
    mb_jinja_ctx *c = s->c;
    int ok, r;
    switch (n->op) {
    case '~': return concat_str(s, a, b);
    case OP_EQ: return mb_jv_bool(c, jv_equal(a, b));
    case OP_NE: return mb_jv_bool(c, !jv_equal(a, b));
    case OP_IN: return mb_jv_bool(c, contains(s, b, a));
    case OP_NOTIN: return mb_jv_bool(c, !contains(s, b, a));
    case '<':
    case '>':
    case OP_LE:
    case OP_GE:
        r = jv_compare(a, b, &ok);
        if (!ok)
            jfail(s, "'%s' not supported between instances of '%s' and '%s'",
                  n->op == '<'     ? "<"
                  : n->op == '>'   ? ">"
                  : n->op == OP_LE ? "<="
                                   : ">=",
                  jv_type_name(a), jv_type_name(b));
        return mb_jv_bool(c, n->op == '<'     ? r < 0
                             : n->op == '>'   ? r > 0
                             : n->op == OP_LE ? r <= 0
                                              : r >= 0);
    default: return arith(s, n->op, a, b);
    }
}

/* Arguments of a call node: positional then keyword values. */
static mb_jv **eval_args(jstate *s, jframe *f, const jnode *n) {
    mb_jv **args = jv_alloc(s->c, (size_t)(n->n_kids + 1) * sizeof *args);
    if (!args) jfail(s, "out of memory");
    for (int i = 0; i < n->n_kids; i++)
        args[i] = jeval(s, f, n->kids[i]);
    return args;
}

static mb_jv *jeval_node(jstate *s, jframe *f, const jnode *n);

/* Expressions nest at most 200 deep in one expression (parser.c) and
 * macros 64 deep, but their product overflowed the stack under ASan (a
 * macro recursing through 150 nested operators, found by fuzzing): the
 * evaluation depth across macro calls is bounded too. */
enum { MAX_EVAL_DEPTH = 1000 };

mb_jv *jeval(jstate *s, jframe *f, const jnode *n) {
    if (++s->eval_depth > MAX_EVAL_DEPTH)
        jfail(s, "expressions nested deeper than %d, counting macro calls", MAX_EVAL_DEPTH);
    mb_jv *v = jeval_node(s, f, n);
    s->eval_depth--;
    return v;
}

static mb_jv *jeval_node(jstate *s, jframe *f, const jnode *n) {
    if (++s->steps > s->max_steps)
        jfail(s, "the template took more than %ld steps (a loop that does not end?)", s->max_steps);
    s->line = n->line;
    mb_jinja_ctx *c = s->c;
    switch (n->t) {
    case N_LIT: return n->lit;
    case N_NAME: return jlookup(s, f, n->name, n->name_len);
    case N_LISTLIT:
    case N_TUPLE: {
        mb_jv *l = mb_jv_list(c);
        for (int i = 0; i < n->n_kids; i++)
            mb_jv_list_push(c, l, jeval(s, f, n->kids[i]));
        l->tuple = n->t == N_TUPLE;
        return l;
    }
    case N_DICTLIT: {
        mb_jv *d = mb_jv_dict(c);
        for (int i = 0; i + 1 < n->n_kids; i += 2) {
            mb_jv *k = jeval(s, f, n->kids[i]);
            if (jv_dict_put(c, d, k, jeval(s, f, n->kids[i + 1]))) jfail(s, "out of memory");
        }
        return d;
    }
    case N_GETATTR: return jgetattr(s, jeval(s, f, n->a), n->name, n->name_len);
    case N_GETITEM: return jgetitem(s, jeval(s, f, n->a), jeval(s, f, n->b));
    case N_SLICE: {
        mb_jv *obj = jeval(s, f, n->a), *part[3];
        for (int i = 0; i < 3; i++)
            part[i] = n->kids[i] ? jeval(s, f, n->kids[i]) : NULL;
        return slice(s, obj, part);
    }
    case N_CALL: {
        mb_jv *callee = jeval(s, f, n->a);
        mb_jv **args = eval_args(s, f, n);
        s->line = n->line;
        return jcall_value(s, f, callee, args, n->n_pos, n->kw, n->n_kids - n->n_pos);
    }
    case N_FILTER: {
        mb_jv *v = jeval(s, f, n->a);
        mb_jv **args = eval_args(s, f, n);
        s->line = n->line;
        return jfilter(s, f, n->name, n->name_len, v, args, n->n_pos, n->kw, n->n_kids - n->n_pos);
    }
    case N_TEST: {
        mb_jv *v = jeval(s, f, n->a);
        mb_jv **args = eval_args(s, f, n);
        s->line = n->line;
        int r = jtest(s, f, n->name, n->name_len, v, args, n->n_kids);
        return mb_jv_bool(c, n->op ? !r : r);
    }
    case N_UNARY: {
        mb_jv *v = jeval(s, f, n->a);
        if (v->t == JV_INT || v->t == JV_BOOL)
            return mb_jv_int(c, n->op == '-' ? jint_mul(s, -1, as_int(v)) : as_int(v));
        if (v->t == JV_FLOAT) return jv_float(c, n->op == '-' ? -v->f : v->f);
        jfail(s, "bad operand type for unary %c: '%s'", n->op, jv_type_name(v));
    }
    case N_BINARY: return binary(s, f, n);
    case N_AND: {
        mb_jv *a = jeval(s, f, n->a);
        return jv_truthy(a) ? jeval(s, f, n->b) : a;
    }
    case N_OR: {
        mb_jv *a = jeval(s, f, n->a);
        return jv_truthy(a) ? a : jeval(s, f, n->b);
    }
    case N_NOT: return mb_jv_bool(c, !jv_truthy(jeval(s, f, n->a)));
    case N_CONDEXPR:
        if (jv_truthy(jeval(s, f, n->a))) return jeval(s, f, n->body);
        return n->b ? jeval(s, f, n->b) : jv_undef(c, NULL);
    default: jfail(s, "not an expression");
    }
}
