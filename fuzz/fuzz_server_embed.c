/* Fuzz the embeddings request parser: any bytes must give either inputs
 * that keep the parser's promises (1..MB_EMBED_MAX_INPUTS inputs, each a
 * non-empty text or a non-empty array of non-negative ids; a known pooling)
 * or an error with an HTTP status and a message. A broken promise abort()s:
 * that is the finding. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/embed_request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mb_embed_request r;
    mb_server_error err;
    if (mb_embed_request_parse((const char *)data, size, &r, &err) != MB_OK) {
        if (err.http_status < 400 || err.http_status > 599 || !err.message[0] || !err.type) abort();
        return 0;
    }
    if (r.n_inputs == 0 || r.n_inputs > MB_EMBED_MAX_INPUTS || !r.inputs) abort();
    if (r.pooling != MB_POOL_MEAN && r.pooling != MB_POOL_LAST) abort();
    for (size_t i = 0; i < r.n_inputs; i++) {
        const mb_embed_input *in = &r.inputs[i];
        if (in->text ? !in->text[0] || in->ids : !in->ids || in->n_ids == 0) abort();
        for (size_t k = 0; !in->text && k < in->n_ids; k++)
            if (in->ids[k] < 0) abort();
    }
    mb_embed_request_free(&r);
    return 0;
}
