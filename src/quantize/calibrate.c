/* matchbox calibrate: run a model over a text in chunks, as perplexity does
 * (each chunk from an empty cache, first token BOS), and accumulate the
 * inputs of every dense matrix product of the blocks into an importance
 * matrix. The forward pass hands each product's float input rows to the
 * observer before it runs (model/forward.h); the weight's data pointer
 * names the tensor. As llama.cpp does, only blk.* matrices are kept (the
 * output matrix is always quantized at high precision). */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "model/model.h"
#include "quantize/imatrix.h"
#include "quantize/progress.h"
#include "runtime/session.h"

typedef struct {
    const mb_gguf *g;
    mb_imatrix *im;
    mb_status st; /* the first failure, reported after the chunk */
} observer;

static void observe(void *user, const mb_matrix *w, const float *x, int n_rows) {
    observer *o = user;
    if (o->st) return;
    for (uint64_t i = 0; i < o->g->n_tensors; i++) {
        const mb_gguf_tensor *t = &o->g->tensors[i];
        if (t->data != w->data) continue;
        if (strncmp(t->name, "blk.", 4) != 0) return;
        mb_imatrix_entry *e = NULL;
        o->st = mb_imatrix_get(o->im, t->name, (int)w->n_in, 1, &e);
        if (!o->st) mb_imatrix_accumulate(e, 0, x, n_rows);
        return;
    }
}

mb_calibrate_params mb_calibrate_default_params(void) {
    return (mb_calibrate_params){.n_ctx = 512};
}

mb_status mb_calibrate(mb_model *m, const char *text, size_t len, const mb_calibrate_params *p,
                       mb_imatrix *im) {
    const mb_calibrate_params defaults = mb_calibrate_default_params();
    if (!p) p = &defaults;
    const int n_ctx = p->n_ctx > 0 ? p->n_ctx : 512;
    if (len == 0) return mb_errorf(MB_ERR_INVALID_ARG, "the calibration text is empty");
    size_t need = 0;
    mb_tokenize(m, text, len, 1, 0, NULL, 0, &need);
    if (need > (size_t)INT32_MAX)
        return mb_errorf(MB_ERR_INVALID_ARG, "the calibration text has too many tokens (%zu)",
                         need);
    if (need < (size_t)n_ctx)
        return mb_errorf(MB_ERR_INVALID_ARG,
                         "the calibration text has %zu tokens; one chunk of --ctx %d needs more",
                         need, n_ctx);
    mb_token *ids = malloc(need * sizeof *ids);
    if (!ids) return mb_errorf(MB_ERR_NO_MEMORY, "out of memory for %zu tokens", need);
    mb_status st = mb_tokenize(m, text, len, 1, 0, ids, need, &need);
    int n_chunks = (int)(need / (size_t)n_ctx);
    if (p->n_chunks > 0 && p->n_chunks < n_chunks) n_chunks = p->n_chunks;
    const mb_token bos = mb_token_bos(m);
    const int has_bos = ids[0] == bos;
    mb_session *s = NULL;
    mb_session_params sp = mb_session_default_params();
    sp.n_ctx = n_ctx;
    sp.n_threads = p->n_threads;
    if (!st) st = mb_session_new(m, &sp, &s);
    observer o = {.g = m->gguf, .im = im};
    if (!st) {
        s->fwd->observe = observe;
        s->fwd->observe_user = &o;
    }
    for (int c = 0; !st && c < n_chunks; c++) {
        mb_token *chunk = ids + (size_t)c * (size_t)n_ctx;
        if (has_bos) chunk[0] = bos;
        st = mb_session_rewind(s, 0);
        if (!st) st = mb_session_eval(s, chunk, (size_t)n_ctx);
        if (!st) st = o.st;
        if (!st)
            mb_progressf(p->progress, p->progress_user, "\rcalibrate: chunk %d/%d", c + 1,
                         n_chunks);
    }
    mb_progressf(p->progress, p->progress_user, "\n");
    if (!st) {
        im->chunk_count += n_chunks;
        im->chunk_size = n_ctx;
    }
    mb_session_free(s);
    free(ids);
    return st;
}
