/* The sampler's internals that speculative decoding needs: the final
 * distribution the sampler would draw from, and draws from a given
 * distribution with the sampler's own generator. */
#ifndef MB_RUNTIME_SAMPLER_H
#define MB_RUNTIME_SAMPLER_H

#include "matchbox.h"

int mb_sampler_is_greedy(const mb_sampler *s);
mb_sampler_params mb_sampler_get_params(const mb_sampler *s);

/* Write to PROBS (n_vocab floats) the distribution mb_sampler_sample would
 * draw from for LOGITS: penalties (from the tokens accepted so far), top-k,
 * top-p, min-p and temperature applied, zero outside what they keep; greedy:
 * one-hot at the argmax. Returns the most likely token. */
mb_token mb_sampler_dist(mb_sampler *s, const float *logits, float *probs);

/* A uniform draw in [0, 1) from the sampler's generator. */
double mb_sampler_uniform(mb_sampler *s);

/* Draw a token from PROBS (n_vocab non-negative weights, normalized here)
 * with the sampler's generator; -1 when every weight is 0. */
mb_token mb_sampler_draw(mb_sampler *s, const float *probs);

/* Where the sampler's grammar is (mb_sampler_set_grammar): none; more
 * may come; nothing but the end can come (generation stops: MB_STOP_EOG);
 * a cap of the matcher was reached (generation fails). */
enum { MB_GRAMMAR_NONE, MB_GRAMMAR_RUNNING, MB_GRAMMAR_ENDED, MB_GRAMMAR_FAILED };
int mb_sampler_grammar_state(const mb_sampler *s);

#endif
