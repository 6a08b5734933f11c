/* The server's request parser on good and hostile bodies: every field's
 * type and range is checked, errors name the field, and nothing is leaked
 * or read past the body (run it under ASan). */
#include "server/request.h"
#include "test_util.h"

static mb_status parse(const char *body, int is_chat, mb_server_request *r, mb_server_error *e) {
    return mb_server_request_parse(body, strlen(body), is_chat, r, e);
}

/* BODY must be refused with a 400 that names PARAM ("" for none). */
static void expect_400(const char *body, int is_chat, const char *param) {
    mb_server_request r;
    mb_server_error e;
    mb_status st = parse(body, is_chat, &r, &e);
    CHECK_MSG(st == MB_ERR_INVALID_ARG, "accepted: %s", body);
    if (st != MB_OK) {
        CHECK_EQ_INT(e.http_status, 400);
        CHECK_MSG(!strcmp(e.param, param), "%s: param '%s', expected '%s' (%s)", body, e.param,
                  param, e.message);
        CHECK(e.message[0] != '\0');
        CHECK(e.type && !strcmp(e.type, "invalid_request_error"));
    } else {
        mb_server_request_free(&r);
    }
}

static void test_chat_fields(void) {
    mb_server_request r;
    mb_server_error e;
    CHECK_OK(parse("{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":\"S\"},"
                   "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},"
                   "{\"type\":\"text\",\"text\":\"b\"}]}],\"max_tokens\":7,\"temperature\":0.5,"
                   "\"top_p\":0.25,\"seed\":-3,\"stop\":[\"x\",\"\",\"yz\"],\"stream\":true,"
                   "\"logprobs\":true,\"top_logprobs\":4,\"unknown_field\":{\"ignored\":1}}",
                   1, &r, &e));
    CHECK(r.model && !strcmp(r.model, "m"));
    CHECK_EQ_INT(r.n_messages, 2);
    CHECK(!strcmp(r.messages[0].role, "system") && !strcmp(r.messages[0].content, "S"));
    CHECK(!strcmp(r.messages[1].content, "ab")); /* text parts are joined */
    CHECK_EQ_INT(r.max_tokens, 7);
    CHECK_NEAR(r.temperature, 0.5, 0);
    CHECK_NEAR(r.top_p, 0.25, 0);
    CHECK(r.has_seed && r.seed == (uint64_t)(int64_t)-3);
    /* The empty stop string is dropped: it would match before any text. */
    CHECK(r.stop[0] && !strcmp(r.stop[0], "x") && r.stop[1] && !strcmp(r.stop[1], "yz"));
    CHECK(r.stop[2] == NULL);
    CHECK(r.stream && r.logprobs && r.top_logprobs == 4);
    mb_server_request_free(&r);
}

static void test_defaults(void) {
    mb_server_request r;
    mb_server_error e;
    CHECK_OK(parse("{\"prompt\":\"Once\"}", 0, &r, &e));
    CHECK(r.model == NULL && !strcmp(r.prompt, "Once"));
    CHECK_EQ_INT(r.max_tokens, -1);
    CHECK_NEAR(r.temperature, 1.0, 0); /* the OpenAI API's defaults */
    CHECK_NEAR(r.top_p, 1.0, 0);
    CHECK(!r.stream && !r.has_seed && !r.logprobs && r.stop[0] == NULL);
    mb_server_request_free(&r);
    /* Legacy completions: logprobs is a count of alternatives; stop a string. */
    CHECK_OK(parse("{\"prompt\":[\"p\"],\"logprobs\":3,\"stop\":\"\\n\",\"n\":1}", 0, &r, &e));
    CHECK(r.logprobs && r.top_logprobs == 3 && !strcmp(r.stop[0], "\n"));
    mb_server_request_free(&r);
}

static void test_hostile(void) {
    expect_400("", 1, "");
    expect_400("{", 1, "");
    expect_400("{\"messages\":[]}", 1, "messages");
    expect_400("[1,2]", 1, "");
    expect_400("null", 0, "");
    expect_400("{\"prompt\":\"x\"} {}", 0, ""); /* trailing bytes */
    expect_400("{\"messages\":\"hi\"}", 1, "messages");
    expect_400("{\"messages\":[{\"role\":\"robot\",\"content\":\"x\"}]}", 1, "messages[0]");
    expect_400("{\"messages\":[{\"role\":\"user\"}]}", 1, "messages[0]");
    expect_400("{\"messages\":[{\"role\":\"user\",\"content\":5}]}", 1, "messages[0].content");
    expect_400("{\"messages\":[\"user\"]}", 1, "messages[0]");
    expect_400("{}", 0, "prompt");
    expect_400("{\"prompt\":\"\"}", 0, "prompt");
    expect_400("{\"prompt\":[\"a\",\"b\"]}", 0, "prompt");
    expect_400("{\"prompt\":7}", 0, "prompt");
    expect_400("{\"prompt\":\"x\",\"model\":3}", 0, "model");
    expect_400("{\"prompt\":\"x\",\"n\":2}", 0, "n");
    expect_400("{\"prompt\":\"x\",\"n\":\"1\"}", 0, "n");
    expect_400("{\"prompt\":\"x\",\"max_tokens\":\"5\"}", 0, "max_tokens");
    expect_400("{\"prompt\":\"x\",\"max_tokens\":-1}", 0, "max_tokens");
    expect_400("{\"prompt\":\"x\",\"max_tokens\":1.5}", 0, "max_tokens");
    expect_400("{\"prompt\":\"x\",\"max_tokens\":1e300}", 0, "max_tokens");
    expect_400("{\"prompt\":\"x\",\"temperature\":2.5}", 0, "temperature");
    expect_400("{\"prompt\":\"x\",\"temperature\":-0.1}", 0, "temperature");
    expect_400("{\"prompt\":\"x\",\"temperature\":true}", 0, "temperature");
    expect_400("{\"prompt\":\"x\",\"top_p\":1.01}", 0, "top_p");
    expect_400("{\"prompt\":\"x\",\"seed\":1e30}", 0, "seed");
    expect_400("{\"prompt\":\"x\",\"stream\":1}", 0, "stream");
    expect_400("{\"prompt\":\"x\",\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}", 0, "stop");
    expect_400("{\"prompt\":\"x\",\"stop\":[1]}", 0, "stop");
    expect_400("{\"prompt\":\"x\",\"stop\":{}}", 0, "stop");
    expect_400("{\"prompt\":\"x\",\"logprobs\":6}", 0, "logprobs");
    expect_400("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"logprobs\":1}", 1,
               "logprobs");
    expect_400("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"top_logprobs\":2}", 1,
               "top_logprobs");
    expect_400("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"logprobs\":true,"
               "\"top_logprobs\":21}",
               1, "top_logprobs");
    expect_400("{\"prompt\":\"x\",\"stream_options\":[]}", 0, "stream_options");
    /* A stop string longer than generation can hold back. */
    char *body = malloc(MB_REQ_MAX_STOP_BYTES + 64);
    if (body) {
        strcpy(body, "{\"prompt\":\"x\",\"stop\":\"");
        size_t at = strlen(body);
        memset(body + at, 'a', MB_REQ_MAX_STOP_BYTES + 1);
        strcpy(body + at + MB_REQ_MAX_STOP_BYTES + 1, "\"}");
        expect_400(body, 0, "stop");
        free(body);
    }
}

/* Deep nesting, a NUL inside the body and a length that stops mid-value
 * must all be refused without reading past LEN. */
static void test_bytes(void) {
    enum { DEPTH = 5000 };
    char *deep = malloc(DEPTH + 1);
    if (deep) {
        memset(deep, '[', DEPTH);
        deep[DEPTH] = '\0';
        expect_400(deep, 0, "");
        free(deep);
    }
    mb_server_request r;
    mb_server_error e;
    static const char nul[] = "{\"prompt\":\"a\"}\0{}";
    CHECK(mb_server_request_parse(nul, sizeof nul - 1, 0, &r, &e) == MB_ERR_INVALID_ARG);
    static const char cut[] = "{\"prompt\":\"abc\"}";
    CHECK(mb_server_request_parse(cut, 10, 0, &r, &e) == MB_ERR_INVALID_ARG);
    CHECK_OK(mb_server_request_parse(cut, sizeof cut - 1, 0, &r, &e));
    mb_server_request_free(&r);
    /* An escaped NUL would cut the text after it: refused, never cut. */
    expect_400("{\"prompt\":\"a\\u0000b\"}", 0, "");
    expect_400("{\"messages\":[{\"role\":\"user\",\"content\":\"hi \\u0000 there\"}]}", 1, "");
    expect_400("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":"
               "\"x\\u0000\"}]}]}",
               1, "");
    mb_server_error e2;
    if (parse("{\"prompt\":\"a\\u0000b\"}", 0, &r, &e2) != MB_OK)
        CHECK(strstr(e2.message, "NUL") != NULL);
    else
        mb_server_request_free(&r);
    /* "\\u0000" is a backslash and "u0000", not a NUL. */
    CHECK_OK(parse("{\"prompt\":\"a\\\\u0000b\"}", 0, &r, &e));
    if (r.prompt) CHECK(!strcmp(r.prompt, "a\\u0000b"));
    mb_server_request_free(&r);
}

int main(void) {
    test_chat_fields();
    test_defaults();
    test_hostile();
    test_bytes();
    return mbt_finish();
}
