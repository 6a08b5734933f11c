/* Statements and the entry point: output with its size limit, scopes (a
 * for loop's body and a macro's call get their own; if does not), the loop
 * object, macros and call blocks, break and continue. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "jinja/internal.h"

static jframe *frame_new(jstate *s, jframe *parent) {
    jframe *f = jv_alloc(s->c, sizeof *f);
    if (!f || !(f->vars = mb_jv_dict(s->c))) jfail(s, "out of memory");
    f->parent = parent;
    return f;
}

static void set_var(jstate *s, jframe *f, const char *name, mb_jv *v) {
    if (mb_jv_dict_set(s->c, f->vars, name, v)) jfail(s, "out of memory");
}

static void check_out(jstate *s) {
    if (s->out.failed) jfail(s, "out of memory");
    if (s->out.n > s->max_output) jfail(s, "the output would exceed %zu bytes", s->max_output);
}

static void emit(jstate *s, const char *p, size_t n) {
    if (s->out.n + n > s->max_output) jfail(s, "the output would exceed %zu bytes", s->max_output);
    jbuf_put(&s->out, p, n);
    check_out(s);
}

/* str(V) straight into the output (no temporary to lose on an error). */
static void emit_value(jstate *s, const mb_jv *v) {
    jv_str(&s->out, v);
    check_out(s);
}

mb_jv *jto_list(jstate *s, mb_jv *v) {
    mb_jinja_ctx *c = s->c;
    if (v->t == JV_LIST) return v;
    mb_jv *l = mb_jv_list(c);
    if (v->t == JV_UNDEF) return l;
    if (v->t == JV_DICT || v->t == JV_NS) {
        for (size_t i = 0; i < v->dict.n; i++)
            mb_jv_list_push(c, l, v->dict.k[i]);
        return l;
    }
    if (v->t == JV_STR) {
        for (size_t i = 0; i < v->s.n;) {
            size_t j = i + 1;
            while (j < v->s.n && ((unsigned char)v->s.p[j] & 0xC0) == 0x80)
                j++;
            mb_jv_list_push(c, l, mb_jv_str(c, v->s.p + i, j - i));
            i = j;
        }
        return l;
    }
    jfail(s, "'%s' object is not iterable", jv_type_name(v));
}

/* Assign V to the names of a for or set (several: V is unpacked). */
static void assign(jstate *s, jframe *f, const char *const *names, int n, mb_jv *v) {
    if (n == 1) return set_var(s, f, names[0], v);
    mb_jv *l = jto_list(s, v);
    if ((int)l->list.n != n) jfail(s, "cannot unpack %zu values into %d names", l->list.n, n);
    for (int i = 0; i < n; i++)
        set_var(s, f, names[i], l->list.v[i]);
}

static mb_jv *loop_cycle(jstate *s, mb_jv *self, mb_jv **args, int n_pos, const char **kw,
                         int n_kw) {
    (void)kw, (void)n_kw;
    if (n_pos == 0) jfail(s, "no items for cycling given");
    mb_jv *i0 = jv_dict_get(self, "index0", 6);
    return args[i0->i % n_pos];
}
static const jv_func LOOP_CYCLE = {"cycle", loop_cycle};

static mb_jv *loop_object(jstate *s, mb_jv *items, size_t i, int depth) {
    mb_jinja_ctx *c = s->c;
    const long long n = (long long)items->list.n, k = (long long)i;
    mb_jv *l = mb_jv_dict(c), *cyc = jv_new(c, JV_FUNC);
    if (!l || !cyc) jfail(s, "out of memory");
    cyc->func.fn = &LOOP_CYCLE, cyc->func.self = l;
    mb_jv_dict_set(c, l, "index", mb_jv_int(c, k + 1));
    mb_jv_dict_set(c, l, "index0", mb_jv_int(c, k));
    mb_jv_dict_set(c, l, "revindex", mb_jv_int(c, n - k));
    mb_jv_dict_set(c, l, "revindex0", mb_jv_int(c, n - k - 1));
    mb_jv_dict_set(c, l, "first", mb_jv_bool(c, k == 0));
    mb_jv_dict_set(c, l, "last", mb_jv_bool(c, k == n - 1));
    mb_jv_dict_set(c, l, "length", mb_jv_int(c, n));
    mb_jv_dict_set(c, l, "depth", mb_jv_int(c, depth));
    mb_jv_dict_set(c, l, "depth0", mb_jv_int(c, depth - 1));
    mb_jv_dict_set(c, l, "previtem", k > 0 ? items->list.v[k - 1] : jv_undef(c, "loop.previtem"));
    mb_jv_dict_set(c, l, "nextitem",
                   k + 1 < n ? items->list.v[k + 1] : jv_undef(c, "loop.nextitem"));
    mb_jv_dict_set(c, l, "cycle", cyc);
    return l;
}

static void exec_for(jstate *s, jframe *f, const jnode *n) {
    mb_jv *all = jeval(s, f, n->a);
    if (all->t == JV_NONE || all->t == JV_INT || all->t == JV_FLOAT || all->t == JV_BOOL)
        jfail(s, "'%s' object is not iterable", jv_type_name(all));
    all = jto_list(s, all);
    mb_jv *items = all;
    if (n->b) { /* for x in xs if cond: the loop sees only the items that pass */
        items = mb_jv_list(s->c);
        for (size_t i = 0; i < all->list.n; i++) {
            jframe *g = frame_new(s, f);
            assign(s, g, n->targets, n->n_targets, all->list.v[i]);
            if (jv_truthy(jeval(s, g, n->b))) mb_jv_list_push(s->c, items, all->list.v[i]);
        }
    }
    for (size_t i = 0; i < items->list.n; i++) {
        jframe *g = frame_new(s, f);
        assign(s, g, n->targets, n->n_targets, items->list.v[i]);
        set_var(s, g, "loop", loop_object(s, items, i, 1));
        jexec(s, g, n->body);
        if (s->brk == 1) {
            s->brk = 0;
            break;
        }
        s->brk = 0;
    }
    if (items->list.n == 0 && n->else_body) jexec(s, f, n->else_body);
}

/* The output of BODY, run in F, as a string. The outer output waits on a
 * stack, so that an error anywhere frees every buffer. */
static mb_jv *capture(jstate *s, jframe *f, const jnode *body) {
    jsaved *sv = jv_alloc(s->c, sizeof *sv);
    if (!sv) jfail(s, "out of memory");
    sv->b = s->out, sv->prev = s->saved;
    s->saved = sv;
    s->out = (jbuf){0};
    jexec(s, f, body);
    jbuf got = s->out;
    s->out = sv->b;
    s->saved = sv->prev;
    mb_jv *v = jstr_take(s, &got);
    if (!v) jfail(s, "out of memory");
    return v;
}

mb_jv *jcall_value(jstate *s, jframe *f, mb_jv *callee, mb_jv **args, int n_pos, const char **kw,
                   int n_kw) {
    (void)f;
    if (callee->t == JV_FUNC)
        return callee->func.fn->call(s, callee->func.self, args, n_pos, kw, n_kw);
    if (callee->t == JV_UNDEF)
        jfail(s, "'%s' is undefined", callee->undef_name ? callee->undef_name : "the callee");
    if (callee->t != JV_MACRO) jfail(s, "'%s' object is not callable", jv_type_name(callee));
    const jnode *m = callee->macro.node;
    if (++s->depth > s->max_depth) jfail(s, "macros nested deeper than %d", s->max_depth);
    jframe *g = frame_new(s, callee->macro.closure);
    /* Parameters: positional, then keywords by name, then defaults. */
    for (int i = 0; i < m->n_targets; i++) {
        mb_jv *v = i < n_pos ? args[i] : NULL;
        for (int k = 0; k < n_kw; k++)
            if (!strcmp(kw[k], m->targets[i])) v = args[n_pos + k];
        if (!v) v = m->kids && m->kids[i] ? jeval(s, g, m->kids[i]) : jv_undef(s->c, m->targets[i]);
        set_var(s, g, m->targets[i], v);
    }
    mb_jv *rest = mb_jv_list(s->c);
    for (int i = m->n_targets; i < n_pos; i++)
        mb_jv_list_push(s->c, rest, args[i]);
    set_var(s, g, "varargs", rest);
    for (int k = 0; k < n_kw; k++)
        if (!strcmp(kw[k], "caller")) set_var(s, g, "caller", args[n_pos + k]);
    if (callee->macro.caller) set_var(s, g, "caller", callee->macro.caller);
    mb_jv *out = capture(s, g, m->body);
    s->depth--;
    return out;
}

void jexec(jstate *s, jframe *f, const jnode *n) {
    if (++s->steps > s->max_steps)
        jfail(s, "the template took more than %ld steps (a loop that does not end?)", s->max_steps);
    s->line = n->line;
    switch (n->t) {
    case N_BODY:
        for (int i = 0; i < n->n_kids && !s->brk; i++)
            jexec(s, f, n->kids[i]);
        return;
    case N_TEXT: emit(s, n->lit->s.p, n->lit->s.n); return;
    case N_OUT: emit_value(s, jeval(s, f, n->a)); return;
    case N_IF:
        if (jv_truthy(jeval(s, f, n->a)))
            jexec(s, f, n->body);
        else if (n->else_body)
            jexec(s, f, n->else_body);
        return;
    case N_FOR: exec_for(s, f, n); return;
    case N_SET: {
        mb_jv *v;
        if (n->body) {
            ((jnode *)n->c)->lit = capture(s, f, n->body);
            v = jeval(s, f, n->b);
        } else {
            v = jeval(s, f, n->a);
        }
        if (!n->name) return assign(s, f, n->targets, n->n_targets, v);
        mb_jv *ns = jlookup(s, f, n->targets[0], strlen(n->targets[0]));
        if (ns->t != JV_NS) jfail(s, "cannot assign attribute on non-namespace object");
        if (mb_jv_dict_set(s->c, ns, n->name, v)) jfail(s, "out of memory");
        return;
    }
    case N_MACRO: {
        mb_jv *m = jv_new(s->c, JV_MACRO);
        if (!m) jfail(s, "out of memory");
        m->macro.node = n, m->macro.closure = f;
        set_var(s, f, n->name, m);
        return;
    }
    case N_CALLBLOCK: {
        mb_jv *caller = jv_new(s->c, JV_MACRO);
        if (!caller) jfail(s, "out of memory");
        caller->macro.node = n, caller->macro.closure = f;
        const jnode *call = n->a;
        mb_jv *callee = jeval(s, f, call->a);
        mb_jv **args = jv_alloc(s->c, (size_t)(call->n_kids + 2) * sizeof *args);
        const char **kw = jv_alloc(s->c, (size_t)(call->n_kids - call->n_pos + 2) * sizeof *kw);
        if (!args || !kw) jfail(s, "out of memory");
        for (int i = 0; i < call->n_kids; i++)
            args[i] = jeval(s, f, call->kids[i]);
        const int n_kw = call->n_kids - call->n_pos;
        for (int k = 0; k < n_kw; k++)
            kw[k] = call->kw[k];
        kw[n_kw] = "caller";
        args[call->n_kids] = caller;
        emit_value(s, jcall_value(s, f, callee, args, call->n_pos, kw, n_kw + 1));
        return;
    }
    case N_FILTERBLOCK: {
        ((jnode *)n->c)->lit = capture(s, f, n->body);
        emit_value(s, jeval(s, f, n->a));
        return;
    }
    case N_BREAK: s->brk = 1; return;
    case N_CONTINUE: s->brk = 2; return;
    default: jfail(s, "not a statement");
    }
}

mb_status mb_jinja_render(mb_jinja_ctx *c, const char *tmpl, size_t len, const mb_jv *vars,
                          const mb_jinja_limits *limits, char **out, size_t *out_len) {
    *out = NULL;
    if (out_len) *out_len = 0;
    jstate *s = calloc(1, sizeof *s);
    if (!s) return mb_errorf(MB_ERR_NO_MEMORY, "out of memory");
    s->c = c;
    s->max_output = limits && limits->max_output ? limits->max_output : 8u << 20;
    s->max_steps = limits && limits->max_steps ? limits->max_steps : 20000000;
    s->max_depth = limits && limits->max_depth ? limits->max_depth : 64;
    s->now = limits ? limits->now : NULL;
    c->used = 0;
    c->limit = limits && limits->max_memory ? limits->max_memory : (size_t)256 << 20;
    c->active = s;
    mb_status st = MB_OK;
    int how = setjmp(s->fail);
    if (how == 0) {
        jnode *body = jparse(s, tmpl, len);
        free(s->scratch);
        s->scratch = NULL;
        jframe *g = jv_alloc(c, sizeof *g);
        if (!g) jfail(s, "out of memory");
        g->vars = vars && vars->t == JV_DICT ? (mb_jv *)vars : mb_jv_dict(c);
        s->globals = g;
        jexec(s, frame_new(s, g), body);
        if (s->out.failed) jfail(s, "out of memory");
        *out = s->out.p ? s->out.p : calloc(1, 1);
        if (out_len) *out_len = s->out.n;
        s->out.p = NULL;
        if (!*out) st = mb_errorf(MB_ERR_NO_MEMORY, "out of memory");
    } else {
        free(s->scratch);
        free(s->out.p);
        for (jsaved *sv = s->saved; sv; sv = sv->prev)
            free(sv->b.p);
        st = mb_errorf(MB_ERR_FORMAT, "%s", s->err);
    }
    c->active = NULL;
    free(s);
    return st;
}
