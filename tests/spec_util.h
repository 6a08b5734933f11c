/* Shared by the speculative-decoding tests: one generation recorded. */
#ifndef MB_TEST_SPEC_UTIL_H
#define MB_TEST_SPEC_UTIL_H

#include "matchbox.h"

enum { SPEC_MAX_TOKENS = 4096, SPEC_MAX_TEXT = 32768 };

typedef struct {
    mb_token ids[SPEC_MAX_TOKENS]; /* every token the token callback saw */
    int n;
    char text[SPEC_MAX_TEXT]; /* the streamed text */
    size_t len;
    int stop_at; /* > 0: the token callback stops at this many tokens */
    mb_generate_stats st;
    mb_status status;
    int n_past; /* the session's afterwards */
} spec_run;

/* Rewind S (a session of M) to 0 and generate from PROMPT with a fresh sampler of SP, GP's
 * stop strings and n_predict, and SPEC (NULL: plain) into R. */
void spec_generate(const mb_model *m, mb_session *s, const mb_token *prompt, size_t n_prompt,
                   const mb_sampler_params *sp, const mb_generate_params *gp,
                   const mb_speculative_params *spec, spec_run *r);

/* A tiny random-weight model NAME (written to the test's temporary folder):
 * the shape every speculative test uses, weights from SEED, every layer
 * windowed to WINDOW positions (0: none), trained context N_CTX. */
mb_model *spec_tiny_model(const char *name, uint64_t seed, int window, int n_ctx);

#endif
