/* Internal side of batched decoding: a hook through which a session's
 * single-token evaluations can be routed, so that a scheduler (the server's)
 * can gather the decode steps of several sessions into one mb_batch_decode
 * while each session still runs the ordinary mb_generate loop. */
#ifndef MB_RUNTIME_BATCH_H
#define MB_RUNTIME_BATCH_H

#include "matchbox.h"

typedef mb_status (*mb_decode_hook)(void *ctx, mb_session *s, mb_token id);

/* From now on, mb_session_eval of one token (without all-position logits)
 * calls HOOK instead of running the forward pass; NULL restores it. The
 * hook must leave the session as mb_session_eval would: logits of ID, and
 * one position further. */
void mb_session_set_decode_hook(mb_session *s, mb_decode_hook hook, void *ctx);

#endif
