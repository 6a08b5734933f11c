/* Tokens into a syntax tree, with Jinja's grammar and precedence:
 * conditional expression < or < and < not < comparisons (in, not in,
 * chained) < + - < ~ < * / // % < ** < unary - + < postfix (.attr, [i],
 * [a:b:c], call) < filters and tests (|f, is t). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jinja/lexer.h"

typedef struct {
    jstate *s;
    jlex lx;
    size_t i;
    int depth;
} parser;

static jtok *cur(parser *p) {
    return &p->lx.t[p->i];
}
static jtok *next(parser *p) {
    jtok *t = cur(p);
    if (t->type != T_EOF) p->i++;
    return t;
}
static int is_name(const jtok *t, const char *w) {
    return t->type == T_NAME && t->n == strlen(w) && memcmp(t->p, w, t->n) == 0;
}
static int is_op(const jtok *t, int op) {
    return t->type == T_OP && t->op == op;
}
static _Noreturn void perr(parser *p, const char *what) {
    const jtok *t = cur(p);
    p->s->line = t->line;
    if (t->type == T_EOF) jfail(p->s, "%s, found the end of the template", what);
    if (t->type == T_BLOCK_END || t->type == T_VAR_END)
        jfail(p->s, "%s, found the tag's end", what);
    jfail(p->s, "%s, found '%.*s'", what, (int)(t->n > 40 ? 40 : t->n), t->p ? t->p : "");
}
static void expect_op(parser *p, int op, const char *what) {
    if (!is_op(cur(p), op)) perr(p, what);
    next(p);
}
static void expect_name(parser *p, const char *w) {
    if (!is_name(cur(p), w)) {
        char m[64];
        snprintf(m, sizeof m, "expected '%s'", w);
        perr(p, m);
    }
    next(p);
}

static jnode *node(parser *p, jnode_type t, int line) {
    jnode *n = jv_alloc(p->s->c, sizeof *n);
    if (!n) jfail(p->s, "out of memory");
    n->t = t;
    n->line = line;
    return n;
}

/* A growing array of nodes (or names) in the arena. */
typedef struct {
    void **v;
    int n, cap;
} vec;
static void vpush(parser *p, vec *v, void *x) {
    if (v->n == v->cap) {
        int cap = v->cap ? v->cap * 2 : 4;
        void **nv = jv_alloc(p->s->c, (size_t)cap * sizeof *nv);
        if (!nv) jfail(p->s, "out of memory");
        if (v->n) memcpy(nv, v->v, (size_t)v->n * sizeof *nv);
        v->v = nv, v->cap = cap;
    }
    v->v[v->n++] = x;
}

static const char *name_of(parser *p, const jtok *t) {
    return jv_strdup(p->s->c, t->p, t->n);
}

/* A string literal's value: Python's escapes. */
static mb_jv *string_lit(parser *p, const jtok *t) {
    jbuf b = {0};
    for (size_t i = 1; i + 1 < t->n; i++) {
        char ch = t->p[i];
        if (ch != '\\' || i + 2 >= t->n) {
            jbuf_put(&b, &ch, 1);
            continue;
        }
        ch = t->p[++i];
        const char *from = "ntr0\\'\"abfv", *to = "\n\t\r\0\\'\"\a\b\f\v";
        const char *k = strchr(from, ch);
        if (k && ch) {
            jbuf_put(&b, &to[k - from], 1);
        } else if ((ch == 'u' || ch == 'x' || ch == 'U') && i + 1 < t->n) {
            int digits = ch == 'x' ? 2 : ch == 'u' ? 4 : 8;
            unsigned cp = 0;
            int k2 = 0;
            for (; k2 < digits && i + 1 < t->n - 1; k2++) {
                char h = t->p[i + 1];
                int d = h >= '0' && h <= '9'   ? h - '0'
                        : h >= 'a' && h <= 'f' ? h - 'a' + 10
                        : h >= 'A' && h <= 'F' ? h - 'A' + 10
                                               : -1;
                if (d < 0) break;
                cp = cp * 16 + (unsigned)d, i++;
            }
            char u[4];
            int n = 0;
            if (cp < 0x80)
                u[n++] = (char)cp;
            else if (cp < 0x800)
                u[n++] = (char)(0xC0 | cp >> 6), u[n++] = (char)(0x80 | (cp & 63));
            else if (cp < 0x10000)
                u[n++] = (char)(0xE0 | cp >> 12), u[n++] = (char)(0x80 | ((cp >> 6) & 63)),
                u[n++] = (char)(0x80 | (cp & 63));
            else
                u[n++] = (char)(0xF0 | cp >> 18), u[n++] = (char)(0x80 | ((cp >> 12) & 63)),
                u[n++] = (char)(0x80 | ((cp >> 6) & 63)), u[n++] = (char)(0x80 | (cp & 63));
            jbuf_put(&b, u, (size_t)n);
        } else if (ch == '\n') {
            /* a backslash-newline continues the line */
        } else {
            jbuf_put(&b, "\\", 1);
            jbuf_put(&b, &ch, 1);
        }
    }
    mb_jv *v = jstr_take(p->s, &b);
    if (!v || b.failed) jfail(p->s, "out of memory");
    return v;
}

static jnode *parse_expr(parser *p, int with_condexpr);
static jnode *parse_unary(parser *p, int with_filter);

static void enter(parser *p) {
    if (++p->depth > 200) perr(p, "expression nested too deeply");
}

/* Arguments of a call, filter or test: "(" already read; up to ")". */
static void parse_args(parser *p, jnode *n) {
    vec pos = {0}, kw = {0}, kwv = {0};
    while (!is_op(cur(p), ')')) {
        if (cur(p)->type == T_NAME && is_op(&p->lx.t[p->i + 1], '=')) {
            vpush(p, &kw, (void *)name_of(p, next(p)));
            next(p);
            vpush(p, &kwv, parse_expr(p, 1));
        } else {
            if (kw.n) perr(p, "positional argument after a keyword argument");
            vpush(p, &pos, parse_expr(p, 1));
        }
        if (!is_op(cur(p), ',')) break;
        next(p);
    }
    expect_op(p, ')', "expected ')'");
    n->n_pos = pos.n;
    n->n_kids = pos.n + kw.n;
    n->kids = jv_alloc(p->s->c, (size_t)(n->n_kids + 1) * sizeof *n->kids);
    n->kw = jv_alloc(p->s->c, (size_t)(kw.n + 1) * sizeof *n->kw);
    if (!n->kids || !n->kw) jfail(p->s, "out of memory");
    for (int i = 0; i < pos.n; i++)
        n->kids[i] = pos.v[i];
    for (int i = 0; i < kw.n; i++)
        n->kids[pos.n + i] = kwv.v[i], n->kw[i] = kw.v[i];
}

static jnode *seq_node(parser *p, jnode_type t, int line, vec *items) {
    jnode *n = node(p, t, line);
    n->kids = (jnode **)items->v;
    n->n_kids = items->n;
    return n;
}

static jnode *parse_primary(parser *p) {
    jtok *t = cur(p);
    const int line = t->line;
    if (t->type == T_NAME) {
        next(p);
        jnode *n = node(p, N_LIT, line);
        if (is_name(t, "true") || is_name(t, "True"))
            n->lit = mb_jv_bool(p->s->c, 1);
        else if (is_name(t, "false") || is_name(t, "False"))
            n->lit = mb_jv_bool(p->s->c, 0);
        else if (is_name(t, "none") || is_name(t, "None"))
            n->lit = mb_jv_none(p->s->c);
        else
            n->t = N_NAME, n->name = name_of(p, t), n->name_len = t->n;
        return n;
    }
    if (t->type == T_STRING) {
        mb_jv *v = string_lit(p, next(p));
        while (cur(p)->type == T_STRING) { /* adjacent literals join */
            mb_jv *w = string_lit(p, next(p));
            jbuf b = {0};
            jbuf_put(&b, v->s.p, v->s.n);
            jbuf_put(&b, w->s.p, w->s.n);
            v = jstr_take(p->s, &b);
        }
        jnode *n = node(p, N_LIT, line);
        n->lit = v;
        return n;
    }
    if (t->type == T_INT || t->type == T_FLOAT) {
        next(p);
        char tmp[64];
        size_t k = 0;
        for (size_t i = 0; i < t->n && k + 1 < sizeof tmp; i++)
            if (t->p[i] != '_') tmp[k++] = t->p[i];
        tmp[k] = '\0';
        jnode *n = node(p, N_LIT, line);
        n->lit = t->type == T_INT ? mb_jv_int(p->s->c, strtoll(tmp, NULL, 10))
                                  : jv_float(p->s->c, strtod(tmp, NULL));
        return n;
    }
    if (is_op(t, '(')) {
        next(p);
        vec items = {0};
        int comma = 0;
        while (!is_op(cur(p), ')')) {
            vpush(p, &items, parse_expr(p, 1));
            if (!is_op(cur(p), ',')) break;
            next(p), comma = 1;
        }
        expect_op(p, ')', "expected ')'");
        if (items.n == 1 && !comma) return items.v[0];
        return seq_node(p, N_TUPLE, line, &items);
    }
    if (is_op(t, '[')) {
        next(p);
        vec items = {0};
        while (!is_op(cur(p), ']')) {
            vpush(p, &items, parse_expr(p, 1));
            if (!is_op(cur(p), ',')) break;
            next(p);
        }
        expect_op(p, ']', "expected ']'");
        return seq_node(p, N_LISTLIT, line, &items);
    }
    if (is_op(t, '{')) {
        next(p);
        vec items = {0};
        while (!is_op(cur(p), '}')) {
            vpush(p, &items, parse_expr(p, 1));
            expect_op(p, ':', "expected ':' in a dict");
            vpush(p, &items, parse_expr(p, 1));
            if (!is_op(cur(p), ',')) break;
            next(p);
        }
        expect_op(p, '}', "expected '}'");
        return seq_node(p, N_DICTLIT, line, &items);
    }
    perr(p, "expected an expression");
}

static jnode *parse_subscript(parser *p, jnode *obj) {
    const int line = cur(p)->line;
    next(p); /* [ */
    jnode *part[3] = {NULL, NULL, NULL};
    int k = 0, slice = 0;
    for (;;) {
        if (!is_op(cur(p), ':') && !is_op(cur(p), ']')) part[k] = parse_expr(p, 1);
        if (is_op(cur(p), ':') && k < 2) {
            next(p), k++, slice = 1;
            continue;
        }
        break;
    }
    expect_op(p, ']', "expected ']'");
    jnode *n = node(p, slice ? N_SLICE : N_GETITEM, line);
    n->a = obj;
    if (!slice) {
        if (!part[0]) perr(p, "empty subscript");
        n->b = part[0];
        return n;
    }
    n->kids = jv_alloc(p->s->c, 3 * sizeof *n->kids);
    if (!n->kids) jfail(p->s, "out of memory");
    for (int i = 0; i < 3; i++)
        n->kids[i] = part[i];
    n->n_kids = 3;
    return n;
}

static jnode *parse_postfix(parser *p, jnode *n) {
    for (;;) {
        jtok *t = cur(p);
        if (is_op(t, '.')) {
            next(p);
            jtok *a = next(p);
            if (a->type != T_NAME && a->type != T_INT) perr(p, "expected an attribute name");
            jnode *g = node(p, a->type == T_NAME ? N_GETATTR : N_GETITEM, a->line);
            g->a = n;
            if (a->type == T_NAME) {
                g->name = name_of(p, a), g->name_len = a->n;
            } else {
                g->b = node(p, N_LIT, a->line);
                g->b->lit = mb_jv_int(p->s->c, strtoll(a->p, NULL, 10));
            }
            n = g;
        } else if (is_op(t, '[')) {
            n = parse_subscript(p, n);
        } else if (is_op(t, '(')) {
            next(p);
            jnode *c = node(p, N_CALL, t->line);
            c->a = n;
            parse_args(p, c);
            n = c;
        } else {
            return n;
        }
    }
}

static int starts_test_arg(const jtok *t) {
    if (t->type == T_STRING || t->type == T_INT || t->type == T_FLOAT) return 1;
    if (is_op(t, '[') || is_op(t, '{')) return 1;
    return t->type == T_NAME && !is_name(t, "else") && !is_name(t, "or") && !is_name(t, "and") &&
           !is_name(t, "if") && !is_name(t, "in") && !is_name(t, "not") && !is_name(t, "is");
}

static jnode *parse_filters(parser *p, jnode *n) {
    for (;;) {
        jtok *t = cur(p);
        if (is_op(t, '|')) {
            next(p);
            jtok *f = next(p);
            if (f->type != T_NAME) perr(p, "expected a filter name");
            jnode *fn = node(p, N_FILTER, f->line);
            fn->a = n, fn->name = name_of(p, f), fn->name_len = f->n;
            if (is_op(cur(p), '(')) {
                next(p);
                parse_args(p, fn);
            }
            n = fn;
        } else if (is_name(t, "is")) {
            next(p);
            jnode *tn = node(p, N_TEST, t->line);
            if (is_name(cur(p), "not")) next(p), tn->op = 1;
            jtok *f = next(p);
            if (f->type != T_NAME && !is_name(f, "none")) perr(p, "expected a test name");
            tn->a = n, tn->name = name_of(p, f), tn->name_len = f->n;
            if (is_op(cur(p), '(')) {
                next(p);
                parse_args(p, tn);
            } else if (starts_test_arg(cur(p))) {
                tn->kids = jv_alloc(p->s->c, sizeof *tn->kids);
                if (!tn->kids) jfail(p->s, "out of memory");
                tn->kids[0] = parse_postfix(p, parse_primary(p));
                tn->n_kids = tn->n_pos = 1;
            }
            n = tn;
        } else if (is_op(t, '(')) {
            next(p);
            jnode *c = node(p, N_CALL, t->line);
            c->a = n;
            parse_args(p, c);
            n = c;
        } else {
            return n;
        }
    }
}

static jnode *parse_unary(parser *p, int with_filter) {
    enter(p);
    jtok *t = cur(p);
    jnode *n;
    if (is_op(t, '-') || is_op(t, '+')) {
        next(p);
        n = node(p, N_UNARY, t->line);
        n->op = t->op;
        n->a = parse_unary(p, 0);
    } else {
        n = parse_primary(p);
    }
    n = parse_postfix(p, n);
    if (with_filter) n = parse_filters(p, n);
    p->depth--;
    return n;
}

static jnode *binary(parser *p, int op, int line, jnode *a, jnode *b) {
    jnode *n = node(p, N_BINARY, line);
    n->op = op, n->a = a, n->b = b;
    return n;
}

static jnode *parse_pow(parser *p) {
    jnode *n = parse_unary(p, 1);
    while (is_op(cur(p), OP_POW)) {
        int line = next(p)->line;
        n = binary(p, OP_POW, line, n, parse_unary(p, 1));
    }
    return n;
}
static jnode *parse_math2(parser *p) {
    jnode *n = parse_pow(p);
    for (jtok *t; (t = cur(p))->type == T_OP &&
                  (t->op == '*' || t->op == '/' || t->op == OP_FLOORDIV || t->op == '%');) {
        next(p);
        n = binary(p, t->op, t->line, n, parse_pow(p));
    }
    return n;
}
static jnode *parse_concat(parser *p) {
    jnode *n = parse_math2(p);
    while (is_op(cur(p), '~')) {
        int line = next(p)->line;
        n = binary(p, '~', line, n, parse_math2(p));
    }
    return n;
}
static jnode *parse_math1(parser *p) {
    jnode *n = parse_concat(p);
    for (jtok *t; (t = cur(p))->type == T_OP && (t->op == '+' || t->op == '-');) {
        next(p);
        n = binary(p, t->op, t->line, n, parse_concat(p));
    }
    return n;
}

static jnode *parse_compare(parser *p) {
    jnode *left = parse_math1(p), *result = NULL;
    for (;;) {
        jtok *t = cur(p);
        int op = 0;
        if (t->type == T_OP && (t->op == OP_EQ || t->op == OP_NE || t->op == '<' || t->op == '>' ||
                                t->op == OP_LE || t->op == OP_GE))
            op = t->op, next(p);
        else if (is_name(t, "in"))
            op = OP_IN, next(p);
        else if (is_name(t, "not") && is_name(&p->lx.t[p->i + 1], "in"))
            op = OP_NOTIN, next(p), next(p);
        if (!op) break;
        jnode *right = parse_math1(p), *cmp = binary(p, op, t->line, left, right);
        if (result) { /* a < b < c: (a < b) and (b < c) */
            jnode *both = node(p, N_AND, t->line);
            both->a = result, both->b = cmp;
            result = both;
        } else {
            result = cmp;
        }
        left = right;
    }
    return result ? result : left;
}

static jnode *parse_not(parser *p) {
    if (is_name(cur(p), "not")) {
        jnode *n = node(p, N_NOT, next(p)->line);
        enter(p);
        n->a = parse_not(p);
        p->depth--;
        return n;
    }
    return parse_compare(p);
}
static jnode *parse_and(parser *p) {
    jnode *n = parse_not(p);
    while (is_name(cur(p), "and")) {
        jnode *a = node(p, N_AND, next(p)->line);
        a->a = n, a->b = parse_not(p), n = a;
    }
    return n;
}
static jnode *parse_or(parser *p) {
    jnode *n = parse_and(p);
    while (is_name(cur(p), "or")) {
        jnode *o = node(p, N_OR, next(p)->line);
        o->a = n, o->b = parse_and(p), n = o;
    }
    return n;
}

static jnode *parse_expr(parser *p, int with_condexpr) {
    enter(p);
    jnode *n = parse_or(p);
    while (with_condexpr && is_name(cur(p), "if")) {
        jnode *c = node(p, N_CONDEXPR, next(p)->line);
        c->body = n;
        c->a = parse_or(p);
        if (is_name(cur(p), "else")) {
            next(p);
            c->b = parse_expr(p, 1);
        }
        n = c;
    }
    p->depth--;
    return n;
}

/* An expression, or several separated by commas (a tuple). */
static jnode *parse_tuple(parser *p, int with_condexpr) {
    const int line = cur(p)->line;
    jnode *first = parse_expr(p, with_condexpr);
    if (!is_op(cur(p), ',')) return first;
    vec items = {0};
    vpush(p, &items, first);
    while (is_op(cur(p), ',')) {
        next(p);
        if (cur(p)->type == T_BLOCK_END || cur(p)->type == T_VAR_END || is_op(cur(p), ')')) break;
        vpush(p, &items, parse_expr(p, with_condexpr));
    }
    return seq_node(p, N_TUPLE, line, &items);
}

/* ---- statements ---------------------------------------------------- */

static jnode *parse_body(parser *p, const char *const *ends, int n_ends);

static void end_tag(parser *p) {
    if (cur(p)->type != T_BLOCK_END) perr(p, "expected the end of the tag");
    next(p);
}

/* After a body that stopped at one of its end tags: consume "{% name". */
static const jtok *close_tag(parser *p) {
    next(p); /* {% */
    return next(p);
}

/* "%}", a body up to "{% END %}", and that tag: most blocks end so. */
static jnode *block_body(parser *p, const char *end) {
    end_tag(p);
    jnode *body = parse_body(p, &end, 1);
    close_tag(p);
    end_tag(p);
    return body;
}

static void names(parser *p, vec *out) {
    do {
        if (is_op(cur(p), ',')) next(p);
        const jtok *t = next(p);
        if (t->type != T_NAME) perr(p, "expected a name");
        vpush(p, out, (void *)name_of(p, t));
    } while (is_op(cur(p), ','));
}

static jnode *parse_if(parser *p, int line) {
    static const char *const ends[] = {"elif", "else", "endif"};
    jnode *n = node(p, N_IF, line);
    n->a = parse_tuple(p, 0);
    end_tag(p);
    n->body = parse_body(p, ends, 3);
    const jtok *t = close_tag(p);
    if (is_name(t, "elif")) {
        n->else_body = parse_if(p, t->line);
        return n;
    }
    if (is_name(t, "else"))
        n->else_body = block_body(p, "endif");
    else
        end_tag(p);
    return n;
}

static jnode *parse_for(parser *p, int line) {
    static const char *const ends[] = {"else", "endfor"};
    jnode *n = node(p, N_FOR, line);
    vec t = {0};
    if (is_op(cur(p), '(')) {
        next(p);
        names(p, &t);
        expect_op(p, ')', "expected ')'");
    } else {
        names(p, &t);
    }
    n->targets = (const char **)t.v, n->n_targets = t.n;
    expect_name(p, "in");
    n->a = parse_tuple(p, 0);
    if (is_name(cur(p), "if")) next(p), n->b = parse_expr(p, 1);
    if (is_name(cur(p), "recursive")) next(p), n->recursive = 1;
    end_tag(p);
    n->body = parse_body(p, ends, 2);
    if (is_name(close_tag(p), "else"))
        n->else_body = block_body(p, "endfor");
    else
        end_tag(p);
    return n;
}

static jnode *parse_set(parser *p, int line) {
    jnode *n = node(p, N_SET, line);
    vec t = {0};
    names(p, &t);
    if (t.n == 1 && is_op(cur(p), '.')) { /* ns.attr = value */
        next(p);
        const jtok *a = next(p);
        if (a->type != T_NAME) perr(p, "expected an attribute name");
        n->name = name_of(p, a), n->name_len = a->n;
    }
    n->targets = (const char **)t.v, n->n_targets = t.n;
    if (is_op(cur(p), '=')) {
        next(p);
        n->a = parse_tuple(p, 1);
        end_tag(p);
        return n;
    }
    if (n->name || t.n != 1) perr(p, "expected '='");
    jnode *hole = node(p, N_LIT, line); /* block set: the body's text, filtered */
    n->b = parse_filters(p, hole);
    n->c = hole;
    n->body = block_body(p, "endset");
    return n;
}

/* Parameters "(a, b=default, ...)" into targets and kids (defaults). */
static void parse_params(parser *p, jnode *n) {
    vec names_v = {0}, defs = {0};
    expect_op(p, '(', "expected '('");
    while (!is_op(cur(p), ')')) {
        const jtok *t = next(p);
        if (t->type != T_NAME) perr(p, "expected a parameter name");
        vpush(p, &names_v, (void *)name_of(p, t));
        jnode *d = NULL;
        if (is_op(cur(p), '=')) next(p), d = parse_expr(p, 1);
        vpush(p, &defs, d);
        if (!is_op(cur(p), ',')) break;
        next(p);
    }
    expect_op(p, ')', "expected ')'");
    n->targets = (const char **)names_v.v, n->n_targets = names_v.n;
    n->kids = (jnode **)defs.v, n->n_kids = defs.n;
}

static jnode *parse_statement(parser *p) {
    const jtok *t = next(p);
    const int line = t->line;
    p->s->line = line;
    if (is_name(t, "if")) return parse_if(p, line);
    if (is_name(t, "for")) return parse_for(p, line);
    if (is_name(t, "set")) return parse_set(p, line);
    if (is_name(t, "break") || is_name(t, "continue")) {
        jnode *n = node(p, is_name(t, "break") ? N_BREAK : N_CONTINUE, line);
        end_tag(p);
        return n;
    }
    if (is_name(t, "macro")) {
        jnode *n = node(p, N_MACRO, line);
        const jtok *name = next(p);
        if (name->type != T_NAME) perr(p, "expected the macro's name");
        n->name = name_of(p, name), n->name_len = name->n;
        parse_params(p, n);
        n->body = block_body(p, "endmacro");
        return n;
    }
    if (is_name(t, "call")) {
        jnode *n = node(p, N_CALLBLOCK, line);
        if (is_op(cur(p), '(')) parse_params(p, n);
        n->a = parse_expr(p, 1);
        if (n->a->t != N_CALL) perr(p, "expected a call");
        n->body = block_body(p, "endcall");
        return n;
    }
    if (is_name(t, "filter")) {
        jnode *n = node(p, N_FILTERBLOCK, line), *hole = node(p, N_LIT, line);
        jtok *f = cur(p);
        if (f->type != T_NAME) perr(p, "expected a filter name");
        /* "filter a(x) | b" reads as "hole | a(x) | b". */
        jnode *first = node(p, N_FILTER, line);
        next(p);
        first->a = hole, first->name = name_of(p, f), first->name_len = f->n;
        if (is_op(cur(p), '(')) next(p), parse_args(p, first);
        n->a = parse_filters(p, first);
        n->c = hole;
        n->body = block_body(p, "endfilter");
        return n;
    }
    if (is_name(t, "generation")) { /* Hugging Face's assistant mask: the body as it is */
        return block_body(p, "endgeneration");
    }
    if (is_name(t, "include") || is_name(t, "import") || is_name(t, "extends") ||
        is_name(t, "from") || is_name(t, "block"))
        jfail(p->s, "'%.*s' is not supported: a chat template cannot load other templates",
              (int)t->n, t->p);
    p->i--;
    perr(p, "unknown tag");
}

static jnode *parse_body(parser *p, const char *const *ends, int n_ends) {
    vec stmts = {0};
    enter(p);
    for (;;) {
        jtok *t = cur(p);
        if (t->type == T_EOF) {
            if (n_ends) {
                p->s->line = t->line;
                jfail(p->s, "missing '{%% %s %%}' before the end of the template",
                      ends[n_ends - 1]);
            }
            break;
        }
        if (t->type == T_TEXT) {
            jnode *n = node(p, N_TEXT, t->line);
            if (!(n->lit = mb_jv_str(p->s->c, t->p, t->n))) jfail(p->s, "out of memory");
            vpush(p, &stmts, n);
            next(p);
            continue;
        }
        if (t->type == T_VAR_BEGIN) {
            next(p);
            jnode *n = node(p, N_OUT, t->line);
            n->a = parse_tuple(p, 1);
            if (cur(p)->type != T_VAR_END) perr(p, "expected '}}'");
            next(p);
            vpush(p, &stmts, n);
            continue;
        }
        if (t->type != T_BLOCK_BEGIN) perr(p, "unexpected token");
        const jtok *name = &p->lx.t[p->i + 1];
        for (int k = 0; k < n_ends; k++)
            if (is_name(name, ends[k])) {
                p->depth--;
                return seq_node(p, N_BODY, t->line, &stmts);
            }
        next(p);
        vpush(p, &stmts, parse_statement(p));
    }
    p->depth--;
    return seq_node(p, N_BODY, 1, &stmts);
}

jnode *jparse(jstate *s, const char *tmpl, size_t len) {
    parser p = {.s = s};
    jlex_run(s, tmpl, len, &p.lx);
    s->scratch = p.lx.t;
    jnode *body = parse_body(&p, NULL, 0);
    if (cur(&p)->type != T_EOF) perr(&p, "unexpected tag");
    return body;
}
