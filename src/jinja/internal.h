/* The engine's shared pieces: values and their arena, the token stream,
 * the syntax tree, and the interpreter's state. */
#ifndef MB_JINJA_INTERNAL_H
#define MB_JINJA_INTERNAL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include "jinja/jinja.h"

/* ---- values ------------------------------------------------------------ */

typedef enum {
    JV_UNDEF,
    JV_NONE,
    JV_BOOL,
    JV_INT,
    JV_FLOAT,
    JV_STR,
    JV_LIST,
    JV_DICT,
    JV_NS,    /* namespace(): a dict whose attributes `set` may assign */
    JV_MACRO, /* a macro, or caller() */
    JV_FUNC,  /* a global function or a bound method */
} jv_type;

struct jnode;
typedef struct jv_func jv_func;

struct mb_jv {
    jv_type t;
    union {
        int b;
        long long i;
        double f;
        struct {
            const char *p;
            size_t n;
        } s;
        struct {
            mb_jv **v;
            size_t n, cap;
        } list;
        struct {
            mb_jv **k, **v; /* keys are strings (or any value, from JSON: strings) */
            size_t n, cap;
        } dict;
        struct {
            const struct jnode *node; /* the macro's definition */
            struct jframe *closure;
            mb_jv *caller; /* the body of a {% call %}, or NULL */
        } macro;
        struct {
            const jv_func *fn;
            mb_jv *self; /* bound method's object, or NULL */
        } func;
    };
    const char *undef_name; /* JV_UNDEF: what was looked up, for messages */
    /* JV_LIST made by a filter that yields (map, select, ...: 1, a generator,
     * always true, no len(), not JSON) or by a dict's items()/keys()/values()
     * (2, a view: has len(), not JSON), as Python has them. */
    unsigned char gen;
    /* JV_STR marked safe (|safe, |escape): adding a plain string to it
     * escapes that string, as markupsafe's Markup does. */
    unsigned char markup;
    unsigned char tuple; /* JV_LIST that Python has as a tuple: repr (a, b) */
};

typedef struct arena_block arena_block;
struct mb_jinja_ctx {
    arena_block *blocks;
    mb_jv undef, none, t, f;
    size_t used, limit;    /* arena bytes, and the render's cap on them */
    struct jstate *active; /* the render in progress: allocation failures end it */
    int soft;              /* ...unless set: then they return NULL */
};

void *jv_alloc(mb_jinja_ctx *c, size_t n);
char *jv_strdup(mb_jinja_ctx *c, const char *s, size_t n);
mb_jv *jv_new(mb_jinja_ctx *c, jv_type t);
mb_jv *jv_float(mb_jinja_ctx *c, double f);
mb_jv *jv_undef(mb_jinja_ctx *c, const char *name);
mb_jv *jv_dict_get(const mb_jv *d, const char *key, size_t n);
/* d[key] = v for any key value (Python's dict: 1 and 1.0 are one key). */
mb_status jv_dict_put(mb_jinja_ctx *c, mb_jv *d, mb_jv *key, mb_jv *v);

int jv_truthy(const mb_jv *v);
int jv_equal(const mb_jv *a, const mb_jv *b);
/* -1, 0, 1; *ok 0 when the types do not order. */
int jv_compare(const mb_jv *a, const mb_jv *b, int *ok);
const char *jv_type_name(const mb_jv *v);
/* Python's str.isspace() for one byte (ASCII white space and \x1c-\x1f). */
int jv_is_space(unsigned char ch);
/* A stable merge sort of the N indices IDX by CMP (< 0, 0, > 0), with TMP
 * room for N more: O(n log n), as Python's sort (a template can sort
 * 100000 items). */
void jv_sort_idx(size_t *idx, size_t *tmp, size_t n, int (*cmp)(void *ctx, size_t a, size_t b),
                 void *ctx);
size_t utf8_len(const char *s, size_t n);
/* Byte offset of code point I of S (n bytes); n when past the end. */
size_t utf8_offset(const char *s, size_t n, size_t i);

/* A growing byte buffer (malloc'd; the output and temporary strings). */
typedef struct {
    char *p;
    size_t n, cap;
    int failed;
} jbuf;
void jbuf_put(jbuf *b, const char *s, size_t n);
void jbuf_puts(jbuf *b, const char *s);
void jbuf_printf(jbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* markupsafe's escape of S into B. */
void jv_html_escape(jbuf *b, const char *s, size_t n);

/* Python's str() and repr() of a value; json.dumps. Return 0 when the value
 * cannot be written (json of a macro or undefined). */
int jv_str(jbuf *b, const mb_jv *v);
int jv_repr(jbuf *b, const mb_jv *v);
typedef struct {
    int indent; /* < 0: none (one line) */
    const char *item_sep, *key_sep;
    int sort_keys, ensure_ascii;
} json_style;
int jv_json(jbuf *b, const mb_jv *v, const json_style *st, int depth);

/* ---- tokens and syntax tree ------------------------------------------- */

typedef enum {
    N_TEXT,
    N_OUT,         /* {{ a }} */
    N_IF,          /* a: cond, body, b: else body (elif chains nest) */
    N_FOR,         /* targets, a: iterable, b: filter cond, body, else_body */
    N_SET,         /* targets (or attribute target), a: value; or body (block set) */
    N_MACRO,       /* name, params, defaults, body */
    N_CALLBLOCK,   /* a: the call expression, params, body (caller) */
    N_FILTERBLOCK, /* a: filter chain applied to the body's output */
    N_BREAK,
    N_CONTINUE,
    N_BODY, /* kids: a sequence of statements */
    /* expressions */
    N_LIT,
    N_NAME,
    N_LISTLIT,
    N_TUPLE,
    N_DICTLIT,
    N_GETATTR, /* a . name */
    N_GETITEM, /* a [ b ] */
    N_SLICE,   /* a [ kids 0:1:2 ] (NULL parts) */
    N_CALL,    /* a ( args, kwargs ) */
    N_FILTER,  /* a | name(args) */
    N_TEST,    /* a is [not] name(args) */
    N_UNARY,   /* op a */
    N_BINARY,  /* a op b */
    N_AND,
    N_OR,
    N_NOT,
    N_CONDEXPR, /* body if a else b */
} jnode_type;

typedef struct jnode jnode;
struct jnode {
    jnode_type t;
    int line;
    int op;           /* operator token for N_UNARY/N_BINARY; negation for N_TEST */
    const char *name; /* N_NAME, N_GETATTR, N_FILTER, N_TEST, N_MACRO, N_SET attr */
    size_t name_len;
    mb_jv *lit; /* N_LIT, N_TEXT (a string) */
    jnode *a, *b, *c;
    jnode **kids; /* N_BODY statements; list/tuple items; call args; dict keys,values */
    int n_kids;
    const char **kw; /* N_CALL/N_FILTER/N_TEST keyword names for kids[n_pos..] */
    int n_pos;       /* positional args among kids */
    jnode *body, *else_body;
    const char **targets; /* N_FOR/N_SET/N_MACRO parameter names */
    int n_targets;
    int recursive;
};

/* Binary operator codes (the token characters, or these). */
enum { OP_EQ = 256, OP_NE, OP_LE, OP_GE, OP_FLOORDIV, OP_POW, OP_IN, OP_NOTIN };

/* ---- the interpreter ---------------------------------------------------- */

typedef struct jframe jframe;
typedef struct jsaved jsaved;
struct jsaved { /* an output waiting while a block's output is captured */
    jbuf b;
    jsaved *prev;
};
struct jframe {
    jframe *parent;
    mb_jv *vars; /* a dict */
};

typedef struct jstate {
    mb_jinja_ctx *c;
    jmp_buf fail;
    char err[512];
    jbuf out;
    size_t max_output;
    long steps, max_steps;
    int depth, max_depth;
    int eval_depth; /* jeval calls in progress (eval.c bounds it) */
    const char *now;
    jframe *globals;
    int line;      /* the line being evaluated, for messages */
    int brk;       /* 1 break, 2 continue, pending */
    void *scratch; /* the token array while parsing (freed by the caller) */
    jsaved *saved;
} jstate;

/* Stop with "template line N: ..." (never returns). */
_Noreturn void jfail(jstate *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* raise_exception: the template's own message, as it is. */
_Noreturn void jfail_raw(jstate *s, const char *msg, size_t n);

/* Parse TEMPLATE into a body; errors through S. */
jnode *jparse(jstate *s, const char *tmpl, size_t len);

mb_jv *jeval(jstate *s, jframe *f, const jnode *n);
void jexec(jstate *s, jframe *f, const jnode *n);
mb_jv *jcall_value(jstate *s, jframe *f, mb_jv *callee, mb_jv **args, int n_pos, const char **kw,
                   int n_kw);
mb_jv *jlookup(jstate *s, jframe *f, const char *name, size_t n);
mb_jv *jgetattr(jstate *s, mb_jv *obj, const char *name, size_t n);
mb_jv *jgetitem(jstate *s, mb_jv *obj, mb_jv *key);

/* Builtins (builtins.c, filters.c). */
mb_jv *jfilter(jstate *s, jframe *f, const char *name, size_t n, mb_jv *v, mb_jv **args, int n_pos,
               const char **kw, int n_kw);
int jtest(jstate *s, jframe *f, const char *name, size_t n, mb_jv *v, mb_jv **args, int n_args);
mb_jv *jmethod(jstate *s, mb_jv *obj, const char *name, size_t n); /* NULL: no such method */
mb_jv *jglobal(jstate *s, const char *name, size_t n);             /* NULL: none */
struct jv_func {
    const char *name;
    mb_jv *(*call)(jstate *s, mb_jv *self, mb_jv **args, int n_pos, const char **kw, int n_kw);
};
/* The keyword argument NAME, else positional I, else NULL. */
mb_jv *jarg(mb_jv **args, int n_pos, const char **kw, int n_kw, int i, const char *name);
/* A string value as a C string view; fails unless it is a string. */
void jwant_str(jstate *s, const mb_jv *v, const char *what);
mb_jv *jto_list(jstate *s, mb_jv *v); /* iterate: list, tuple, dict keys, string chars */
/* B's bytes as a string value; B's buffer is freed whatever happens (an
 * allocation that fails while a malloc'd buffer is held would leak it). */
mb_jv *jstr_take(jstate *s, jbuf *b);
/* Integers are 64-bit (Python's are unbounded): past that, an error. */
long long jint_add(jstate *s, long long a, long long b);
long long jint_mul(jstate *s, long long a, long long b);
long long jint_from_double(jstate *s, double d);
mb_jv *jcase(jstate *s, const mb_jv *v, int mode); /* 0 lower, 1 upper, 2 str.title, 3 capitalize */
mb_jv *jreplace(jstate *s, const mb_jv *v, const mb_jv *old, const mb_jv *new_, long long count);
mb_jv *jitems(jstate *s, const mb_jv *d);                         /* [[key, value], ...] */
mb_jv *jformat_percent(jstate *s, const mb_jv *fmt, mb_jv *args); /* "%s" % args */

#endif
