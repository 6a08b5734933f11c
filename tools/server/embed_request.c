/* Parsing of embeddings requests. Unknown fields are ignored, as client
 * libraries send extras (`user`, `dimensions` is refused: it changes the
 * answer and the model's width is fixed). */
#include "server/embed_request.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/tool_error.h"

static int is_id(const cJSON *v) {
    return cJSON_IsNumber(v) && isfinite(v->valuedouble) &&
           floor(v->valuedouble) == v->valuedouble && v->valuedouble >= 0 &&
           v->valuedouble <= 2147483647.0;
}

/* An array of token ids into IN; WHERE names it in messages ("input[3]"). */
static mb_status parse_ids(const cJSON *arr, mb_embed_input *in, const char *where,
                           mb_server_error *err) {
    const int n = cJSON_GetArraySize(arr);
    if (n == 0) return mb_server_fail(err, "input", "'%s' is an empty array of token ids", where);
    if (!(in->ids = malloc((size_t)n * sizeof *in->ids))) return mb_server_oom(err);
    const cJSON *v;
    cJSON_ArrayForEach(v, arr) {
        if (!is_id(v))
            return mb_server_fail(err, "input",
                                  "'%s' must hold token ids (integers from 0); item %zu is not one",
                                  where, in->n_ids);
        in->ids[in->n_ids++] = (mb_token)v->valuedouble;
    }
    return MB_OK;
}

static mb_status parse_text(const cJSON *v, mb_embed_input *in, const char *where,
                            mb_server_error *err) {
    if (!v->valuestring[0]) return mb_server_fail(err, "input", "'%s' is an empty string", where);
    if (!(in->text = strdup(v->valuestring))) return mb_server_oom(err);
    return MB_OK;
}

static mb_status parse_input(const cJSON *input, mb_embed_request *r, mb_server_error *err) {
    if (!input || cJSON_IsNull(input)) return mb_server_fail(err, "input", "'input' is required");
    if (cJSON_IsString(input)) {
        if (!(r->inputs = calloc(1, sizeof *r->inputs))) return mb_server_oom(err);
        r->n_inputs = 1;
        return parse_text(input, &r->inputs[0], "input", err);
    }
    if (!cJSON_IsArray(input))
        return mb_server_fail(
            err, "input",
            "'input' must be a string, an array of strings, an array of token ids or an "
            "array of arrays of token ids");
    const int n = cJSON_GetArraySize(input);
    if (n == 0) return mb_server_fail(err, "input", "'input' is an empty array");
    const cJSON *first = input->child;
    if (cJSON_IsNumber(first)) { /* one input of token ids */
        if (!(r->inputs = calloc(1, sizeof *r->inputs))) return mb_server_oom(err);
        r->n_inputs = 1;
        return parse_ids(input, &r->inputs[0], "input", err);
    }
    if (n > MB_EMBED_MAX_INPUTS)
        return mb_server_fail(err, "input", "'input' has %d items; at most %d are allowed", n,
                              MB_EMBED_MAX_INPUTS);
    if (!(r->inputs = calloc((size_t)n, sizeof *r->inputs))) return mb_server_oom(err);
    const cJSON *v;
    cJSON_ArrayForEach(v, input) {
        char where[32];
        snprintf(where, sizeof where, "input[%zu]", r->n_inputs);
        mb_embed_input *in = &r->inputs[r->n_inputs++];
        /* One kind throughout, as the API's four shapes are. */
        mb_status st =
            cJSON_IsString(v) && cJSON_IsString(first) ? parse_text(v, in, where, err)
            : cJSON_IsArray(v) && cJSON_IsArray(first)
                ? parse_ids(v, in, where, err)
                : mb_server_fail(err, "input", "'%s' must be %s, as the first item is", where,
                                 cJSON_IsString(first)  ? "a string"
                                 : cJSON_IsArray(first) ? "an array of token ids"
                                                        : "a string or an array of token ids");
        if (st) return st;
    }
    return MB_OK;
}

static mb_status parse_fields(const cJSON *root, mb_embed_request *r, mb_server_error *err) {
    if (!cJSON_IsObject(root))
        return mb_server_fail(err, NULL, "the request body must be a JSON object");
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (model && !cJSON_IsNull(model)) {
        if (!cJSON_IsString(model)) return mb_server_fail(err, "model", "'model' must be a string");
        if (!(r->model = strdup(model->valuestring))) return mb_server_oom(err);
    }
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(root, "encoding_format");
    if (fmt && !cJSON_IsNull(fmt)) {
        if (!cJSON_IsString(fmt) ||
            (strcmp(fmt->valuestring, "float") && strcmp(fmt->valuestring, "base64")))
            return mb_server_fail(err, "encoding_format",
                                  "'encoding_format' must be \"float\" or \"base64\"");
        r->base64 = !strcmp(fmt->valuestring, "base64");
    }
    const cJSON *pool = cJSON_GetObjectItemCaseSensitive(root, "pooling");
    if (pool && !cJSON_IsNull(pool)) {
        if (!cJSON_IsString(pool) ||
            (strcmp(pool->valuestring, "mean") && strcmp(pool->valuestring, "last")))
            return mb_server_fail(err, "pooling", "'pooling' must be \"mean\" or \"last\"");
        r->pooling = !strcmp(pool->valuestring, "last") ? MB_POOL_LAST : MB_POOL_MEAN;
    }
    const cJSON *dims = cJSON_GetObjectItemCaseSensitive(root, "dimensions");
    if (dims && !cJSON_IsNull(dims))
        return mb_server_fail(err, "dimensions",
                              "'dimensions' is not supported: an embedding has the model's width");
    return parse_input(cJSON_GetObjectItemCaseSensitive(root, "input"), r, err);
}

/* A \u0000 escape in BODY (an escaped backslash before "u0000" is not). */
static int has_escaped_nul(const char *body, size_t len) {
    for (size_t i = 0; i + 5 < len; i++) {
        if (body[i] != '\\') continue;
        if (body[i + 1] == 'u' && !memcmp(body + i + 2, "0000", 4)) return 1;
        i++; /* the escaped character */
    }
    return 0;
}

mb_status mb_embed_request_parse(const char *body, size_t len, mb_embed_request *out,
                                 mb_server_error *err) {
    memset(out, 0, sizeof *out);
    memset(err, 0, sizeof *err);
    out->pooling = MB_POOL_MEAN;
    if (!body || len == 0) return mb_server_fail(err, NULL, "the request body is empty");
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    if (!root) return mb_server_fail(err, NULL, "the request body is not valid JSON");
    size_t at = (size_t)(end - body);
    while (at < len &&
           (body[at] == ' ' || body[at] == '\t' || body[at] == '\r' || body[at] == '\n'))
        at++;
    if (at < len) {
        cJSON_Delete(root);
        return mb_server_fail(err, NULL,
                              "the request body has bytes after the JSON value (at byte %zu)", at);
    }
    /* cJSON would cut a text at an escaped NUL: a prefix silently embedded. */
    if (has_escaped_nul(body, len)) {
        cJSON_Delete(root);
        return mb_server_fail(err, "input",
                              "a string in the request holds a NUL character (\\u0000)");
    }
    mb_status st = parse_fields(root, out, err);
    cJSON_Delete(root);
    if (st) mb_embed_request_free(out);
    return st;
}

void mb_embed_request_free(mb_embed_request *r) {
    for (size_t i = 0; r->inputs && i < r->n_inputs; i++) {
        free(r->inputs[i].text);
        free(r->inputs[i].ids);
    }
    free(r->inputs);
    free(r->model);
    memset(r, 0, sizeof *r);
}
