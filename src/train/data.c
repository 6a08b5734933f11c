/* Corpus loading: read, tokenize with the model-free vocabulary API, split. */
#include "train/data.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "format/gguf.h"
#include "tokenizer/vocab.h"

static mb_status open_vocab(const char *path, mb_vocab **v) {
    if (!path || !*path) return mb_errorf(MB_ERR_INVALID_ARG, "config: tokenizer= is not set");
    mb_gguf *g = NULL;
    mb_status st = mb_gguf_open(path, 1, 0, &g);
    if (!st) st = mb_vocab_load(g, v);
    mb_gguf_close(g);
    return st ? mb_error_prefix(st, "tokenizer %s: ", path) : MB_OK;
}

static mb_status read_all(const char *path, char **out, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return mb_errorf(MB_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 1 << 20, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap) break;
        char *nb = cap < ((size_t)1 << 40) ? realloc(buf, cap * 2) : NULL;
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    int err = ferror(f);
    fclose(f);
    if (!buf) return mb_errorf(MB_ERR_NO_MEMORY, "%s: out of memory reading the corpus", path);
    if (err) {
        free(buf);
        return mb_errorf(MB_ERR_IO, "%s: read error", path);
    }
    *out = buf;
    *len = n;
    return MB_OK;
}

/* Tokenize the file PATH and append its tokens to d->tokens (grown). */
static mb_status append_file(mb_train_data *d, const mb_vocab *v, const char *path, size_t *n_out) {
    char *text = NULL;
    size_t len = 0, n = 0;
    mb_status st = read_all(path, &text, &len);
    if (st) return st;
    /* A token covers at least one byte, plus a possible space prefix. The
     * ids are int32 and windows are indexed by size_t: cap the corpus at
     * 2^31 tokens' worth of bytes. */
    size_t have = d->n_train + d->n_val;
    if (len > ((size_t)1 << 31) || have > ((size_t)1 << 31)) {
        st = mb_errorf(MB_ERR_INVALID_ARG, "%s: %zu bytes; the trainer takes at most 2 GiB", path,
                       len);
        goto done;
    }
    int32_t *grown = realloc(d->tokens, (have + len + 2) * sizeof *d->tokens);
    if (!grown) {
        st = mb_errorf(MB_ERR_NO_MEMORY, "%s: out of memory tokenizing", path);
        goto done;
    }
    d->tokens = grown;
    st = mb_vocab_tokenize(v, text, len, false, false, d->tokens + have, len + 2, &n);
    if (st) st = mb_error_prefix(st, "tokenizing %s: ", path);
    *n_out = n;
done:
    free(text);
    return st;
}

mb_status mb_train_data_load(mb_train_data *d, const char *corpus_path, const char *val_path,
                             const char *tokenizer_path, float val_split) {
    memset(d, 0, sizeof *d);
    if (!val_path && !(val_split >= 0 && val_split < 1))
        return mb_errorf(MB_ERR_INVALID_ARG, "--val-split %g must be in [0, 1)", val_split);
    mb_vocab *v = NULL;
    size_t n = 0, n_val = 0;
    mb_status st = open_vocab(tokenizer_path, &v);
    if (!st) st = append_file(d, v, corpus_path, &n);
    if (st) goto done;
    d->n_vocab = mb_vocab_n_tokens(v);
    if (val_path) {
        d->n_train = n;
        if ((st = append_file(d, v, val_path, &n_val))) goto done;
        d->n_val = n_val;
    } else {
        d->n_val = (size_t)((double)n * val_split);
        d->n_train = n - d->n_val;
    }
done:
    mb_vocab_free(v);
    if (st) mb_train_data_free(d);
    return st;
}

void mb_train_data_free(mb_train_data *d) {
    free(d->tokens);
    memset(d, 0, sizeof *d);
}
