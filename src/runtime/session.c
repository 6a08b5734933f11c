/* Sessions: one conversation's KV cache, buffers and threads. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/log.h"
#include "core/params.h"
#include "core/file_map.h"
#include "core/threadpool.h"
#include "model/forward.h"
#include "runtime/mem_plan.h"
#include "runtime/session.h"

mb_session_params mb_session_default_params(void) {
    return (mb_session_params){.struct_size = sizeof(mb_session_params),
                               .n_ctx = 0,
                               .n_threads = 0,
                               .swa_full = 0,
                               .kv_type_k = MB_KV_TYPE_F16,
                               .kv_type_v = MB_KV_TYPE_F16};
}

mb_status mb_session_new(mb_model *model, const mb_session_params *params, mb_session **out) {
    return mb_session_make(model, params, NULL, out);
}

mb_status mb_session_make(mb_model *model, const mb_session_params *params, mb_kv_pool *kv_pool,
                          mb_session **out) {
    *out = NULL;
    mb_session_params p = mb_session_default_params();
    mb_status st =
        mb_params_merge(&p, params, sizeof p, MB_PARAMS_SIZE_UPTO(mb_session_params, swa_full),
                        "mb_session_params");
    if (st) return st;
    if (model->vocab_only)
        return mb_errorf(MB_ERR_INVALID_ARG, "the model was loaded vocab-only: it has no weights");
    const mb_hparams *hp = &model->hp;
    int n_ctx = p.n_ctx;
    if (n_ctx < 0) return mb_errorf(MB_ERR_INVALID_ARG, "context size %d is negative", n_ctx);
    n_ctx = mb_mem_n_ctx(hp, n_ctx);
    if (n_ctx > (1 << 24))
        return mb_errorf(MB_ERR_INVALID_ARG, "context size %d is too large", n_ctx);
    /* The types before the sizes: a bad one is named, not counted. */
    st = mb_kv_check_types(hp, p.kv_type_k, p.kv_type_v);
    if (st) return st;
    int n_threads = p.n_threads > 0 ? p.n_threads : mb_physical_cores();
    /* No chunk is longer than the context. */
    const int n_batch = mb_mem_n_batch(n_ctx);
    if (p.verbose && !kv_pool) {
        char desc[512];
        mb_kv_describe(hp, n_ctx, n_batch, p.swa_full, p.kv_type_k, p.kv_type_v, desc, sizeof desc);
        mb_log(MB_LOG_INFO, "%s\n", desc);
    }
    if (p.verbose && n_ctx > hp->n_ctx_train)
        mb_log(MB_LOG_WARN,
               "warning: context %d is longer than the %d the model was trained on; "
               "expect worse text past that\n",
               n_ctx, hp->n_ctx_train);
    /* The memory plan matchbox fit prints (runtime/mem_plan.c): refused here
     * with its numbers rather than killed later. */
    mb_fit_params fp = mb_fit_default_params();
    fp.n_ctx = n_ctx;
    fp.n_threads = n_threads;
    fp.swa_full = p.swa_full;
    fp.kv_type_k = (int)p.kv_type_k;
    fp.kv_type_v = (int)p.kv_type_v;
    /* A paged session's cache is its engine's pool, checked with the slots. */
    if (!kv_pool && (st = mb_mem_check(model, &fp, "the session"))) return st;
    mb_session *s = calloc(1, sizeof *s);
    if (!s) return mb_errorf(MB_ERR_NO_MEMORY, "out of memory");
    s->model = model;
    s->verbose = p.verbose;
    model->n_users++;
    s->counted = 1;
    s->piece_cap = model->max_piece > 256 ? model->max_piece : 256;
    if (!(s->piece = malloc(s->piece_cap + 1))) {
        mb_session_free(s);
        return mb_errorf(MB_ERR_NO_MEMORY, "out of memory");
    }
    st = mb_threadpool_new(n_threads, &s->pool);
    if (!st && kv_pool)
        st = mb_forward_state_new_paged(model, n_ctx, n_batch, n_threads, p.kv_type_k, p.kv_type_v,
                                        &s->fwd);
    else if (!st)
        st = mb_forward_state_new(model, n_ctx, n_batch, n_threads, p.swa_full, p.kv_type_k,
                                  p.kv_type_v, &s->fwd);
    if (!st && kv_pool) st = mb_session_paged_attach(s, kv_pool);
    if (!st && !(s->history = malloc((size_t)n_ctx * sizeof *s->history)))
        st = mb_errorf(MB_ERR_NO_MEMORY, "out of memory");
    if (!st && !(s->saved_logits = malloc((size_t)model->hp.n_vocab * sizeof(float))))
        st = mb_errorf(MB_ERR_NO_MEMORY, "out of memory");
    if (st) {
        mb_session_free(s);
        return st;
    }
    *out = s;
    return MB_OK;
}

void mb_session_free(mb_session *s) {
    if (!s) return;
    if (s->fwd) mb_session_paged_detach(s); /* its blocks back to the pool */
    mb_forward_state_free(s->fwd);
    mb_threadpool_free(s->pool);
    free(s->history);
    free(s->saved_logits);
    free(s->piece);
    if (s->counted) s->model->n_users--;
    free(s);
}

int mb_session_n_ctx(const mb_session *s) {
    return s->fwd->n_ctx;
}
int mb_session_n_past(const mb_session *s) {
    return s->n_past;
}
uint64_t mb_session_kv_bytes(const mb_session *s) {
    return s->fwd->kv.bytes;
}
int mb_session_n_threads(const mb_session *s) {
    return s->fwd->n_threads;
}

static mb_status eval(mb_session *s, const mb_token *ids, size_t n, float *all_logits);

/* Re-evaluate the POS tokens kept, from an empty cache: straight through
 * the forward pass, neither a scheduler's decode hook (the replay belongs
 * to this session alone) nor the abort callback (it restores a state). */
static mb_status replay(mb_session *s, int pos) {
    s->n_past = 0;
    s->fwd->kv_max_pos = -1;
    s->fwd->kv_lo = 0;
    s->n_replayed += pos;
    if (pos == 0) return MB_OK;
    mb_status (*hook)(void *, struct mb_session *, mb_token) = s->decode_hook;
    int (*abort_fn)(void *) = s->fwd->abort_fn;
    s->decode_hook = NULL;
    s->fwd->abort_fn = NULL;
    mb_status st = eval(s, s->history, (size_t)pos, NULL);
    s->decode_hook = hook;
    s->fwd->abort_fn = abort_fn;
    return st;
}

/* Put S back at position START after an aborted evaluation: the positions
 * past it are simply forgotten, unless the chunks already run overwrote a
 * windowed ring's window of START (replay). */
static mb_status undo(mb_session *s, int start, int restore_logits) {
    s->n_past = start;
    mb_status st = MB_OK;
    if (start == 0 || mb_session_rewind_replays(s, start)) st = replay(s, start);
    if (restore_logits)
        memcpy(s->fwd->logits, s->saved_logits, (size_t)s->model->hp.n_vocab * sizeof(float));
    if (st) return mb_error_prefix(st, "restoring the session after an abort");
    return mb_errorf(MB_ERR_ABORTED, "aborted by the abort callback; nothing was fed");
}

/* A streamed weight that could not be read (model/stream.h) stops the
 * evaluation as an abort does: S goes back to START, and the read error is
 * what is reported. */
static mb_status fail(mb_session *s, int start, int restore_logits, mb_status st) {
    char msg[512];
    snprintf(msg, sizeof msg, "%s", mb_last_error());
    (void)undo(s, start, restore_logits);
    return mb_errorf(st, "%s", msg);
}

static mb_status eval(mb_session *s, const mb_token *ids, size_t n, float *all_logits) {
    if (n == 0) return mb_errorf(MB_ERR_INVALID_ARG, "no tokens to evaluate");
    if (n > (size_t)(s->fwd->n_ctx - s->n_past))
        return mb_errorf(MB_ERR_CONTEXT_FULL,
                         "%zu tokens do not fit: %d of the context's %d positions are used", n,
                         s->n_past, s->fwd->n_ctx);
    mb_session_note_tokens(s, ids, n);
    /* A scheduler's batched step checks its tokens itself. */
    if (n == 1 && !all_logits && s->decode_hook) return s->decode_hook(s->decode_ctx, s, ids[0]);
    const int n_vocab = s->model->hp.n_vocab;
    /* Every id first, so that a bad one late in a long prompt feeds nothing. */
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= n_vocab)
            return mb_errorf(MB_ERR_INVALID_ARG,
                             "token id %d (at %zu) is outside the vocabulary (0..%d)", ids[i], i,
                             n_vocab - 1);
    const size_t n_batch = (size_t)s->fwd->n_batch;
    const int start = s->n_past;
    /* A chunk that is not the last overwrites the logits: keep them, in case
     * a later chunk is aborted (one chunk writes them only when complete). */
    const int several = n > n_batch && (s->fwd->abort_fn || s->model->stream);
    if (several) memcpy(s->saved_logits, s->fwd->logits, (size_t)n_vocab * sizeof(float));
    for (size_t i = 0; i < n; i += n_batch) {
        int chunk = (int)(n - i < n_batch ? n - i : n_batch);
        float *out = all_logits ? all_logits + i * (size_t)n_vocab : NULL;
        mb_status st = mb_forward(s->fwd, s->pool, ids + i, chunk, s->n_past, out);
        if (st == MB_ERR_ABORTED) return undo(s, start, several);
        if (st) return fail(s, start, several, st);
        s->n_past += chunk;
    }
    return MB_OK;
}

void mb_session_set_abort(mb_session *s, mb_abort_fn fn, void *user) {
    s->fwd->abort_fn = fn;
    s->fwd->abort_user = user;
}

mb_status mb_session_eval(mb_session *s, const mb_token *ids, size_t n) {
    return eval(s, ids, n, NULL);
}

mb_status mb_session_eval_all(mb_session *s, const mb_token *ids, size_t n, float *logits) {
    if (!logits) return mb_errorf(MB_ERR_INVALID_ARG, "no buffer for the logits");
    return eval(s, ids, n, logits);
}

const float *mb_session_logits(const mb_session *s) {
    return s->fwd->logits;
}

void mb_session_note_tokens(mb_session *s, const mb_token *ids, size_t n) {
    if (s->history + s->n_past != ids) memmove(s->history + s->n_past, ids, n * sizeof *ids);
}

/* A windowed layer's ring holds the window plus a margin: a rewind within
 * it costs nothing. Past it, the window of the next position was
 * overwritten, and since a windowed layer's keys at a position depend on
 * every earlier token (through the full layers), only re-evaluating from
 * the start gives them back exactly; the reference's server does the same
 * when its windowed cache cannot serve a prefix. */
int mb_session_rewind_replays(const mb_session *s, int pos) {
    const int w = s->model->hp.sliding_window;
    const int need = pos - w + 1 > 0 ? pos - w + 1 : 0;
    return pos > 0 && pos <= s->n_past && need < mb_forward_oldest_kept(s->fwd);
}

mb_status mb_session_rewind(mb_session *s, int pos) {
    if (pos < 0 || pos > s->n_past)
        return mb_errorf(MB_ERR_INVALID_ARG, "cannot rewind to %d: %d positions are filled", pos,
                         s->n_past);
    if (!mb_session_rewind_replays(s, pos)) {
        s->n_past = pos;
        if (pos == 0) {
            s->fwd->kv_max_pos = -1;
            s->fwd->kv_lo = 0;
        }
        return MB_OK;
    }
    if (s->verbose)
        mb_log(MB_LOG_INFO,
               "rewind to position %d: the windowed layers no longer hold its window; "
               "re-evaluating %d tokens\n",
               pos, pos);
    return replay(s, pos);
}
