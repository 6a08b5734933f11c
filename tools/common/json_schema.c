/* JSON Schema to GBNF (json_schema.h). Each schema node becomes a rule;
 * $ref targets are compiled once under a name given before their body,
 * so recursive schemas give recursive rules. Whitespace between tokens is
 * bounded (ws below) so that a model cannot pad forever. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <matchbox.h>

#include "common/json_schema.h"
#include "common/json_schema_compiler.h"

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

void js_put(buf *b, const char *fmt, ...) {
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

int js_fail(compiler *c, const char *fmt, ...) {
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
int js_compile_at(compiler *c, const cJSON *s, const char *key) {
    size_t len = strlen(c->path);
    snprintf(c->path + len, sizeof c->path - len, "/%s", key);
    int r = compile(c, s);
    c->path[len] = 0;
    return r;
}

/* A GBNF string literal matching the bytes of TEXT. */
static void put_literal(buf *b, const char *text) {
    js_put(b, "\"");
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (*p == '"' || *p == '\\')
            js_put(b, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7F)
            js_put(b, "\\x%02X", *p);
        else
            js_put(b, "%c", *p);
    }
    js_put(b, "\"");
}

/* A rule whose body is the JSON text of V (enum and const). */
/* Whether S is valid UTF-8 (cJSON passes any bytes through). */
static int valid_utf8(const unsigned char *s) {
    while (*s) {
        int n = *s < 0x80                 ? 0
                : *s >= 0xC2 && *s < 0xE0 ? 1
                : *s >= 0xE0 && *s < 0xF0 ? 2
                : *s >= 0xF0 && *s < 0xF5 ? 3
                                          : -1;
        if (n < 0) return 0;
        uint32_t cp = n ? *s & (0x3F >> n) : *s;
        for (int i = 1; i <= n; i++) {
            if ((s[i] & 0xC0) != 0x80) return 0;
            cp = (cp << 6) | (s[i] & 0x3F);
        }
        static const uint32_t least[4] = {0, 0x80, 0x800, 0x10000};
        if (cp < least[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp < 0xE000)) return 0;
        s += n + 1;
    }
    return 1;
}

void js_put_json_literal(compiler *c, const cJSON *v) {
    char *text = cJSON_PrintUnformatted(v);
    if (!text) {
        c->out.oom = 1;
        return;
    }
    if (valid_utf8((const unsigned char *)text))
        put_literal(&c->out, text);
    else
        js_fail(c, "a string in the schema is not valid UTF-8");
    free(text);
}

int js_new_rule(compiler *c) {
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
        if (in_list(k->string, UNSUPPORTED))
            return js_fail(c, "unsupported keyword '%s'", k->string);
        if (!strcmp(k->string, "uniqueItems") && cJSON_IsTrue(k))
            return js_fail(c, "unsupported keyword 'uniqueItems'");
    }
    return 0;
}

/* Resolve a local $ref ("#", "#/$defs/x", "#/definitions/x", any JSON
 * pointer into the document). */
static const cJSON *resolve(compiler *c, const char *ref) {
    if (ref[0] != '#') {
        js_fail(c, "$ref '%s' is not local (only '#...' references are supported)", ref);
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
        js_fail(c, "$ref '%s' points to nothing", ref);
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
        if (!t) return js_fail(c, "out of memory");
        c->refs = t;
        c->cap_refs = cap;
    }
    int id = js_new_rule(c);
    c->refs[c->n_refs++] = (ref_name){target, id};
    int body = js_compile_at(c, target, ref);
    if (body < 0) return -1;
    js_put(&c->out, "s%d ::= s%d\n", id, body);
    return id;
}

static int compile_object_schema(compiler *c, const cJSON *s);

/* anyOf / oneOf: one of the branches. */
static int compile_any_of(compiler *c, const cJSON *list, const char *key) {
    if (!cJSON_IsArray(list) || !cJSON_GetArraySize(list))
        return js_fail(c, "'%s' must be a non-empty array", key);
    int n = cJSON_GetArraySize(list), *ids = malloc((size_t)n * sizeof *ids);
    if (!ids) return js_fail(c, "out of memory");
    int i = 0;
    for (const cJSON *b = list->child; b; b = b->next, i++) {
        char k[32];
        snprintf(k, sizeof k, "%s/%d", key, i);
        if ((ids[i] = js_compile_at(c, b, k)) < 0) {
            free(ids);
            return -1;
        }
    }
    int id = js_new_rule(c);
    js_put(&c->out, "s%d ::= ", id);
    for (i = 0; i < n; i++)
        js_put(&c->out, "%ss%d", i ? " | " : "", ids[i]);
    js_put(&c->out, "\n");
    free(ids);
    return id;
}

static int compile(compiler *c, const cJSON *s) {
    if (++c->depth > 64) return js_fail(c, "schema nested more than 64 deep");
    int r = -1;
    if (cJSON_IsTrue(s)) {
        r = js_new_rule(c);
        js_put(&c->out, "s%d ::= value\n", r);
    } else if (cJSON_IsFalse(s))
        r = js_fail(c, "the schema 'false' allows no value");
    else if (!cJSON_IsObject(s))
        r = js_fail(c, "a schema must be an object or a boolean");
    else if (!check_keywords(c, s))
        r = compile_object_schema(c, s);
    c->depth--;
    return r;
}

char *mb_json_schema_to_gbnf(const cJSON *schema, char *err, size_t err_cap) {
    if (err && err_cap) err[0] = 0;
    compiler c = {.root = schema, .err = err, .err_cap = err_cap};
    if (!schema) {
        js_fail(&c, "no schema");
        return NULL;
    }
    int top = compile(&c, schema);
    if (top >= 0) js_put(&c.out, "root ::= s%d\n" JSON_PRIMITIVES, top);
    free(c.refs);
    for (int i = 0; i < c.n_owned; i++)
        cJSON_Delete(c.owned[i]);
    if (c.out.oom && !c.failed) js_fail(&c, "out of memory");
    if (!c.failed && !c.out.oom) {
        /* What the grammar parser refuses is a schema that refers to
         * itself before any value is read ({"$ref": "#"}, a $ref cycle
         * through anyOf), or one too large: refused here, so that what
         * this returns always compiles. */
        mb_grammar *g = NULL;
        if (mb_grammar_parse(c.out.s, c.out.n, NULL, &g) != MB_OK) {
            c.path[0] = 0;
            js_fail(&c, "%s",
                    strstr(mb_last_error(), "left-recursive")
                        ? "the schema refers to itself ($ref) before any value is read"
                        : "the schema's grammar is too large");
        }
        mb_grammar_free(g);
    }
    if (c.failed || c.out.oom) {
        free(c.out.s);
        return NULL;
    }
    return c.out.s;
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
        return js_fail(c, "'allOf' must be a non-empty array");
    cJSON *m = cJSON_CreateObject(), *props = cJSON_CreateObject(), *req = cJSON_CreateArray();
    if (!m || !props || !req) {
        cJSON_Delete(m), cJSON_Delete(props), cJSON_Delete(req);
        return js_fail(c, "out of memory");
    }
    cJSON_AddItemToObject(m, "properties", props);
    cJSON_AddItemToObject(m, "required", req);
    if (c->n_owned < (int)(sizeof c->owned / sizeof *c->owned))
        c->owned[c->n_owned++] = m;
    else {
        cJSON_Delete(m);
        return js_fail(c, "more than %d allOf", (int)(sizeof c->owned / sizeof *c->owned));
    }
    const cJSON *branches[2] = {s, list->child};
    for (int pass = 0; pass < 2; pass++)
        for (const cJSON *b = branches[pass]; b; b = pass ? b->next : NULL) {
            const cJSON *ref = js_get(b, "$ref");
            if (pass && cJSON_IsString(ref) && !(b = resolve(c, ref->valuestring))) return -1;
            for (const cJSON *k = b->child; k; k = k->next) {
                const char *key = k->string;
                if (!strcmp(key, "allOf") || in_list(key, ANNOTATIONS)) continue;
                if (!strcmp(key, "type") && cJSON_IsString(k) && !strcmp(k->valuestring, "object"))
                    continue;
                if (!strcmp(key, "properties") && cJSON_IsObject(k)) {
                    for (const cJSON *q = k->child; q; q = q->next) {
                        if (js_get(props, q->string))
                            return js_fail(c, "allOf: property '%s' in two branches", q->string);
                        cJSON_AddItemReferenceToObject(props, q->string, (cJSON *)q);
                    }
                } else if (!strcmp(key, "required") && cJSON_IsArray(k)) {
                    for (const cJSON *q = k->child; q; q = q->next)
                        cJSON_AddItemReferenceToArray(req, (cJSON *)q);
                } else
                    return js_fail(c,
                                   "unsupported keyword '%s' in allOf (allOf merges objects: "
                                   "type object, properties, required)",
                                   key);
            }
        }
    return js_compile_object(c, m);
}

static int type_rule(compiler *c, const cJSON *s, const char *type) {
    if (!strcmp(type, "string")) return js_compile_string(c, s);
    if (!strcmp(type, "integer")) return js_compile_number(c, s, 1);
    if (!strcmp(type, "number")) return js_compile_number(c, s, 0);
    if (!strcmp(type, "object")) return js_compile_object(c, s);
    if (!strcmp(type, "array")) return js_compile_array(c, s);
    int id = js_new_rule(c);
    if (!strcmp(type, "boolean") || !strcmp(type, "null")) {
        js_put(&c->out, "s%d ::= %s\n", id, type);
        return id;
    }
    return js_fail(c, "unknown type '%s'", type);
}

static int type_is(const char *t, const cJSON *v) {
    if (!strcmp(t, "string")) return cJSON_IsString(v);
    if (!strcmp(t, "number")) return cJSON_IsNumber(v);
    if (!strcmp(t, "integer")) return js_is_integer(v);
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
        return js_fail(c, "'enum' must be a non-empty array");
    int id = js_new_rule(c), n = 0;
    js_put(&c->out, "s%d ::= (", id);
    const cJSON *type = js_get(s, "type");
    for (const cJSON *v = is_const ? values : values->child; v; v = is_const ? NULL : v->next) {
        if (type && !type_allows(type, v)) continue;
        js_put(&c->out, "%s", n++ ? " | " : "");
        js_put_json_literal(c, v);
    }
    js_put(&c->out, ") ws\n");
    if (!n)
        return js_fail(c, "no value of '%s' has the declared type", is_const ? "const" : "enum");
    return id;
}

static int compile_object_schema(compiler *c, const cJSON *s) {
    static const char *const COMBINERS[] = {"$ref", "anyOf", "oneOf", "enum", "const", NULL};
    for (int i = 0; COMBINERS[i]; i++) {
        const cJSON *v = js_get(s, COMBINERS[i]);
        if (!v) continue;
        const char *other = other_keyword(s, COMBINERS[i]);
        /* "type" next to enum/const only narrows what they list. */
        if (other && i >= 3 && !strcmp(other, "type")) other = NULL;
        if (other) return js_fail(c, "unsupported keyword '%s' next to '%s'", other, COMBINERS[i]);
        if (i == 0) {
            if (!cJSON_IsString(v)) return js_fail(c, "'$ref' must be a string");
            return compile_ref(c, v->valuestring);
        }
        if (i <= 2) return compile_any_of(c, v, COMBINERS[i]);
        return compile_enum(c, s, v, i == 4);
    }
    const cJSON *all = js_get(s, "allOf");
    if (all) return compile_all_of(c, s, all);
    const cJSON *type = js_get(s, "type");
    if (cJSON_IsString(type)) return type_rule(c, s, type->valuestring);
    if (cJSON_IsArray(type)) {
        int n = cJSON_GetArraySize(type), id, i = 0;
        int *ids = calloc((size_t)n + 1, sizeof *ids);
        if (!ids || !n) {
            free(ids);
            return js_fail(c, ids ? "'type' is an empty array" : "out of memory");
        }
        for (const cJSON *t = type->child; t; t = t->next, i++)
            if (!cJSON_IsString(t) || (ids[i] = type_rule(c, s, t->valuestring)) < 0) {
                free(ids);
                return cJSON_IsString(t) ? -1 : js_fail(c, "'type' must list strings");
            }
        id = js_new_rule(c);
        js_put(&c->out, "s%d ::= ", id);
        for (i = 0; i < n; i++)
            js_put(&c->out, "%ss%d", i ? " | " : "", ids[i]);
        js_put(&c->out, "\n");
        free(ids);
        return id;
    }
    if (type) return js_fail(c, "'type' must be a string or an array");
    /* No type: what the keywords imply, else any value. */
    if (js_get(s, "properties") || js_get(s, "required") || js_get(s, "additionalProperties"))
        return js_compile_object(c, s);
    if (js_get(s, "items") || js_get(s, "prefixItems") || js_get(s, "minItems") ||
        js_get(s, "maxItems"))
        return js_compile_array(c, s);
    if (js_get(s, "minLength") || js_get(s, "maxLength") || js_get(s, "format"))
        return js_compile_string(c, s);
    if (js_get(s, "minimum") || js_get(s, "exclusiveMinimum")) return js_compile_number(c, s, 0);
    int id = js_new_rule(c);
    js_put(&c->out, "s%d ::= value\n", id);
    return id;
}
