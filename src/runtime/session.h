/* Internal view of a session, for the generation loop. */
#ifndef MB_RUNTIME_SESSION_H
#define MB_RUNTIME_SESSION_H

#include "core/threadpool.h"
#include "model/forward.h"
#include "runtime/kv_pool.h"

struct mb_session {
    mb_model *model;
    mb_threadpool *pool;
    mb_forward_state *fwd;
    int n_past;
    mb_token *history;   /* [n_ctx] the tokens at positions 0..n_past-1 */
    float *saved_logits; /* [n_vocab]: the logits before a prefill of several chunks,
                            restored if it is aborted */
    int verbose;
    long n_replayed;  /* tokens re-evaluated by rewinds past a ring (tests read it) */
    char *piece;      /* [piece_cap + 1]: a token's text during generation */
    size_t piece_cap; /* the model's longest token text (at least 256) */
    int counted;      /* counted in model->n_users */
    /* Set by mb_session_set_decode_hook (runtime/batch.h): single-token
     * evaluations go through it, so a scheduler can batch sessions. */
    mb_status (*decode_hook)(void *ctx, struct mb_session *s, mb_token id);
    void *decode_ctx;
    /* A paged session (session_paged.c): its cache is blocks of this pool,
     * mapped by its sequence's table; NULL: the session's own cache. */
    mb_kv_pool *kv_pool;
    mb_kv_seq kv_seq;
};

/* mb_session_new, or with POOL a paged session (no cache of its own: its
 * forward state's pages point into POOL's blocks). */
mb_status mb_session_make(mb_model *model, const mb_session_params *params, mb_kv_pool *pool,
                          mb_session **out);

/* ---- paged sessions (session_paged.c), for the engine ---- */
mb_status mb_session_paged_attach(mb_session *s, mb_kv_pool *pool);
void mb_session_paged_detach(mb_session *s);
/* Bytes of one pool block for sessions of SP's KV types on M. */
mb_status mb_session_kv_block_bytes(const mb_model *m, const mb_session_params *sp, uint64_t *out);
/* Admit the empty session for a prompt (mb_kv_pool_admit): the positions
 * of TOKENS adopted from the pool, or -1 when its blocks cannot be
 * promised now. */
int mb_session_kv_admit(mb_session *s, const mb_token *tokens, int n_prompt, int n_total);
/* After admission: the session holds TOKENS[0..n) (the adopted positions). */
void mb_session_kv_adopt(mb_session *s, const mb_token *tokens, int n);
/* Offer the blocks of positions [0, N) to other sessions. */
void mb_session_kv_publish(mb_session *s, int n);
/* Give the blocks back (published first when PUBLISH: what it computed
 * stays cached); the session is empty after. */
void mb_session_kv_release(mb_session *s, int publish);

/* Record IDS as the tokens at positions n_past.. (before they are fed). */
void mb_session_note_tokens(mb_session *s, const mb_token *ids, size_t n);

/* 1 if mb_session_rewind(s, POS) would re-evaluate the POS tokens kept
 * (a windowed layer's ring no longer holds the window of position POS). */
int mb_session_rewind_replays(const mb_session *s, int pos);

#endif
