/* The calibration pass: the float model runs chunk by chunk over the text
 * (chunks of n_ctx tokens, each from an empty cache and starting with BOS,
 * as perplexity does) with the forward pass's matmul observer set, and every
 * projection's input rows go to the caller's callback with the index of the
 * weight tensor (found by its data pointer). All logits are computed, so
 * output.weight sees every position, not just the last. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "model/forward.h"
#include "quantize/calib.h"

enum { CALIB_BATCH = 64 };

struct mb_calib {
    mb_model *model;
    mb_forward_state *fwd;
    mb_threadpool *pool;
    mb_token *ids; /* n_chunks * n_ctx */
    int n_ctx, n_chunks, n_threads;
    float *logits; /* [CALIB_BATCH][n_vocab] */
    mb_calib_fn fn;
    void *user;
    const mb_matrix *last_w; /* lookup cache */
    uint64_t last_index;
};

static mb_status read_text(const char *path, char **out, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return mb_errorf(MB_ERR_IO, "cannot open calibration text %s", path);
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap) break;
        char *nb = cap < ((size_t)1 << 40) ? realloc(buf, cap * 2) : NULL;
        if (!nb) free(buf);
        buf = nb;
        cap *= 2;
    }
    const int bad = ferror(f);
    fclose(f);
    if (!buf) return mb_errorf(MB_ERR_NO_MEMORY, "out of memory reading %s", path);
    if (bad) {
        free(buf);
        return mb_errorf(MB_ERR_IO, "cannot read calibration text %s", path);
    }
    *out = buf;
    *len = n;
    return MB_OK;
}

static mb_status tokenize_chunks(mb_calib *c, const char *text, size_t len, int want) {
    size_t n = 0;
    mb_status st = mb_tokenize(c->model, text, len, 1, 0, NULL, 0, &n);
    if (st && st != MB_ERR_INVALID_ARG) return st;
    mb_token *ids = malloc((n ? n : 1) * sizeof *ids);
    if (!ids) return mb_errorf(MB_ERR_NO_MEMORY, "out of memory for %zu tokens", n);
    st = mb_tokenize(c->model, text, len, 1, 0, ids, n, &n);
    if (st) {
        free(ids);
        return st;
    }
    c->n_chunks = (int)(n / (size_t)c->n_ctx);
    if (c->n_chunks > want) c->n_chunks = want;
    if (c->n_chunks < 1) {
        free(ids);
        return mb_errorf(MB_ERR_INVALID_ARG,
                         "the calibration text has %zu tokens, fewer than one chunk of %d", n,
                         c->n_ctx);
    }
    const mb_token bos = mb_token_bos(c->model);
    if (ids[0] == bos)
        for (int k = 0; k < c->n_chunks; k++)
            ids[(size_t)k * (size_t)c->n_ctx] = bos;
    c->ids = ids;
    return MB_OK;
}

mb_status mb_calib_open(const char *model_path, const char *text_path, const mb_calib_params *p,
                        mb_calib **out) {
    *out = NULL;
    mb_calib *c = calloc(1, sizeof *c);
    if (!c) return mb_errorf(MB_ERR_NO_MEMORY, "out of memory");
    mb_model_params mp = mb_model_default_params();
    mb_status st = mb_model_load(model_path, &mp, &c->model);
    if (st) {
        free(c);
        return mb_error_prefix(st, "calibration model %s", model_path);
    }
    const int trained = mb_model_n_ctx_train(c->model);
    c->n_ctx = p->n_ctx > 0 ? p->n_ctx : (trained > 0 && trained < 512 ? trained : 512);
    c->n_threads = p->n_threads > 0 ? p->n_threads : mb_physical_cores();
    char *text = NULL;
    size_t len = 0;
    st = read_text(text_path, &text, &len);
    if (!st) st = tokenize_chunks(c, text, len, p->n_chunks > 0 ? p->n_chunks : 32);
    free(text);
    if (!st) st = mb_threadpool_new(c->n_threads, &c->pool);
    if (!st) st = mb_forward_state_new(c->model, c->n_ctx, CALIB_BATCH, c->n_threads, 0, &c->fwd);
    const size_t n_logits = (size_t)CALIB_BATCH * (size_t)mb_model_n_vocab(c->model);
    if (!st && !(c->logits = malloc(n_logits * sizeof *c->logits)))
        st = mb_errorf(MB_ERR_NO_MEMORY, "out of memory for calibration logits");
    if (st) {
        mb_calib_close(c);
        return st;
    }
    *out = c;
    return MB_OK;
}

static void observe(void *user, const mb_matrix *w, const float *x, int n_rows) {
    mb_calib *c = user;
    if (w != c->last_w) {
        const mb_gguf *g = c->model->gguf;
        uint64_t i = 0;
        while (i < g->n_tensors && g->tensors[i].data != w->data)
            i++;
        if (i == g->n_tensors) return; /* not a tensor of the file */
        c->last_w = w;
        c->last_index = i;
    }
    c->fn(c->user, c->last_index, x, n_rows, (int)w->n_in);
}

mb_status mb_calib_run_logits(mb_calib *c, mb_calib_fn fn, mb_calib_logits_fn logits_fn,
                              void *user) {
    c->fn = fn;
    c->user = user;
    c->fwd->observe = fn ? observe : NULL;
    c->fwd->observe_user = c;
    mb_status st = MB_OK;
    for (int k = 0; !st && k < c->n_chunks; k++) {
        const mb_token *chunk = c->ids + (size_t)k * (size_t)c->n_ctx;
        for (int pos = 0; !st && pos < c->n_ctx; pos += CALIB_BATCH) {
            const int n = c->n_ctx - pos < CALIB_BATCH ? c->n_ctx - pos : CALIB_BATCH;
            st = mb_forward(c->fwd, c->pool, chunk + pos, n, pos, c->logits);
            if (!st && logits_fn) logits_fn(user, k, pos, n, c->logits);
        }
    }
    c->fwd->observe = NULL;
    return st ? mb_error_prefix(st, "calibration pass") : MB_OK;
}

mb_status mb_calib_run(mb_calib *c, mb_calib_fn fn, void *user) {
    return mb_calib_run_logits(c, fn, NULL, user);
}

mb_model *mb_calib_model(mb_calib *c) {
    return c->model;
}
mb_threadpool *mb_calib_pool(mb_calib *c) {
    return c->pool;
}
int mb_calib_n_chunks(const mb_calib *c) {
    return c->n_chunks;
}
int mb_calib_n_ctx(const mb_calib *c) {
    return c->n_ctx;
}

void mb_calib_close(mb_calib *c) {
    if (!c) return;
    mb_forward_state_free(c->fwd);
    mb_threadpool_free(c->pool);
    mb_model_free(c->model);
    free(c->ids);
    free(c->logits);
    free(c);
}
