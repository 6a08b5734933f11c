/* The prompt of a chat request with tools: through the model's own Jinja
 * template where that template writes calls in a format the server parses
 * (Hermes/Qwen, Llama 3.x, Mistral), else the generic format: the tools and
 * an instruction to answer with one JSON object, in a system message. The
 * format is found once, at start, by rendering a probe conversation with
 * the template and looking at the call markup it writes. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/tool_error.h"
#include "server/request.h"
#include "server/tool_render.h"

static const char PROBE_TOOLS[] =
    "[{\"type\":\"function\",\"function\":{\"name\":\"mb_probe_fn\",\"description\":\"probe\","
    "\"parameters\":{\"type\":\"object\",\"properties\":{\"mb_probe_arg\":{\"type\":"
    "\"integer\"}}}}}]";
static const char PROBE_CALL[] =
    "[{\"role\":\"user\",\"content\":\"hi\"},{\"role\":\"assistant\",\"content\":null,"
    "\"tool_calls\":[{\"id\":\"abcdefghi\",\"type\":\"function\",\"function\":{\"name\":"
    "\"mb_probe_fn\",\"arguments\":{\"mb_probe_arg\":1}}}]}]";
static const char PROBE_USER[] = "[{\"role\":\"user\",\"content\":\"hi\"}]";

static char *render(const mb_model *m, const char *messages, const char *tools, int gen) {
    mb_chat_render_params p = mb_chat_render_default_params();
    p.messages_json = messages;
    p.tools_json = tools;
    p.add_generation_prompt = gen;
    char *out = NULL;
    size_t len = 0;
    return mb_chat_render_template(m, &p, &out, &len) == MB_OK ? out : NULL;
}

mb_tool_format mb_tool_format_detect(const mb_model *m, const char *family) {
    if ((family && strcmp(family, "jinja")) || !mb_chat_has_template(m))
        return MB_TOOL_FORMAT_GENERIC;
    mb_tool_format f = MB_TOOL_FORMAT_GENERIC;
    char *call = render(m, PROBE_CALL, PROBE_TOOLS, 0);
    if (call && strstr(call, "[TOOL_CALLS]"))
        f = MB_TOOL_FORMAT_MISTRAL;
    else if (call && strstr(call, "<tool_call>"))
        f = MB_TOOL_FORMAT_HERMES;
    else if (call && (strstr(call, "<|python_tag|>") ||
                      strstr(call, "\"name\": \"mb_probe_fn\", \"parameters\"")))
        f = MB_TOOL_FORMAT_LLAMA3;
    free(call);
    if (f != MB_TOOL_FORMAT_GENERIC) return f;
    /* A template that refuses the probe's call may still say how it wants
     * calls written in its tools section. */
    char *user = render(m, PROBE_USER, PROBE_TOOLS, 1);
    if (user && strstr(user, "mb_probe_fn")) {
        if (strstr(user, "<tool_call>")) f = MB_TOOL_FORMAT_HERMES;
        if (strstr(user, "[AVAILABLE_TOOLS]")) f = MB_TOOL_FORMAT_MISTRAL;
    }
    free(user);
    return f;
}

/* Mistral's templates want ids of exactly 9 letters and digits: another id
 * is mapped to one, the same each time it occurs. */
static void mistral_id(cJSON *obj, const char *key) {
    cJSON *id = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsString(id)) return;
    const char *s = id->valuestring;
    size_t n = strlen(s), ok = n == 9;
    for (size_t i = 0; ok && i < n; i++)
        ok = strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", s[i]) != 0;
    if (ok) return;
    static const char alnum[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    unsigned long long h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    char nine[10];
    for (int i = 0; i < 9; i++, h /= 62)
        nine[i] = alnum[h % 62];
    nine[9] = '\0';
    cJSON_ReplaceItemInObjectCaseSensitive(obj, key, cJSON_CreateString(nine));
}

static char *render_native(const mb_model *m, mb_tool_format f, const mb_server_request *q) {
    cJSON *msgs = cJSON_Parse(q->messages_json);
    if (!msgs) return tool_errorf(MB_ERR_NO_MEMORY, "out of memory"), NULL;
    if (f == MB_TOOL_FORMAT_MISTRAL) {
        cJSON *msg, *c;
        cJSON_ArrayForEach(msg, msgs) {
            mistral_id(msg, "tool_call_id");
            cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(msg, "tool_calls")) {
                mistral_id(c, "id");
            }
        }
    }
    char *text = cJSON_PrintUnformatted(msgs);
    cJSON_Delete(msgs);
    if (!text) return tool_errorf(MB_ERR_NO_MEMORY, "out of memory"), NULL;
    /* tool_choice "none": the model is not told of the tools. */
    const int tools = q->n_tools && q->tool_choice != MB_TOOL_CHOICE_NONE;
    char *out = render(m, text, tools ? q->tools_json : NULL, 1);
    free(text);
    return out;
}

/* ---- the generic format --------------------------------------------------- */

/* The instruction for the generic format, with the functions' schemas. */
static char *generic_instruction(const mb_server_request *q) {
    cJSON *tools = cJSON_Parse(q->tools_json), *fns = cJSON_CreateArray(), *t;
    cJSON_ArrayForEach(t, tools) {
        cJSON_AddItemToArray(fns,
                             cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(t, "function"), 1));
    }
    char *list = cJSON_PrintUnformatted(fns);
    cJSON_Delete(tools);
    cJSON_Delete(fns);
    if (!list) return NULL;
    const int choice = q->tool_choice;
    char must[160] = "";
    if (choice == MB_TOOL_CHOICE_NAMED)
        snprintf(must, sizeof must, "You must call the function \"%s\".\n", q->tool_choice_name);
    else if (choice == MB_TOOL_CHOICE_REQUIRED)
        snprintf(must, sizeof must, "You must call a function.\n");
    const char *fmt =
        "You can call these functions (each with the JSON Schema of its arguments):\n%s\n\n"
        "Answer with one JSON object and nothing else. To call a function:\n"
        "{\"tool_call\": {\"name\": \"<function name>\", \"arguments\": {<its arguments>}}}\n"
        "%s%s%s"
        "The results of calls come back in messages holding {\"tool_response\": ...}.";
    const char *several = q->parallel_tool_calls && choice != MB_TOOL_CHOICE_NAMED
                              ? "To call several functions at once:\n{\"tool_calls\": "
                                "[{\"name\": ..., \"arguments\": {...}}, ...]}\n"
                              : "";
    const char *respond = choice == MB_TOOL_CHOICE_AUTO
                              ? "To answer without a function:\n{\"response\": "
                                "\"<your answer>\"}\n"
                              : "";
    size_t n = strlen(fmt) + strlen(list) + strlen(several) + strlen(respond) + strlen(must) + 1;
    char *s = malloc(n);
    if (s) snprintf(s, n, fmt, list, several, respond, must);
    free(list);
    return s;
}

/* An assistant's calls as the generic format writes them; tool results as
 * {"tool_response": ...} from the user. */
static char *generic_text(const cJSON *msg) {
    const cJSON *calls = cJSON_GetObjectItemCaseSensitive(msg, "tool_calls");
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(msg, "content");
    const char *role = cJSON_GetObjectItemCaseSensitive(msg, "role")->valuestring;
    const char *text = cJSON_IsString(content) ? content->valuestring : "";
    cJSON *o = NULL;
    if (!strcmp(role, "tool")) {
        o = cJSON_CreateObject();
        cJSON *r = cJSON_AddObjectToObject(o, "tool_response");
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(msg, "name");
        if (cJSON_IsString(name)) cJSON_AddStringToObject(r, "name", name->valuestring);
        cJSON_AddStringToObject(r, "tool_call_id",
                                cJSON_GetObjectItemCaseSensitive(msg, "tool_call_id")->valuestring);
        cJSON_AddStringToObject(r, "content", text);
    } else if (cJSON_IsArray(calls)) {
        o = cJSON_CreateObject();
        cJSON *list =
            cJSON_GetArraySize(calls) > 1 ? cJSON_AddArrayToObject(o, "tool_calls") : NULL;
        const cJSON *c;
        cJSON_ArrayForEach(c, calls) {
            cJSON *fn = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(c, "function"), 1);
            if (list)
                cJSON_AddItemToArray(list, fn);
            else
                cJSON_AddItemToObject(o, "tool_call", fn);
        }
    }
    if (!o) return strdup(text);
    char *json = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!json || !*text) return json;
    char *both = malloc(strlen(text) + strlen(json) + 2);
    if (both) sprintf(both, "%s\n%s", text, json);
    free(json);
    return both;
}

/* Render MSGS (N) with the family or the model's template. */
static char *apply(const mb_model *m, const char *family, const mb_chat_message *msgs, size_t n) {
    size_t need = 0, len = 0;
    mb_chat_apply(m, family, msgs, n, 1, NULL, 0, &need);
    char *text = need + 1 > need ? malloc(need + 1) : NULL;
    if (text && mb_chat_apply(m, family, msgs, n, 1, text, need + 1, &len) == MB_OK) return text;
    free(text);
    return NULL;
}

static char *render_generic(const mb_model *m, const char *family, const mb_server_request *q) {
    cJSON *msgs = cJSON_Parse(q->messages_json);
    size_t n = (size_t)cJSON_GetArraySize(msgs);
    mb_chat_message *list = calloc(n + 1, sizeof *list);
    char **texts = calloc(n + 2, sizeof *texts), *out = NULL;
    const int tools = q->n_tools && q->tool_choice != MB_TOOL_CHOICE_NONE;
    char *inst = tools ? generic_instruction(q) : NULL;
    if (!msgs || !list || !texts || (tools && !inst)) goto done;
    size_t k = 0;
    const cJSON *msg;
    cJSON_ArrayForEach(msg, msgs) {
        const char *role = cJSON_GetObjectItemCaseSensitive(msg, "role")->valuestring;
        if (!(texts[k] = generic_text(msg))) goto done;
        list[k].role = !strcmp(role, "tool") ? "user" : role;
        list[k].content = texts[k];
        k++;
    }
    if (inst) {
        /* The instruction joins the system message, or opens one. */
        if (!strcmp(list[0].role, "system")) {
            char *s = malloc(strlen(texts[0]) + strlen(inst) + 3);
            if (!s) goto done;
            sprintf(s, "%s\n\n%s", texts[0], inst);
            free(texts[0]);
            list[0].content = texts[0] = s;
        } else {
            memmove(list + 1, list, n * sizeof *list);
            list[0] = (mb_chat_message){"system", inst};
            n++;
        }
    }
    out = apply(m, family, list, n);
    if (!out && inst && list[0].content == inst && n > 1 && !strcmp(list[1].role, "user")) {
        /* A template without a system role: the instruction opens the first
         * user message instead. */
        char *s = malloc(strlen(inst) + strlen(list[1].content) + 3);
        if (!s) goto done;
        sprintf(s, "%s\n\n%s", inst, list[1].content);
        texts[n] = s;
        list[1].content = s;
        out = apply(m, family, list + 1, n - 1);
    }
done:
    if (!out && !msgs) tool_errorf(MB_ERR_NO_MEMORY, "out of memory");
    for (size_t i = 0; texts && i < n + 1; i++)
        free(texts[i]);
    free(texts);
    free(list);
    free(inst);
    cJSON_Delete(msgs);
    return out;
}

char *mb_tool_render(const mb_model *m, const char *family, mb_tool_format f,
                     mb_server_request *q) {
    /* Under tool_choice "none" a native template's markup is still parsed,
     * so that it never reaches the content (the calls are dropped); the
     * generic format's JSON is not asked for then, so the answer is text. */
    const int none = q->tool_choice == MB_TOOL_CHOICE_NONE;
    q->tool_format = none && f == MB_TOOL_FORMAT_GENERIC ? MB_TOOL_FORMAT_NONE : f;
    char err[256];
    free(q->tool_grammar);
    q->tool_grammar = mb_tool_grammar(f, q, err, sizeof err);
    if (!q->tool_grammar &&
        (q->tool_choice == MB_TOOL_CHOICE_REQUIRED || q->tool_choice == MB_TOOL_CHOICE_NAMED))
        return tool_errorf(MB_ERR_INVALID_ARG, "the tools' grammar: %s", err), NULL;
    if (f == MB_TOOL_FORMAT_GENERIC) return render_generic(m, family, q);
    return render_native(m, f, q);
}
