/* A draft model's session for speculative decoding, kept in step with the
 * target session: it holds the target's tokens, then drafts ahead. */
#include <string.h>

#include "runtime/draft.h"
#include "runtime/sampler.h"
#include "runtime/session.h"

/* Positions at which DRAFT already holds TARGET's tokens. */
static int common_prefix(const mb_session *draft, const mb_session *target) {
    int n = draft->n_past < target->n_past ? draft->n_past : target->n_past, i = 0;
    while (i < n && draft->history[i] == target->history[i])
        i++;
    return i;
}

int mb_draft_model(mb_session *draft, const mb_session *target, mb_token pending, int k,
                   mb_sampler *sampler, float *q, mb_token *out) {
    const int n = target->n_past, n_vocab = draft->model->hp.n_vocab;
    /* The draft holds the target's n tokens, the pending one and k - 1
     * drafts. */
    if (k > mb_session_n_ctx(draft) - n) k = mb_session_n_ctx(draft) - n;
    if (k <= 0) return 0;
    int keep = common_prefix(draft, target);
    if (keep < draft->n_past && mb_session_rewind(draft, keep)) return 0;
    /* Tokens fed from the target's history are copied into the draft's by
     * the evaluation; feed them in place of a buffer of our own. */
    if (keep < n && mb_session_eval(draft, target->history + keep, (size_t)(n - keep))) return 0;
    if (mb_session_eval(draft, &pending, 1)) return 0;
    for (int i = 0; i < k; i++) {
        const float *logits = mb_session_logits(draft);
        if (!sampler) {
            int best = 0;
            for (int v = 1; v < n_vocab; v++)
                if (logits[v] > logits[best]) best = v;
            out[i] = best;
        } else {
            float *qi = q + (size_t)i * n_vocab;
            mb_sampler_dist(sampler, logits, qi);
            out[i] = mb_sampler_draw(sampler, qi);
            if (out[i] < 0) return i;
        }
        if (i + 1 < k && mb_session_eval(draft, &out[i], 1)) return i + 1;
    }
    return k;
}
