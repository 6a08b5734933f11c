/* The oracle client: chat completions from any OpenAI-compatible endpoint
 * through libcurl (TLS verification on, connect and total timeouts, retries
 * with exponential backoff and jitter on connection errors, 429 and 5xx),
 * streaming (SSE) or not. The API key is sent as a bearer token and never
 * logged or kept in error messages. */
#ifndef MB_AGENT_ORACLE_H
#define MB_AGENT_ORACLE_H

#include <stdbool.h>
#include <stddef.h>

#include <matchbox.h>

typedef struct {
    const char *base_url; /* e.g. https://api.openai.com/v1 or http://127.0.0.1:8081/v1 */
    const char *model;    /* "model" field of the request; NULL: "default" */
    const char *api_key;  /* NULL: no Authorization header */
    double connect_timeout_s, timeout_s; /* 0: 10 s and 120 s */
    int max_retries;                     /* -1: default 3 */
} mb_oracle_config;

typedef struct mb_oracle mb_oracle;

typedef struct {
    const char *role; /* "system", "user", "assistant" */
    const char *content;
} mb_oracle_msg;

/* Called with each piece of the answer as it arrives (streaming); return
 * false to stop. */
typedef bool (*mb_oracle_piece_fn)(void *user, const char *piece, size_t len);

typedef struct {
    char *content;                        /* the whole answer, NUL-terminated (free()) */
    int prompt_tokens, completion_tokens; /* from "usage"; -1 when absent */
    char finish_reason[32];
} mb_oracle_reply;

mb_status mb_oracle_new(const mb_oracle_config *c, mb_oracle **out);
void mb_oracle_free(mb_oracle *o);
/* POST {base_url}/chat/completions. ON_PIECE non-NULL streams. A network
 * failure after the retries is MB_ERR_IO with the reason; an HTTP error
 * status names it and the server's error message. */
mb_status mb_oracle_chat(mb_oracle *o, const mb_oracle_msg *msgs, int n_msgs, int max_tokens,
                         float temperature, mb_oracle_piece_fn on_piece, void *user,
                         mb_oracle_reply *reply);
void mb_oracle_reply_free(mb_oracle_reply *reply);

#endif
