/* The guardian's view of a request and the features the router reads.
 *
 * One rendering path: the CLI agent, its calibration and both endpoints of
 * `matchbox serve --oracle` turn a request into the guardian's tokens with
 * mb_agent_render, and score those tokens with mb_agent_score, so one prompt
 * has the same features everywhere (tests/test_agent_features.sh). A model
 * with its own chat template reads a chat rendered in it; a model without
 * one (stories260K) reads the plain text, as /v1/completions feeds it.
 *
 * The features: the prompt's surprise under the guardian (the mean and the
 * tail of the negative log-likelihood of its tokens, from the prefill's
 * logits: a text unlike the guardian's training data surprises it), a
 * greedy draft's mean log-prob, mean entropy, share of low-probability
 * tokens and repetition, and the prompt's length. */
#ifndef MB_AGENT_SCORE_H
#define MB_AGENT_SCORE_H

#include <stddef.h>

#include <matchbox.h>

#include "agent/router.h"

enum {
    MB_FEAT_PROMPT_NLL,    /* mean NLL of the prompt's tokens (nats) */
    MB_FEAT_PROMPT_TAIL,   /* mean NLL of its most surprising quarter */
    MB_FEAT_DRAFT_LOGPROB, /* the draft's mean log-prob of its chosen tokens */
    MB_FEAT_DRAFT_ENTROPY, /* the draft's mean next-token entropy */
    MB_FEAT_DRAFT_LOW,     /* the share of draft tokens with p < low_p */
    MB_FEAT_DRAFT_REPEAT,  /* the share of draft bigrams seen before in the draft */
    MB_FEAT_LOG_LEN,       /* log(1 + prompt tokens) */
    MB_N_FEAT
};

extern const char *const mb_feature_names[MB_N_FEAT];

typedef struct {
    double x[MB_N_FEAT];
    mb_confidence conf; /* the draft's confidence, for the threshold router */
    long n_prompt;      /* the prompt's tokens, before any cut */
    int cut;            /* only the end of the prompt fitted the context */
} mb_agent_features;

/* The guardian's tokens for N messages (IS_CHAT) or for the completion
 * prompt MSGS[0].content: rendered in TMPL (a chat template family), or the
 * plain text when TMPL is NULL (a chat's contents joined by newlines).
 * Malloc'd; NULL on failure. */
mb_token *mb_agent_render(const mb_model *model, const char *tmpl, const mb_chat_message *msgs,
                          size_t n, int is_chat, size_t *n_out);

/* Score IDS (N tokens) from an empty cache of SESSION (on MODEL): the prompt's NLL, then
 * a greedy draft of up to N_DRAFT tokens. When the prompt and the draft do
 * not fit the context, only the prompt's end is read (F->cut). DRAFT (may be
 * NULL) gets the draft's text (malloc'd, NUL-terminated) and DRAFT_LEN its
 * length. */
mb_status mb_agent_score(const mb_model *model, mb_session *session, const mb_token *ids, size_t n,
                         int n_draft, float low_p, mb_agent_features *f, char **draft,
                         size_t *draft_len);

/* The features as a JSON object {"prompt_nll": ..., ...} with 6 significant
 * digits (what the tests compare between paths); the length written. */
int mb_agent_features_json(const mb_agent_features *f, char *buf, size_t cap);

#endif
