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

/* Ring margin past the window and one batch. */
enum { KV_RING_SPARE = 16 };

int mb_kv_layer_slots(const mb_hparams *hp, int il, int n_ctx, int n_batch, int swa_full) {
    if (swa_full || hp->sliding_window <= 0 || !hp->swa_layer[il]) return n_ctx;
    const int64_t ring = (int64_t)hp->sliding_window + n_batch + KV_RING_SPARE;
    return ring < n_ctx ? (int)ring : n_ctx;
}

uint64_t mb_kv_cache_bytes(const mb_hparams *hp, int n_ctx, int n_batch, int swa_full) {
    uint64_t slots = 0;
    for (int il = 0; il < hp->n_layer; il++)
        slots += (uint64_t)mb_kv_layer_slots(hp, il, n_ctx, n_batch, swa_full);
    return 2ull * slots * (uint64_t)hp->n_head_kv * (uint64_t)hp->head_dim * sizeof(uint16_t);
}

void mb_kv_describe(const mb_hparams *hp, int n_ctx, int n_batch, int swa_full, char *buf,
                    size_t cap) {
    const uint64_t per_slot = 2ull * (uint64_t)hp->n_head_kv * hp->head_dim * sizeof(uint16_t);
    const uint64_t total = mb_kv_cache_bytes(hp, n_ctx, n_batch, swa_full);
    const int n_swa = hp->sliding_window > 0 ? mb_hparams_n_swa_layers(hp) : 0;
    int ring = n_ctx;
    for (int il = 0; il < hp->n_layer; il++)
        if (hp->sliding_window > 0 && hp->swa_layer[il])
            ring = mb_kv_layer_slots(hp, il, n_ctx, n_batch, swa_full);
    const double mib = 1.0 / (1 << 20);
    if (n_swa == 0) {
        snprintf(buf, cap, "KV cache: %d positions x %d layers, %.2f MiB (F16)", n_ctx, hp->n_layer,
                 (double)total * mib);
        return;
    }
    const uint64_t full = per_slot * (uint64_t)n_ctx * (uint64_t)hp->n_layer;
    snprintf(buf, cap,
             "KV cache: %d positions; %d full layers x %d slots (%.2f MiB), %d windowed layers "
             "(window %d) x %d slots%s (%.2f MiB); %.2f MiB (F16), %.1f%% of full attention's "
             "%.2f MiB",
             n_ctx, hp->n_layer - n_swa, n_ctx,
             (double)per_slot * n_ctx * (hp->n_layer - n_swa) * mib, n_swa, hp->sliding_window,
             ring,
             swa_full       ? " (--swa-full)"
             : ring < n_ctx ? " (ring)"
                            : "",
             (double)per_slot * ring * n_swa * mib, (double)total * mib,
             100.0 * (double)total / (double)full, (double)full * mib);
}

int mb_forward_oldest_kept(const mb_forward_state *s) {
    int oldest = s->kv_lo;
    for (int il = 0; il < s->model->hp.n_layer; il++) {
        const int lost = s->kv_max_pos - s->kv_slots[il] + 1;
        if (s->kv_slots[il] < s->n_ctx && lost > oldest) oldest = lost;
    }
    return oldest;
}

/* Layer IL's K (or V) slots in cache C. */
static uint16_t *kv_layer(const mb_forward_state *c, uint16_t *base, int il) {
    return base + c->kv_off[il];
}

static void *alloc_floats(size_t n, int *failed) {
    void *p = aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64);
    if (!p) *failed = 1;
    return p;
}

mb_status mb_forward_state_new(const mb_model *m, int n_ctx, int n_batch, int n_threads,
                               int swa_full, mb_forward_state **out) {
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
    if (st) {
        free(s);
        return st;
    }
    size_t b = (size_t)n_batch, q_dim = (size_t)hp->n_head * hp->head_dim;
    size_t kv_dim = (size_t)hp->n_head_kv * hp->head_dim;
    size_t mid = q_dim > (size_t)hp->n_ff ? q_dim : (size_t)hp->n_ff;
    s->kv_bytes = mb_kv_cache_bytes(hp, n_ctx, n_batch, swa_full);
    int failed = 0;
    s->kv_off = calloc((size_t)hp->n_layer, sizeof *s->kv_off);
    s->kv_slots = calloc((size_t)hp->n_layer, sizeof *s->kv_slots);
    failed |= !s->kv_off || !s->kv_slots;
    int64_t off = 0;
    for (int il = 0; !failed && il < hp->n_layer; il++) {
        s->kv_slots[il] = mb_kv_layer_slots(hp, il, n_ctx, n_batch, swa_full);
        s->kv_off[il] = off * (int64_t)kv_dim;
        off += s->kv_slots[il];
    }
    if (n_ctx > 0) {
        s->k_cache = malloc(s->kv_bytes / 2);
        s->v_cache = malloc(s->kv_bytes / 2);
        failed |= !s->k_cache || !s->v_cache;
    }
    s->row_cache = calloc(b, sizeof *s->row_cache);
    s->row_pos = calloc(b, sizeof *s->row_pos);
    failed |= !s->row_cache || !s->row_pos;
    s->x = alloc_floats(b * hp->n_embd, &failed);
    s->xn = alloc_floats(b * hp->n_embd, &failed);
    s->q = alloc_floats(b * q_dim, &failed);
    s->k = alloc_floats(b * kv_dim, &failed);
    s->v = alloc_floats(b * kv_dim, &failed);
    s->attn = alloc_floats(b * q_dim, &failed);
    s->gate = alloc_floats(b * hp->n_ff, &failed);
    s->up = alloc_floats(b * hp->n_ff, &failed);
    /* Attention scratch per thread: O(rows x head_dim), plus exact mode's
     * score store of O(rows x n_ctx) (none past MB_ATTN_SCORE_CAP). */
    s->scores =
        alloc_floats((size_t)n_threads * mb_attention_work_floats(hp->head_dim, n_ctx), &failed);
    s->logits = alloc_floats((size_t)hp->n_vocab, &failed);
    /* 4 bytes per value bounds every activation type (F32 is the widest). */
    s->act_in = alloc_floats(b * hp->n_embd, &failed);
    s->act_mid = alloc_floats(b * mid, &failed);
    if (m->lora) s->lora_tmp = alloc_floats(b * (size_t)m->lora->max_rank, &failed);
    if (!failed && hp->n_expert > 0 &&
        (st = mb_moe_work_new(hp->n_expert, hp->n_expert_used, hp->n_embd, hp->n_ff_exp, n_batch,
                              n_threads, &s->moe))) {
        mb_forward_state_free(s);
        return st;
    }
    if (failed) {
        mb_forward_state_free(s);
        return mb_errorf(MB_ERR_NO_MEMORY, "cannot allocate the KV cache (%llu bytes) and buffers",
                         (unsigned long long)s->kv_bytes);
    }
    s->a_in = (mb_act){.act_type = MB_TYPE_COUNT, .data = s->act_in};
    s->a_mid = (mb_act){.act_type = MB_TYPE_COUNT, .data = s->act_mid};
    *out = s;
    return MB_OK;
}

void mb_forward_state_free(mb_forward_state *s) {
    if (!s) return;
    free(s->k_cache);
    free(s->v_cache);
    free(s->kv_off);
    free(s->kv_slots);
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
    const int64_t kv_dim = (int64_t)hp->n_head_kv * hd, q_dim = (int64_t)hp->n_head * hd;
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
        const uint16_t *kc = kv_layer(c, c->k_cache, j->layer);
        const uint16_t *vc = kv_layer(c, c->v_cache, j->layer);
        mb_attn_rows a = {.mode = mb_attention_mode(),
                          .hd = hd,
                          .n_rows = nr,
                          .q = q,
                          .out = o,
                          .len = len,
                          .start = window ? start : NULL,
                          .k = kc + (size_t)kvh * hd,
                          .v = vc + (size_t)kvh * hd,
                          .stride = kv_dim,
                          .ring = c->kv_slots[j->layer],
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

static void attention_block(mb_forward_state *s, mb_threadpool *pool, int il, int n) {
    const mb_model *m = s->model;
    const mb_hparams *hp = &m->hp;
    const mb_layer *l = &m->layers[il];
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
                                  .kc = kv_layer(c, c->k_cache, il),
                                  .vc = kv_layer(c, c->v_cache, il),
                                  .slots = c->kv_slots[il],
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

static void ffn_block(mb_forward_state *s, mb_threadpool *pool, int il, int n) {
    const mb_hparams *hp = &s->model->hp;
    const mb_layer *l = &s->model->layers[il];
    const int moe = hp->n_expert > 0;
    mb_fused_norm_quant(pool, s->n_threads, s->x, s->xn, l->ffn_norm, n, hp->n_embd, hp->rms_eps,
                        moe ? NULL : &s->a_in, l->w_gate.type);
    if (moe) {
        mb_moe_layer ml = {&l->gate_inp, l->gate_exps, l->up_exps, l->down_exps};
        mb_moe_forward(s->moe, pool, &ml, s->xn, n, s->x);
        return;
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
        return;
    }
    project(s, pool, &l->w_down, &s->a_mid, s->gate, n, s->xn, 0);
    add_normed(s->x, s->xn, l->post_ffn_norm, n, hp->n_embd, hp->rms_eps);
}

/* Gemma 2's final-logit cap: c tanh(x / c); CAP 0: none. */
static void softcap(float *x, size_t n, float cap) {
    if (cap <= 0) return;
    for (size_t i = 0; i < n; i++)
        x[i] = cap * tanhf(x[i] / cap);
}

/* The layers and the output norm of rows already bound to their caches
 * (row_cache, row_pos, rows_share_cache); logits of every row to ALL_LOGITS,
 * or of the last row to s->logits. Returns 1, having written no logits, when
 * the abort callback stops it between two layers. */
static int run_rows(mb_forward_state *s, mb_threadpool *pool, const mb_token *tokens, int n,
                    float *all_logits) {
    const mb_model *m = s->model;
    const mb_hparams *hp = &m->hp;
    /* The highest position each cache will hold (a ring's oldest follows). */
    for (int t = 0; t < n; t++)
        if (s->row_pos[t] > s->row_cache[t]->kv_max_pos)
            s->row_cache[t]->kv_max_pos = s->row_pos[t];
    mb_get_rows(&m->tok_embd, tokens, n, s->x);
    if (hp->embd_scale != 1.0f)
        for (size_t i = 0; i < (size_t)n * hp->n_embd; i++)
            s->x[i] *= hp->embd_scale;
    for (int il = 0; il < hp->n_layer; il++) {
        if (s->abort_fn && s->abort_fn(s->abort_user)) return 1;
        attention_block(s, pool, il, n);
        ffn_block(s, pool, il, n);
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
        return 0;
    }
    /* Only the last position's logits are needed to continue. */
    const float *last = s->x + (size_t)(n - 1) * hp->n_embd;
    mb_rmsnorm(s->xn, last, m->output_norm, hp->n_embd, hp->rms_eps);
    s->a_in.act_type = MB_TYPE_COUNT;
    project(s, pool, &m->output, &s->a_in, s->xn, 1, s->logits, 0);
    softcap(s->logits, (size_t)n_vocab, hp->final_softcap);
    return 0;
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
    for (int t = 0; t < n; t++) {
        s->row_cache[t] = s;
        s->row_pos[t] = pos + t;
    }
    s->rows_share_cache = 1;
    if (run_rows(s, pool, tokens, n, all_logits))
        return mb_errorf(MB_ERR_ABORTED, "aborted by the abort callback");
    return MB_OK;
}

void mb_forward_rows(mb_forward_state *ws, mb_threadpool *pool, const mb_token *tokens, int n,
                     mb_forward_state *const *caches, const int *pos, float *all_logits) {
    for (int t = 0; t < n; t++) {
        ws->row_cache[t] = caches[t];
        ws->row_pos[t] = pos[t];
    }
    ws->rows_share_cache = 0;
    (void)run_rows(ws, pool, tokens, n, all_logits); /* ws has no abort callback */
}
