#include "runtime/chunks.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

mb_status mb_chunks_make(const mb_model *m, const char *text, size_t len, int n_ctx, int max_chunks,
                         int min_tokens, const char *what, mb_chunks *out) {
    memset(out, 0, sizeof *out);
    if (n_ctx < 1) return mb_errorf(MB_ERR_INVALID_ARG, "chunks of %d tokens", n_ctx);
    if (len == 0) return mb_errorf(MB_ERR_INVALID_ARG, "%s is empty", what);
    size_t n = 0;
    mb_status st = mb_tokenize(m, text, len, 1, 0, NULL, 0, &n);
    if (st && st != MB_ERR_INVALID_ARG) return st; /* INVALID_ARG: CAP 0 was too small */
    if (n > (size_t)INT32_MAX)
        return mb_errorf(MB_ERR_INVALID_ARG, "%s has too many tokens (%zu)", what, n);
    if (n < (size_t)min_tokens)
        return mb_errorf(MB_ERR_INVALID_ARG, "%s has %zu tokens; chunks of %d need at least %d",
                         what, n, n_ctx, min_tokens);
    mb_token *ids = malloc((n ? n : 1) * sizeof *ids);
    if (!ids) return mb_errorf(MB_ERR_NO_MEMORY, "out of memory for %zu tokens", n);
    if ((st = mb_tokenize(m, text, len, 1, 0, ids, n, &n)) != MB_OK) {
        free(ids);
        return st;
    }
    out->ids = ids;
    out->n_tokens = (int)n;
    out->n_ctx = n_ctx;
    out->n_all = (int)(n / (size_t)n_ctx);
    out->n_chunks = max_chunks > 0 && max_chunks < out->n_all ? max_chunks : out->n_all;
    /* The tokenizer put BOS first when the vocabulary adds one: then each
     * chunk starts with it, as a fresh context would. */
    if (n > 0 && ids[0] == mb_token_bos(m))
        for (int k = 1; k < out->n_all; k++)
            ids[(size_t)k * (size_t)n_ctx] = ids[0];
    return MB_OK;
}

void mb_chunks_free(mb_chunks *c) {
    free(c->ids);
    memset(c, 0, sizeof *c);
}

mb_status mb_chunks_run(mb_session *s, const mb_chunks *c, int n_batch, float *logits,
                        mb_chunk_fn fn, void *user) {
    if (n_batch <= 0 || n_batch > c->n_ctx) n_batch = c->n_ctx;
    mb_status st = MB_OK;
    for (int k = 0; !st && k < c->n_chunks; k++) {
        const mb_token *ids = c->ids + (size_t)k * (size_t)c->n_ctx;
        st = mb_session_rewind(s, 0);
        for (int pos = 0; !st && pos < c->n_ctx; pos += n_batch) {
            const int n = c->n_ctx - pos < n_batch ? c->n_ctx - pos : n_batch;
            st = logits ? mb_session_eval_all(s, ids + pos, (size_t)n, logits)
                        : mb_session_eval(s, ids + pos, (size_t)n);
            if (!st && fn) st = fn(user, k, pos, n, ids, logits);
        }
    }
    return st;
}
