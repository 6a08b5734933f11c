#include "model/forward.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "kernels/attention.h"
#include "kernels/kernels.h"
#include "model/fused.h"
#include "model/lora.h"
#include "model/stream.h"

int mb_forward_oldest_kept(const mb_forward_state *s) {
    int oldest = s->kv_lo;
    for (int il = 0; il < s->model->hp.n_layer; il++) {
        const int slots = mb_kv_slots(&s->kv, il);
        const int lost = s->kv_max_pos - slots + 1;
        if (slots < s->n_ctx && lost > oldest) oldest = lost;
    }
    return oldest;
}

/* Bytes aligned_alloc takes for N floats: whole 64-byte lines. */
static size_t float_bytes(size_t n) {
    return (n * sizeof(float) + 63) / 64 * 64;
}

static void *alloc_floats(size_t n, int *failed) {
    void *p = aligned_alloc(64, float_bytes(n));
    if (!p) *failed = 1;
    return p;
}

/* The floats of every buffer mb_forward_state_new allocates besides the KV
 * cache: one table that the allocation and the memory plan
 * (mb_forward_buffer_bytes, runtime/mem_plan.c) both read. */
typedef struct {
    size_t x, xn, q, k, v, attn, gate, up, scores, logits, act_in, act_mid, lora;
} buffer_floats;

static buffer_floats buffer_plan(const mb_hparams *hp, int n_ctx, int n_batch, int n_threads,
                                 int lora_rank) {
    size_t b = (size_t)n_batch, q_dim = (size_t)hp->n_head * hp->head_dim;
    size_t kv_dim = (size_t)hp->n_head_kv * hp->head_dim;
    size_t mid = q_dim > (size_t)hp->n_ff ? q_dim : (size_t)hp->n_ff;
    return (buffer_floats){
        .x = b * hp->n_embd,
        .xn = b * hp->n_embd,
        .q = b * q_dim,
        .k = b * kv_dim,
        .v = b * kv_dim,
        .attn = b * q_dim,
        .gate = b * hp->n_ff,
        .up = b * hp->n_ff,
        /* Attention scratch per thread: O(rows x head_dim), plus exact mode's
         * score store of O(rows x n_ctx) (none past MB_ATTN_SCORE_CAP). */
        .scores = (size_t)n_threads * mb_attention_work_floats(hp->head_dim, n_ctx),
        .logits = (size_t)hp->n_vocab,
        /* 4 bytes per value bounds every activation type (F32 is the widest). */
        .act_in = b * hp->n_embd,
        .act_mid = b * mid,
        .lora = lora_rank > 0 ? b * (size_t)lora_rank : 0,
    };
}

uint64_t mb_forward_act_floats(const mb_hparams *hp, int n_batch) {
    const buffer_floats f = buffer_plan(hp, 0, n_batch, 1, 0);
    return f.act_in + f.act_mid;
}

uint64_t mb_forward_buffer_bytes(const mb_hparams *hp, int n_ctx, int n_batch, int n_threads,
                                 int lora_rank) {
    const buffer_floats f = buffer_plan(hp, n_ctx, n_batch, n_threads, lora_rank);
    const size_t each[] = {f.x,  f.xn,     f.q,      f.k,      f.v,       f.attn, f.gate,
                           f.up, f.scores, f.logits, f.act_in, f.act_mid, f.lora};
    uint64_t total = 0;
    for (size_t i = 0; i < sizeof each / sizeof *each; i++)
        if (each[i]) total += float_bytes(each[i]);
    total +=
        (uint64_t)n_batch * (sizeof(mb_forward_state *) + sizeof(int)); /* row_cache, row_pos */
    /* The KV cache's tables (one page a side and layer; its rows are the KV's). */
    total += (uint64_t)hp->n_layer * (sizeof(mb_kv_layer) + 2 * sizeof(uint8_t *));
    if (hp->n_expert > 0)
        total +=
            mb_moe_work_bytes(hp->n_expert, hp->n_expert_used, hp->n_embd, hp->n_ff_exp, n_batch);
    return total;
}

static mb_status state_new(const mb_model *m, int n_ctx, int n_batch, int n_threads, int swa_full,
                           uint32_t type_k, uint32_t type_v, int paged, mb_forward_state **out);

mb_status mb_forward_state_new(const mb_model *m, int n_ctx, int n_batch, int n_threads,
                               int swa_full, uint32_t type_k, uint32_t type_v,
                               mb_forward_state **out) {
    return state_new(m, n_ctx, n_batch, n_threads, swa_full, type_k, type_v, 0, out);
}

mb_status mb_forward_state_new_paged(const mb_model *m, int n_ctx, int n_batch, int n_threads,
                                     uint32_t type_k, uint32_t type_v, mb_forward_state **out) {
    return state_new(m, n_ctx, n_batch, n_threads, 1, type_k, type_v, 1, out);
}

mb_status mb_forward_kv_prepare(mb_forward_state *s, int pos, int n) {
    return s->kv_prepare ? s->kv_prepare(s->kv_prepare_user, pos, n) : MB_OK;
}

static mb_status state_new(const mb_model *m, int n_ctx, int n_batch, int n_threads, int swa_full,
                           uint32_t type_k, uint32_t type_v, int paged, mb_forward_state **out) {
    *out = NULL;
    const mb_hparams *hp = &m->hp;
    mb_forward_state *s = calloc(1, sizeof *s);
    if (!s) return mb_errorf(MB_ERR_NO_MEMORY, "out of memory");
    s->model = m;
    s->n_ctx = n_ctx;
    s->n_batch = n_batch;
    s->n_threads = n_threads;
    s->swa_full = swa_full;
    s->kv_max_pos = -1;
    /* Phi-3's LongRoPE: the long factors when the context goes past the
     * original one, as the reference chooses them (per context, not per
     * position), with their cos/sin scale. */
    const float *factors = m->rope_freqs;
    float mscale = 1.0f;
    if (m->rope_factors_long) {
        factors = n_ctx > hp->yarn_orig_ctx ? m->rope_factors_long : m->rope_factors_short;
        mscale = hp->rope_attn_factor;
    }
    mb_status st = mb_rope_init_ex(&s->rope, hp, factors, mscale, 0);
    if (!st) st = mb_rope_init_ex(&s->rope_swa, hp, factors, mscale, 1);
    if (!st)
        st = paged ? mb_kv_cache_init_paged(&s->kv, hp, n_ctx, type_k, type_v)
                   : mb_kv_cache_init(&s->kv, hp, n_ctx, n_batch, swa_full, type_k, type_v);
    if (st) {
        free(s);
        return st;
    }
    size_t b = (size_t)n_batch;
    const buffer_floats f =
        buffer_plan(hp, n_ctx, n_batch, n_threads, m->lora ? m->lora->max_rank : 0);
    int failed = 0;
    s->row_cache = calloc(b, sizeof *s->row_cache);
    s->row_pos = calloc(b, sizeof *s->row_pos);
    failed |= !s->row_cache || !s->row_pos;
    s->x = alloc_floats(f.x, &failed);
    s->xn = alloc_floats(f.xn, &failed);
    s->q = alloc_floats(f.q, &failed);
    s->k = alloc_floats(f.k, &failed);
    s->v = alloc_floats(f.v, &failed);
    s->attn = alloc_floats(f.attn, &failed);
    s->gate = alloc_floats(f.gate, &failed);
    s->up = alloc_floats(f.up, &failed);
    s->scores = alloc_floats(f.scores, &failed);
    s->logits = alloc_floats(f.logits, &failed);
    s->act_in = alloc_floats(f.act_in, &failed);
    s->act_mid = alloc_floats(f.act_mid, &failed);
    if (f.lora) s->lora_tmp = alloc_floats(f.lora, &failed);
    if (!failed && hp->n_expert > 0 &&
        (st = mb_moe_work_new(hp->n_expert, hp->n_expert_used, hp->n_embd, hp->n_ff_exp, n_batch,
                              n_threads, &s->moe))) {
        mb_forward_state_free(s);
        return st;
    }
    if (failed) {
        mb_forward_state_free(s);
        return mb_errorf(MB_ERR_NO_MEMORY, "cannot allocate the forward pass's buffers");
    }
    s->a_in = (mb_act){.act_type = MB_TYPE_COUNT, .data = s->act_in};
    s->a_mid = (mb_act){.act_type = MB_TYPE_COUNT, .data = s->act_mid};
    *out = s;
    return MB_OK;
}

void mb_forward_state_free(mb_forward_state *s) {
    if (!s) return;
    mb_kv_cache_free(&s->kv);
    free(s->x);
    free(s->xn);
    free(s->q);
    free(s->k);
    free(s->v);
    free(s->attn);
    free(s->gate);
    free(s->up);
    free(s->scores);
    free(s->logits);
    free(s->act_in);
    free(s->act_mid);
    free(s->lora_tmp);
    free(s->row_cache);
    free(s->row_pos);
    mb_moe_work_free(s->moe);
    free(s);
}

/* Project the rows of ACT (converted lazily: reused while the weight types
 * agree) through W into OUT. */
static void project(mb_forward_state *s, mb_threadpool *pool, const mb_matrix *w, mb_act *act,
                    const float *x, int n, float *out, int accumulate) {
    if (s->observe) s->observe(s->observe_user, w, x, n);
    if (!mb_act_matches(act, w->type) || act->n_rows != n || act->n_in != w->n_in)
        mb_act_prepare(act, w->type, x, w->n_in, n);
    mb_matmul(pool, s->n_threads, w, act, out, w->n_out, accumulate);
    /* A LoRA adapter adds scale B (A x) in float32 from the same float rows. */
    const mb_lora_weight *lw = s->lora_tmp ? mb_lora_find(s->model->lora, w) : NULL;
    if (lw) mb_lora_apply(lw, x, n, out, s->lora_tmp);
}

typedef struct {
    mb_forward_state *s;
    int layer, n;
    int hs, tb;           /* query heads and tokens per work item */
    int n_hsplit, n_tblk; /* head subsets per KV head, token blocks */
} attn_job;

/* A work item is (token block, KV head, subset of its query heads): all its
 * rows go through each K/V tile together, so a tile is read once per item.
 * Items are dealt round-robin: causal rows late in the prompt cost more, and
 * striding spreads them over the tasks. */
static void attention_worker(void *ctx, int ith, int nth) {
    const attn_job *j = ctx;
    mb_forward_state *s = j->s;
    const mb_hparams *hp = &s->model->hp;
    const int hd = hp->head_dim, group = hp->n_head / hp->n_head_kv;
    const int64_t q_dim = (int64_t)hp->n_head * hd;
    const int window = hp->swa_layer[j->layer] ? hp->sliding_window : 0;
    float *work = s->scores + (size_t)ith * mb_attention_work_floats(hd, s->n_ctx);
    const float *q[MB_ATTN_MAX_ROWS];
    float *o[MB_ATTN_MAX_ROWS];
    int len[MB_ATTN_MAX_ROWS], start[MB_ATTN_MAX_ROWS];
    const long n_items = (long)j->n_tblk * hp->n_head_kv * j->n_hsplit;
    for (long item = ith; item < n_items; item += nth) {
        const int hsi = (int)(item % j->n_hsplit);
        const int kvh = (int)(item / j->n_hsplit % hp->n_head_kv);
        const int tbi = (int)(item / j->n_hsplit / hp->n_head_kv);
        const int h0 = kvh * group + hsi * j->hs,
                  h1 = h0 + j->hs < (kvh + 1) * group ? h0 + j->hs : (kvh + 1) * group;
        int nr = 0;
        for (int t = tbi * j->tb; t < j->n && t < (tbi + 1) * j->tb; t++)
            for (int h = h0; h < h1; h++, nr++) {
                q[nr] = s->q + (size_t)t * q_dim + (size_t)h * hd;
                o[nr] = s->attn + (size_t)t * q_dim + (size_t)h * hd;
                len[nr] = s->row_pos[t] + 1;
                /* A window of W: the last W positions, its own included. */
                start[nr] = window && len[nr] > window ? len[nr] - window : 0;
            }
        /* A token block shares one cache (rows_share_cache, or tb == 1). */
        const mb_forward_state *c = s->row_cache[tbi * j->tb];
        mb_attn_rows a = {.mode = mb_attention_mode(),
                          .hd = hd,
                          .n_rows = nr,
                          .q = q,
                          .out = o,
                          .len = len,
                          .start = window ? start : NULL,
                          .k = mb_kv_attn(&c->kv, j->layer, MB_KV_K, kvh),
                          .v = mb_kv_attn(&c->kv, j->layer, MB_KV_V, kvh),
                          .scale = hp->q_prescale ? 1.0f : hp->attn_scale,
                          .softcap = hp->attn_softcap,
                          .work_ctx = s->n_ctx,
                          .group = group};
        mb_attention_rows(NULL, &a, work);
    }
}

/* Rows per item: a whole GQA group and as many tokens as fit (one token
 * when the rows live in different caches); when that leaves fewer items than
 * threads (decode with few KV heads), the group is split instead. */
static void attention_plan(attn_job *j, const mb_hparams *hp, int n_threads, int share_cache) {
    const int group = hp->n_head / hp->n_head_kv;
    j->hs = group < MB_ATTN_MAX_ROWS ? group : MB_ATTN_MAX_ROWS;
    j->tb = share_cache ? MB_ATTN_MAX_ROWS / j->hs : 1;
    j->n_tblk = (j->n + j->tb - 1) / j->tb;
    const int per_head = j->n_tblk * hp->n_head_kv;
    int n_split = (group + j->hs - 1) / j->hs;
    if (per_head * n_split < n_threads) {
        n_split = (n_threads + per_head - 1) / per_head;
        if (n_split > group) n_split = group;
        j->hs = (group + n_split - 1) / n_split;
    }
    j->n_hsplit = (group + j->hs - 1) / j->hs;
}

/* Projection biases (qwen2) are added after the product, before RoPE. */
static void add_bias(float *x, const float *bias, int n, int width) {
    for (int t = 0; t < n; t++)
        for (int i = 0; i < width; i++)
            x[(size_t)t * width + i] += bias[i];
}

/* x[t] += rmsnorm(y[t]) * w: Gemma's norms after attention and the FFN. */
static void add_normed(float *x, float *y, const float *w, int n, int n_embd, float eps) {
    for (int t = 0; t < n; t++) {
        float *yt = y + (size_t)t * n_embd, *xt = x + (size_t)t * n_embd;
        mb_rmsnorm(yt, yt, w, n_embd, eps);
        for (int i = 0; i < n_embd; i++)
            xt[i] += yt[i];
    }
}

/* Project the rows of X through the N_PARTS matrices W (same n_in) into
 * OUTS: for one row whose conversion all of them can read, one pool job for
 * all of them (mb_matmul_parts); else one project each. */
static void project_parts(mb_forward_state *s, mb_threadpool *pool, const mb_matrix *const *w,
                          float *const *outs, int n_parts, mb_act *act, const float *x, int n) {
    int shared = n == 1;
    for (int p = 1; p < n_parts && shared; p++)
        shared = w[p]->n_in == w[0]->n_in &&
                 mb_kernels()->dot[w[p]->type].act_type == mb_kernels()->dot[w[0]->type].act_type;
    if (!shared) {
        for (int p = 0; p < n_parts; p++)
            project(s, pool, w[p], act, x, n, outs[p], 0);
        return;
    }
    mb_matmul_part parts[4];
    for (int p = 0; p < n_parts; p++) {
        if (s->observe) s->observe(s->observe_user, w[p], x, n);
        parts[p] = (mb_matmul_part){w[p], outs[p]};
    }
    if (!mb_act_matches(act, w[0]->type) || act->n_rows != n || act->n_in != w[0]->n_in)
        mb_act_prepare(act, w[0]->type, x, w[0]->n_in, n);
    mb_matmul_parts(pool, s->n_threads, parts, n_parts, act);
    for (int p = 0; p < n_parts && s->lora_tmp; p++) {
        const mb_lora_weight *lw = mb_lora_find(s->model->lora, w[p]);
        if (lw) mb_lora_apply(lw, x, n, outs[p], s->lora_tmp);
    }
}

static void attention_block(mb_forward_state *s, mb_threadpool *pool, const mb_layer *l, int il,
                            int n) {
    const mb_model *m = s->model;
    const mb_hparams *hp = &m->hp;
    int hd = hp->head_dim, kv_dim = hp->n_head_kv * hd;
    mb_fused_norm_quant(pool, s->n_threads, s->x, s->xn, l->attn_norm, n, hp->n_embd, hp->rms_eps,
                        &s->a_in, l->wq.type);
    const mb_matrix *qkv[] = {&l->wq, &l->wk, &l->wv};
    float *const qkv_out[] = {s->q, s->k, s->v};
    project_parts(s, pool, qkv, qkv_out, 3, &s->a_in, s->xn, n);
    if (l->bq) add_bias(s->q, l->bq, n, hp->n_head * hd);
    if (l->bk) add_bias(s->k, l->bk, n, kv_dim);
    if (l->bv) add_bias(s->v, l->bv, n, kv_dim);
    /* Q/K head norms, RoPE, then K and V into the cache: one call for
     * consecutive positions of one cache, else one per row. */
    for (int t = 0; t < n; t += s->rows_share_cache ? n : 1) {
        const mb_forward_state *c = s->row_cache[t];
        const int rows = s->rows_share_cache ? n : 1;
        mb_fused_rope_store rs = {.rope = hp->swa_layer[il] ? &s->rope_swa : &s->rope,
                                  .q = s->q + (size_t)t * hp->n_head * hd,
                                  .k = s->k + (size_t)t * kv_dim,
                                  .v = s->v + (size_t)t * kv_dim,
                                  .kv = &c->kv,
                                  .layer = il,
                                  .q_norm = l->q_norm,
                                  .k_norm = l->k_norm,
                                  .eps = hp->rms_eps,
                                  .q_scale = hp->q_prescale ? hp->attn_scale : 1.0f,
                                  .n = rows,
                                  .pos = s->row_pos[t],
                                  .n_head = hp->n_head,
                                  .n_head_kv = hp->n_head_kv,
                                  .hd = hd};
        mb_fused_rope_kv(pool, s->n_threads, &rs);
    }
    attn_job job = {.s = s, .layer = il, .n = n};
    attention_plan(&job, hp, s->n_threads, s->rows_share_cache);
    long work = 0; /* scores to compute: short attention is not worth waking threads */
    for (int t = 0; t < n; t++)
        work += (long)hp->n_head * (s->row_pos[t] + 1);
    mb_threadpool_run(pool, work < 4096 ? 1 : s->n_threads, attention_worker, &job);
    s->a_mid.act_type = MB_TYPE_COUNT;
    if (!l->post_attn_norm) {
        project(s, pool, &l->wo, &s->a_mid, s->attn, n, s->x, 1);
        return;
    }
    /* Gemma: the output is normed before the residual add (xn is free now). */
    project(s, pool, &l->wo, &s->a_mid, s->attn, n, s->xn, 0);
    add_normed(s->x, s->xn, l->post_attn_norm, n, hp->n_embd, hp->rms_eps);
}

static mb_status ffn_block(mb_forward_state *s, mb_threadpool *pool, const mb_layer *l, int il,
                           int n) {
    const mb_hparams *hp = &s->model->hp;
    const int moe = hp->n_expert > 0;
    mb_fused_norm_quant(pool, s->n_threads, s->x, s->xn, l->ffn_norm, n, hp->n_embd, hp->rms_eps,
                        moe ? NULL : &s->a_in, l->w_gate.type);
    if (moe) {
        mb_moe_layer ml = {
            .gate_inp = &l->gate_inp, .gate = l->gate_exps, .up = l->up_exps, .down = l->down_exps};
        /* Under a budget, experts come from the stream's cache on demand. */
        if (s->model->stream)
            ml = (mb_moe_layer){.gate_inp = &l->gate_inp,
                                .fetch = mb_stream_expert,
                                .fetch_ctx = s->model->stream,
                                .layer = il};
        return mb_moe_forward(s->moe, pool, &ml, s->xn, n, s->x);
    }
    const mb_matrix *gate_up[] = {&l->w_gate, &l->w_up};
    float *const gate_up_out[] = {s->gate, s->up};
    project_parts(s, pool, gate_up, gate_up_out, 2, &s->a_in, s->xn, n);
    mb_fused_glu_quant(pool, s->n_threads, s->gate, s->up, n, hp->n_ff, hp->ffn_act, &s->a_mid,
                       l->w_down.type);
    /* accumulate = 1: the residual add is folded into the down projection
     * (and into wo's above), no separate pass over x. */
    if (!l->post_ffn_norm) {
        project(s, pool, &l->w_down, &s->a_mid, s->gate, n, s->x, 1);
        return MB_OK;
    }
    project(s, pool, &l->w_down, &s->a_mid, s->gate, n, s->xn, 0);
    add_normed(s->x, s->xn, l->post_ffn_norm, n, hp->n_embd, hp->rms_eps);
    return MB_OK;
}

/* Gemma 2's final-logit cap: c tanh(x / c); CAP 0: none. */
static void softcap(float *x, size_t n, float cap) {
    if (cap <= 0) return;
    for (size_t i = 0; i < n; i++)
        x[i] = cap * tanhf(x[i] / cap);
}

/* One layer; under a budget its weights come from the stream (ready, or
 * waited for) and go back to it after. */
static mb_status run_layer(mb_forward_state *s, mb_threadpool *pool, int il, int n) {
    mb_stream *stream = s->model->stream;
    const mb_layer *l = &s->model->layers[il];
    mb_status st = stream ? mb_stream_layer(stream, il, &l) : MB_OK;
    if (st) return st;
    attention_block(s, pool, l, il, n);
    st = ffn_block(s, pool, l, il, n);
    if (stream) mb_stream_release(stream, il);
    return st;
}

/* The layers and the output norm of rows already bound to their caches
 * (row_cache, row_pos, rows_share_cache); logits of every row to ALL_LOGITS,
 * or of the last row to s->logits. MB_ERR_ABORTED, having written no
 * logits, when the abort callback stops it between two layers; a streamed
 * weight's read error stops it the same way. */
static mb_status run_rows(mb_forward_state *s, mb_threadpool *pool, const mb_token *tokens, int n,
                          float *all_logits) {
    const mb_model *m = s->model;
    const mb_hparams *hp = &m->hp;
    /* The highest position each cache will hold (a ring's oldest follows). */
    for (int t = 0; t < n; t++)
        if (s->row_pos[t] > s->row_cache[t]->kv_max_pos)
            s->row_cache[t]->kv_max_pos = s->row_pos[t];
    mb_status st = MB_OK;
    if (m->stream)
        st = mb_stream_embed(m->stream, tokens, n, s->x);
    else
        mb_get_rows(&m->tok_embd, tokens, n, s->x);
    if (st) return st;
    if (hp->embd_scale != 1.0f)
        for (size_t i = 0; i < (size_t)n * hp->n_embd; i++)
            s->x[i] *= hp->embd_scale;
    for (int il = 0; il < hp->n_layer; il++) {
        if (s->abort_fn && s->abort_fn(s->abort_user))
            return mb_errorf(MB_ERR_ABORTED, "aborted by the abort callback");
        if ((st = run_layer(s, pool, il, n))) return st;
    }
    if (s->hidden_only) {
        /* Embeddings read the normed hidden states; the output projection,
         * the largest matrix of a small model, is skipped. */
        for (int t = 0; t < n; t++)
            mb_rmsnorm(s->xn + (size_t)t * hp->n_embd, s->x + (size_t)t * hp->n_embd,
                       m->output_norm, hp->n_embd, hp->rms_eps);
        return MB_OK;
    }
    int n_vocab = hp->n_vocab;
    if (all_logits) {
        /* Perplexity, evaluation and batched decoding want every row's
         * distribution. */
        for (int t = 0; t < n; t++)
            mb_rmsnorm(s->xn + (size_t)t * hp->n_embd, s->x + (size_t)t * hp->n_embd,
                       m->output_norm, hp->n_embd, hp->rms_eps);
        s->a_in.act_type = MB_TYPE_COUNT;
        project(s, pool, &m->output, &s->a_in, s->xn, n, all_logits, 0);
        softcap(all_logits, (size_t)n * n_vocab, hp->final_softcap);
        memcpy(s->logits, all_logits + (size_t)(n - 1) * n_vocab, (size_t)n_vocab * sizeof(float));
        return MB_OK;
    }
    /* Only the last position's logits are needed to continue. */
    const float *last = s->x + (size_t)(n - 1) * hp->n_embd;
    mb_rmsnorm(s->xn, last, m->output_norm, hp->n_embd, hp->rms_eps);
    s->a_in.act_type = MB_TYPE_COUNT;
    project(s, pool, &m->output, &s->a_in, s->xn, 1, s->logits, 0);
    softcap(s->logits, (size_t)n_vocab, hp->final_softcap);
    return MB_OK;
}

/* One pass at a time over a streamed model's ring (model/stream.h). */
static mb_status run_locked(mb_forward_state *s, mb_threadpool *pool, const mb_token *tokens, int n,
                            float *all_logits) {
    mb_stream *stream = s->model->stream;
    if (stream) mb_stream_pass_begin(stream);
    mb_status st = run_rows(s, pool, tokens, n, all_logits);
    if (stream) mb_stream_pass_end(stream);
    return st;
}

mb_status mb_forward(mb_forward_state *s, mb_threadpool *pool, const mb_token *tokens, int n,
                     int pos, float *all_logits) {
    const mb_hparams *hp = &s->model->hp;
    if (n <= 0 || n > s->n_batch)
        return mb_errorf(MB_ERR_INVALID_ARG, "batch of %d tokens (max %d)", n, s->n_batch);
    if (pos < 0 || pos + n > s->n_ctx)
        return mb_errorf(MB_ERR_CONTEXT_FULL, "positions %d..%d exceed the context of %d", pos,
                         pos + n - 1, s->n_ctx);
    for (int t = 0; t < n; t++)
        if (tokens[t] < 0 || tokens[t] >= hp->n_vocab)
            return mb_errorf(MB_ERR_INVALID_ARG, "token id %d is outside the vocabulary (0..%d)",
                             tokens[t], hp->n_vocab - 1);
    mb_status st = mb_forward_kv_prepare(s, pos, n);
    if (st) return st;
    for (int t = 0; t < n; t++) {
        s->row_cache[t] = s;
        s->row_pos[t] = pos + t;
    }
    s->rows_share_cache = 1;
    return run_locked(s, pool, tokens, n, all_logits);
}

mb_status mb_forward_rows(mb_forward_state *ws, mb_threadpool *pool, const mb_token *tokens, int n,
                          mb_forward_state *const *caches, const int *pos, float *all_logits) {
    for (int t = 0; t < n; t++) {
        ws->row_cache[t] = caches[t];
        ws->row_pos[t] = pos[t];
    }
    ws->rows_share_cache = 0;
    return run_locked(ws, pool, tokens, n, all_logits); /* ws has no abort callback */
}
