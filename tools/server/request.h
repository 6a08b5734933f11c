/* The body of a completions request, parsed and checked: a pure function
 * from untrusted bytes to plain parameters or an OpenAI-style error. */
#ifndef MB_SERVER_REQUEST_H
#define MB_SERVER_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include <matchbox.h>

#include "common/tool_error.h"

enum {
    MB_REQ_MAX_STOP = 4,          /* as the OpenAI API */
    MB_REQ_MAX_STOP_BYTES = 1024, /* generation holds back up to this much text */
    MB_REQ_MAX_MESSAGES = 4096,
    MB_REQ_MAX_TOP_LOGPROBS = 20,
};

typedef struct mb_server_request {
    int is_chat;
    char *model;               /* NULL: the request named none */
    mb_chat_message *messages; /* chat: roles are static strings, contents owned */
    size_t n_messages;
    char *prompt; /* completions */
    int stream, include_usage;
    char *stop[MB_REQ_MAX_STOP + 1]; /* NULL-terminated */
    long max_tokens;                 /* -1: not given (until the context is full) */
    double temperature, top_p, presence_penalty, frequency_penalty;
    int has_seed;
    uint64_t seed;
    int logprobs;     /* per-token log-probabilities wanted */
    int top_logprobs; /* alternatives per token, 0..MB_REQ_MAX_TOP_LOGPROBS */
    int cache_prompt; /* reuse the slot's cached prefix (llama.cpp's field; default 1) */
    /* hA, structured output (request_format.c): the GBNF the output must
     * follow, from response_format, grammar or json_schema; NULL: none. */
    char *grammar;
    /* hB: tool calling (request_tools.c, tools.h). */
    char *tools_json;       /* the request's tools (a JSON array), NULL when none */
    int n_tools;            /* entries of tools_json */
    int tool_choice;        /* MB_TOOL_CHOICE_*: auto (default), none, required, named */
    char *tool_choice_name; /* the function a named choice names */
    int parallel_tool_calls;
    /* The messages as a JSON array for a Jinja template (tool calls'
     * arguments as objects), when tools or tool messages are in play;
     * NULL otherwise (the plain path renders `messages`). */
    char *messages_json;
    int tool_format;    /* mb_tool_format to parse the answer in, set when the prompt is rendered */
    char *tool_grammar; /* GBNF of the calls under required or a named choice, set then too */
} mb_server_request;

typedef struct mb_server_error {
    int http_status; /* 400 */
    char message[256];
    char param[48]; /* the field at fault, "" when none */
    const char *type, *code;
} mb_server_error;

/* Parse BODY (LEN bytes, any content) as a chat (IS_CHAT) or completions
 * request. On failure OUT holds nothing to free and ERR says why; the
 * status is MB_ERR_INVALID_ARG (or MB_ERR_NO_MEMORY). */
/* The parsers' errors (request.c): a 400 naming the field PARAM (may be
 * NULL), and a 500 for memory; both return their status. */
mb_status mb_server_fail(mb_server_error *err, const char *param, const char *fmt, ...)
    TOOL_PRINTF(3, 4);
mb_status mb_server_oom(mb_server_error *err);

mb_status mb_server_request_parse(const char *body, size_t len, int is_chat, mb_server_request *out,
                                  mb_server_error *err);
void mb_server_request_free(mb_server_request *r);

/* hA: response_format / grammar / json_schema of ROOT into r->grammar
 * (request_format.c); a 400 in ERR when they cannot be enforced. */
struct cJSON;
mb_status mb_server_request_parse_format(const struct cJSON *root, mb_server_request *r,
                                         mb_server_error *err);

#endif
