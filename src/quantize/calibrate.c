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
#include "runtime/chunks.h"
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

typedef struct {
    const mb_calibrate_params *p;
    int n_chunks;
    const observer *o;
} progress;

/* After each chunk: the observer's first failure, else a progress line. */
static mb_status chunk_done(void *user, int c, int pos, int n, const mb_token *ids,
                            const float *logits) {
    progress *pr = user;
    if (pr->o->st) return pr->o->st;
    mb_progressf(pr->p->progress, pr->p->progress_user, "\rcalibrate: chunk %d/%d", c + 1,
                 pr->n_chunks);
    return MB_OK;
}

mb_calibrate_params mb_calibrate_default_params(void) {
    return (mb_calibrate_params){.n_ctx = 512};
}

mb_status mb_calibrate(mb_model *m, const char *text, size_t len, const mb_calibrate_params *p,
                       mb_imatrix *im) {
    const mb_calibrate_params defaults = mb_calibrate_default_params();
    if (!p) p = &defaults;
    const int n_ctx = p->n_ctx > 0 ? p->n_ctx : 512;
    mb_chunks ch;
    mb_status st =
        mb_chunks_make(m, text, len, n_ctx, p->n_chunks, n_ctx, "the calibration text", &ch);
    if (st) return st;
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
    progress pr = {.p = p, .n_chunks = ch.n_chunks, .o = &o};
    if (!st) st = mb_chunks_run(s, &ch, 0, NULL, chunk_done, &pr);
    mb_progressf(p->progress, p->progress_user, "\n");
    if (!st) {
        im->chunk_count += ch.n_chunks;
        im->chunk_size = n_ctx;
    }
    mb_session_free(s);
    mb_chunks_free(&ch);
    return st;
}
