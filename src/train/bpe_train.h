/* Training a byte-level BPE vocabulary (Sennrich et al. 2016, with GPT-2's
 * byte-level alphabet) on a text, written as a GGUF tokenizer. */
#ifndef MB_TRAIN_BPE_TRAIN_H
#define MB_TRAIN_BPE_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "matchbox.h"
#include "matchbox/train.h"

typedef struct {
    int n_tokens; /* vocabulary size: 256 bytes + merged tokens + specials */
    int n_merges;
    char **tokens;  /* stored (GPT-2 byte-mapped) form, NUL-terminated */
    int32_t *types; /* MB_TOKEN_* */
    char **merges;  /* "A B" in rank order, stored forms */
    int bos, eos;   /* both <|endoftext|> */
    char pre[32];   /* canonical pre-tokenizer name */
} mb_bpe_vocab;

/* Learn merges until the vocabulary has N_VOCAB tokens (the last one the
 * special <|endoftext|>). Words come from the pre-tokenizer PRE (gpt-2,
 * llama-bpe, ...); the most frequent adjacent pair is merged first, ties
 * going to the pair of smaller token ids, so the result is deterministic. A
 * text too small to reach N_VOCAB is MB_ERR_INVALID_ARG saying how many it
 * reaches. */
mb_status mb_bpe_train(const char *text, size_t len, int n_vocab, const char *pre,
                       mb_bpe_vocab *out, mb_bpe_train_stats *stats);
void mb_bpe_vocab_free(mb_bpe_vocab *v);
/* Write the tokenizer.ggml.* keys (model gpt2) to PATH, atomically. */
mb_status mb_bpe_vocab_write(const mb_bpe_vocab *v, const char *path);

#endif
