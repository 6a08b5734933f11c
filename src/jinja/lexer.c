/* The template's tokens, with Jinja's whitespace rules applied to the text
 * between tags: newlines normalized to \n and one trailing newline dropped
 * (keep_trailing_newline off); "-" on a tag strips all white space on that
 * side; lstrip_blocks strips the blanks from a line's start to a block or
 * comment tag ("+" keeps them); trim_blocks drops the newline right after
 * a block or comment tag. {% raw %} bodies are text. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "jinja/lexer.h"

/* An error at LINE of the template. */
#define LEX_FAIL(line_no, ...) (s->line = (line_no), jfail(s, __VA_ARGS__))

static void push(jstate *s, jlex *lx, jtok t) {
    if (lx->n == lx->cap) {
        size_t cap = lx->cap ? lx->cap * 2 : 256;
        jtok *nt = realloc(lx->t, cap * sizeof *nt);
        if (!nt) jfail(s, "out of memory");
        lx->t = nt, lx->cap = cap;
        s->scratch = nt; /* freed by the renderer, also after an error */
    }
    lx->t[lx->n++] = t;
}

/* \r\n and \r to \n; one trailing newline dropped. */
static char *normalize(jstate *s, const char *src, size_t len, size_t *out_len) {
    char *d = jv_alloc(s->c, len + 1);
    if (!d) jfail(s, "out of memory");
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (src[i] == '\r') {
            d[n++] = '\n';
            if (i + 1 < len && src[i + 1] == '\n') i++;
        } else {
            d[n++] = src[i];
        }
    }
    if (n > 0 && d[n - 1] == '\n') n--;
    d[n] = '\0';
    *out_len = n;
    return d;
}

static int count_lines(const char *p, const char *e) {
    int n = 0;
    for (; p < e; p++)
        n += *p == '\n';
    return n;
}

/* Tokens inside a tag, up to its end marker; returns the position after it
 * and sets *strip_after when the marker has '-'. */
static const char *lex_tag(jstate *s, jlex *lx, const char *p, const char *end, char closer,
                           int *line, int *strip_after, int *keep_after) {
    static const char *const two[] = {"==", "!=", "<=", ">=", "//", "**"};
    static const int two_op[] = {OP_EQ, OP_NE, OP_LE, OP_GE, OP_FLOORDIV, OP_POW};
    for (;;) {
        while (p < end && isspace((unsigned char)*p)) {
            *line += *p == '\n';
            p++;
        }
        if (p >= end) LEX_FAIL(*line, "unclosed tag");
        /* The end marker, with its optional - or +. */
        if ((*p == '-' || *p == '+') && end - p >= 3 && p[1] == closer && p[2] == '}') {
            *strip_after = *p == '-', *keep_after = *p == '+';
            return p + 3;
        }
        if (*p == closer && end - p >= 2 && p[1] == '}') {
            *strip_after = 0, *keep_after = 0;
            return p + 2;
        }
        jtok t = {.line = *line, .p = p};
        if (isalpha((unsigned char)*p) || *p == '_') {
            while (p < end && (isalnum((unsigned char)*p) || *p == '_'))
                p++;
            t.type = T_NAME;
        } else if (isdigit((unsigned char)*p)) {
            while (p < end && (isdigit((unsigned char)*p) || *p == '_'))
                p++;
            t.type = T_INT;
            if (p + 1 < end && *p == '.' && isdigit((unsigned char)p[1])) {
                p++;
                while (p < end && isdigit((unsigned char)*p))
                    p++;
                t.type = T_FLOAT;
            }
            if (p < end && (*p == 'e' || *p == 'E')) {
                const char *q = p + 1;
                if (q < end && (*q == '+' || *q == '-')) q++;
                if (q < end && isdigit((unsigned char)*q)) {
                    while (q < end && isdigit((unsigned char)*q))
                        q++;
                    p = q;
                    t.type = T_FLOAT;
                }
            }
        } else if (*p == '"' || *p == '\'') {
            const char q = *p++;
            while (p < end && *p != q) {
                if (*p == '\\' && p + 1 < end) p++;
                *line += *p == '\n';
                p++;
            }
            if (p >= end) LEX_FAIL(t.line, "unterminated string");
            p++;
            t.type = T_STRING;
        } else {
            t.type = T_OP;
            t.op = (unsigned char)*p;
            for (int i = 0; i < 6; i++)
                if (end - p >= 2 && p[0] == two[i][0] && p[1] == two[i][1]) t.op = two_op[i];
            p += t.op >= 256 ? 2 : 1;
            if (!strchr("()[]{}.,:|~+-*/%<>=!", t.op) && t.op < 256)
                LEX_FAIL(t.line, "unexpected character '%c'", t.op);
        }
        t.n = (size_t)(p - t.p);
        push(s, lx, t);
    }
}

/* A raw block: "{% raw %}" was just read; the text runs to "{% endraw %}". */
static const char *lex_raw(jstate *s, jlex *lx, const char *p, const char *end, int *line) {
    for (const char *q = p; q + 1 < end; q++) {
        if (q[0] != '{' || q[1] != '%') continue;
        const char *r = q + 2;
        if (r < end && (*r == '-' || *r == '+')) r++;
        while (r < end && isspace((unsigned char)*r))
            r++;
        if ((size_t)(end - r) < 6 || memcmp(r, "endraw", 6) != 0) continue;
        r += 6;
        while (r < end && isspace((unsigned char)*r))
            r++;
        if (r < end && *r == '-') r++;
        if (end - r < 2 || r[0] != '%' || r[1] != '}') continue;
        push(s, lx, (jtok){.type = T_TEXT, .p = p, .n = (size_t)(q - p), .line = *line});
        *line += count_lines(p, r + 2);
        return r + 2;
    }
    LEX_FAIL(*line, "unclosed raw block");
}

void jlex_run(jstate *s, const char *src, size_t len, jlex *lx) {
    size_t n;
    const char *p = normalize(s, src, len, &n), *end = p + n;
    int line = 1, strip_next = 0, line_starting = 1;
    while (p < end) {
        /* The next tag opener. */
        const char *q = p;
        while (q + 1 < end && !(q[0] == '{' && (q[1] == '{' || q[1] == '%' || q[1] == '#')))
            q++;
        if (q + 1 >= end) q = end;
        const char kind = q < end ? q[1] : 0;
        const char mod = q < end && q + 2 < end ? q[2] : 0;
        const char *ts = p, *te = q;
        if (strip_next)
            while (ts < te && isspace((unsigned char)*ts))
                ts++;
        if (kind && mod == '-') {
            while (te > ts && isspace((unsigned char)te[-1]))
                te--;
        } else if (kind && kind != '{' && mod != '+') {
            /* lstrip_blocks: blanks from the line's start to the tag, where
             * the text has a newline or began a line. */
            const char *ls = te;
            while (ls > ts && ls[-1] != '\n')
                ls--;
            const int began_line = strip_next && ts > p ? ts[-1] == '\n' : line_starting;
            if (ls > ts || began_line) {
                const char *b = ls;
                while (b < te && *b != '\n' && isspace((unsigned char)*b))
                    b++;
                if (b == te) te = ls;
            }
        }
        if (te > ts)
            push(s, lx, (jtok){.type = T_TEXT, .p = ts, .n = (size_t)(te - ts), .line = line});
        line += count_lines(p, q);
        if (!kind) break;
        p = q + 2 + (mod == '-' || mod == '+');
        int strip_after = 0, keep_after = 0;
        const int tag_line = line;
        if (kind == '#') {
            const char *c = p;
            while (c + 1 < end && !(c[0] == '#' && c[1] == '}'))
                c++;
            if (c + 1 >= end) LEX_FAIL(tag_line, "unclosed comment");
            strip_after = c > p && c[-1] == '-';
            keep_after = c > p && c[-1] == '+';
            line += count_lines(p, c);
            p = c + 2;
        } else {
            push(s, lx, (jtok){.type = kind == '{' ? T_VAR_BEGIN : T_BLOCK_BEGIN, .line = line});
            p = lex_tag(s, lx, p, end, kind == '{' ? '}' : '%', &line, &strip_after, &keep_after);
            push(s, lx, (jtok){.type = kind == '{' ? T_VAR_END : T_BLOCK_END, .line = line});
        }
        line_starting = 0;
        /* trim_blocks: the newline after a block or comment tag. */
        if (kind != '{' && !strip_after && !keep_after && p < end && *p == '\n') {
            p++;
            line++;
            line_starting = 1;
        }
        strip_next = strip_after;
        if (kind == '%' && lx->n >= 3 && lx->t[lx->n - 2].type == T_NAME &&
            lx->t[lx->n - 3].type == T_BLOCK_BEGIN && lx->t[lx->n - 2].n == 3 &&
            memcmp(lx->t[lx->n - 2].p, "raw", 3) == 0) {
            lx->n -= 3;
            p = lex_raw(s, lx, p, end, &line);
            line_starting = 0;
        }
    }
    push(s, lx, (jtok){.type = T_EOF, .line = line});
}
