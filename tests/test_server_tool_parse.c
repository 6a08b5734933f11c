/* Tool calling's pure parts: the request's tool fields (every bad input a
 * 400 naming its field), and answers written in each format (Hermes/Qwen,
 * Llama 3.x, Mistral, generic) split into text and calls, malformed ones
 * included; a stream's text held back never shows markup and is always a
 * beginning of the final text. Run it under ASan. */
#include <cjson/cJSON.h>

#include "server/request.h"
#include "server/tools.h"
#include "test_util.h"

static mb_status parse(const char *body, mb_server_request *r, mb_server_error *e) {
    return mb_server_request_parse(body, strlen(body), 1, r, e);
}

static void expect_400(const char *body, const char *param) {
    mb_server_request r;
    mb_server_error e;
    mb_status st = parse(body, &r, &e);
    CHECK_MSG(st == MB_ERR_INVALID_ARG, "accepted: %s", body);
    if (st == MB_OK) {
        mb_server_request_free(&r);
        return;
    }
    CHECK_EQ_INT(e.http_status, 400);
    CHECK_MSG(!strcmp(e.param, param), "%s: param '%s', expected '%s' (%s)", body, e.param, param,
              e.message);
}

#define USER "{\"role\":\"user\",\"content\":\"hi\"}"
#define TOOL(name)                                                                                 \
    "{\"type\":\"function\",\"function\":{\"name\":\"" name "\",\"parameters\":{\"type\":"         \
    "\"object\",\"properties\":{\"city\":{\"type\":\"string\"}},\"required\":[\"city\"]}}}"

static void test_request(void) {
    mb_server_request r;
    mb_server_error e;
    /* No tools: the plain path, nothing of the tool fields set. */
    CHECK_OK(parse("{\"messages\":[" USER "]}", &r, &e));
    CHECK(r.messages_json == NULL && r.tools_json == NULL && r.tool_choice == MB_TOOL_CHOICE_NONE);
    mb_server_request_free(&r);
    CHECK_OK(parse("{\"messages\":[" USER "],\"tools\":[" TOOL("get_weather") "," TOOL(
                       "get_time") "],\"tool_choice\":{\"type\":\"function\",\"function\":"
                                   "{\"name\":\"get_time\"}},\"parallel_tool_calls\":false}",
                   &r, &e));
    CHECK_EQ_INT(r.n_tools, 2);
    CHECK(r.tool_choice == MB_TOOL_CHOICE_NAMED && !strcmp(r.tool_choice_name, "get_time"));
    CHECK(!r.parallel_tool_calls && r.messages_json && r.tools_json);
    mb_server_request_free(&r);
    /* A round trip: the arguments string becomes an object for the template,
     * the tool message gets the call's name. */
    CHECK_OK(parse("{\"messages\":[" USER ",{\"role\":\"assistant\",\"content\":null,"
                   "\"tool_calls\":[{\"id\":\"call_1\",\"type\":\"function\",\"function\":"
                   "{\"name\":\"get_weather\",\"arguments\":\"{\\\"city\\\":\\\"Oslo\\\"}\"}}]},"
                   "{\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"content\":\"-3 C\"}],"
                   "\"tools\":[" TOOL("get_weather") "]}",
                   &r, &e));
    CHECK(r.tool_choice == MB_TOOL_CHOICE_AUTO && r.parallel_tool_calls);
    cJSON *m = cJSON_Parse(r.messages_json);
    CHECK_EQ_INT(cJSON_GetArraySize(m), 3);
    const cJSON *call =
        cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetArrayItem(m, 1), "tool_calls"), 0);
    const cJSON *args = cJSON_GetObjectItem(cJSON_GetObjectItem(call, "function"), "arguments");
    CHECK(cJSON_IsObject(args) && !strcmp(cJSON_GetObjectItem(args, "city")->valuestring, "Oslo"));
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetArrayItem(m, 1), "content")));
    const cJSON *tool = cJSON_GetArrayItem(m, 2);
    CHECK(!strcmp(cJSON_GetObjectItem(tool, "name")->valuestring, "get_weather"));
    CHECK(!strcmp(cJSON_GetObjectItem(tool, "tool_call_id")->valuestring, "call_1"));
    cJSON_Delete(m);
    mb_server_request_free(&r);
    /* A tool message alone puts the tool path in play. */
    CHECK_OK(parse("{\"messages\":[" USER ",{\"role\":\"tool\",\"tool_call_id\":\"x\","
                   "\"content\":\"r\"}]}",
                   &r, &e));
    CHECK(r.messages_json != NULL);
    mb_server_request_free(&r);

    expect_400("{\"messages\":[" USER "],\"tools\":{}}", "tools");
    expect_400("{\"messages\":[" USER "],\"tools\":[{\"type\":\"retrieval\"}]}", "tools[0]");
    expect_400("{\"messages\":[" USER "],\"tools\":[{\"type\":\"function\",\"function\":{"
               "\"name\":\"bad name\"}}]}",
               "tools[0].function.name");
    expect_400("{\"messages\":[" USER "],\"tools\":[" TOOL("f") "," TOOL("f") "]}",
               "tools[1].function.name");
    expect_400("{\"messages\":[" USER "],\"tools\":[{\"type\":\"function\",\"function\":{"
               "\"name\":\"f\",\"parameters\":{\"type\":\"array\"}}}]}",
               "tools[0].function.parameters");
    expect_400("{\"messages\":[" USER "],\"tools\":[{\"type\":\"function\",\"function\":{"
               "\"name\":\"f\",\"parameters\":{\"type\":\"object\",\"required\":[1]}}}]}",
               "tools[0].function.parameters");
    expect_400("{\"messages\":[" USER "],\"tools\":[{\"type\":\"function\",\"function\":{"
               "\"name\":\"f\",\"description\":3}}]}",
               "tools[0].function.description");
    expect_400("{\"messages\":[" USER "],\"tools\":[" TOOL("f") "],\"tool_choice\":\"always\"}",
               "tool_choice");
    expect_400("{\"messages\":[" USER "],\"tool_choice\":\"required\"}", "tool_choice");
    expect_400("{\"messages\":[" USER
               "],\"tools\":[" TOOL("f") "],\"tool_choice\":{\"type\":"
                                         "\"function\",\"function\":{\"name\":\"g\"}}}",
               "tool_choice");
    expect_400("{\"messages\":[" USER "],\"tools\":[" TOOL("f") "],\"parallel_tool_calls\":1}",
               "parallel_tool_calls");
    expect_400("{\"messages\":[" USER
               "],\"tools\":[" TOOL("f") "],\"tool_choice\":\"required\","
                                         "\"response_format\":{\"type\":\"json_object\"}}",
               "tool_choice");
    expect_400("{\"messages\":[" USER ",{\"role\":\"tool\",\"content\":\"r\"}]}",
               "messages[1].tool_call_id");
    expect_400("{\"messages\":[" USER ",{\"role\":\"assistant\",\"content\":null,\"tool_calls\":"
               "[{\"id\":\"a\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":"
               "\"{not json\"}}]}]}",
               "messages[1].tool_calls[0]");
    expect_400("{\"messages\":[" USER ",{\"role\":\"assistant\",\"content\":null,\"tool_calls\":"
               "[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]}]}",
               "messages[1].tool_calls[0]");
    expect_400("{\"messages\":[" USER ",{\"role\":\"assistant\",\"content\":null,\"tool_calls\":"
               "[]}]}",
               "messages[1].tool_calls");
    expect_400("{\"messages\":[{\"role\":\"user\",\"content\":null,\"tool_calls\":[]}]}",
               "messages[0].content");
}

/* The answer TEXT in format F has content CONTENT and the calls NAMES[i]
 * with ARGS[i] (as JSON, compared parsed). */
static void expect(mb_tool_format f, const char *text, const char *content, int n,
                   const char *const *names, const char *const *args) {
    mb_tool_parse_result r;
    CHECK_OK(mb_tool_parse(f, text, strlen(text), &r) ? MB_ERR_NO_MEMORY : MB_OK);
    CHECK_MSG(!strcmp(r.content, content), "%s: %s: content '%s', expected '%s'",
              mb_tool_format_name(f), text, r.content, content);
    CHECK_MSG(r.n_calls == n, "%s: %s: %d calls, expected %d", mb_tool_format_name(f), text,
              r.n_calls, n);
    for (int i = 0; i < n && i < r.n_calls; i++) {
        CHECK(!strcmp(r.calls[i].name, names[i]));
        cJSON *a = cJSON_Parse(r.calls[i].arguments), *b = cJSON_Parse(args[i]);
        CHECK_MSG(a && b && cJSON_Compare(a, b, 1), "%s: arguments %s, expected %s", text,
                  r.calls[i].arguments, args[i]);
        cJSON_Delete(a), cJSON_Delete(b);
        size_t idn = strlen(r.calls[i].id);
        if (f == MB_TOOL_FORMAT_MISTRAL)
            CHECK_EQ_INT(idn, 9);
        else
            CHECK(idn == 29 && !strncmp(r.calls[i].id, "call_", 5));
        for (int k = 0; k < i; k++)
            CHECK(strcmp(r.calls[i].id, r.calls[k].id) != 0);
    }
    /* Streamed: each prefix's safe text is the final text's beginning, and
     * never holds markup. */
    size_t len = strlen(text), last = 0;
    for (size_t k = 0; k <= len; k++) {
        size_t safe = mb_tool_text_safe(f, text, k);
        CHECK_MSG(safe <= k && safe >= last && !strncmp(text, r.content, safe),
                  "%s: %s: prefix %zu safe %zu", mb_tool_format_name(f), text, k, safe);
        last = safe;
    }
    mb_tool_parse_free(&r);
}

static void test_formats(void) {
    const char *w[] = {"get_weather", "get_time"};
    const char *oslo[] = {"{\"city\":\"Oslo\"}", "{\"tz\":\"UTC\"}"};
    const mb_tool_format H = MB_TOOL_FORMAT_HERMES, L = MB_TOOL_FORMAT_LLAMA3;
    const mb_tool_format M = MB_TOOL_FORMAT_MISTRAL, G = MB_TOOL_FORMAT_GENERIC;
    /* Hermes / Qwen. */
    expect(H,
           "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}\n"
           "</tool_call>",
           "", 1, w, oslo);
    expect(H,
           "Let me look.\n<tool_call>{\"name\":\"get_weather\",\"arguments\":{\"city\":"
           "\"Oslo\"}}</tool_call>\n<tool_call>{\"name\":\"get_time\",\"arguments\":\"{\\\"tz\\\""
           ":\\\"UTC\\\"}\"}</tool_call>",
           "Let me look.\n", 2, w, oslo);
    expect(H, "<tool_call>{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Oslo\"}}", "", 1, w,
           oslo); /* the closing tag cut off */
    expect(H, "Hi <tool_call>{\"name\":\"get_weather\",\"argum</tool_call> bye", "Hi  bye", 0, w,
           oslo); /* malformed: dropped, text around kept */
    expect(H, "<tool_call>{\"arguments\":{}}</tool_call>", "", 0, w, oslo); /* no name */
    expect(H, "Plain text, no calls. <tool", "Plain text, no calls. <tool", 0, w, oslo);
    expect(H, "", "", 0, w, oslo);
    /* Llama 3.x. */
    expect(L, "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Oslo\"}}", "", 1, w, oslo);
    expect(L, "<|python_tag|>{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Oslo\"}}", "",
           1, w, oslo);
    expect(L,
           "Sure.<|python_tag|>{\"name\": \"get_weather\", \"parameters\": {\"city\": "
           "\"Oslo\"}}; {\"name\": \"get_time\", \"parameters\": {\"tz\": \"UTC\"}}",
           "Sure.", 2, w, oslo);
    expect(L, "{\"name\": \"get_weather\", \"parameters\": {\"city\": ", "", 0, w, oslo);
    expect(L, "{\"answer\": 42}", "{\"answer\": 42}", 0, w, oslo); /* JSON, not a call */
    expect(L, "It is cold.", "It is cold.", 0, w, oslo);
    /* Mistral, both forms. */
    expect(M,
           "[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}, "
           "\"id\": \"abcdefghi\"}, {\"name\": \"get_time\", \"arguments\": {\"tz\": \"UTC\"}}]",
           "", 2, w, oslo);
    expect(M,
           "Checking. [TOOL_CALLS]get_weather[ARGS]{\"city\": \"Oslo\"}[TOOL_CALLS]get_time"
           "[CALL_ID]x1[ARGS]{\"tz\": \"UTC\"}",
           "Checking. ", 2, w, oslo);
    expect(M, "[TOOL_CALLS][{\"name\": \"get_weather\", \"argu", "", 0, w, oslo);
    expect(M, "[TOOL_CALLS]get_weather[ARGS]not json", "", 0, w, oslo);
    /* Generic. */
    expect(G, "{\"tool_call\": {\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}}",
           "", 1, w, oslo);
    expect(G,
           " {\"tool_calls\": [{\"name\": \"get_weather\", \"arguments\": {\"city\": "
           "\"Oslo\"}}, {\"name\": \"get_time\", \"arguments\": {\"tz\": \"UTC\"}}]}",
           "", 2, w, oslo);
    expect(G, "{\"response\": \"It is \\\"cold\\\".\"}", "It is \"cold\".", 0, w, oslo);
    expect(G, "{\"response\": \"It is co\\u00", "It is co", 0, w, oslo); /* cut short */
    expect(G, "{\"tool_call\": {\"name\": \"get_wea", "", 0, w, oslo);
    expect(G,
           "{\"tool_calls\": [{\"name\": \"get_weather\", \"arguments\": {\"city\": "
           "\"Oslo\"}}, {\"name\": \"get_ti",
           "", 1, w, oslo); /* cut short: the whole calls stay */
    expect(M,
           "[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}, "
           "{\"name\": \"get_time\", \"arguments\": {\"tz\": \"UTC\"}}, {\"na",
           "", 2, w, oslo);
    expect(G, "Once upon a time", "Once upon a time", 0, w, oslo);
    /* The markers that vocabularies hold as control tokens. */
    CHECK(mb_tool_is_marker("[TOOL_CALLS]", 12) && mb_tool_is_marker("<|python_tag|>", 14));
    CHECK(!mb_tool_is_marker("<|eot_id|>", 10));
}

int main(void) {
    test_request();
    test_formats();
    return mbt_finish();
}
