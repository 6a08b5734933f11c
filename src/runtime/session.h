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
    /* Set by mb_session_set_decode_hook (runtime/batch.h): single-token
     * evaluations go through it, so a scheduler can batch sessions. */
    mb_status (*decode_hook)(void *ctx, struct mb_session *s, mb_token id);
    void *decode_ctx;
};

#endif
