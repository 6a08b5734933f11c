/* JSON Schema to GBNF (json_schema.h). Each schema node becomes a rule;
 * $ref targets are compiled once under a name given before their body,
 * so recursive schemas give recursive rules. Whitespace between tokens is
 * bounded (ws below) so that a model cannot pad forever. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json_schema.h"

/* Shared by every grammar: any JSON value, and the pieces of strings and
 * numbers (the number syntax of RFC 8259, digits bounded). */
#define JSON_PRIMITIVES                                                                            \
    "value ::= object | array | string | number | (\"true\" | \"false\" | \"null\") ws\n"          \
    "object ::= \"{\" ws ( string \":\" ws value (\",\" ws string \":\" ws value)* )? \"}\" ws\n"  \
    "array ::= \"[\" ws ( value (\",\" ws value)* )? \"]\" ws\n"                                   \
    "string ::= \"\\\"\" char* \"\\\"\" ws\n"                                                      \
    "char ::= [^\"\\\\\\x7F\\x00-\\x1F] | \"\\\\\" ([\"\\\\/bfnrt] | \"u\" [0-9a-fA-F]{4})\n"      \
    "int-part ::= \"-\"? ([0-9] | [1-9] [0-9]{0,15})\n"                                            \
    "integer ::= int-part ws\n"                                                                    \
    "number ::= int-part (\".\" [0-9]{1,16})? ([eE] [-+]? [0-9]{1,3})? ws\n"                       \
    "boolean ::= (\"true\" | \"false\") ws\n"                                                      \
    "null ::= \"null\" ws\n"                                                                       \
    "ws ::= | \" \" | \"\\n\" [ \\t]{0,20}\n"

const char *mb_json_object_gbnf(void) {
    return "root ::= object\n" JSON_PRIMITIVES;
}

typedef struct {
    char *s;
    size_t n, cap;
    int oom;
} buf;

static void put(buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (k < 0 || b->oom) return;
    if (b->n + (size_t)k + 1 > b->cap) {
        size_t cap = (b->n + (size_t)k + 1) * 2;
        char *t = realloc(b->s, cap);
        if (!t) {
            b->oom = 1;
            return;
        }
        b->s = t;
        b->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(b->s + b->n, (size_t)k + 1, fmt, ap);
    va_end(ap);
    b->n += (size_t)k;
}

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

static int fail(compiler *c, const char *fmt, ...) {
    if (c->failed) return -1;
    c->failed = 1;
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (c->err && c->err_cap)
        snprintf(c->err, c->err_cap, "%s at %s", msg, c->path[0] ? c->path : "/");
    return -1;
}

static int compile(compiler *c, const cJSON *s);

/* Compile S with /KEY appended to the path (for messages). */
static int compile_at(compiler *c, const cJSON *s, const char *key) {
    size_t len = strlen(c->path);
    snprintf(c->path + len, sizeof c->path - len, "/%s", key);
    int r = compile(c, s);
    c->path[len] = 0;
    return r;
}

/* A GBNF string literal matching the bytes of TEXT. */
static void put_literal(buf *b, const char *text) {
    put(b, "\"");
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (*p == '"' || *p == '\\')
            put(b, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7F)
            put(b, "\\x%02X", *p);
        else
            put(b, "%c", *p);
    }
    put(b, "\"");
}

/* A rule whose body is the JSON text of V (enum and const). */
static void put_json_literal(compiler *c, const cJSON *v) {
    char *text = cJSON_PrintUnformatted(v);
    if (!text) {
        c->out.oom = 1;
        return;
    }
    put_literal(&c->out, text);
    free(text);
}

static int new_rule(compiler *c) {
    return ++c->n_rules;
}

static const char *ANNOTATIONS[] = {"title",       "description", "default",   "examples",
                                    "$schema",     "$id",         "$comment",  "$defs",
                                    "definitions", "deprecated",  "readOnly",  "writeOnly",
                                    "$anchor",     "strict",      "nullable_", NULL};

/* Keywords that restrict validity, per kind, and whether we implement
 * them. Anything here that is not implemented is refused by name. */
static const char *UNSUPPORTED[] = {"not",
                                    "if",
                                    "then",
                                    "else",
                                    "dependentSchemas",
                                    "dependentRequired",
                                    "dependencies",
                                    "unevaluatedProperties",
                                    "unevaluatedItems",
                                    "patternProperties",
                                    "propertyNames",
                                    "minProperties",
                                    "maxProperties",
                                    "contains",
                                    "minContains",
                                    "maxContains",
                                    "pattern",
                                    "multipleOf",
                                    "exclusiveMaximum",
                                    "maximum",
                                    "$dynamicRef",
                                    "$recursiveRef",
                                    "contentSchema",
                                    "additionalItems",
                                    NULL};

static int in_list(const char *k, const char *const *list) {
    for (; *list; list++)
        if (!strcmp(k, *list)) return 1;
    return 0;
}

/* Refuse the keywords of S that restrict validity and are not supported. */
static int check_keywords(compiler *c, const cJSON *s) {
    for (const cJSON *k = s->child; k; k = k->next) {
        if (in_list(k->string, UNSUPPORTED)) return fail(c, "unsupported keyword '%s'", k->string);
        if (!strcmp(k->string, "uniqueItems") && cJSON_IsTrue(k))
            return fail(c, "unsupported keyword 'uniqueItems'");
    }
    return 0;
}

/* Resolve a local $ref ("#", "#/$defs/x", "#/definitions/x", any JSON
 * pointer into the document). */
static const cJSON *resolve(compiler *c, const char *ref) {
    if (ref[0] != '#') {
        fail(c, "$ref '%s' is not local (only '#...' references are supported)", ref);
        return NULL;
    }
    const cJSON *node = c->root;
    const char *p = ref + 1;
    while (*p == '/' && node) {
        char key[256];
        size_t n = 0;
        for (p++; *p && *p != '/' && n + 1 < sizeof key; p++) {
            if (p[0] == '~' && p[1] == '0')
                key[n++] = '~', p++;
            else if (p[0] == '~' && p[1] == '1')
                key[n++] = '/', p++;
            else
                key[n++] = *p;
        }
        key[n] = 0;
        if (cJSON_IsArray(node)) {
            char *end;
            long i = strtol(key, &end, 10);
            node = *end || i < 0 ? NULL : cJSON_GetArrayItem(node, (int)i);
        } else
            node = cJSON_GetObjectItemCaseSensitive(node, key);
    }
    if (*p || !node) {
        fail(c, "$ref '%s' points to nothing", ref);
        return NULL;
    }
    return node;
}

/* The rule of schema node S (compiled once: $ref targets and recursion). */
static int compile_ref(compiler *c, const char *ref) {
    const cJSON *target = resolve(c, ref);
    if (!target) return -1;
    for (int i = 0; i < c->n_refs; i++)
        if (c->refs[i].node == target) return c->refs[i].id;
    if (c->n_refs == c->cap_refs) {
        int cap = c->cap_refs ? c->cap_refs * 2 : 8;
        ref_name *t = realloc(c->refs, (size_t)cap * sizeof *t);
        if (!t) return fail(c, "out of memory");
        c->refs = t;
        c->cap_refs = cap;
    }
    int id = new_rule(c);
    c->refs[c->n_refs++] = (ref_name){target, id};
    int body = compile_at(c, target, ref);
    if (body < 0) return -1;
    put(&c->out, "s%d ::= s%d\n", id, body);
    return id;
}

static int compile_object_schema(compiler *c, const cJSON *s);

/* anyOf / oneOf: one of the branches. */
static int compile_any_of(compiler *c, const cJSON *list, const char *key) {
    if (!cJSON_IsArray(list) || !cJSON_GetArraySize(list))
        return fail(c, "'%s' must be a non-empty array", key);
    int n = cJSON_GetArraySize(list), *ids = malloc((size_t)n * sizeof *ids);
    if (!ids) return fail(c, "out of memory");
    int i = 0;
    for (const cJSON *b = list->child; b; b = b->next, i++) {
        char k[32];
        snprintf(k, sizeof k, "%s/%d", key, i);
        if ((ids[i] = compile_at(c, b, k)) < 0) {
            free(ids);
            return -1;
        }
    }
    int id = new_rule(c);
    put(&c->out, "s%d ::= ", id);
    for (i = 0; i < n; i++)
        put(&c->out, "%ss%d", i ? " | " : "", ids[i]);
    put(&c->out, "\n");
    free(ids);
    return id;
}

static int compile(compiler *c, const cJSON *s) {
    if (++c->depth > 64) return fail(c, "schema nested more than 64 deep");
    int r = -1;
    if (cJSON_IsTrue(s)) {
        r = new_rule(c);
        put(&c->out, "s%d ::= value\n", r);
    } else if (cJSON_IsFalse(s))
        r = fail(c, "the schema 'false' allows no value");
    else if (!cJSON_IsObject(s))
        r = fail(c, "a schema must be an object or a boolean");
    else if (!check_keywords(c, s))
        r = compile_object_schema(c, s);
    c->depth--;
    return r;
}

char *mb_json_schema_to_gbnf(const cJSON *schema, char *err, size_t err_cap) {
    if (err && err_cap) err[0] = 0;
    compiler c = {.root = schema, .err = err, .err_cap = err_cap};
    if (!schema) {
        fail(&c, "no schema");
        return NULL;
    }
    int top = compile(&c, schema);
    if (top >= 0) put(&c.out, "root ::= s%d\n" JSON_PRIMITIVES, top);
    free(c.refs);
    for (int i = 0; i < c.n_owned; i++)
        cJSON_Delete(c.owned[i]);
    if (c.out.oom && !c.failed) fail(&c, "out of memory");
    if (c.failed || c.out.oom) {
        free(c.out.s);
        return NULL;
    }
    return c.out.s;
}

static const cJSON *get(const cJSON *s, const char *key) {
    return cJSON_GetObjectItemCaseSensitive(s, key);
}

/* A non-negative integer keyword (minItems, maxLength, ...) into *OUT,
 * at most CAP; absent: *OUT unchanged. */
static int get_count(compiler *c, const cJSON *s, const char *key, int cap, int *out) {
    const cJSON *v = get(s, key);
    if (!v) return 0;
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble != (double)(long)v->valuedouble)
        return fail(c, "'%s' must be a non-negative integer", key);
    if (v->valuedouble > cap) return fail(c, "'%s' above %d is not supported", key, cap);
    *out = (int)v->valuedouble;
    return 0;
}

/* "{m,n}" / "{m,}" for a GBNF repetition. */
static void put_repeat(buf *b, int min, int max) {
    if (max < 0)
        put(b, "{%d,}", min);
    else
        put(b, "{%d,%d}", min, max);
}

static const char *FORMATS[][2] = {
    {"date", "[0-9]{4} \"-\" (\"0\" [1-9] | \"1\" [0-2]) \"-\" (\"0\" [1-9] | [12] [0-9] | \"3\" "
             "[01])"},
    {"time", "([01] [0-9] | \"2\" [0-3]) \":\" [0-5] [0-9] \":\" [0-5] [0-9] (\".\" [0-9]{1,6})? "
             "(\"Z\" | [+-] ([01] [0-9] | \"2\" [0-3]) \":\" [0-5] [0-9])"},
    {"date-time", "DATE \"T\" TIME"},
    {"uuid", "[0-9a-fA-F]{8} \"-\" [0-9a-fA-F]{4} \"-\" [0-9a-fA-F]{4} \"-\" [0-9a-fA-F]{4} "
             "\"-\" [0-9a-fA-F]{12}"},
    {"email", "[a-zA-Z0-9_+-] [a-zA-Z0-9._+-]{0,63} \"@\" [a-zA-Z0-9-]{1,63} (\".\" "
              "[a-zA-Z0-9-]{1,63}){0,4} \".\" [a-zA-Z]{2,12}"},
};

static int compile_string(compiler *c, const cJSON *s) {
    int min = 0, max = -1;
    if (get_count(c, s, "minLength", 4096, &min) || get_count(c, s, "maxLength", 4096, &max))
        return -1;
    if (max >= 0 && max < min) return fail(c, "maxLength %d is below minLength %d", max, min);
    const cJSON *format = get(s, "format");
    int id = new_rule(c);
    if (format) {
        if (!cJSON_IsString(format)) return fail(c, "'format' must be a string");
        if (get(s, "minLength") || get(s, "maxLength"))
            return fail(c, "unsupported keyword 'minLength'/'maxLength' next to 'format'");
        const char *body = NULL;
        for (size_t i = 0; i < sizeof FORMATS / sizeof *FORMATS; i++)
            if (!strcmp(format->valuestring, FORMATS[i][0])) body = FORMATS[i][1];
        if (!body)
            return fail(c,
                        "unsupported keyword 'format' (value '%s'; supported: date, time, "
                        "date-time, uuid, email)",
                        format->valuestring);
        if (!strcmp(body, "DATE \"T\" TIME"))
            put(&c->out, "s%d ::= \"\\\"\" %s \"T\" %s \"\\\"\" ws\n", id, FORMATS[0][1],
                FORMATS[1][1]);
        else
            put(&c->out, "s%d ::= \"\\\"\" %s \"\\\"\" ws\n", id, body);
        return id;
    }
    put(&c->out, "s%d ::= \"\\\"\" char", id);
    if (min || max >= 0)
        put_repeat(&c->out, min, max);
    else
        put(&c->out, "*");
    put(&c->out, " \"\\\"\" ws\n");
    return id;
}

/* Integers and numbers; of the bounds only the common "not negative"
 * (minimum 0, integers also minimum 1 / exclusiveMinimum 0: positive). */
static int compile_number(compiler *c, const cJSON *s, int integer) {
    const cJSON *min = get(s, "minimum"), *xmin = get(s, "exclusiveMinimum");
    int sign = 1, positive = 0; /* sign: a '-' may come */
    if (min) {
        if (cJSON_IsNumber(min) && min->valuedouble == 0)
            sign = 0;
        else if (integer && cJSON_IsNumber(min) && min->valuedouble == 1)
            sign = 0, positive = 1;
        else
            return fail(c, "unsupported keyword 'minimum' (only 0, or 1 for integers)");
    }
    if (xmin) {
        if (integer && cJSON_IsNumber(xmin) && xmin->valuedouble == 0)
            sign = 0, positive = 1;
        else
            return fail(c, "unsupported keyword 'exclusiveMinimum' (only 0 for integers)");
    }
    int id = new_rule(c);
    put(&c->out, "s%d ::= %s%s", id, sign ? "\"-\"? " : "",
        positive ? "[1-9] [0-9]{0,15}" : "([0-9] | [1-9] [0-9]{0,15})");
    if (!integer) put(&c->out, " (\".\" [0-9]{1,16})? ([eE] [-+]? [0-9]{1,3})?");
    put(&c->out, " ws\n");
    return id;
}

typedef struct {
    const char *name;
    const cJSON *schema;
    int required, kv;
} prop;

/* An object with declared properties, in their order: the required ones
 * always, each optional one or not. A_i: properties i.. when none was
 * written yet; B_i: when one was (a comma first). */
static int compile_properties(compiler *c, prop *p, int n) {
    for (int i = 0; i < n; i++) {
        int v = compile_at(c, p[i].schema, p[i].name);
        if (v < 0) return -1;
        cJSON *key = cJSON_CreateString(p[i].name);
        if (!key) return fail(c, "out of memory");
        p[i].kv = new_rule(c);
        put(&c->out, "s%d ::= ", p[i].kv);
        put_json_literal(c, key);
        cJSON_Delete(key);
        put(&c->out, " ws \":\" ws s%d\n", v);
    }
    int a0 = c->n_rules + 1, b0 = a0 + n + 1;
    c->n_rules += 2 * (n + 1);
    for (int i = 0; i <= n; i++) {
        if (i == n) {
            put(&c->out, "s%d ::= \"\"\ns%d ::= \"\"\n", a0 + i, b0 + i);
            break;
        }
        put(&c->out, "s%d ::= s%d s%d%s", a0 + i, p[i].kv, b0 + i + 1, p[i].required ? "\n" : "");
        if (!p[i].required) put(&c->out, " | s%d\n", a0 + i + 1);
        put(&c->out, "s%d ::= %s\",\" ws s%d%s s%d\n", b0 + i, p[i].required ? "" : "(", p[i].kv,
            p[i].required ? "" : ")?", b0 + i + 1);
    }
    int id = new_rule(c);
    put(&c->out, "s%d ::= \"{\" ws s%d \"}\" ws\n", id, a0);
    return id;
}

static int compile_object(compiler *c, const cJSON *s) {
    const cJSON *props = get(s, "properties"), *req = get(s, "required");
    const cJSON *extra = get(s, "additionalProperties");
    if (props && !cJSON_IsObject(props)) return fail(c, "'properties' must be an object");
    if (req && !cJSON_IsArray(req)) return fail(c, "'required' must be an array");
    int n = cJSON_GetArraySize(props) + cJSON_GetArraySize(req), np = 0, r = -1;
    prop *p = calloc((size_t)n + 1, sizeof *p);
    if (!p) return fail(c, "out of memory");
    for (const cJSON *k = props ? props->child : NULL; k; k = k->next)
        p[np++] = (prop){k->string, k, 0, 0};
    for (const cJSON *q = req ? req->child : NULL; q; q = q->next) {
        if (!cJSON_IsString(q)) {
            free(p);
            return fail(c, "'required' must list strings");
        }
        int i = 0;
        while (i < np && strcmp(p[i].name, q->valuestring))
            i++;
        if (i == np) {
            /* Required but not declared: its value is additionalProperties'. */
            if (cJSON_IsFalse(extra)) {
                free(p);
                return fail(c, "required property '%s' is refused by additionalProperties false",
                            q->valuestring);
            }
            static const cJSON any = {.type = cJSON_True};
            p[np++] = (prop){q->valuestring, extra ? extra : &any, 0, 0};
        }
        p[i].required = 1;
    }
    if (np) {
        r = compile_properties(c, p, np);
    } else if (cJSON_IsFalse(extra)) {
        r = new_rule(c);
        put(&c->out, "s%d ::= \"{\" ws \"}\" ws\n", r);
    } else {
        /* No declared properties: a map of any keys to additionalProperties. */
        int v = extra ? compile_at(c, extra, "additionalProperties") : -1;
        if (!extra || v >= 0) {
            r = new_rule(c);
            char val[16];
            snprintf(val, sizeof val, v >= 0 ? "s%d" : "value", v);
            put(&c->out,
                "s%d ::= \"{\" ws ( string \":\" ws %s (\",\" ws string \":\" ws %s)* )? "
                "\"}\" ws\n",
                r, val, val);
        }
    }
    free(p);
    return r;
}

static int compile_array(compiler *c, const cJSON *s) {
    const cJSON *items = get(s, "items"), *prefix = get(s, "prefixItems");
    int min = 0, max = -1;
    if (get_count(c, s, "minItems", 1000, &min) || get_count(c, s, "maxItems", 1000, &max))
        return -1;
    if (max >= 0 && max < min) return fail(c, "maxItems %d is below minItems %d", max, min);
    if (prefix && !cJSON_IsArray(prefix)) return fail(c, "'prefixItems' must be an array");
    int np = cJSON_GetArraySize(prefix);
    if (max >= 0 && np > max) np = max;
    int *ids = calloc((size_t)np + 1, sizeof *ids), i = 0;
    if (!ids) return fail(c, "out of memory");
    for (const cJSON *q = prefix ? prefix->child : NULL; q && i < np; q = q->next, i++) {
        char k[32];
        snprintf(k, sizeof k, "prefixItems/%d", i);
        if ((ids[i] = compile_at(c, q, k)) < 0) {
            free(ids);
            return -1;
        }
    }
    int rmin = min > np ? min - np : 0, rmax = max < 0 ? -1 : max - np;
    if (prefix && !items) rmax = rmin; /* any further items: only as many as needed */
    if (cJSON_IsFalse(items)) {
        if (rmin > 0) {
            free(ids);
            return fail(c, "minItems %d needs more items than prefixItems and items false", min);
        }
        rmax = 0;
    }
    int item = -1;
    if (rmax != 0 && items && (item = compile_at(c, items, "items")) < 0) {
        free(ids);
        return -1;
    }
    char it[16];
    snprintf(it, sizeof it, item >= 0 ? "s%d" : "value", item);
    int id = new_rule(c);
    put(&c->out, "s%d ::= \"[\" ws", id);
    for (i = 0; i < np; i++)
        put(&c->out, " %ss%d", i ? "\",\" ws " : "", ids[i]);
    if (rmax != 0 && np) {
        put(&c->out, " (\",\" ws %s)", it);
        put_repeat(&c->out, rmin, rmax);
    } else if (rmax != 0) {
        put(&c->out, " %s%s (\",\" ws %s)", rmin ? "" : "(", it, it);
        put_repeat(&c->out, rmin ? rmin - 1 : 0, rmax < 0 ? -1 : rmax - 1);
        if (!rmin) put(&c->out, ")?");
    }
    put(&c->out, " \"]\" ws\n");
    free(ids);
    return id;
}

/* Keywords of S other than annotations and SELF. */
static const char *other_keyword(const cJSON *s, const char *self) {
    for (const cJSON *k = s->child; k; k = k->next)
        if (strcmp(k->string, self) && !in_list(k->string, ANNOTATIONS)) return k->string;
    return NULL;
}

/* allOf of object schemas: one object with every branch's properties and
 * required names. Anything else in a branch is refused. */
static int compile_all_of(compiler *c, const cJSON *s, const cJSON *list) {
    if (!cJSON_IsArray(list) || !cJSON_GetArraySize(list))
        return fail(c, "'allOf' must be a non-empty array");
    cJSON *m = cJSON_CreateObject(), *props = cJSON_CreateObject(), *req = cJSON_CreateArray();
    if (!m || !props || !req) {
        cJSON_Delete(m), cJSON_Delete(props), cJSON_Delete(req);
        return fail(c, "out of memory");
    }
    cJSON_AddItemToObject(m, "properties", props);
    cJSON_AddItemToObject(m, "required", req);
    if (c->n_owned < (int)(sizeof c->owned / sizeof *c->owned))
        c->owned[c->n_owned++] = m;
    else {
        cJSON_Delete(m);
        return fail(c, "more than %d allOf", (int)(sizeof c->owned / sizeof *c->owned));
    }
    const cJSON *branches[2] = {s, list->child};
    for (int pass = 0; pass < 2; pass++)
        for (const cJSON *b = branches[pass]; b; b = pass ? b->next : NULL) {
            const cJSON *ref = get(b, "$ref");
            if (pass && cJSON_IsString(ref) && !(b = resolve(c, ref->valuestring))) return -1;
            for (const cJSON *k = b->child; k; k = k->next) {
                const char *key = k->string;
                if (!strcmp(key, "allOf") || in_list(key, ANNOTATIONS)) continue;
                if (!strcmp(key, "type") && cJSON_IsString(k) && !strcmp(k->valuestring, "object"))
                    continue;
                if (!strcmp(key, "properties") && cJSON_IsObject(k)) {
                    for (const cJSON *q = k->child; q; q = q->next) {
                        if (get(props, q->string))
                            return fail(c, "allOf: property '%s' in two branches", q->string);
                        cJSON_AddItemReferenceToObject(props, q->string, (cJSON *)q);
                    }
                } else if (!strcmp(key, "required") && cJSON_IsArray(k)) {
                    for (const cJSON *q = k->child; q; q = q->next)
                        cJSON_AddItemReferenceToArray(req, (cJSON *)q);
                } else
                    return fail(c,
                                "unsupported keyword '%s' in allOf (allOf merges objects: "
                                "type object, properties, required)",
                                key);
            }
        }
    return compile_object(c, m);
}

static int type_rule(compiler *c, const cJSON *s, const char *type) {
    if (!strcmp(type, "string")) return compile_string(c, s);
    if (!strcmp(type, "integer")) return compile_number(c, s, 1);
    if (!strcmp(type, "number")) return compile_number(c, s, 0);
    if (!strcmp(type, "object")) return compile_object(c, s);
    if (!strcmp(type, "array")) return compile_array(c, s);
    int id = new_rule(c);
    if (!strcmp(type, "boolean") || !strcmp(type, "null")) {
        put(&c->out, "s%d ::= %s\n", id, type);
        return id;
    }
    return fail(c, "unknown type '%s'", type);
}

static int type_is(const char *t, const cJSON *v) {
    if (!strcmp(t, "string")) return cJSON_IsString(v);
    if (!strcmp(t, "number")) return cJSON_IsNumber(v);
    if (!strcmp(t, "integer"))
        return cJSON_IsNumber(v) && v->valuedouble == (double)(long long)v->valuedouble;
    if (!strcmp(t, "boolean")) return cJSON_IsBool(v);
    if (!strcmp(t, "null")) return cJSON_IsNull(v);
    if (!strcmp(t, "object")) return cJSON_IsObject(v);
    if (!strcmp(t, "array")) return cJSON_IsArray(v);
    return 0;
}

/* Whether V has (one of) the type(s) TYPE names. */
static int type_allows(const cJSON *type, const cJSON *v) {
    if (cJSON_IsString(type)) return type_is(type->valuestring, v);
    for (const cJSON *t = cJSON_IsArray(type) ? type->child : NULL; t; t = t->next)
        if (cJSON_IsString(t) && type_is(t->valuestring, v)) return 1;
    return 0;
}

/* enum and const: the values' JSON texts (those of the declared type). */
static int compile_enum(compiler *c, const cJSON *s, const cJSON *values, int is_const) {
    if (!is_const && (!cJSON_IsArray(values) || !cJSON_GetArraySize(values)))
        return fail(c, "'enum' must be a non-empty array");
    int id = new_rule(c), n = 0;
    put(&c->out, "s%d ::= (", id);
    const cJSON *type = get(s, "type");
    for (const cJSON *v = is_const ? values : values->child; v; v = is_const ? NULL : v->next) {
        if (type && !type_allows(type, v)) continue;
        put(&c->out, "%s", n++ ? " | " : "");
        put_json_literal(c, v);
    }
    put(&c->out, ") ws\n");
    if (!n) return fail(c, "no value of '%s' has the declared type", is_const ? "const" : "enum");
    return id;
}

static int compile_object_schema(compiler *c, const cJSON *s) {
    static const char *const COMBINERS[] = {"$ref", "anyOf", "oneOf", "enum", "const", NULL};
    for (int i = 0; COMBINERS[i]; i++) {
        const cJSON *v = get(s, COMBINERS[i]);
        if (!v) continue;
        const char *other = other_keyword(s, COMBINERS[i]);
        /* "type" next to enum/const only narrows what they list. */
        if (other && i >= 3 && !strcmp(other, "type")) other = NULL;
        if (other) return fail(c, "unsupported keyword '%s' next to '%s'", other, COMBINERS[i]);
        if (i == 0) {
            if (!cJSON_IsString(v)) return fail(c, "'$ref' must be a string");
            return compile_ref(c, v->valuestring);
        }
        if (i <= 2) return compile_any_of(c, v, COMBINERS[i]);
        return compile_enum(c, s, v, i == 4);
    }
    const cJSON *all = get(s, "allOf");
    if (all) return compile_all_of(c, s, all);
    const cJSON *type = get(s, "type");
    if (cJSON_IsString(type)) return type_rule(c, s, type->valuestring);
    if (cJSON_IsArray(type)) {
        int n = cJSON_GetArraySize(type), id, i = 0;
        int *ids = calloc((size_t)n + 1, sizeof *ids);
        if (!ids || !n) {
            free(ids);
            return fail(c, ids ? "'type' is an empty array" : "out of memory");
        }
        for (const cJSON *t = type->child; t; t = t->next, i++)
            if (!cJSON_IsString(t) || (ids[i] = type_rule(c, s, t->valuestring)) < 0) {
                free(ids);
                return cJSON_IsString(t) ? -1 : fail(c, "'type' must list strings");
            }
        id = new_rule(c);
        put(&c->out, "s%d ::= ", id);
        for (i = 0; i < n; i++)
            put(&c->out, "%ss%d", i ? " | " : "", ids[i]);
        put(&c->out, "\n");
        free(ids);
        return id;
    }
    if (type) return fail(c, "'type' must be a string or an array");
    /* No type: what the keywords imply, else any value. */
    if (get(s, "properties") || get(s, "required") || get(s, "additionalProperties"))
        return compile_object(c, s);
    if (get(s, "items") || get(s, "prefixItems") || get(s, "minItems") || get(s, "maxItems"))
        return compile_array(c, s);
    if (get(s, "minLength") || get(s, "maxLength") || get(s, "format")) return compile_string(c, s);
    if (get(s, "minimum") || get(s, "exclusiveMinimum")) return compile_number(c, s, 0);
    int id = new_rule(c);
    put(&c->out, "s%d ::= value\n", id);
    return id;
}
