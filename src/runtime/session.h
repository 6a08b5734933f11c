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
};

#endif
