/* Drafters for speculative decoding (speculative.c): prompt lookup over
 * the tokens so far (draft_lookup.c) and a draft model's session kept in
 * step with the target's (draft_model.c). */
#ifndef MB_RUNTIME_DRAFT_H
#define MB_RUNTIME_DRAFT_H

#include "matchbox.h"

/* Prompt lookup: the longest NGRAM_MAX..1-token suffix of CTX[0..N) that
 * also occurs earlier in CTX, its most recent earlier occurrence, and up to
 * K of the tokens that followed it, written to OUT. Returns how many (0:
 * no match). */
int mb_draft_lookup(const mb_token *ctx, int n, int ngram_max, int k, mb_token *out);

/* Bring DRAFT to hold TARGET's tokens (positions 0..n_past-1) and then
 * PENDING: what it holds beyond their common prefix is rewound, the rest
 * fed. Then draft up to K tokens into OUT: greedy (SAMPLER NULL) the
 * draft's argmax, else drawn with SAMPLER (its penalties unused) from its
 * distribution, which is written to Q (K rows of n_vocab). Each drafted
 * token but the last is fed to DRAFT. Returns how many were drafted; 0 if
 * the draft's context cannot hold them or its evaluation fails (the
 * target then takes a plain step). */
int mb_draft_model(mb_session *draft, const mb_session *target, mb_token pending, int k,
                   mb_sampler *sampler, float *q, mb_token *out);

#endif
