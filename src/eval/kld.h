/* The KL-divergence base file behind mb_perplexity's kld_base_write and
 * kld_base_read (matchbox/eval.h; the layout is in kld.c). */
#ifndef MB_EVAL_KLD_H
#define MB_EVAL_KLD_H

#include <stdint.h>

#include "matchbox.h"

/* ---- the base file (kld.c) ----------------------------------------- */

typedef struct mb_kld_file mb_kld_file;

/* Create a base file (atomically: a temp file renamed by _commit). */
mb_status mb_kld_create(const char *path, int n_ctx, int n_vocab, int n_chunks,
                        const mb_token *tokens, mb_kld_file **out);
/* Open a base file and check it against this run: same n_ctx and n_vocab,
 * and its tokens a prefix-equal match of TOKENS. *n_chunks gets its count. */
mb_status mb_kld_open(const char *path, int n_ctx, int n_vocab, const mb_token *tokens,
                      int n_tokens_avail, int *n_chunks, mb_kld_file **out);
/* One scored position's log-probabilities (n_vocab floats), in order. */
mb_status mb_kld_put(mb_kld_file *f, const float *logp);
mb_status mb_kld_get(mb_kld_file *f, float *logp);
/* Writing: flush, fsync and rename into place. Reading: just close. */
mb_status mb_kld_commit(mb_kld_file *f);
/* Close; a base being written that was not committed is removed. */
void mb_kld_close(mb_kld_file *f);

#endif
