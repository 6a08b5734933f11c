/* Embeddings: a text's pooled final hidden state (mb_session_embed). */
#include <math.h>
#include <string.h>

#include "core/error.h"
#include "model/forward.h"
#include "runtime/session.h"

/* Empty the session's cache: an embedding sees only its own input, and
 * what it leaves in the cache is no conversation (its logits were never
 * computed). */
static void clear(mb_session *s) {
    s->n_past = 0;
    s->fwd->kv_max_pos = -1;
    s->fwd->kv_lo = 0;
}

static mb_status check(const mb_session *s, const mb_token *ids, size_t n, int pooling,
                       const float *out) {
    if (!ids || !out) return mb_errorf(MB_ERR_INVALID_ARG, "mb_session_embed: NULL ids or output");
    if (pooling != MB_POOL_MEAN && pooling != MB_POOL_LAST)
        return mb_errorf(MB_ERR_INVALID_ARG,
                         "pooling %d is not MB_POOL_MEAN (0) or MB_POOL_LAST (1)", pooling);
    /* An engine's slot shares its cache's blocks with others. */
    if (s->kv_pool)
        return mb_errorf(MB_ERR_INVALID_ARG, "embeddings need a session with its own KV cache");
    if (n == 0) return mb_errorf(MB_ERR_INVALID_ARG, "no tokens to embed");
    if (n > (size_t)s->fwd->n_ctx)
        return mb_errorf(MB_ERR_CONTEXT_FULL,
                         "%zu tokens to embed do not fit the session's context of %d", n,
                         s->fwd->n_ctx);
    const int n_vocab = s->model->hp.n_vocab;
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= n_vocab)
            return mb_errorf(MB_ERR_INVALID_ARG,
                             "token id %d (at %zu) is outside the vocabulary (0..%d)", ids[i], i,
                             n_vocab - 1);
    return MB_OK;
}

mb_status mb_session_embed(mb_session *s, const mb_token *ids, size_t n, int pooling, int normalize,
                           float *out) {
    mb_status st = check(s, ids, n, pooling, out);
    if (st) return st;
    const int d = s->model->hp.n_embd;
    const size_t n_batch = (size_t)s->fwd->n_batch;
    clear(s);
    memset(out, 0, (size_t)d * sizeof *out);
    s->fwd->hidden_only = 1;
    for (size_t i = 0; i < n && !st; i += n_batch) {
        const int chunk = (int)(n - i < n_batch ? n - i : n_batch);
        st = mb_forward(s->fwd, s->pool, ids + i, chunk, (int)i, NULL);
        if (st) break;
        const float *h = s->fwd->xn;
        if (pooling == MB_POOL_LAST) {
            if (i + (size_t)chunk == n)
                memcpy(out, h + (size_t)(chunk - 1) * d, (size_t)d * sizeof *out);
            continue;
        }
        for (int t = 0; t < chunk; t++)
            for (int k = 0; k < d; k++)
                out[k] += h[(size_t)t * d + k];
    }
    s->fwd->hidden_only = 0;
    clear(s);
    if (st) return st;
    if (pooling == MB_POOL_MEAN)
        for (int k = 0; k < d; k++)
            out[k] /= (float)n;
    if (normalize) {
        double sum = 0;
        for (int k = 0; k < d; k++)
            sum += (double)out[k] * out[k];
        /* An all-zero state has no direction: it is left as it is. */
        if (sum > 0) {
            const float inv = (float)(1.0 / sqrt(sum));
            for (int k = 0; k < d; k++)
                out[k] *= inv;
        }
    }
    return MB_OK;
}
