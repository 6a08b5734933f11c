/* Template text into tokens (lexer.c). */
#ifndef MB_JINJA_LEXER_H
#define MB_JINJA_LEXER_H

#include "jinja/internal.h"

typedef enum {
    T_TEXT,
    T_VAR_BEGIN,
    T_VAR_END,
    T_BLOCK_BEGIN,
    T_BLOCK_END,
    T_NAME,
    T_STRING, /* with its quotes and escapes, as written */
    T_INT,
    T_FLOAT,
    T_OP, /* op: the character, or an OP_* code for two-character operators */
    T_EOF,
} jtok_type;

typedef struct {
    jtok_type type;
    int op, line;
    const char *p; /* the token's text (T_TEXT: after whitespace rules) */
    size_t n;
} jtok;

typedef struct {
    jtok *t;
    size_t n, cap;
} jlex;

/* Tokens of TEMPLATE into LX (malloc'd array; the caller frees lx->t). */
void jlex_run(jstate *s, const char *src, size_t len, jlex *lx);

#endif
