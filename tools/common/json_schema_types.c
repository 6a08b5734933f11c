/* The JSON-schema compiler's rules per type: strings (lengths, formats),
 * numbers (the "not negative" bounds), objects (declared properties in
 * order, required and optional), arrays (items, prefixItems, counts). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json_schema_compiler.h"

const cJSON *js_get(const cJSON *s, const char *key) {
    return cJSON_GetObjectItemCaseSensitive(s, key);
}

int js_is_integer(const cJSON *v) {
    return cJSON_IsNumber(v) && isfinite(v->valuedouble) && floor(v->valuedouble) == v->valuedouble;
}

/* A non-negative integer keyword (minItems, maxLength, ...) into *OUT,
 * at most CAP; absent: *OUT unchanged. */
static int get_count(compiler *c, const cJSON *s, const char *key, int cap, int *out) {
    const cJSON *v = js_get(s, key);
    if (!v) return 0;
    if (!js_is_integer(v) || v->valuedouble < 0)
        return js_fail(c, "'%s' must be a non-negative integer", key);
    if (v->valuedouble > cap) return js_fail(c, "'%s' above %d is not supported", key, cap);
    *out = (int)v->valuedouble;
    return 0;
}

/* "{m,n}" / "{m,}" for a GBNF repetition. */
static void put_repeat(buf *b, int min, int max) {
    if (max < 0)
        js_put(b, "{%d,}", min);
    else
        js_put(b, "{%d,%d}", min, max);
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

int js_compile_string(compiler *c, const cJSON *s) {
    int min = 0, max = -1;
    if (get_count(c, s, "minLength", 4096, &min) || get_count(c, s, "maxLength", 4096, &max))
        return -1;
    if (max >= 0 && max < min) return js_fail(c, "maxLength %d is below minLength %d", max, min);
    const cJSON *format = js_get(s, "format");
    int id = js_new_rule(c);
    if (format) {
        if (!cJSON_IsString(format)) return js_fail(c, "'format' must be a string");
        if (js_get(s, "minLength") || js_get(s, "maxLength"))
            return js_fail(c, "unsupported keyword 'minLength'/'maxLength' next to 'format'");
        const char *body = NULL;
        for (size_t i = 0; i < sizeof FORMATS / sizeof *FORMATS; i++)
            if (!strcmp(format->valuestring, FORMATS[i][0])) body = FORMATS[i][1];
        if (!body)
            return js_fail(c,
                           "unsupported keyword 'format' (value '%s'; supported: date, time, "
                           "date-time, uuid, email)",
                           format->valuestring);
        if (!strcmp(body, "DATE \"T\" TIME"))
            js_put(&c->out, "s%d ::= \"\\\"\" %s \"T\" %s \"\\\"\" ws\n", id, FORMATS[0][1],
                   FORMATS[1][1]);
        else
            js_put(&c->out, "s%d ::= \"\\\"\" %s \"\\\"\" ws\n", id, body);
        return id;
    }
    js_put(&c->out, "s%d ::= \"\\\"\" char", id);
    if (min || max >= 0)
        put_repeat(&c->out, min, max);
    else
        js_put(&c->out, "*");
    js_put(&c->out, " \"\\\"\" ws\n");
    return id;
}

/* Integers and numbers; of the bounds only the common "not negative"
 * (minimum 0, integers also minimum 1 / exclusiveMinimum 0: positive). */
int js_compile_number(compiler *c, const cJSON *s, int integer) {
    const cJSON *min = js_get(s, "minimum"), *xmin = js_get(s, "exclusiveMinimum");
    int sign = 1, positive = 0; /* sign: a '-' may come */
    if (min) {
        if (cJSON_IsNumber(min) && min->valuedouble == 0)
            sign = 0;
        else if (integer && cJSON_IsNumber(min) && min->valuedouble == 1)
            sign = 0, positive = 1;
        else
            return js_fail(c, "unsupported keyword 'minimum' (only 0, or 1 for integers)");
    }
    if (xmin) {
        if (integer && cJSON_IsNumber(xmin) && xmin->valuedouble == 0)
            sign = 0, positive = 1;
        else
            return js_fail(c, "unsupported keyword 'exclusiveMinimum' (only 0 for integers)");
    }
    int id = js_new_rule(c);
    js_put(&c->out, "s%d ::= %s%s", id, sign ? "\"-\"? " : "",
           positive ? "[1-9] [0-9]{0,15}" : "([0-9] | [1-9] [0-9]{0,15})");
    if (!integer) js_put(&c->out, " (\".\" [0-9]{1,16})? ([eE] [-+]? [0-9]{1,3})?");
    js_put(&c->out, " ws\n");
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
        char path[96];
        snprintf(path, sizeof path, "properties/%s", p[i].name);
        int v = js_compile_at(c, p[i].schema, path);
        if (v < 0) return -1;
        cJSON *key = cJSON_CreateString(p[i].name);
        if (!key) return js_fail(c, "out of memory");
        p[i].kv = js_new_rule(c);
        js_put(&c->out, "s%d ::= ", p[i].kv);
        js_put_json_literal(c, key);
        cJSON_Delete(key);
        js_put(&c->out, " ws \":\" ws s%d\n", v);
    }
    int a0 = c->n_rules + 1, b0 = a0 + n + 1;
    c->n_rules += 2 * (n + 1);
    for (int i = 0; i <= n; i++) {
        if (i == n) {
            js_put(&c->out, "s%d ::= \"\"\ns%d ::= \"\"\n", a0 + i, b0 + i);
            break;
        }
        js_put(&c->out, "s%d ::= s%d s%d%s", a0 + i, p[i].kv, b0 + i + 1,
               p[i].required ? "\n" : "");
        if (!p[i].required) js_put(&c->out, " | s%d\n", a0 + i + 1);
        js_put(&c->out, "s%d ::= %s\",\" ws s%d%s s%d\n", b0 + i, p[i].required ? "" : "(", p[i].kv,
               p[i].required ? "" : ")?", b0 + i + 1);
    }
    int id = js_new_rule(c);
    js_put(&c->out, "s%d ::= \"{\" ws s%d \"}\" ws\n", id, a0);
    return id;
}

int js_compile_object(compiler *c, const cJSON *s) {
    const cJSON *props = js_get(s, "properties"), *req = js_get(s, "required");
    const cJSON *extra = js_get(s, "additionalProperties");
    if (props && !cJSON_IsObject(props)) return js_fail(c, "'properties' must be an object");
    if (req && !cJSON_IsArray(req)) return js_fail(c, "'required' must be an array");
    int n = cJSON_GetArraySize(props) + cJSON_GetArraySize(req), np = 0, r = -1;
    prop *p = calloc((size_t)n + 1, sizeof *p);
    if (!p) return js_fail(c, "out of memory");
    for (const cJSON *k = props ? props->child : NULL; k; k = k->next)
        p[np++] = (prop){k->string, k, 0, 0};
    for (const cJSON *q = req ? req->child : NULL; q; q = q->next) {
        if (!cJSON_IsString(q)) {
            free(p);
            return js_fail(c, "'required' must list strings");
        }
        int i = 0;
        while (i < np && strcmp(p[i].name, q->valuestring))
            i++;
        if (i == np) {
            /* Required but not declared: its value is additionalProperties'. */
            if (cJSON_IsFalse(extra)) {
                free(p);
                return js_fail(c, "required property '%s' is refused by additionalProperties false",
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
        r = js_new_rule(c);
        js_put(&c->out, "s%d ::= \"{\" ws \"}\" ws\n", r);
    } else {
        /* No declared properties: a map of any keys to additionalProperties. */
        int v = extra ? js_compile_at(c, extra, "additionalProperties") : -1;
        if (!extra || v >= 0) {
            r = js_new_rule(c);
            char val[16];
            snprintf(val, sizeof val, v >= 0 ? "s%d" : "value", v);
            js_put(&c->out,
                   "s%d ::= \"{\" ws ( string \":\" ws %s (\",\" ws string \":\" ws %s)* )? "
                   "\"}\" ws\n",
                   r, val, val);
        }
    }
    free(p);
    return r;
}

int js_compile_array(compiler *c, const cJSON *s) {
    const cJSON *items = js_get(s, "items"), *prefix = js_get(s, "prefixItems");
    int min = 0, max = -1;
    if (get_count(c, s, "minItems", 1000, &min) || get_count(c, s, "maxItems", 1000, &max))
        return -1;
    if (max >= 0 && max < min) return js_fail(c, "maxItems %d is below minItems %d", max, min);
    if (prefix && !cJSON_IsArray(prefix)) return js_fail(c, "'prefixItems' must be an array");
    int np = cJSON_GetArraySize(prefix);
    if (max >= 0 && np > max) np = max;
    int *ids = calloc((size_t)np + 1, sizeof *ids), i = 0;
    if (!ids) return js_fail(c, "out of memory");
    for (const cJSON *q = prefix ? prefix->child : NULL; q && i < np; q = q->next, i++) {
        char k[32];
        snprintf(k, sizeof k, "prefixItems/%d", i);
        if ((ids[i] = js_compile_at(c, q, k)) < 0) {
            free(ids);
            return -1;
        }
    }
    int rmin = min > np ? min - np : 0, rmax = max < 0 ? -1 : max - np;
    if (prefix && !items) rmax = rmin; /* any further items: only as many as needed */
    if (cJSON_IsFalse(items)) {
        if (rmin > 0) {
            free(ids);
            return js_fail(c, "minItems %d needs more items than prefixItems and items false", min);
        }
        rmax = 0;
    }
    int item = -1;
    if (rmax != 0 && items && (item = js_compile_at(c, items, "items")) < 0) {
        free(ids);
        return -1;
    }
    char it[16];
    snprintf(it, sizeof it, item >= 0 ? "s%d" : "value", item);
    int id = js_new_rule(c);
    js_put(&c->out, "s%d ::= \"[\" ws", id);
    for (i = 0; i < np; i++)
        js_put(&c->out, " %ss%d", i ? "\",\" ws " : "", ids[i]);
    if (rmax != 0 && np) {
        js_put(&c->out, " (\",\" ws %s)", it);
        put_repeat(&c->out, rmin, rmax);
    } else if (rmax != 0) {
        js_put(&c->out, " %s%s (\",\" ws %s)", rmin ? "" : "(", it, it);
        put_repeat(&c->out, rmin ? rmin - 1 : 0, rmax < 0 ? -1 : rmax - 1);
        if (!rmin) js_put(&c->out, ")?");
    }
    js_put(&c->out, " \"]\" ws\n");
    free(ids);
    return id;
}
