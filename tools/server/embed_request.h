/* The body of an embeddings request (POST /v1/embeddings), parsed and
 * checked: a pure function from untrusted bytes to plain parameters or an
 * OpenAI-style error (server/request.h's mb_server_error). */
#ifndef MB_SERVER_EMBED_REQUEST_H
#define MB_SERVER_EMBED_REQUEST_H

#include <stddef.h>

#include <matchbox.h>

#include "server/request.h"

enum {
    MB_EMBED_MAX_INPUTS = 2048, /* as the OpenAI API */
};

/* One input: a text to tokenize, or token ids given as they are. */
typedef struct {
    char *text; /* NULL when IDS are given */
    mb_token *ids;
    size_t n_ids;
} mb_embed_input;

typedef struct {
    char *model; /* NULL: the request named none */
    mb_embed_input *inputs;
    size_t n_inputs; /* 1..MB_EMBED_MAX_INPUTS */
    int pooling;     /* MB_POOL_MEAN or MB_POOL_LAST */
    int base64;      /* encoding_format "base64" */
} mb_embed_request;

/* Parse BODY (LEN bytes, any content). `input` is a string, an array of
 * strings, an array of token ids, or an array of arrays of ids; none may be
 * empty; ids must be integers in 0..2^31-1 (the vocabulary is checked
 * later, against the model). On failure OUT holds nothing to free and ERR
 * says why. */
mb_status mb_embed_request_parse(const char *body, size_t len, mb_embed_request *out,
                                 mb_server_error *err);
void mb_embed_request_free(mb_embed_request *r);

#endif
