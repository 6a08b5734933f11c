/* Batched decoding: one token for each of several sessions in one pass
 * over the weights. Decoding a single token is a matrix-vector product per
 * weight matrix, bound by reading the weights from memory; with the rows of
 * N sessions stacked, each weight row is read once for all N (the kernels'
 * vec_dot_rows), so N tokens cost little more than one. Attention stays per
 * session, over its own KV cache and position.
 *
 * The rows go through the same forward pass as mb_forward
 * (mb_forward_rows), each bound to its own session's cache and position, so
 * a session decoded in a batch gets the logits it would get alone, up to the
 * summation order of the blocked float kernels. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "model/forward.h"
#include "runtime/batch.h"
#include "runtime/session.h"

struct mb_batch {
    mb_model *model; /* counted in model->n_users */
    mb_threadpool *pool;
    int max, n_ctx;
    /* Workspace of max rows: only the buffers, never a KV cache. */
    mb_forward_state *ws;
    float *logits; /* [max][n_vocab] */
    mb_forward_state *caches[256];
    int pos[256];
};

enum { BATCH_MAX = 256 };

void mb_batch_free(mb_batch *b) {
    if (!b) return;
    if (b->model) b->model->n_users--;
    mb_forward_state_free(b->ws);
    free(b->logits);
    mb_threadpool_free(b->pool);
    free(b);
}

mb_status mb_batch_new(mb_model *model, int max_sessions, int n_ctx, int n_threads,
                       mb_batch **out) {
    *out = NULL;
    const mb_hparams *hp = &model->hp;
    if (max_sessions < 1 || max_sessions > BATCH_MAX || n_ctx < 1 || n_ctx > (1 << 24))
        return mb_errorf(MB_ERR_INVALID_ARG, "batch of %d sessions (1..%d), context %d",
                         max_sessions, BATCH_MAX, n_ctx);
    if (n_threads <= 0) n_threads = mb_physical_cores();
    mb_batch *b = calloc(1, sizeof *b);
    if (!b) return mb_errorf(MB_ERR_NO_MEMORY, "out of memory");
    b->model = model;
    model->n_users++; /* LoRA adapters must be loaded before */
    b->max = max_sessions;
    b->n_ctx = n_ctx;
    mb_status st = mb_threadpool_new(n_threads, &b->pool);
    if (!st)
        st = mb_forward_state_new(model, 0, max_sessions, n_threads, 0, MB_TYPE_F16, MB_TYPE_F16,
                                  &b->ws);
    if (!st && !(b->logits = malloc((size_t)max_sessions * hp->n_vocab * sizeof(float))))
        st = mb_errorf(MB_ERR_NO_MEMORY, "out of memory for a batch of %d", max_sessions);
    if (st) {
        mb_batch_free(b);
        return st;
    }
    *out = b;
    return MB_OK;
}

static mb_status check_batch(const mb_batch *b, mb_session *const *ss, const mb_token *ids, int n) {
    if (n < 1 || n > b->max)
        return mb_errorf(MB_ERR_INVALID_ARG, "batch of %d sessions (1..%d)", n, b->max);
    for (int t = 0; t < n; t++) {
        const mb_session *s = ss[t];
        if (s->model != b->model)
            return mb_errorf(MB_ERR_INVALID_ARG, "session %d belongs to another model", t);
        if (s->fwd->n_ctx > b->n_ctx)
            return mb_errorf(MB_ERR_INVALID_ARG, "session %d has a context of %d; the batch %d", t,
                             s->fwd->n_ctx, b->n_ctx);
        if (s->n_past >= s->fwd->n_ctx)
            return mb_errorf(MB_ERR_CONTEXT_FULL, "session %d: all %d positions are used", t,
                             s->fwd->n_ctx);
        if (ids[t] < 0 || ids[t] >= b->model->hp.n_vocab)
            return mb_errorf(MB_ERR_INVALID_ARG, "token id %d is outside the vocabulary (0..%d)",
                             ids[t], b->model->hp.n_vocab - 1);
        for (int u = 0; u < t; u++)
            if (ss[u] == s) return mb_errorf(MB_ERR_INVALID_ARG, "session %d appears twice", t);
    }
    return MB_OK;
}

mb_status mb_batch_decode(mb_batch *b, mb_session *const *sessions, const mb_token *ids, int n) {
    mb_status st = check_batch(b, sessions, ids, n);
    if (st) return st;
    const int n_vocab = b->model->hp.n_vocab;
    /* Paged caches: each row's position writable first (nothing is fed
     * unless all are). */
    for (int t = 0; t < n; t++)
        if ((st = mb_forward_kv_prepare(sessions[t]->fwd, sessions[t]->n_past, 1)))
            return mb_error_prefix(st, "session %d", t);
    for (int t = 0; t < n; t++) {
        b->caches[t] = sessions[t]->fwd;
        b->pos[t] = sessions[t]->n_past;
        mb_session_note_tokens(sessions[t], ids + t, 1);
    }
    /* A streamed weight that cannot be read fails the step: no session moves. */
    if ((st = mb_forward_rows(b->ws, b->pool, ids, n, b->caches, b->pos, b->logits))) return st;
    for (int t = 0; t < n; t++) {
        memcpy(sessions[t]->fwd->logits, b->logits + (size_t)t * n_vocab,
               (size_t)n_vocab * sizeof(float));
        sessions[t]->n_past++;
    }
    return MB_OK;
}

void mb_session_set_decode_hook(mb_session *s, mb_decode_hook hook, void *ctx) {
    s->decode_hook = hook;
    s->decode_ctx = ctx;
}
