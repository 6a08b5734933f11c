/* A text cut into chunks and evaluated chunk by chunk, each from an empty
 * cache and starting with BOS, as llama.cpp's perplexity scores a text. One
 * runner for every pass that works this way: perplexity and KL divergence
 * (eval), the importance matrix (calibrate) and the calibration capture of
 * GPTQ/AWQ (quantize). */
#ifndef MB_RUNTIME_CHUNKS_H
#define MB_RUNTIME_CHUNKS_H

#include "matchbox.h"

typedef struct {
    mb_token *ids; /* n_tokens ids; chunk k is ids[k * n_ctx ..] */
    int n_tokens;  /* the text's tokens */
    int n_ctx;     /* tokens per chunk */
    int n_all;     /* whole chunks in the text */
    int n_chunks;  /* chunks to run: n_all, or fewer when capped */
} mb_chunks;

/* Tokenize TEXT (BOS added when the vocabulary adds one, special tokens as
 * text) and cut it into chunks of N_CTX tokens; MAX_CHUNKS > 0 caps the
 * chunks run. When the vocabulary adds BOS, every chunk's first token is
 * replaced by BOS. Fewer than MIN_TOKENS tokens is MB_ERR_INVALID_ARG with a
 * message naming WHAT ("the calibration text") and both numbers. */
mb_status mb_chunks_make(const mb_model *m, const char *text, size_t len, int n_ctx, int max_chunks,
                         int min_tokens, const char *what, mb_chunks *out);
void mb_chunks_free(mb_chunks *c);

/* Called after each piece of a chunk is evaluated: positions POS..POS+N-1 of
 * chunk CHUNK (IDS is the chunk's first token); LOGITS holds the piece's
 * N x n_vocab logits when the run asked for them, else NULL. A non-OK status
 * stops the run and is returned. */
typedef mb_status (*mb_chunk_fn)(void *user, int chunk, int pos, int n, const mb_token *ids,
                                 const float *logits);

/* Run C's chunks through S (its n_ctx at least C->n_ctx): each from an
 * empty cache, in pieces of at most N_BATCH positions (0: the whole chunk);
 * LOGITS (N_BATCH x n_vocab floats, or NULL for none) receives each piece's
 * logits for FN (may be NULL). */
mb_status mb_chunks_run(mb_session *s, const mb_chunks *c, int n_batch, float *logits,
                        mb_chunk_fn fn, void *user);

#endif
