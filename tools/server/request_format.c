/* The request fields that constrain the output: OpenAI's response_format
 * (text, json_object, json_schema) and llama.cpp's grammar (GBNF text)
 * and json_schema, turned into the one GBNF text the engine enforces. A
 * schema with a keyword the compiler does not implement, or a grammar
 * that does not parse, is a 400 naming the problem: the output is never
 * silently left unconstrained. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json_schema.h"
#include "server/request.h"

static mb_status format_fail(mb_server_error *err, const char *param, const char *msg) {
    snprintf(err->message, sizeof err->message, "%s", msg);
    snprintf(err->param, sizeof err->param, "%s", param);
    err->http_status = 400;
    err->type = "invalid_request_error";
    err->code = NULL;
    return MB_ERR_INVALID_ARG;
}

/* GBNF for SCHEMA into *out, or a 400 for PARAM. */
static mb_status from_schema(const cJSON *schema, const char *param, char **out,
                             mb_server_error *err) {
    char why[200], msg[256];
    *out = mb_json_schema_to_gbnf(schema, why, sizeof why);
    if (*out) return MB_OK;
    snprintf(msg, sizeof msg, "%s: the JSON schema cannot be enforced: %s", param, why);
    return format_fail(err, param, msg);
}

static mb_status parse_response_format(const cJSON *rf, char **out, mb_server_error *err) {
    const char *P = "response_format";
    if (!cJSON_IsObject(rf)) return format_fail(err, P, "'response_format' must be an object");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(rf, "type");
    if (!cJSON_IsString(type))
        return format_fail(err, P,
                           "'response_format.type' must be \"text\", \"json_object\" "
                           "or \"json_schema\"");
    const char *t = type->valuestring;
    if (!strcmp(t, "text")) return MB_OK;
    /* llama.cpp also takes a schema inside json_object. */
    const cJSON *schema = cJSON_GetObjectItemCaseSensitive(rf, "schema");
    if (!strcmp(t, "json_schema")) {
        const cJSON *js = cJSON_GetObjectItemCaseSensitive(rf, "json_schema");
        if (!cJSON_IsObject(js))
            return format_fail(err, P,
                               "'response_format.json_schema' must be an object with "
                               "the schema under \"schema\"");
        const cJSON *strict = cJSON_GetObjectItemCaseSensitive(js, "strict");
        if (strict && !cJSON_IsBool(strict) && !cJSON_IsNull(strict))
            return format_fail(err, P, "'response_format.json_schema.strict' must be a boolean");
        schema = cJSON_GetObjectItemCaseSensitive(js, "schema");
        if (!schema) return format_fail(err, P, "'response_format.json_schema.schema' is missing");
    } else if (strcmp(t, "json_object"))
        return format_fail(err, P,
                           "'response_format.type' must be \"text\", \"json_object\" "
                           "or \"json_schema\"");
    if (schema && !cJSON_IsNull(schema)) return from_schema(schema, P, out, err);
    *out = strdup(mb_json_object_gbnf());
    return *out ? MB_OK : format_fail(err, P, "out of memory");
}

mb_status mb_server_request_parse_format(const cJSON *root, mb_server_request *r,
                                         mb_server_error *err) {
    const cJSON *rf = cJSON_GetObjectItemCaseSensitive(root, "response_format");
    const cJSON *gr = cJSON_GetObjectItemCaseSensitive(root, "grammar");
    const cJSON *js = cJSON_GetObjectItemCaseSensitive(root, "json_schema");
    if (cJSON_IsNull(rf)) rf = NULL;
    if (cJSON_IsNull(gr)) gr = NULL;
    if (cJSON_IsNull(js)) js = NULL;
    if (!!rf + !!gr + !!js > 1)
        return format_fail(err, gr ? "grammar" : "json_schema",
                           "give one of 'response_format', 'grammar' and 'json_schema'");
    mb_status st = MB_OK;
    const char *param = "grammar";
    if (rf) {
        param = "response_format";
        st = parse_response_format(rf, &r->grammar, err);
    } else if (js) {
        param = "json_schema";
        st = from_schema(js, param, &r->grammar, err);
    } else if (gr) {
        if (!cJSON_IsString(gr)) return format_fail(err, param, "'grammar' must be a string");
        if (!(r->grammar = strdup(gr->valuestring)))
            return format_fail(err, param, "out of memory");
    }
    if (st || !r->grammar) return st;
    /* Compiled here so that a bad one is this request's 400, not a failed
     * job later; the engine compiles the text again for its job. */
    mb_grammar *g = NULL;
    if (mb_grammar_parse(r->grammar, strlen(r->grammar), NULL, &g) != MB_OK) {
        char msg[256];
        snprintf(msg, sizeof msg, "%s: %s", param, mb_last_error());
        return format_fail(err, param, msg);
    }
    mb_grammar_free(g);
    return MB_OK;
}
