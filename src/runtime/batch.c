/* Batched decoding: one token for each of several sessions in one pass
 * over the weights. Decoding a single token is a matrix-vector product per
 * weight matrix, bound by reading the weights from memory; with the rows of
 * N sessions stacked, each weight row is read once for all N (the kernels'
 * vec_dot_rows), so N tokens cost little more than one. Attention stays per
 * session, over its own KV cache and position.
 *
 * The layer loop mirrors mb_forward (src/model/forward.c) step for step;
 * the kernels give each row the same result as a single-row product, so a
 * session decoded in a batch gets the logits it would get alone. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "kernels/attention.h"
#include "kernels/kernels.h"
#include "model/forward.h"
#include "runtime/batch.h"
#include "runtime/session.h"

struct mb_batch {
    const mb_model *model;
    mb_threadpool *pool;
    int max, n_ctx, n_threads;
    /* Workspace of max rows: only the buffers, never a KV cache. */
    mb_forward_state ws;
    float *logits; /* [max][n_vocab] */
    int pos[256];
};

enum { BATCH_MAX = 256 };

static void *alloc_floats(size_t n, int *failed) {
    void *p = aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64);
    if (!p) *failed = 1;
    return p;
}

void mb_batch_free(mb_batch *b) {
    if (!b) return;
    mb_forward_state *w = &b->ws;
    free(w->x), free(w->xn), free(w->q), free(w->k), free(w->v), free(w->attn);
    free(w->gate), free(w->up), free(w->scores), free(w->act_in), free(w->act_mid);
    mb_moe_work_free(w->moe);
    free(b->logits);
    mb_threadpool_free(b->pool);
    free(b);
}

mb_status mb_batch_new(mb_model *model, int max_sessions, int n_ctx, int n_threads,
                       mb_batch **out) {
    *out = NULL;
    const mb_hparams *hp = &model->hp;
    if (max_sessions < 1 || max_sessions > BATCH_MAX || n_ctx < 1 || n_ctx > (1 << 24))
        return mb_errorf(MB_ERR_INVALID_ARG, "batch of %d sessions (1..%d), context %d",
                         max_sessions, BATCH_MAX, n_ctx);
    if (n_threads <= 0) n_threads = mb_physical_cores();
    mb_batch *b = calloc(1, sizeof *b);
    if (!b) return mb_errorf(MB_ERR_NO_MEMORY, "out of memory");
    b->model = model;
    b->max = max_sessions;
    b->n_ctx = n_ctx;
    b->n_threads = n_threads;
    mb_forward_state *w = &b->ws;
    w->model = model;
    w->n_ctx = n_ctx;
    w->n_batch = max_sessions;
    w->n_threads = n_threads;
    mb_status st = mb_rope_init(&w->rope, hp, model->rope_freqs);
    if (!st) st = mb_threadpool_new(n_threads, &b->pool);
    if (st) {
        mb_batch_free(b);
        return st;
    }
    size_t r = (size_t)max_sessions, q_dim = (size_t)hp->n_head * hp->head_dim;
    size_t kv_dim = (size_t)hp->n_head_kv * hp->head_dim;
    size_t mid = q_dim > (size_t)hp->n_ff ? q_dim : (size_t)hp->n_ff;
    int failed = 0;
    w->x = alloc_floats(r * hp->n_embd, &failed);
    w->xn = alloc_floats(r * hp->n_embd, &failed);
    w->q = alloc_floats(r * q_dim, &failed);
    w->k = alloc_floats(r * kv_dim, &failed);
    w->v = alloc_floats(r * kv_dim, &failed);
    w->attn = alloc_floats(r * q_dim, &failed);
    w->gate = alloc_floats(r * hp->n_ff, &failed);
    w->up = alloc_floats(r * hp->n_ff, &failed);
    w->scores = alloc_floats((size_t)n_threads * n_ctx, &failed);
    w->act_in = alloc_floats(r * hp->n_embd, &failed);
    w->act_mid = alloc_floats(r * mid, &failed);
    b->logits = alloc_floats(r * hp->n_vocab, &failed);
    if (!failed && hp->n_expert > 0)
        st = mb_moe_work_new(hp->n_expert, hp->n_expert_used, hp->n_embd, hp->n_ff, max_sessions,
                             n_threads, &w->moe);
    if (failed || st) {
        mb_batch_free(b);
        return st ? st
                  : mb_errorf(MB_ERR_NO_MEMORY, "out of memory for a batch of %d", max_sessions);
    }
    w->a_in = (mb_act){.act_type = MB_TYPE_COUNT, .data = w->act_in};
    w->a_mid = (mb_act){.act_type = MB_TYPE_COUNT, .data = w->act_mid};
    *out = b;
    return MB_OK;
}

static void project(mb_batch *b, const mb_matrix *m, mb_act *act, const float *x, int n, float *out,
                    int accumulate) {
    if (!mb_act_matches(act, m->type) || act->n_rows != n || act->n_in != m->n_in)
        mb_act_prepare(act, m->type, x, m->n_in, n);
    mb_matmul(b->pool, b->n_threads, m, act, out, m->n_out, accumulate);
}

typedef struct {
    mb_batch *b;
    mb_session *const *sessions;
    int layer, n;
} attn_job;

/* One (session, head) pair per work item. */
static void attention_worker(void *ctx, int ith, int nth) {
    const attn_job *j = ctx;
    mb_batch *b = j->b;
    const mb_hparams *hp = &b->model->hp;
    int hd = hp->head_dim, group = hp->n_head / hp->n_head_kv;
    int64_t kv_dim = (int64_t)hp->n_head_kv * hd;
    float scale = 1.0f / sqrtf((float)hd);
    long begin, end;
    mb_split_range((long)j->n * hp->n_head, ith, nth, &begin, &end);
    for (long item = begin; item < end; item++) {
        int t = (int)(item / hp->n_head), h = (int)(item % hp->n_head);
        const mb_forward_state *f = j->sessions[t]->fwd;
        const uint16_t *kc = f->k_cache + (size_t)j->layer * f->n_ctx * kv_dim;
        const uint16_t *vc = f->v_cache + (size_t)j->layer * f->n_ctx * kv_dim;
        const float *q = b->ws.q + (size_t)t * hp->n_head * hd + (size_t)h * hd;
        float *o = b->ws.attn + (size_t)t * hp->n_head * hd + (size_t)h * hd;
        mb_attention_head(q, kc + (h / group) * hd, vc + (h / group) * hd, kv_dim, b->pos[t] + 1,
                          hd, scale, b->ws.scores + (size_t)ith * b->n_ctx, o);
    }
}

static void add_bias(float *x, const float *bias, int n, int width) {
    for (int t = 0; t < n; t++)
        for (int i = 0; i < width; i++)
            x[(size_t)t * width + i] += bias[i];
}

static void attention_block(mb_batch *b, mb_session *const *ss, int il, int n) {
    mb_forward_state *w = &b->ws;
    const mb_hparams *hp = &b->model->hp;
    const mb_layer *l = &b->model->layers[il];
    int hd = hp->head_dim, kv_dim = hp->n_head_kv * hd;
    for (int t = 0; t < n; t++)
        mb_rmsnorm(w->xn + (size_t)t * hp->n_embd, w->x + (size_t)t * hp->n_embd, l->attn_norm,
                   hp->n_embd, hp->rms_eps);
    w->a_in.act_type = MB_TYPE_COUNT;
    project(b, &l->wq, &w->a_in, w->xn, n, w->q, 0);
    project(b, &l->wk, &w->a_in, w->xn, n, w->k, 0);
    project(b, &l->wv, &w->a_in, w->xn, n, w->v, 0);
    if (l->bq) add_bias(w->q, l->bq, n, hp->n_head * hd);
    if (l->bk) add_bias(w->k, l->bk, n, kv_dim);
    if (l->bv) add_bias(w->v, l->bv, n, kv_dim);
    for (int t = 0; t < n; t++) {
        const mb_forward_state *f = ss[t]->fwd;
        float *q = w->q + (size_t)t * hp->n_head * hd, *k = w->k + (size_t)t * kv_dim;
        mb_rope_apply(&w->rope, q, hp->n_head, hd, b->pos[t]);
        mb_rope_apply(&w->rope, k, hp->n_head_kv, hd, b->pos[t]);
        size_t at = ((size_t)il * f->n_ctx + (size_t)b->pos[t]) * kv_dim;
        const float *v = w->v + (size_t)t * kv_dim;
        for (int d = 0; d < kv_dim; d++) {
            f->k_cache[at + d] = mb_fp32_to_fp16(k[d]);
            f->v_cache[at + d] = mb_fp32_to_fp16(v[d]);
        }
    }
    attn_job job = {b, ss, il, n};
    long work = 0; /* as mb_forward: short attention is not worth waking threads for */
    for (int t = 0; t < n; t++)
        work += (long)hp->n_head * (b->pos[t] + 1);
    mb_threadpool_run(b->pool, work < 4096 ? 1 : b->n_threads, attention_worker, &job);
    w->a_mid.act_type = MB_TYPE_COUNT;
    project(b, &l->wo, &w->a_mid, w->attn, n, w->x, 1);
}

static void ffn_block(mb_batch *b, int il, int n) {
    mb_forward_state *w = &b->ws;
    const mb_hparams *hp = &b->model->hp;
    const mb_layer *l = &b->model->layers[il];
    for (int t = 0; t < n; t++)
        mb_rmsnorm(w->xn + (size_t)t * hp->n_embd, w->x + (size_t)t * hp->n_embd, l->ffn_norm,
                   hp->n_embd, hp->rms_eps);
    if (hp->n_expert > 0) {
        mb_moe_layer ml = {&l->gate_inp, l->gate_exps, l->up_exps, l->down_exps};
        mb_moe_forward(w->moe, b->pool, &ml, w->xn, n, w->x);
        return;
    }
    w->a_in.act_type = MB_TYPE_COUNT;
    project(b, &l->w_gate, &w->a_in, w->xn, n, w->gate, 0);
    project(b, &l->w_up, &w->a_in, w->xn, n, w->up, 0);
    mb_swiglu(w->gate, w->gate, w->up, (int64_t)n * hp->n_ff);
    w->a_mid.act_type = MB_TYPE_COUNT;
    project(b, &l->w_down, &w->a_mid, w->gate, n, w->x, 1);
}

static mb_status check_batch(const mb_batch *b, mb_session *const *ss, const mb_token *ids, int n) {
    if (n < 1 || n > b->max)
        return mb_errorf(MB_ERR_INVALID_ARG, "batch of %d sessions (1..%d)", n, b->max);
    for (int t = 0; t < n; t++) {
        const mb_session *s = ss[t];
        if (s->model != b->model)
            return mb_errorf(MB_ERR_INVALID_ARG, "session %d belongs to another model", t);
        if (s->fwd->n_ctx > b->n_ctx)
            return mb_errorf(MB_ERR_INVALID_ARG, "session %d has a context of %d; the batch %d", t,
                             s->fwd->n_ctx, b->n_ctx);
        if (s->n_past >= s->fwd->n_ctx)
            return mb_errorf(MB_ERR_CONTEXT_FULL, "session %d: all %d positions are used", t,
                             s->fwd->n_ctx);
        if (ids[t] < 0 || ids[t] >= b->model->hp.n_vocab)
            return mb_errorf(MB_ERR_INVALID_ARG, "token id %d is outside the vocabulary (0..%d)",
                             ids[t], b->model->hp.n_vocab - 1);
        for (int u = 0; u < t; u++)
            if (ss[u] == s) return mb_errorf(MB_ERR_INVALID_ARG, "session %d appears twice", t);
    }
    return MB_OK;
}

mb_status mb_batch_decode(mb_batch *b, mb_session *const *sessions, const mb_token *ids, int n) {
    mb_status st = check_batch(b, sessions, ids, n);
    if (st) return st;
    const mb_model *m = b->model;
    const mb_hparams *hp = &m->hp;
    for (int t = 0; t < n; t++)
        b->pos[t] = sessions[t]->n_past;
    mb_get_rows(&m->tok_embd, ids, n, b->ws.x);
    for (int il = 0; il < hp->n_layer; il++) {
        attention_block(b, sessions, il, n);
        ffn_block(b, il, n);
    }
    for (int t = 0; t < n; t++)
        mb_rmsnorm(b->ws.xn + (size_t)t * hp->n_embd, b->ws.x + (size_t)t * hp->n_embd,
                   m->output_norm, hp->n_embd, hp->rms_eps);
    b->ws.a_in.act_type = MB_TYPE_COUNT;
    project(b, &m->output, &b->ws.a_in, b->ws.xn, n, b->logits, 0);
    for (int t = 0; t < n; t++) {
        memcpy(sessions[t]->fwd->logits, b->logits + (size_t)t * hp->n_vocab,
               (size_t)hp->n_vocab * sizeof(float));
        sessions[t]->n_past++;
    }
    return MB_OK;
}

void mb_session_set_decode_hook(mb_session *s, mb_decode_hook hook, void *ctx) {
    s->decode_hook = hook;
    s->decode_ctx = ctx;
}
