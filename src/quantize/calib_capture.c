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
#include "model/model.h"
#include "tensor/types.h"
#include "quantize/calib.h"

/* Rows per forward call: with Q8_0 copies (q8) the packed kernels pay a
 * panel packing per call, so more rows, as far as the logits buffer stays
 * near 64 MiB. */
enum { CALIB_BATCH = 64, CALIB_BATCH_Q8 = 256 };

struct mb_calib {
    mb_model *model;
    mb_forward_state *fwd;
    mb_threadpool *pool;
    mb_token *ids; /* n_chunks * n_ctx */
    int n_ctx, n_chunks, n_threads;
    float *logits; /* [batch][n_vocab] */
    int batch;
    mb_calib_fn fn;
    void *user;
    const mb_matrix *last_w; /* lookup cache */
    uint64_t last_index;
    /* mb_calib_params.q8: the Q8_0 copies that replace float matrices */
    uint64_t *copy_of; /* tensor of each copy */
    uint8_t **copies;
    int n_copies;
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

/* The matrices of the forward pass, for the Q8_0 copies. */
static int dense_matrices(mb_model *m, mb_matrix **out, int cap) {
    int n = 0;
    if (n < cap) out[n++] = &m->tok_embd;
    if (n < cap) out[n++] = &m->output;
    for (int l = 0; l < m->hp.n_layer; l++) {
        mb_layer *L = &m->layers[l];
        mb_matrix *mats[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};
        for (size_t k = 0; k < sizeof mats / sizeof *mats && n < cap; k++)
            out[n++] = mats[k];
    }
    return n;
}

/* Replace every float matrix whose rows Q8_0 divides by a Q8_0 copy: the
 * packed 8-bit prefill kernels make a pass about ten times faster than F16
 * dots, for a difference far below what the callers measure. A tied
 * embedding (one tensor read as two matrices) gets one copy. */
static mb_status compact_q8(mb_calib *c) {
    mb_model *m = c->model;
    const int cap = 2 + 7 * m->hp.n_layer;
    mb_matrix **mats = malloc(sizeof *mats * (size_t)cap);
    c->copies = calloc((size_t)cap, sizeof *c->copies);
    c->copy_of = calloc((size_t)cap, sizeof *c->copy_of);
    if (!mats || !c->copies || !c->copy_of) {
        free(mats);
        return mb_errorf(MB_ERR_NO_MEMORY, "out of memory");
    }
    const int n = dense_matrices(m, mats, cap);
    const mb_type_traits *q8 = mb_type_get(MB_TYPE_Q8_0);
    mb_status st = MB_OK;
    for (int i = 0; i < n && !st; i++) {
        mb_matrix *w = mats[i];
        const mb_type_traits *tr = mb_type_get(w->type);
        if (!w->data || tr->is_quantized || w->n_in % q8->block_size != 0) continue;
        const uint8_t *orig = w->data;
        uint64_t t = 0;
        while (t < m->gguf->n_tensors && m->gguf->tensors[t].data != orig)
            t++;
        if (t == m->gguf->n_tensors) continue;
        uint64_t row = 0;
        mb_type_row_bytes(MB_TYPE_Q8_0, (uint64_t)w->n_in, &row);
        uint8_t *copy = malloc((size_t)row * (size_t)w->n_out);
        float *buf = malloc(sizeof *buf * (size_t)w->n_in);
        if (!copy || !buf) st = mb_errorf(MB_ERR_NO_MEMORY, "out of memory for Q8_0 copies");
        for (int64_t r = 0; !st && r < w->n_out; r++) {
            tr->to_float(orig + (size_t)r * w->row_bytes, buf, w->n_in);
            q8->from_float(buf, copy + (size_t)r * row, w->n_in);
        }
        free(buf);
        if (st) {
            free(copy);
            break;
        }
        c->copies[c->n_copies] = copy;
        c->copy_of[c->n_copies++] = t;
        for (int k = i; k < n; k++) /* every reader of the same bytes */
            if (mats[k]->data == orig) {
                mats[k]->data = copy;
                mats[k]->type = MB_TYPE_Q8_0;
                mats[k]->row_bytes = (size_t)row;
            }
    }
    free(mats);
    return st;
}

const uint8_t *mb_calib_weights(const mb_calib *c, uint64_t tensor) {
    for (int i = 0; i < c->n_copies; i++)
        if (c->copy_of[i] == tensor) return c->copies[i];
    return tensor < c->model->gguf->n_tensors ? c->model->gguf->tensors[tensor].data : NULL;
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
    if (!st && p->q8) st = compact_q8(c);
    if (!st) st = mb_threadpool_new(c->n_threads, &c->pool);
    c->batch = CALIB_BATCH;
    if (p->q8) {
        const size_t fit =
            ((size_t)64 << 20) / (sizeof(float) * (size_t)mb_model_n_vocab(c->model));
        c->batch = fit >= CALIB_BATCH_Q8 ? CALIB_BATCH_Q8
                   : fit > CALIB_BATCH   ? (int)fit
                                         : CALIB_BATCH;
    }
    if (!st) st = mb_forward_state_new(c->model, c->n_ctx, c->batch, c->n_threads, &c->fwd);
    const size_t n_logits = (size_t)c->batch * (size_t)mb_model_n_vocab(c->model);
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
        for (int k = 0; i == g->n_tensors && k < c->n_copies; k++)
            if (c->copies[k] == w->data) i = c->copy_of[k];
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
        for (int pos = 0; !st && pos < c->n_ctx; pos += c->batch) {
            const int n = c->n_ctx - pos < c->batch ? c->n_ctx - pos : c->batch;
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
const mb_token *mb_calib_tokens(const mb_calib *c) {
    return c->ids;
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
    for (int i = 0; i < c->n_copies; i++)
        free(c->copies[i]);
    free(c->copies);
    free(c->copy_of);
    free(c);
}
