/* The generation loop's shared part, for the plain loop (generate.c) and
 * the speculative one (speculative.c): what happens to each token chosen. */
#ifndef MB_RUNTIME_GENERATE_H
#define MB_RUNTIME_GENERATE_H

#include "matchbox.h"
#include "runtime/text_stream.h"

typedef struct {
    mb_session *s;
    mb_sampler *sampler;
    const mb_generate_params *params;
    mb_generate_stats *st;
    mb_text_stream out;
    int n_ctx, n_vocab;
    mb_status err; /* the failure when mb_gen_emit returns -1 */
} mb_gen;

/* Token ID, chosen from LOGITS, goes out: the token callback, end of
 * generation, the sampler's penalties, the text stream and its stop
 * strings, n_predict, and the context (N_PAST: the positions plain
 * generation would have fed before ID). 0: go on, ID to be fed; 1: stop
 * (g->st->stop_reason says why; ID is not to be fed); -1: error (g->err). */
int mb_gen_emit(mb_gen *g, mb_token id, const float *logits, int n_past);

/* Generate with speculative decoding from the prefill's logits on, until a
 * stop reason (generate.c has prefilled and set up G). SP: as
 * mb_speculative_check wrote it. */
mb_status mb_speculative_generate(mb_gen *g, const mb_speculative_params *sp);

/* MB_OK if a speculative generation on S with SP (the caller's struct, of
 * any version) can run: the draft's vocabulary is the target's, the
 * numbers are in range. OUT (may be NULL) gets SP merged over the
 * defaults, what mb_speculative_generate takes. */
mb_status mb_speculative_check(const mb_session *s, const mb_speculative_params *sp,
                               mb_speculative_params *out);

/* 1 if SP asks for speculation (a draft or a lookup). */
int mb_speculative_on(const mb_speculative_params *sp);

#endif
