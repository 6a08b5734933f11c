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
#include "runtime/chunks.h"
#include "runtime/session.h"

enum { CALIB_BATCH = 64 };

struct mb_calib {
    mb_model *model;
    mb_session *s;
    mb_chunks chunks;
    int n_ctx, n_threads;
    float *logits; /* [CALIB_BATCH][n_vocab] */
    mb_calib_logits_fn logits_fn;
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
    if (!st)
        st = mb_chunks_make(c->model, text, len, c->n_ctx, p->n_chunks > 0 ? p->n_chunks : 32,
                            c->n_ctx, "the calibration text", &c->chunks);
    free(text);
    mb_session_params sp = mb_session_default_params();
    sp.n_ctx = c->n_ctx;
    sp.n_threads = c->n_threads;
    if (!st) st = mb_session_new(c->model, &sp, &c->s);
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

static mb_status piece_done(void *user, int chunk, int pos, int n, const mb_token *ids,
                            const float *logits) {
    mb_calib *c = user;
    if (c->logits_fn) c->logits_fn(c->user, chunk, pos, n, logits);
    return MB_OK;
}

mb_status mb_calib_run_logits(mb_calib *c, mb_calib_fn fn, mb_calib_logits_fn logits_fn,
                              void *user) {
    c->fn = fn;
    c->user = user;
    c->logits_fn = logits_fn;
    mb_forward_state *fwd = c->s->fwd;
    fwd->observe = fn ? observe : NULL;
    fwd->observe_user = c;
    /* Every position's logits, so that output.weight sees them all. */
    mb_status st = mb_chunks_run(c->s, &c->chunks, CALIB_BATCH, c->logits, piece_done, c);
    fwd->observe = NULL;
    return st ? mb_error_prefix(st, "calibration pass") : MB_OK;
}

mb_status mb_calib_run(mb_calib *c, mb_calib_fn fn, void *user) {
    return mb_calib_run_logits(c, fn, NULL, user);
}

mb_model *mb_calib_model(mb_calib *c) {
    return c->model;
}
mb_threadpool *mb_calib_pool(mb_calib *c) {
    return c->s->pool;
}
int mb_calib_n_chunks(const mb_calib *c) {
    return c->chunks.n_chunks;
}
int mb_calib_n_ctx(const mb_calib *c) {
    return c->n_ctx;
}

void mb_calib_close(mb_calib *c) {
    if (!c) return;
    mb_session_free(c->s);
    mb_model_free(c->model);
    mb_chunks_free(&c->chunks);
    free(c->logits);
    free(c);
}
