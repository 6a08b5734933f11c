/* Perplexity and KL divergence of a model on a text, computed the way
 * llama.cpp's perplexity tool does, so the numbers compare (docs/QUALITY.md):
 *
 * - the whole text is tokenized once, with BOS if the vocabulary adds one;
 * - it is cut into chunks of n_ctx tokens; each chunk is evaluated from an
 *   empty cache, its first token replaced by BOS;
 * - only the second half of each chunk is scored: the logits at positions
 *   n_ctx/2 .. n_ctx-2 predict the tokens after them (every scored token
 *   has at least n_ctx/2 tokens of context);
 * - PPL = exp(mean NLL), and its error is PPL * the standard error of the
 *   mean NLL: sqrt((mean(NLL^2) - mean(NLL)^2) / (N - 1)).
 *
 * With a base file (docs/QUALITY.md has its layout) the log-probabilities of
 * the scored positions are written (kld_base_write) or compared against
 * (kld_base_read): mean KL(base || model), top-1 agreement, the change
 * in the probability of the right token, and the paired mean of
 * ln p_base(right) - ln p_model(right) with its error. */
#ifndef MB_EVAL_PERPLEXITY_H
#define MB_EVAL_PERPLEXITY_H

#include <stdint.h>
#include <stdio.h>

#include "matchbox.h"

typedef struct {
    int n_ctx;                  /* tokens per chunk (default 512) */
    int n_chunks;               /* <= 0: as many as the text has */
    int n_threads;              /* 0: physical cores */
    const char *kld_base_write; /* write the base log-probabilities here */
    const char *kld_base_read;  /* compare against this base */
    FILE *progress;             /* running PPL per chunk; NULL: quiet */
    int swa_full;               /* windowed layers keep full caches (no effect on results) */
} mb_ppl_params;

enum { MB_PPL_N_PCT = 13 };
/* The percentiles reported for KLD and delta-p, in this order. */
extern const double mb_ppl_pct[MB_PPL_N_PCT];

typedef struct {
    int n_tokens;      /* tokens in the text (BOS included) */
    int n_chunks;      /* chunks evaluated */
    uint64_t n_scored; /* tokens scored */
    double ppl, ppl_err;
    /* with kld_base_read only: */
    int has_kld;
    double ppl_base, ppl_base_err;
    /* mean over tokens of NLL(model) - NLL(base) = ln(PPL(Q)/PPL(base)),
     * with the standard error of that paired mean (llama.cpp's
     * "Mean ln(PPL(Q)/PPL(base))"): the test of whether the two differ */
    double ln_ratio, ln_ratio_err;
    double kld, kld_err;
    double top1, top1_err;          /* share of positions with the same argmax */
    double dp_mean, dp_err, dp_rms; /* p_model(right) - p_base(right) */
    double kld_pct[MB_PPL_N_PCT];   /* percentiles of the per-token KLD */
    double dp_pct[MB_PPL_N_PCT];    /* percentiles of delta-p */
} mb_ppl_result;

mb_status mb_perplexity(mb_model *model, const char *text, size_t len, const mb_ppl_params *params,
                        mb_ppl_result *out);

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
