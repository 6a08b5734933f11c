/* The training corpus: tokenized once, the last val_split fraction of the
 * tokens (or a separate validation file) held out for validation and never
 * sampled for training. */
#ifndef MB_TRAIN_DATA_H
#define MB_TRAIN_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "matchbox.h"

typedef struct mb_train_data {
    int32_t *tokens;
    size_t n_train, n_val; /* tokens[0..n_train) train, then n_val validation */
    int n_vocab;
} mb_train_data;

/* Tokenize CORPUS_PATH with the vocabulary of TOKENIZER_PATH (no BOS/EOS).
 * Validation is VAL_PATH's text when given (the whole corpus is then
 * trained on), else the last VAL_SPLIT of the corpus's tokens. */
mb_status mb_train_data_load(mb_train_data *d, const char *corpus_path, const char *val_path,
                             const char *tokenizer_path, float val_split);
void mb_train_data_free(mb_train_data *d);

#endif
