/* The tool fields of a chat request (OpenAI's conventions): `tools`,
 * `tool_choice`, `parallel_tool_calls`, assistant messages with
 * `tool_calls` and `tool` messages. Checked strictly, each 400 naming its
 * field; the messages are kept as JSON for the model's template, with each
 * call's arguments (a JSON-encoded string in the API) as an object, which
 * is what templates read. */
#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json_schema.h"
#include "common/tool_error.h"
#include "server/request.h"
#include "server/tools.h"

enum { MAX_TOOLS = 128, MAX_NAME = 64 };

/* OpenAI's rule for function names: 1 to 64 of a-z, A-Z, 0-9, '_', '-'. */
static int valid_name(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > MAX_NAME) return 0;
    for (size_t i = 0; i < n; i++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-", s[i]))
            return 0;
    return 1;
}

static const cJSON *item(const cJSON *o, const char *name) {
    return cJSON_GetObjectItemCaseSensitive(o, name);
}

static mb_status parse_tools(const cJSON *root, mb_server_request *r, mb_server_error *err) {
    const cJSON *v = item(root, "tools");
    if (!v || cJSON_IsNull(v)) return MB_OK;
    if (!cJSON_IsArray(v)) return mb_server_fail(err, "tools", "'tools' must be an array");
    int n = cJSON_GetArraySize(v);
    if (n > MAX_TOOLS)
        return mb_server_fail(err, "tools", "'tools' has %d entries; at most %d are allowed", n,
                              MAX_TOOLS);
    char p[64];
    for (int i = 0; i < n; i++) {
        const cJSON *t = cJSON_GetArrayItem(v, i), *type = item(t, "type");
        snprintf(p, sizeof p, "tools[%d]", i);
        if (!cJSON_IsObject(t)) return mb_server_fail(err, p, "'%s' must be an object", p);
        if (!cJSON_IsString(type) || strcmp(type->valuestring, "function"))
            return mb_server_fail(err, p, "'%s.type' must be \"function\"", p);
        const cJSON *f = item(t, "function");
        snprintf(p, sizeof p, "tools[%d].function", i);
        if (!cJSON_IsObject(f)) return mb_server_fail(err, p, "'%s' must be an object", p);
        const cJSON *name = item(f, "name"), *desc = item(f, "description");
        const cJSON *params = item(f, "parameters"), *strict = item(f, "strict");
        snprintf(p, sizeof p, "tools[%d].function.name", i);
        if (!cJSON_IsString(name) || !valid_name(name->valuestring))
            return mb_server_fail(err, p, "'%s' must be 1 to 64 letters, digits, '_' or '-'", p);
        for (int k = 0; k < i; k++)
            if (!strcmp(item(item(cJSON_GetArrayItem(v, k), "function"), "name")->valuestring,
                        name->valuestring))
                return mb_server_fail(err, p, "two tools are named '%s'", name->valuestring);
        snprintf(p, sizeof p, "tools[%d].function.description", i);
        if (desc && !cJSON_IsNull(desc) && !cJSON_IsString(desc))
            return mb_server_fail(err, p, "'%s' must be a string", p);
        snprintf(p, sizeof p, "tools[%d].function.strict", i);
        if (strict && !cJSON_IsNull(strict) && !cJSON_IsBool(strict))
            return mb_server_fail(err, p, "'%s' must be true or false", p);
        snprintf(p, sizeof p, "tools[%d].function.parameters", i);
        if (params && !cJSON_IsNull(params)) {
            const cJSON *pt = item(params, "type");
            if (!cJSON_IsObject(params))
                return mb_server_fail(err, p, "'%s' must be a JSON Schema object", p);
            /* Arguments are always an object (a JSON-encoded one in the answer). */
            if (pt && (!cJSON_IsString(pt) || strcmp(pt->valuestring, "object")))
                return mb_server_fail(err, p,
                                      "'%s.type' must be \"object\": arguments are an object", p);
            const cJSON *props = item(params, "properties");
            if (props && !cJSON_IsObject(props))
                return mb_server_fail(err, p, "'%s.properties' must be an object", p);
            const cJSON *req = item(params, "required"), *e;
            if (req && !cJSON_IsArray(req))
                return mb_server_fail(err, p, "'%s.required' must be an array of names", p);
            cJSON_ArrayForEach(e, req) {
                if (!cJSON_IsString(e))
                    return mb_server_fail(err, p, "'%s.required' must be an array of names", p);
            }
        }
    }
    r->n_tools = n;
    return (r->tools_json = cJSON_PrintUnformatted(v)) ? MB_OK : mb_server_oom(err);
}

static int has_tool(const cJSON *root, const char *name) {
    const cJSON *t;
    cJSON_ArrayForEach(t, item(root, "tools")) {
        if (!strcmp(item(item(t, "function"), "name")->valuestring, name)) return 1;
    }
    return 0;
}

static mb_status parse_choice(const cJSON *root, mb_server_request *r, mb_server_error *err) {
    const cJSON *v = item(root, "tool_choice"), *par = item(root, "parallel_tool_calls");
    r->parallel_tool_calls = 1;
    if (par && !cJSON_IsNull(par)) {
        if (!cJSON_IsBool(par))
            return mb_server_fail(err, "parallel_tool_calls",
                                  "'parallel_tool_calls' must be true or false");
        r->parallel_tool_calls = cJSON_IsTrue(par);
    }
    r->tool_choice = r->n_tools ? MB_TOOL_CHOICE_AUTO : MB_TOOL_CHOICE_NONE;
    if (!v || cJSON_IsNull(v)) return MB_OK;
    if (cJSON_IsString(v)) {
        const char *s = v->valuestring;
        if (!strcmp(s, "none")) return r->tool_choice = MB_TOOL_CHOICE_NONE, MB_OK;
        if (!strcmp(s, "auto")) return MB_OK;
        if (strcmp(s, "required"))
            return mb_server_fail(err, "tool_choice",
                                  "'tool_choice' must be \"none\", \"auto\", \"required\" or "
                                  "{\"type\": \"function\", \"function\": {\"name\": ...}}");
        if (!r->n_tools)
            return mb_server_fail(err, "tool_choice",
                                  "'tool_choice' is \"required\" but 'tools' is empty");
        r->tool_choice = MB_TOOL_CHOICE_REQUIRED;
        return MB_OK;
    }
    const cJSON *type = item(v, "type"), *f = item(v, "function"), *name = item(f, "name");
    if (!cJSON_IsObject(v) || !cJSON_IsString(type) || strcmp(type->valuestring, "function") ||
        !cJSON_IsObject(f) || !cJSON_IsString(name))
        return mb_server_fail(err, "tool_choice",
                              "'tool_choice' must be \"none\", \"auto\", \"required\" or "
                              "{\"type\": \"function\", \"function\": {\"name\": ...}}");
    if (!r->n_tools || !has_tool(root, name->valuestring))
        return mb_server_fail(err, "tool_choice",
                              "'tool_choice' names '%.64s', which is not in 'tools'",
                              name->valuestring);
    r->tool_choice = MB_TOOL_CHOICE_NAMED;
    return (r->tool_choice_name = strdup(name->valuestring)) ? MB_OK : mb_server_oom(err);
}

/* An assistant message's tool_calls, checked, into OUT (arguments as
 * objects, as templates read them). */
static mb_status parse_calls(const cJSON *calls, int i, cJSON *out, mb_server_error *err) {
    char p[80];
    snprintf(p, sizeof p, "messages[%d].tool_calls", i);
    if (!cJSON_IsArray(calls) || cJSON_GetArraySize(calls) == 0)
        return mb_server_fail(err, p, "'%s' must be a non-empty array", p);
    cJSON *list = cJSON_AddArrayToObject(out, "tool_calls");
    if (!list) return mb_server_oom(err);
    int k = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, calls) {
        snprintf(p, sizeof p, "messages[%d].tool_calls[%d]", i, k++);
        const cJSON *id = item(c, "id"), *type = item(c, "type"), *f = item(c, "function");
        if (!cJSON_IsObject(c) || !cJSON_IsObject(f))
            return mb_server_fail(err, p,
                                  "'%s' must be {\"id\", \"type\": \"function\", \"function\"}", p);
        if (!cJSON_IsString(id) || !id->valuestring[0])
            return mb_server_fail(err, p, "'%s.id' must be a non-empty string", p);
        if (type && (!cJSON_IsString(type) || strcmp(type->valuestring, "function")))
            return mb_server_fail(err, p, "'%s.type' must be \"function\"", p);
        const cJSON *name = item(f, "name"), *args = item(f, "arguments");
        if (!cJSON_IsString(name) || !name->valuestring[0])
            return mb_server_fail(err, p, "'%s.function.name' must be a non-empty string", p);
        cJSON *obj = NULL;
        if (cJSON_IsString(args))
            obj = cJSON_Parse(args->valuestring);
        else if (cJSON_IsObject(args))
            obj = cJSON_Duplicate(args, 1);
        if (!cJSON_IsObject(obj)) {
            cJSON_Delete(obj);
            return mb_server_fail(
                err, p, "'%s.function.arguments' must be a JSON object encoded as a string", p);
        }
        cJSON *e = cJSON_CreateObject(), *fn = cJSON_CreateObject();
        cJSON_AddItemToArray(list, e);
        cJSON_AddStringToObject(e, "id", id->valuestring);
        cJSON_AddStringToObject(e, "type", "function");
        cJSON_AddItemToObject(e, "function", fn);
        cJSON_AddStringToObject(fn, "name", name->valuestring);
        cJSON_AddItemToObject(fn, "arguments", obj);
    }
    return MB_OK;
}

/* The name of the call with ID in the messages before OUT's end, or NULL. */
static const char *call_name(const cJSON *out, const char *id) {
    const cJSON *m, *c;
    cJSON_ArrayForEach(m, out) {
        cJSON_ArrayForEach(c, item(m, "tool_calls")) {
            if (!strcmp(item(c, "id")->valuestring, id))
                return item(item(c, "function"), "name")->valuestring;
        }
    }
    return NULL;
}

static mb_status parse_tool_messages(const cJSON *root, mb_server_request *r, int *in_play,
                                     cJSON *out, mb_server_error *err) {
    const cJSON *m;
    int i = 0;
    cJSON_ArrayForEach(m, item(root, "messages")) {
        const char *role = r->messages[i].role;
        cJSON *o = cJSON_CreateObject();
        if (!o) return mb_server_oom(err);
        cJSON_AddItemToArray(out, o);
        cJSON_AddStringToObject(o, "role", role);
        const cJSON *content = item(m, "content"), *calls = item(m, "tool_calls");
        if (content && !cJSON_IsNull(content))
            cJSON_AddStringToObject(o, "content", r->messages[i].content);
        else
            cJSON_AddNullToObject(o, "content");
        char p[64];
        if (!strcmp(role, "tool")) {
            const cJSON *id = item(m, "tool_call_id");
            snprintf(p, sizeof p, "messages[%d].tool_call_id", i);
            if (!cJSON_IsString(id) || !id->valuestring[0])
                return mb_server_fail(err, p, "'%s' is required in a tool message", p);
            cJSON_AddStringToObject(o, "tool_call_id", id->valuestring);
            const char *name = call_name(out, id->valuestring);
            if (name) cJSON_AddStringToObject(o, "name", name);
            *in_play = 1;
        } else if (calls && !cJSON_IsNull(calls)) {
            snprintf(p, sizeof p, "messages[%d].tool_calls", i);
            if (strcmp(role, "assistant"))
                return mb_server_fail(err, p, "'%s': only assistant messages have tool calls", p);
            mb_status st = parse_calls(calls, i, o, err);
            if (st) return st;
            *in_play = 1;
        }
        i++;
    }
    return MB_OK;
}

/* Under required or a named choice the arguments are constrained by their
 * schema: one the compiler refuses is a 400 now, naming its keyword. */
static mb_status check_schemas(const cJSON *root, const mb_server_request *r,
                               mb_server_error *err) {
    if (r->tool_choice != MB_TOOL_CHOICE_REQUIRED && r->tool_choice != MB_TOOL_CHOICE_NAMED)
        return MB_OK;
    int i = 0;
    const cJSON *t;
    cJSON_ArrayForEach(t, item(root, "tools")) {
        const cJSON *fn = item(t, "function"), *params = item(fn, "parameters");
        const char *name = item(fn, "name")->valuestring;
        char p[64], why[200];
        snprintf(p, sizeof p, "tools[%d].function.parameters", i++);
        if (!cJSON_IsObject(params) ||
            (r->tool_choice == MB_TOOL_CHOICE_NAMED && strcmp(name, r->tool_choice_name)))
            continue;
        char *g = mb_json_schema_to_gbnf(params, why, sizeof why);
        if (!g) return mb_server_fail(err, p, "'%s' cannot constrain the arguments: %s", p, why);
        free(g);
    }
    return MB_OK;
}

mb_status mb_server_request_tools(const cJSON *root, mb_server_request *r, mb_server_error *err) {
    mb_status st = parse_tools(root, r, err);
    if (!st) st = parse_choice(root, r, err);
    if (!st) st = check_schemas(root, r, err);
    if (st) return st;
    /* One grammar per answer: a forced call and a forced format exclude
     * each other (under auto, response_format's grammar applies). */
    if (r->grammar &&
        (r->tool_choice == MB_TOOL_CHOICE_REQUIRED || r->tool_choice == MB_TOOL_CHOICE_NAMED))
        return mb_server_fail(
            err, "tool_choice",
            "'tool_choice' forces a tool call, and 'response_format' (or 'grammar') "
            "another format: the answer can follow only one");
    cJSON *msgs = cJSON_CreateArray();
    if (!msgs) return mb_server_oom(err);
    int in_play = r->n_tools > 0;
    st = parse_tool_messages(root, r, &in_play, msgs, err);
    if (!st && in_play && !(r->messages_json = cJSON_PrintUnformatted(msgs)))
        st = mb_server_oom(err);
    cJSON_Delete(msgs);
    return st;
}
