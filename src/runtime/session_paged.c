/* Sessions whose KV cache is blocks of a pool shared with other sessions
 * (runtime/kv_pool.h; the engine's slots, engine.h kv_budget). The session's
 * forward state has a page table per layer of 64-position pages; page i of
 * every layer points into the block the sequence's table maps at i, and is
 * re-pointed whenever the pool changes that entry (a block taken, a private
 * copy made, a twin swapped in). Before the forward pass writes positions,
 * they are made writable (mb_kv_pool_prepare) through the state's hook. */
#include <string.h>

#include "core/error.h"
#include "core/params.h"
#include "model/forward.h"
#include "model/kv_cache.h"
#include "runtime/session.h"

static void on_change(void *user, int index, int block) {
    mb_session *s = user;
    mb_kv_cache_map_block(&s->fwd->kv, index,
                          block >= 0 ? mb_kv_pool_block(s->kv_pool, block) : NULL);
}

static mb_status prepare(void *user, int pos, int n) {
    mb_session *s = user;
    if (mb_kv_pool_prepare(s->kv_pool, &s->kv_seq, pos, n) == 0) return MB_OK;
    /* Admission promised the blocks; only a rewind below what was
     * promised (into shared blocks) can ask for more. */
    return mb_errorf(MB_ERR_NO_MEMORY,
                     "positions %d..%d need KV cache blocks beyond what this request was "
                     "promised at admission",
                     pos, pos + n - 1);
}

mb_status mb_session_kv_block_bytes(const mb_model *m, const mb_session_params *sp, uint64_t *out) {
    mb_session_params p = mb_session_default_params();
    mb_status st = mb_params_merge(
        &p, sp, sizeof p, MB_PARAMS_SIZE_UPTO(mb_session_params, swa_full), "mb_session_params");
    if (!st) st = mb_kv_check_types(&m->hp, p.kv_type_k, p.kv_type_v);
    if (st) return st;
    *out = mb_kv_block_bytes(&m->hp, p.kv_type_k, p.kv_type_v);
    return MB_OK;
}

/* Called by mb_session_make once the paged forward state exists. */
mb_status mb_session_paged_attach(mb_session *s, mb_kv_pool *pool) {
    s->kv_pool = pool;
    mb_status st = mb_kv_seq_init(&s->kv_seq, s->fwd->n_ctx, on_change, s);
    if (st) return st;
    s->fwd->kv_prepare = prepare;
    s->fwd->kv_prepare_user = s;
    return MB_OK;
}

void mb_session_paged_detach(mb_session *s) {
    if (!s->kv_pool) return;
    mb_kv_seq_free(s->kv_pool, &s->kv_seq);
    s->kv_pool = NULL;
}

int mb_session_kv_admit(mb_session *s, const mb_token *tokens, int n_prompt, int n_total) {
    if (!s->kv_pool || s->n_past != 0) return -1;
    return mb_kv_pool_admit(s->kv_pool, &s->kv_seq, tokens, n_prompt, n_total);
}

void mb_session_kv_adopt(mb_session *s, const mb_token *tokens, int n) {
    memcpy(s->history, tokens, (size_t)n * sizeof *tokens);
    s->n_past = n;
    s->fwd->kv_max_pos = n - 1;
    s->fwd->kv_lo = 0;
}

void mb_session_kv_publish(mb_session *s, int n) {
    if (!s->kv_pool) return;
    if (n > s->n_past) n = s->n_past;
    mb_kv_pool_publish(s->kv_pool, &s->kv_seq, s->history, n);
}

void mb_session_kv_release(mb_session *s, int publish) {
    if (!s->kv_pool) return;
    if (publish) mb_kv_pool_publish(s->kv_pool, &s->kv_seq, s->history, s->n_past);
    mb_kv_pool_release(s->kv_pool, &s->kv_seq);
    s->n_past = 0;
    s->fwd->kv_max_pos = -1;
    s->fwd->kv_lo = 0;
}
