/* The JSON-schema compiler's parts (json_schema.c: keywords, $ref and
 * combiners; json_schema_types.c: one rule per type). Each compiles a
 * schema node into a numbered rule "sN" and returns N, or -1 with the
 * error set (js_fail). */
#ifndef MB_TOOLS_JSON_SCHEMA_COMPILER_H
#define MB_TOOLS_JSON_SCHEMA_COMPILER_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "common/tool_error.h"

typedef struct {
    char *s;
    size_t n, cap;
    int oom;
} buf;

typedef struct {
    const cJSON *node;
    int id;
} ref_name;

typedef struct {
    const cJSON *root;
    buf out; /* the rules */
    int n_rules;
    ref_name *refs; /* schemas compiled under a name, for $ref */
    int n_refs, cap_refs;
    cJSON *owned[64]; /* objects merged from allOf (refs may point into them) */
    int n_owned;
    char path[256];
    char *err;
    size_t err_cap;
    int failed, depth;
} compiler;

void js_put(buf *b, const char *fmt, ...) TOOL_PRINTF(2, 3);
/* Record the first error (with the schema path) and return -1. */
int js_fail(compiler *c, const char *fmt, ...) TOOL_PRINTF(2, 3);
/* Compile S with /KEY appended to the path (for messages). */
int js_compile_at(compiler *c, const cJSON *s, const char *key);
/* The JSON text of V as a GBNF literal. */
void js_put_json_literal(compiler *c, const cJSON *v);
int js_new_rule(compiler *c);
const cJSON *js_get(const cJSON *s, const char *key);
/* Whether V is a JSON number with no fractional part (checked without a
 * cast: casting a double beyond an integer type's range is undefined). */
int js_is_integer(const cJSON *v);

int js_compile_string(compiler *c, const cJSON *s);
int js_compile_number(compiler *c, const cJSON *s, int integer);
int js_compile_object(compiler *c, const cJSON *s);
int js_compile_array(compiler *c, const cJSON *s);

#endif
