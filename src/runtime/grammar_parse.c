/* GBNF text to a compiled grammar (grammar.h). The syntax is the one
 * llama.cpp's grammars use: `name ::= alternatives`, `|`, groups, string
 * literals and character classes with \n \t \r \" \\ \xHH \uHHHH
 * \UHHHHHHHH escapes, `.`, the postfixes * + ? {m} {m,} {m,n}, and `#`
 * comments. A rule may span lines: it ends where the next `name ::=`
 * starts. Groups and repetitions become extra rules here (X* is
 * R ::= X R | empty: right recursion, which the matcher runs in bounded
 * space), so the matcher sees only characters, references and ends. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "runtime/grammar.h"

#define MAX_ELEMS (1 << 20) /* elements after expanding repetitions */
#define MAX_REPEAT 10000

typedef struct {
    mb_gelem *v;
    int n, cap;
} elist;

typedef struct {
    const char *name; /* in the text; NULL for a generated rule */
    int name_len;
    elist body; /* alternatives, each ending with G_END */
    int n_alts, defined;
    const char *at; /* its definition, or its first reference */
} rule;

typedef struct {
    const char *text, *p, *end;
    rule *rules;
    int n_rules, cap_rules;
    uint32_t *ranges;
    int n_ranges, cap_ranges;
    long n_elems;
    int depth;
} parser;

static mb_status perr(const parser *P, const char *at, const char *fmt, ...) MB_PRINTF(3, 4);
static mb_status perr(const parser *P, const char *at, const char *fmt, ...) {
    int line = 1, col = 1;
    for (const char *q = P->text; q < at && q < P->end; q++)
        if (*q == '\n')
            line++, col = 1;
        else
            col++;
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return mb_errorf(MB_ERR_FORMAT, "grammar line %d col %d: %s", line, col, msg);
}

static int grow(void **v, int *cap, int need, size_t size) {
    if (need <= *cap) return 0;
    int c = *cap ? *cap : 16;
    while (c < need)
        c *= 2;
    void *t = realloc(*v, (size_t)c * size);
    if (!t) return -1;
    *v = t;
    *cap = c;
    return 0;
}

static mb_status push(parser *P, int r, mb_gelem e) {
    elist *l = &P->rules[r].body;
    if (++P->n_elems > MAX_ELEMS)
        return perr(P, P->p, "the grammar expands to more than %d elements", MAX_ELEMS);
    if (grow((void **)&l->v, &l->cap, l->n + 1, sizeof *l->v))
        return mb_errorf(MB_ERR_NO_MEMORY, "out of memory");
    l->v[l->n++] = e;
    return MB_OK;
}

static int new_rule(parser *P, const char *name, int len, const char *at) {
    if (grow((void **)&P->rules, &P->cap_rules, P->n_rules + 1, sizeof *P->rules)) return -1;
    P->rules[P->n_rules] = (rule){.name = name, .name_len = len, .at = at};
    return P->n_rules++;
}

static int find_rule(parser *P, const char *name, int len, const char *at) {
    for (int i = 0; i < P->n_rules; i++)
        if (P->rules[i].name && P->rules[i].name_len == len && !memcmp(P->rules[i].name, name, len))
            return i;
    return new_rule(P, name, len, at);
}

static int is_name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

static void skip_space(parser *P) {
    while (P->p < P->end) {
        char c = *P->p;
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
            P->p++;
        else if (c == '#')
            while (P->p < P->end && *P->p != '\n')
                P->p++;
        else
            break;
    }
}

/* True when the text at P starts a new rule: a name, then `::=`. */
static int at_rule_start(const parser *P) {
    const char *q = P->p;
    while (q < P->end && is_name_char(*q))
        q++;
    if (q == P->p) return 0;
    while (q < P->end && (*q == ' ' || *q == '\t'))
        q++;
    return P->end - q >= 3 && !memcmp(q, "::=", 3);
}

/* One UTF-8 code point of the text. */
static mb_status read_utf8(parser *P, uint32_t *out) {
    mb_utf8_state st = {0, 0, 0};
    const char *at = P->p;
    while (P->p < P->end) {
        int r = mb_utf8_feed(&st, (uint8_t)*P->p++);
        if (r < 0) break;
        if (r > 0) {
            *out = st.cp;
            return MB_OK;
        }
    }
    return perr(P, at, "invalid UTF-8");
}

static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* One character of a literal or class, escapes decoded. */
static mb_status read_char(parser *P, uint32_t *out) {
    if (P->p >= P->end) return perr(P, P->p, "unexpected end of the grammar");
    if (*P->p != '\\') return read_utf8(P, out);
    const char *at = P->p++;
    if (P->p >= P->end) return perr(P, at, "unfinished escape");
    char c = *P->p++;
    int digits = 0;
    switch (c) {
    case 'n': *out = '\n'; return MB_OK;
    case 't': *out = '\t'; return MB_OK;
    case 'r': *out = '\r'; return MB_OK;
    case '\\':
    case '"':
    case '\'':
    case '[':
    case ']':
    case '-':
    case '^':
    case '/': *out = (uint8_t)c; return MB_OK;
    case 'x': digits = 2; break;
    case 'u': digits = 4; break;
    case 'U': digits = 8; break;
    default: return perr(P, at, "unknown escape '\\%c'", c);
    }
    uint32_t v = 0;
    for (int i = 0; i < digits; i++) {
        int h = P->p < P->end ? hex_value(*P->p) : -1;
        if (h < 0) return perr(P, at, "'\\%c' needs %d hex digits", c, digits);
        v = v * 16 + (uint32_t)h;
        P->p++;
    }
    if (v > 0x10FFFF) return perr(P, at, "code point U+%X is past U+10FFFF", (unsigned)v);
    *out = v;
    return MB_OK;
}

static mb_status add_range(parser *P, uint32_t lo, uint32_t hi) {
    if (grow((void **)&P->ranges, &P->cap_ranges, P->n_ranges + 2, sizeof *P->ranges))
        return mb_errorf(MB_ERR_NO_MEMORY, "out of memory");
    P->ranges[P->n_ranges++] = lo;
    P->ranges[P->n_ranges++] = hi;
    return MB_OK;
}

static mb_status char_elem(parser *P, int r, uint32_t lo, uint32_t hi, int negated) {
    mb_gelem e = {G_CHAR, (uint8_t)negated, P->n_ranges / 2, 1};
    mb_status st = add_range(P, lo, hi);
    return st ? st : push(P, r, e);
}

static mb_status parse_literal(parser *P, int r) {
    const char *at = P->p++;
    while (P->p < P->end && *P->p != '"') {
        uint32_t c;
        mb_status st = read_char(P, &c);
        if (!st) st = char_elem(P, r, c, c, 0);
        if (st) return st;
    }
    if (P->p >= P->end) return perr(P, at, "unterminated string literal");
    P->p++;
    return MB_OK;
}

static mb_status parse_class(parser *P, int r) {
    const char *at = P->p++;
    int negated = P->p < P->end && *P->p == '^';
    if (negated) P->p++;
    mb_gelem e = {G_CHAR, (uint8_t)negated, P->n_ranges / 2, 0};
    while (P->p < P->end && *P->p != ']') {
        uint32_t lo, hi;
        mb_status st = read_char(P, &lo);
        if (st) return st;
        hi = lo;
        if (P->end - P->p >= 2 && P->p[0] == '-' && P->p[1] != ']') {
            const char *dash = P->p++;
            if ((st = read_char(P, &hi))) return st;
            if (hi < lo) return perr(P, dash, "range end U+%X is before its start U+%X", hi, lo);
        }
        if ((st = add_range(P, lo, hi))) return st;
        e.n++;
    }
    if (P->p >= P->end) return perr(P, at, "unterminated character class");
    P->p++;
    return push(P, r, e);
}

static mb_status parse_alternatives(parser *P, int r);

/* A group: its alternatives go into a new rule that R references. */
static mb_status parse_group(parser *P, int r) {
    const char *at = P->p++;
    int g = new_rule(P, NULL, 0, at);
    if (g < 0) return mb_errorf(MB_ERR_NO_MEMORY, "out of memory");
    P->rules[g].defined = 1;
    if (++P->depth > 256) return perr(P, at, "groups nested more than 256 deep");
    mb_status st = parse_alternatives(P, g);
    P->depth--;
    if (st) return st;
    if (P->p >= P->end || *P->p != ')') return perr(P, at, "unclosed '('");
    P->p++;
    return push(P, r, (mb_gelem){G_REF, 0, g, 0});
}

static mb_status read_int(parser *P, int *out) {
    const char *at = P->p;
    long v = 0;
    while (P->p < P->end && *P->p >= '0' && *P->p <= '9' && v <= MAX_REPEAT)
        v = v * 10 + (*P->p++ - '0');
    if (P->p == at) return perr(P, at, "expected a number");
    if (v > MAX_REPEAT) return perr(P, at, "repetition count over %d", MAX_REPEAT);
    *out = (int)v;
    return MB_OK;
}

/* Append the elements S (N of them) to rule R. */
static mb_status push_seq(parser *P, int r, const mb_gelem *s, int n) {
    mb_status st = MB_OK;
    for (int i = 0; i < n && !st; i++)
        st = push(P, r, s[i]);
    return st;
}

/* Rules for S{0,MAX} (MAX < 0: unbounded): R ::= S R | empty, or, bounded,
 * the chain R1 ::= S R2 | empty ... Rmax ::= S | empty. The first one's
 * id goes to *OUT. */
static mb_status repeat_rule(parser *P, const mb_gelem *s, int n, int max, int *out) {
    int k = max < 0 ? 1 : max, first = P->n_rules;
    for (int i = 0; i < k; i++) {
        int q = new_rule(P, NULL, 0, P->p);
        if (q < 0) return mb_errorf(MB_ERR_NO_MEMORY, "out of memory");
        P->rules[q].defined = 1;
        P->rules[q].n_alts = 2;
    }
    for (int i = 0; i < k; i++) {
        int q = first + i;
        mb_status st = push_seq(P, q, s, n);
        if (!st && max < 0) st = push(P, q, (mb_gelem){G_REF, 0, q, 0});
        if (!st && i + 1 < k) st = push(P, q, (mb_gelem){G_REF, 0, q + 1, 0});
        if (!st) st = push(P, q, (mb_gelem){G_END, 0, 0, 0});
        if (!st) st = push(P, q, (mb_gelem){G_END, 0, 0, 0});
        if (st) return st;
    }
    *out = first;
    return MB_OK;
}

/* Apply a postfix to the elements of rule R from START on (the last
 * primary). */
static mb_status parse_postfix(parser *P, int r, int start) {
    const char *at = P->p;
    char c = *P->p++;
    int min = 0, max = -1;
    if (c == '+')
        min = 1;
    else if (c == '?')
        max = 1;
    else if (c == '{') {
        skip_space(P);
        mb_status st = read_int(P, &min);
        if (st) return st;
        skip_space(P);
        max = min;
        if (P->p < P->end && *P->p == ',') {
            P->p++;
            skip_space(P);
            max = -1;
            if (P->p < P->end && *P->p != '}' && (st = read_int(P, &max))) return st;
            skip_space(P);
        }
        if (P->p >= P->end || *P->p != '}') return perr(P, at, "expected '}' to close '{'");
        P->p++;
        if (max >= 0 && max < min)
            return perr(P, at, "repetition {%d,%d}: max below min", min, max);
    }
    int n = P->rules[r].body.n - start;
    mb_gelem *s = malloc((size_t)n * sizeof *s);
    if (!s) return mb_errorf(MB_ERR_NO_MEMORY, "out of memory");
    memcpy(s, P->rules[r].body.v + start, (size_t)n * sizeof *s);
    P->rules[r].body.n = start;
    P->n_elems -= n;
    mb_status st = MB_OK;
    for (int i = 0; i < min && !st; i++)
        st = push_seq(P, r, s, n);
    if (!st && max != min) {
        int q = 0;
        st = repeat_rule(P, s, n, max < 0 ? -1 : max - min, &q);
        if (!st) st = push(P, r, (mb_gelem){G_REF, 0, q, 0});
    }
    free(s);
    return st;
}

static mb_status parse_sequence(parser *P, int r) {
    for (;;) {
        skip_space(P);
        if (P->p >= P->end || *P->p == '|' || *P->p == ')' || at_rule_start(P)) break;
        int start = P->rules[r].body.n;
        char c = *P->p;
        mb_status st;
        if (c == '"')
            st = parse_literal(P, r);
        else if (c == '[')
            st = parse_class(P, r);
        else if (c == '.') {
            P->p++;
            st = push(P, r, (mb_gelem){G_CHAR, 1, 0, 0}); /* not in nothing: any */
        } else if (c == '(')
            st = parse_group(P, r);
        else if (is_name_char(c)) {
            const char *name = P->p;
            while (P->p < P->end && is_name_char(*P->p))
                P->p++;
            int q = find_rule(P, name, (int)(P->p - name), name);
            st = q < 0 ? mb_errorf(MB_ERR_NO_MEMORY, "out of memory")
                       : push(P, r, (mb_gelem){G_REF, 0, q, 0});
        } else
            return perr(P, P->p, "unexpected '%c'", c);
        if (st) return st;
        if (P->p < P->end && (*P->p == '*' || *P->p == '+' || *P->p == '?' || *P->p == '{')) {
            if (P->rules[r].body.n == start)
                return perr(P, P->p, "'%c' after an empty literal", *P->p);
            if ((st = parse_postfix(P, r, start))) return st;
        }
    }
    return push(P, r, (mb_gelem){G_END, 0, 0, 0});
}

static mb_status parse_alternatives(parser *P, int r) {
    for (;;) {
        mb_status st = parse_sequence(P, r);
        if (st) return st;
        P->rules[r].n_alts++;
        skip_space(P);
        if (P->p >= P->end || *P->p != '|') return MB_OK;
        P->p++;
    }
}

static mb_status parse_rule(parser *P) {
    const char *name = P->p;
    while (P->p < P->end && is_name_char(*P->p))
        P->p++;
    if (P->p == name) return perr(P, P->p, "expected a rule name");
    int r = find_rule(P, name, (int)(P->p - name), name);
    if (r < 0) return mb_errorf(MB_ERR_NO_MEMORY, "out of memory");
    if (P->rules[r].defined)
        return perr(P, name, "rule '%.*s' is defined twice", (int)(P->p - name), name);
    P->rules[r].defined = 1;
    P->rules[r].at = name;
    skip_space(P);
    if (P->end - P->p < 3 || memcmp(P->p, "::=", 3))
        return perr(P, P->p, "expected '::=' after '%.*s'", P->rules[r].name_len, name);
    P->p += 3;
    mb_status st = parse_alternatives(P, r);
    if (!st && P->p < P->end && *P->p == ')') return perr(P, P->p, "unmatched ')'");
    return st;
}

static mb_status check_grammar(parser *P, mb_grammar *g) {
    int bad = mb_grammar_left_recursion(g);
    if (bad == -2) return mb_errorf(MB_ERR_NO_MEMORY, "out of memory");
    if (bad < 0) return MB_OK;
    const rule *r = &P->rules[bad];
    if (r->name)
        return perr(P, r->at,
                    "rule '%.*s' is left-recursive (it can reach itself before reading a "
                    "character); rewrite it with repetition, e.g. x ::= y (\"+\" y)*",
                    r->name_len, r->name);
    return perr(P, r->at,
                "this group is left-recursive (it can reach itself before reading a "
                "character); rewrite it with repetition");
}

/* One grammar from the rules' bodies: elements flattened, alternatives
 * indexed. */
static mb_status flatten(parser *P, int root, mb_grammar **out) {
    mb_grammar *g = calloc(1, sizeof *g);
    long n_alts = 0;
    for (int r = 0; r < P->n_rules; r++)
        n_alts += P->rules[r].n_alts;
    if (g) {
        g->n_elems = (int)P->n_elems;
        g->n_rules = P->n_rules;
        g->root = root;
        g->elems = malloc(((size_t)g->n_elems + 1) * sizeof *g->elems);
        g->alts = malloc(((size_t)n_alts + 1) * sizeof *g->alts);
        g->rule_alt = malloc(((size_t)g->n_rules + 1) * sizeof *g->rule_alt);
        g->ascii = malloc(((size_t)g->n_elems + 1) * 16);
        g->ranges = P->ranges;
        g->n_ranges = P->n_ranges / 2;
        P->ranges = NULL;
    }
    if (!g || !g->elems || !g->alts || !g->rule_alt || !g->ascii) {
        mb_grammar_free(g);
        return mb_errorf(MB_ERR_NO_MEMORY, "out of memory");
    }
    int ne = 0, na = 0;
    for (int r = 0; r < P->n_rules; r++) {
        g->rule_alt[r] = na;
        const elist *b = &P->rules[r].body;
        for (int i = 0; i < b->n; i++) {
            if (i == 0 || b->v[i - 1].type == G_END) g->alts[na++] = ne + i;
        }
        memcpy(g->elems + ne, b->v, (size_t)b->n * sizeof *b->v);
        ne += b->n;
    }
    g->rule_alt[P->n_rules] = na;
    g->alts[na] = ne;
    mb_grammar_fill_ascii(g);
    *out = g;
    return MB_OK;
}

static mb_status parse(parser *P, const char *root, mb_grammar **out) {
    skip_space(P);
    if (P->p >= P->end) return perr(P, P->p, "the grammar is empty");
    while (P->p < P->end) {
        mb_status st = parse_rule(P);
        if (st) return st;
        skip_space(P);
    }
    for (int r = 0; r < P->n_rules; r++)
        if (!P->rules[r].defined)
            return perr(P, P->rules[r].at, "undefined rule '%.*s'", P->rules[r].name_len,
                        P->rules[r].name);
    int rr = -1;
    size_t root_len = strlen(root);
    for (int r = 0; r < P->n_rules && rr < 0; r++)
        if (P->rules[r].name && (size_t)P->rules[r].name_len == root_len &&
            !memcmp(P->rules[r].name, root, root_len))
            rr = r;
    if (rr < 0) return mb_errorf(MB_ERR_FORMAT, "grammar: no rule named '%s' to start from", root);
    mb_grammar *g = NULL;
    mb_status st = flatten(P, rr, &g);
    if (st) return st;
    if ((st = check_grammar(P, g))) {
        mb_grammar_free(g);
        return st;
    }
    *out = g;
    return MB_OK;
}

mb_status mb_grammar_parse(const char *text, size_t len, const char *root, mb_grammar **out) {
    if (!out) return mb_errorf(MB_ERR_INVALID_ARG, "mb_grammar_parse: no output pointer");
    *out = NULL;
    if (!text && len) return mb_errorf(MB_ERR_INVALID_ARG, "mb_grammar_parse: no text");
    if (len > (1u << 26))
        return mb_errorf(MB_ERR_INVALID_ARG, "a grammar of %zu bytes (at most 64 MiB)", len);
    parser P = {.text = text ? text : "", .p = text ? text : "", .end = (text ? text : "") + len};
    mb_status st = parse(&P, root ? root : "root", out);
    for (int r = 0; r < P.n_rules; r++)
        free(P.rules[r].body.v);
    free(P.rules);
    free(P.ranges);
    return st;
}

void mb_grammar_free(mb_grammar *g) {
    if (!g) return;
    free(g->elems);
    free(g->alts);
    free(g->rule_alt);
    free(g->ranges);
    free(g->ascii);
    free(g);
}

static void *dup_mem(const void *p, size_t n) {
    void *q = malloc(n ? n : 1);
    if (q && n) memcpy(q, p, n);
    return q;
}

mb_grammar *mb_grammar_clone(const mb_grammar *g) {
    mb_grammar *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    *c = *g;
    c->elems = dup_mem(g->elems, ((size_t)g->n_elems + 1) * sizeof *g->elems);
    c->alts = dup_mem(g->alts, ((size_t)g->rule_alt[g->n_rules] + 1) * sizeof *g->alts);
    c->rule_alt = dup_mem(g->rule_alt, ((size_t)g->n_rules + 1) * sizeof *g->rule_alt);
    c->ranges = dup_mem(g->ranges, (size_t)g->n_ranges * 2 * sizeof *g->ranges);
    c->ascii = dup_mem(g->ascii, ((size_t)g->n_elems + 1) * 16);
    if (!c->elems || !c->alts || !c->rule_alt || !c->ranges || !c->ascii) {
        mb_grammar_free(c);
        return NULL;
    }
    return c;
}
