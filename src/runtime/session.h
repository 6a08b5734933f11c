/* Internal view of a session, for the generation loop. */
#ifndef MB_RUNTIME_SESSION_H
#define MB_RUNTIME_SESSION_H

#include "core/threadpool.h"
#include "model/forward.h"

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
};

/* Record IDS as the tokens at positions n_past.. (before they are fed). */
void mb_session_note_tokens(mb_session *s, const mb_token *ids, size_t n);

/* 1 if mb_session_rewind(s, POS) would re-evaluate the POS tokens kept
 * (a windowed layer's ring no longer holds the window of position POS). */
int mb_session_rewind_replays(const mb_session *s, int pos);

#endif
