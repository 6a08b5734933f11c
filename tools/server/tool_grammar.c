/* The grammar of an answer that must call a function (tool_choice
 * "required" or a named function): a JSON schema of the calls, one branch
 * per function with its name as a constant and its parameters' schema as
 * the arguments, compiled to GBNF (common/json_schema.h), inside the
 * format's markup. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json_schema.h"
#include "server/request.h"
#include "server/tool_render.h"

/* {"name": const NAME, KEY: the parameters' schema}, nothing else. */
static cJSON *call_schema(const cJSON *fn, const char *key) {
    cJSON *s = cJSON_CreateObject();
    cJSON_AddStringToObject(s, "type", "object");
    cJSON *props = cJSON_AddObjectToObject(s, "properties");
    cJSON *name = cJSON_AddObjectToObject(props, "name");
    cJSON_AddStringToObject(name, "const",
                            cJSON_GetObjectItemCaseSensitive(fn, "name")->valuestring);
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(fn, "parameters");
    if (cJSON_IsObject(params) && cJSON_GetArraySize(params) > 0) {
        cJSON_AddItemToObject(props, key, cJSON_Duplicate(params, 1));
    } else { /* none given: any object */
        cJSON_AddStringToObject(cJSON_AddObjectToObject(props, key), "type", "object");
    }
    cJSON *req = cJSON_AddArrayToObject(s, "required");
    cJSON_AddItemToArray(req, cJSON_CreateString("name"));
    cJSON_AddItemToArray(req, cJSON_CreateString(key));
    cJSON_AddFalseToObject(s, "additionalProperties");
    return s;
}

/* One call of the functions Q allows: anyOf over them (or the one). */
static cJSON *one_call(const mb_server_request *q, const cJSON *tools, const char *key) {
    cJSON *any = cJSON_CreateArray();
    const cJSON *t;
    cJSON_ArrayForEach(t, tools) {
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(t, "function");
        const char *name = cJSON_GetObjectItemCaseSensitive(fn, "name")->valuestring;
        if (q->tool_choice == MB_TOOL_CHOICE_NAMED && strcmp(name, q->tool_choice_name)) continue;
        cJSON_AddItemToArray(any, call_schema(fn, key));
    }
    if (cJSON_GetArraySize(any) == 1) {
        cJSON *only = cJSON_DetachItemFromArray(any, 0);
        cJSON_Delete(any);
        return only;
    }
    cJSON *s = cJSON_CreateObject();
    cJSON_AddItemToObject(s, "anyOf", any);
    return s;
}

/* An array of 1 (or, with PARALLEL, more) of ITEM, which it takes. */
static cJSON *array_of(cJSON *item, int parallel) {
    cJSON *s = cJSON_CreateObject();
    cJSON_AddStringToObject(s, "type", "array");
    cJSON_AddItemToObject(s, "items", item);
    cJSON_AddNumberToObject(s, "minItems", 1);
    if (!parallel) cJSON_AddNumberToObject(s, "maxItems", 1);
    return s;
}

/* {KEY: VALUE}, nothing else; takes VALUE. */
static cJSON *wrap(const char *key, cJSON *value) {
    cJSON *s = cJSON_CreateObject();
    cJSON_AddStringToObject(s, "type", "object");
    cJSON_AddItemToObject(cJSON_AddObjectToObject(s, "properties"), key, value);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(s, "required"), cJSON_CreateString(key));
    cJSON_AddFalseToObject(s, "additionalProperties");
    return s;
}

/* GRAMMAR (compiled from a schema, start rule root) with root renamed to
 * "tool-value" and a new root: PREFIX tool-value SUFFIX, repeated with
 * SEP between when REPEAT. */
static char *frame(char *grammar, const char *prefix, const char *suffix, const char *sep,
                   int repeat) {
    const char *at = grammar;
    while (at && strncmp(at, "root ::=", 8)) {
        at = strchr(at, '\n');
        if (at) at++;
    }
    if (!at) {
        free(grammar);
        return NULL;
    }
    size_t n = strlen(grammar) + strlen(prefix) + strlen(suffix) + strlen(sep) + 128;
    char *out = malloc(n);
    if (out) {
        int k = snprintf(out, n, "root ::= tool-call%s\ntool-call ::= %s tool-value %s\n",
                         repeat ? " (tool-sep tool-call)*" : "", prefix, suffix);
        if (repeat) k += snprintf(out + k, n - (size_t)k, "tool-sep ::= %s\n", sep);
        k += snprintf(out + k, n - (size_t)k, "%.*s", (int)(at - grammar), grammar);
        snprintf(out + k, n - (size_t)k, "tool-value ::=%s", at + 8);
    }
    free(grammar);
    return out;
}

char *mb_tool_grammar(mb_tool_format f, const mb_server_request *q, char *err, size_t cap) {
    snprintf(err, cap, "out of memory");
    if (q->tool_choice != MB_TOOL_CHOICE_REQUIRED && q->tool_choice != MB_TOOL_CHOICE_NAMED)
        return NULL;
    cJSON *tools = cJSON_Parse(q->tools_json);
    if (!tools) return NULL;
    /* A named function is called once, as OpenAI's API does. */
    const int par = q->parallel_tool_calls && q->tool_choice != MB_TOOL_CHOICE_NAMED;
    cJSON *schema = NULL;
    switch (f) {
    case MB_TOOL_FORMAT_LLAMA3: schema = one_call(q, tools, "parameters"); break;
    case MB_TOOL_FORMAT_MISTRAL: schema = array_of(one_call(q, tools, "arguments"), par); break;
    case MB_TOOL_FORMAT_HERMES: schema = one_call(q, tools, "arguments"); break;
    default: {
        cJSON *single = wrap("tool_call", one_call(q, tools, "arguments"));
        if (!par) {
            schema = single;
            break;
        }
        schema = cJSON_CreateObject();
        cJSON *any = cJSON_AddArrayToObject(schema, "anyOf");
        cJSON_AddItemToArray(any, single);
        cJSON_AddItemToArray(any, wrap("tool_calls", array_of(one_call(q, tools, "arguments"), 1)));
    }
    }
    cJSON_Delete(tools);
    char *g = schema ? mb_json_schema_to_gbnf(schema, err, cap) : NULL;
    cJSON_Delete(schema);
    if (!g) return NULL;
    if (f == MB_TOOL_FORMAT_HERMES)
        return frame(g, "\"<tool_call>\\n\"", "\"\\n</tool_call>\"", "\"\\n\"", par);
    if (f == MB_TOOL_FORMAT_MISTRAL) return frame(g, "\"[TOOL_CALLS]\"", "", "", 0);
    return g;
}
