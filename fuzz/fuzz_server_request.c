/* Fuzz the server's request parser: any bytes, read as a chat and as a
 * completions request, must give either parameters that keep the parser's
 * promises or an error with an HTTP status and a message. The same bytes,
 * read as a header block, go through the connection screen's Content-Length
 * check (accept.c), which must stay inside them. A broken promise abort()s:
 * that is the finding. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/http_internal.h"
#include "server/request.h"

static void check(const mb_server_request *r, int is_chat) {
    if (is_chat) {
        if (r->n_messages == 0 || r->n_messages > MB_REQ_MAX_MESSAGES) abort();
        for (size_t i = 0; i < r->n_messages; i++)
            if (!r->messages[i].role || !r->messages[i].content) abort();
    } else if (!r->prompt || !r->prompt[0]) {
        abort();
    }
    if (!(r->temperature >= 0 && r->temperature <= 2) || !(r->top_p >= 0 && r->top_p <= 1)) abort();
    if (r->max_tokens < -1 || r->max_tokens > (1L << 30)) abort();
    if (r->top_logprobs < 0 || r->top_logprobs > MB_REQ_MAX_TOP_LOGPROBS) abort();
    for (int i = 0; r->stop[i]; i++)
        if (i >= MB_REQ_MAX_STOP || !r->stop[i][0] || strlen(r->stop[i]) > MB_REQ_MAX_STOP_BYTES)
            abort();
    /* A grammar the request was given (response_format, grammar,
     * json_schema) compiles: the engine will not refuse it. */
    if (r->grammar) {
        mb_grammar *g = NULL;
        if (mb_grammar_parse(r->grammar, strlen(r->grammar), NULL, &g) != MB_OK) abort();
        mb_grammar_free(g);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* A copy of exactly SIZE bytes, so reading past the block is caught. */
    char *block = malloc(size ? size : 1);
    if (!block) return 0;
    if (size) memcpy(block, data, size);
    const char *problem = mb_http_content_length_problem(block, block + size);
    if (problem && !problem[0]) abort();
    free(block);
    for (int is_chat = 0; is_chat < 2; is_chat++) {
        mb_server_request r;
        mb_server_error err;
        mb_status st = mb_server_request_parse((const char *)data, size, is_chat, &r, &err);
        if (st == MB_OK) {
            check(&r, is_chat);
            mb_server_request_free(&r);
        } else if (err.http_status < 400 || err.http_status > 599 || !err.message[0] || !err.type) {
            abort();
        }
    }
    return 0;
}
