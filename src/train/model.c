/* The trainable model: parameters, gradients and AdamW moments in flat
 * buffers with one table of named tensors, the activations the backward
 * pass needs, and the forward and backward passes of the llama block. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/checked.h"
#include "core/error.h"
#include "tensor/types.h"
#include "train/lora.h"
#include "train/ops.h"
#include "train/rng.h"
#include "train/train.h"

enum { MAX_THREADS = 256 };

typedef struct {
    float *xn1, *rs1, *q, *k, *v, *probs, *ao, *x2, *xn2, *rs2, *g, *u, *h;
} layer_acts;

struct mb_tmodel {
    mb_train_config c;
    int n_tensors;
    mb_tparam *tensors;
    size_t n_params;
    float *params, *grads, *adam_m, *adam_v;
    mb_tweights p, g;
    /* activations and backward scratch, one allocation */
    float *acts;
    float **xs; /* residual stream entering layer l; xs[n_layers] leaves the last */
    layer_acts *la;
    float *xnf, *rsf, *logits;
    float *dres, *dtmp, *dq, *dk, *dv, *dao, *dg, *du, *dh, *attn_scratch, *cs, *lin_scratch;
    bool f16_attn;
    mb_tlora *lora; /* adapters on the projections, or NULL */
};

/* The largest transpose scratch of the model's projections. */
static size_t linear_scratch(const mb_train_config *c) {
    int N = c->batch * c->ctx, D = c->dim, hd = D / c->n_heads;
    int Dq = c->n_heads * hd, Dkv = c->n_kv_heads * hd, F = c->ffn;
    const int shapes[][2] = {{D, c->vocab}, {D, Dq}, {D, Dkv}, {Dq, D}, {D, F}, {F, D}};
    size_t most = 0;
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
        size_t n = mb_linear_scratch_floats(N, shapes[i][0], shapes[i][1]);
        most = n > most ? n : most;
    }
    return most;
}

static size_t act_floats(const mb_train_config *c) {
    size_t N = (size_t)c->batch * c->ctx, D = c->dim, hd = D / c->n_heads;
    size_t Dq = c->n_heads * hd, Dkv = c->n_kv_heads * hd, F = c->ffn;
    size_t per_layer = N * D * 4 + 2 * N + N * Dq * 2 + N * Dkv * 2 +
                       (size_t)c->batch * c->n_heads * c->ctx * c->ctx + N * F * 3;
    size_t final = N * D * 2 + N + N * (size_t)c->vocab;
    size_t scratch = N * D * 2 + N * Dq * 2 + N * Dkv * 2 + N * F * 3 +
                     (size_t)MAX_THREADS * c->ctx + (size_t)c->ctx * hd + linear_scratch(c);
    return per_layer * c->n_layers + final + scratch;
}

static int add_tensor(mb_tmodel *m, const char *name, uint64_t ne0, uint64_t ne1, bool decay) {
    mb_tparam *t = &m->tensors[m->n_tensors++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ne[0] = ne0;
    t->ne[1] = ne1;
    t->n_dims = ne1 > 1 ? 2 : 1;
    t->n = (size_t)(ne0 * ne1);
    t->offset = m->n_params;
    t->decay = decay;
    m->n_params += t->n;
    return m->n_tensors - 1;
}

/* The tensor table, in GGUF order; returns the number of tensors. */
static void build_table(mb_tmodel *m) {
    const mb_train_config *c = &m->c;
    int hd = c->dim / c->n_heads;
    add_tensor(m, "token_embd.weight", c->dim, c->vocab, true);
    add_tensor(m, "output_norm.weight", c->dim, 1, false);
    if (!c->tied) add_tensor(m, "output.weight", c->dim, c->vocab, true);
    for (int l = 0; l < c->n_layers; l++) {
        char n[64];
#define T(suffix, a, b, d) (snprintf(n, sizeof n, "blk.%d." suffix, l), add_tensor(m, n, a, b, d))
        T("attn_norm.weight", c->dim, 1, false);
        T("attn_q.weight", c->dim, c->n_heads * hd, true);
        T("attn_k.weight", c->dim, c->n_kv_heads * hd, true);
        T("attn_v.weight", c->dim, c->n_kv_heads * hd, true);
        T("attn_output.weight", c->n_heads * hd, c->dim, true);
        T("ffn_norm.weight", c->dim, 1, false);
        T("ffn_gate.weight", c->dim, c->ffn, true);
        T("ffn_up.weight", c->dim, c->ffn, true);
        T("ffn_down.weight", c->ffn, c->dim, true);
#undef T
    }
}

static void bind(const mb_tmodel *m, float *base, mb_tweights *w) {
    int i = 0;
    w->tok_embd = base + m->tensors[i++].offset;
    w->output_norm = base + m->tensors[i++].offset;
    w->output = m->c.tied ? w->tok_embd : base + m->tensors[i++].offset;
    for (int l = 0; l < m->c.n_layers; l++) {
        mb_tlayer *L = &w->layers[l];
        float **slots[] = {&L->attn_norm, &L->wq,     &L->wk,   &L->wv,    &L->wo,
                           &L->ffn_norm,  &L->w_gate, &L->w_up, &L->w_down};
        for (size_t s = 0; s < sizeof slots / sizeof *slots; s++)
            *slots[s] = base + m->tensors[i++].offset;
    }
}

static float *carve(float **cursor, size_t n) {
    float *p = *cursor;
    *cursor += n;
    return p;
}

static void bind_acts(mb_tmodel *m) {
    const mb_train_config *c = &m->c;
    size_t N = (size_t)c->batch * c->ctx, D = c->dim, hd = D / c->n_heads;
    size_t Dq = c->n_heads * hd, Dkv = c->n_kv_heads * hd, F = c->ffn;
    float *cur = m->acts;
    for (int l = 0; l <= c->n_layers; l++)
        m->xs[l] = carve(&cur, N * D);
    for (int l = 0; l < c->n_layers; l++) {
        layer_acts *a = &m->la[l];
        a->xn1 = carve(&cur, N * D);
        a->rs1 = carve(&cur, N);
        a->q = carve(&cur, N * Dq);
        a->k = carve(&cur, N * Dkv);
        a->v = carve(&cur, N * Dkv);
        a->probs = carve(&cur, (size_t)c->batch * c->n_heads * c->ctx * c->ctx);
        a->ao = carve(&cur, N * Dq);
        a->x2 = carve(&cur, N * D);
        a->xn2 = carve(&cur, N * D);
        a->rs2 = carve(&cur, N);
        a->g = carve(&cur, N * F);
        a->u = carve(&cur, N * F);
        a->h = carve(&cur, N * F);
    }
    m->xnf = carve(&cur, N * D);
    m->rsf = carve(&cur, N);
    m->logits = carve(&cur, N * (size_t)c->vocab);
    m->dres = carve(&cur, N * D);
    m->dtmp = carve(&cur, N * D);
    m->dq = carve(&cur, N * Dq);
    m->dao = carve(&cur, N * Dq);
    m->dk = carve(&cur, N * Dkv);
    m->dv = carve(&cur, N * Dkv);
    m->dg = carve(&cur, N * F);
    m->du = carve(&cur, N * F);
    m->dh = carve(&cur, N * F);
    m->attn_scratch = carve(&cur, (size_t)MAX_THREADS * c->ctx);
    m->cs = carve(&cur, (size_t)c->ctx * hd);
    m->lin_scratch = carve(&cur, linear_scratch(c));
}

static void init_params(mb_tmodel *m) {
    uint64_t rng = m->c.seed ^ 0x5EEDF00Dull;
    float resid_scale = 1.0f / sqrtf(2.0f * m->c.n_layers);
    for (int i = 0; i < m->n_tensors; i++) {
        const mb_tparam *t = &m->tensors[i];
        float *w = m->params + t->offset;
        if (!t->decay) {
            for (size_t k = 0; k < t->n; k++)
                w[k] = 1.0f;
            continue;
        }
        float std = m->c.init_std;
        if (strstr(t->name, "attn_output") || strstr(t->name, "ffn_down")) std *= resid_scale;
        for (size_t k = 0; k < t->n; k++)
            w[k] = mb_rng_normal(&rng) * std;
    }
}

void mb_tmodel_memory(const mb_train_config *c, uint64_t *weights, uint64_t *grads, uint64_t *adam,
                      uint64_t *acts) {
    uint64_t D = c->dim, hd = D / c->n_heads, F = c->ffn, V = c->vocab;
    uint64_t per_layer = 2 * D + D * hd * (2 * c->n_heads + 2 * c->n_kv_heads) + 3 * D * F;
    uint64_t n = per_layer * c->n_layers + D * V * (c->tied ? 1 : 2) + D;
    if (weights) *weights = n * 4;
    if (grads) *grads = n * 4;
    if (adam) *adam = n * 8;
    if (acts) *acts = (uint64_t)act_floats(c) * 4;
}

mb_status mb_tmodel_new(const mb_train_config *c, mb_tmodel **out) {
    mb_status st = mb_train_config_check(c);
    if (st) return st;
    mb_tmodel *m = calloc(1, sizeof *m);
    if (!m) return mb_errorf(MB_ERR_NO_MEMORY, "training model: out of memory");
    m->c = *c;
    m->tensors = calloc(3 + 9 * (size_t)c->n_layers, sizeof *m->tensors);
    m->p.layers = calloc((size_t)c->n_layers, sizeof(mb_tlayer));
    m->g.layers = calloc((size_t)c->n_layers, sizeof(mb_tlayer));
    m->xs = calloc((size_t)c->n_layers + 1, sizeof(float *));
    m->la = calloc((size_t)c->n_layers, sizeof(layer_acts));
    if (!m->tensors || !m->p.layers || !m->g.layers || !m->xs || !m->la) goto oom;
    build_table(m);
    m->params = calloc(m->n_params, sizeof(float));
    m->grads = calloc(m->n_params, sizeof(float));
    m->adam_m = calloc(m->n_params, sizeof(float));
    m->adam_v = calloc(m->n_params, sizeof(float));
    m->acts = calloc(act_floats(c), sizeof(float));
    if (!m->params || !m->grads || !m->adam_m || !m->adam_v || !m->acts) goto oom;
    bind(m, m->params, &m->p);
    bind(m, m->grads, &m->g);
    bind_acts(m);
    mb_rope_table(m->cs, c->ctx, c->dim / c->n_heads, c->rope_base);
    init_params(m);
    *out = m;
    return MB_OK;
oom:
    mb_tmodel_free(m);
    return mb_errorf(MB_ERR_NO_MEMORY, "training model: out of memory (%zu parameters)",
                     m ? m->n_params : 0);
}

void mb_tmodel_free(mb_tmodel *m) {
    if (!m) return;
    free(m->tensors);
    free(m->p.layers);
    free(m->g.layers);
    free(m->xs);
    free(m->la);
    free(m->params);
    free(m->grads);
    free(m->adam_m);
    free(m->adam_v);
    free(m->acts);
    free(m);
}

const mb_train_config *mb_tmodel_config(const mb_tmodel *m) {
    return &m->c;
}
size_t mb_tmodel_n_params(const mb_tmodel *m) {
    return m->n_params;
}
int mb_tmodel_n_tensors(const mb_tmodel *m) {
    return m->n_tensors;
}
const mb_tparam *mb_tmodel_tensor(const mb_tmodel *m, int i) {
    return &m->tensors[i];
}
float *mb_tmodel_params(mb_tmodel *m) {
    return m->params;
}
float *mb_tmodel_grads(mb_tmodel *m) {
    return m->grads;
}
float *mb_tmodel_adam_m(mb_tmodel *m) {
    return m->adam_m;
}
float *mb_tmodel_adam_v(mb_tmodel *m) {
    return m->adam_v;
}
void mb_tmodel_zero_grads(mb_tmodel *m) {
    memset(m->grads, 0, m->n_params * sizeof(float));
}

void mb_tmodel_set_f16_attention(mb_tmodel *m, bool on) {
    m->f16_attn = on;
}

void mb_tmodel_set_lora(mb_tmodel *m, mb_tlora *l) {
    m->lora = l;
}

/* A NULL weight gradient makes mb_linear_backward skip its product. */
void mb_tmodel_freeze(mb_tmodel *m) {
    m->g.tok_embd = m->g.output = NULL;
    for (int l = 0; l < m->c.n_layers; l++) {
        mb_tlayer *g = &m->g.layers[l];
        g->wq = g->wk = g->wv = g->wo = g->w_gate = g->w_up = g->w_down = NULL;
    }
}

static void round_f16(float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        x[i] = mb_fp16_to_fp32(mb_fp32_to_fp16(x[i]));
}

static void add_into(float *y, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        y[i] += x[i];
}

float *mb_tmodel_forward(mb_tmodel *m, mb_threadpool *pool, const int32_t *tokens, int n_seq) {
    const mb_train_config *c = &m->c;
    int N = n_seq * c->ctx, D = c->dim, hd = D / c->n_heads, F = c->ffn;
    int Dq = c->n_heads * hd, Dkv = c->n_kv_heads * hd;
    mb_attn_shape s = {n_seq, c->ctx, c->n_heads, c->n_kv_heads, hd, m->f16_attn};
    mb_embed_forward(m->xs[0], m->p.tok_embd, tokens, N, D);
    for (int l = 0; l < c->n_layers; l++) {
        const mb_tlayer *w = &m->p.layers[l];
        layer_acts *a = &m->la[l];
        mb_rmsnorm_forward(pool, a->xn1, a->rs1, m->xs[l], w->attn_norm, N, D, c->rms_eps);
        mb_linear_forward(pool, a->q, a->xn1, w->wq, N, D, Dq);
        mb_linear_forward(pool, a->k, a->xn1, w->wk, N, D, Dkv);
        mb_linear_forward(pool, a->v, a->xn1, w->wv, N, D, Dkv);
        mb_tlora_forward(m->lora, pool, l, MB_LORA_Q, a->q, a->xn1, N);
        mb_tlora_forward(m->lora, pool, l, MB_LORA_K, a->k, a->xn1, N);
        mb_tlora_forward(m->lora, pool, l, MB_LORA_V, a->v, a->xn1, N);
        mb_rope_forward(a->q, m->cs, N, c->ctx, c->n_heads, hd);
        mb_rope_forward(a->k, m->cs, N, c->ctx, c->n_kv_heads, hd);
        if (m->f16_attn) {
            round_f16(a->q, (size_t)N * Dq);
            round_f16(a->k, (size_t)N * Dkv);
            round_f16(a->v, (size_t)N * Dkv);
        }
        mb_attention_forward(pool, &s, a->ao, a->probs, a->q, a->k, a->v);
        mb_linear_forward(pool, a->x2, a->ao, w->wo, N, Dq, D);
        mb_tlora_forward(m->lora, pool, l, MB_LORA_O, a->x2, a->ao, N);
        add_into(a->x2, m->xs[l], (size_t)N * D);
        mb_rmsnorm_forward(pool, a->xn2, a->rs2, a->x2, w->ffn_norm, N, D, c->rms_eps);
        mb_linear_forward(pool, a->g, a->xn2, w->w_gate, N, D, F);
        mb_linear_forward(pool, a->u, a->xn2, w->w_up, N, D, F);
        mb_tlora_forward(m->lora, pool, l, MB_LORA_GATE, a->g, a->xn2, N);
        mb_tlora_forward(m->lora, pool, l, MB_LORA_UP, a->u, a->xn2, N);
        mb_swiglu_forward(a->h, a->g, a->u, (size_t)N * F);
        mb_linear_forward(pool, m->xs[l + 1], a->h, w->w_down, N, F, D);
        mb_tlora_forward(m->lora, pool, l, MB_LORA_DOWN, m->xs[l + 1], a->h, N);
        add_into(m->xs[l + 1], a->x2, (size_t)N * D);
    }
    mb_rmsnorm_forward(pool, m->xnf, m->rsf, m->xs[c->n_layers], m->p.output_norm, N, D,
                       c->rms_eps);
    mb_linear_forward(pool, m->logits, m->xnf, m->p.output, N, D, c->vocab);
    return m->logits;
}

void mb_tmodel_backward(mb_tmodel *m, mb_threadpool *pool, const int32_t *tokens, int n_seq) {
    const mb_train_config *c = &m->c;
    int N = n_seq * c->ctx, D = c->dim, hd = D / c->n_heads, F = c->ffn;
    int Dq = c->n_heads * hd, Dkv = c->n_kv_heads * hd, L = c->n_layers;
    mb_attn_shape s = {n_seq, c->ctx, c->n_heads, c->n_kv_heads, hd, 0};
    mb_linear_backward(pool, m->dtmp, m->g.output, m->logits, m->xnf, m->p.output, N, D, c->vocab,
                       0, m->lin_scratch);
    mb_rmsnorm_backward(pool, m->dres, m->g.output_norm, m->dtmp, m->xs[L], m->rsf,
                        m->p.output_norm, N, D, 0);
    for (int l = L - 1; l >= 0; l--) {
        const mb_tlayer *w = &m->p.layers[l];
        mb_tlayer *gw = &m->g.layers[l];
        layer_acts *a = &m->la[l];
        /* ffn: xs[l+1] = x2 + swiglu(xn2 Wg, xn2 Wu) Wd; dres holds d xs[l+1] */
        mb_linear_backward(pool, m->dh, gw->w_down, m->dres, a->h, w->w_down, N, F, D, 0,
                           m->lin_scratch);
        mb_tlora_backward(m->lora, pool, l, MB_LORA_DOWN, m->dh, m->dres, a->h, N);
        mb_swiglu_backward(m->dg, m->du, m->dh, a->g, a->u, (size_t)N * F);
        mb_linear_backward(pool, m->dtmp, gw->w_gate, m->dg, a->xn2, w->w_gate, N, D, F, 0,
                           m->lin_scratch);
        mb_linear_backward(pool, m->dtmp, gw->w_up, m->du, a->xn2, w->w_up, N, D, F, 1,
                           m->lin_scratch);
        mb_tlora_backward(m->lora, pool, l, MB_LORA_GATE, m->dtmp, m->dg, a->xn2, N);
        mb_tlora_backward(m->lora, pool, l, MB_LORA_UP, m->dtmp, m->du, a->xn2, N);
        mb_rmsnorm_backward(pool, m->dres, gw->ffn_norm, m->dtmp, a->x2, a->rs2, w->ffn_norm, N, D,
                            1);
        /* attention: x2 = xs[l] + attn(xn1) Wo; dres now holds d x2 */
        mb_linear_backward(pool, m->dao, gw->wo, m->dres, a->ao, w->wo, N, Dq, D, 0,
                           m->lin_scratch);
        mb_tlora_backward(m->lora, pool, l, MB_LORA_O, m->dao, m->dres, a->ao, N);
        mb_attention_backward(pool, &s, m->dq, m->dk, m->dv, m->dao, a->probs, a->q, a->k, a->v,
                              m->attn_scratch);
        mb_rope_backward(m->dq, m->cs, N, c->ctx, c->n_heads, hd);
        mb_rope_backward(m->dk, m->cs, N, c->ctx, c->n_kv_heads, hd);
        mb_linear_backward(pool, m->dtmp, gw->wq, m->dq, a->xn1, w->wq, N, D, Dq, 0,
                           m->lin_scratch);
        mb_linear_backward(pool, m->dtmp, gw->wk, m->dk, a->xn1, w->wk, N, D, Dkv, 1,
                           m->lin_scratch);
        mb_linear_backward(pool, m->dtmp, gw->wv, m->dv, a->xn1, w->wv, N, D, Dkv, 1,
                           m->lin_scratch);
        mb_tlora_backward(m->lora, pool, l, MB_LORA_Q, m->dtmp, m->dq, a->xn1, N);
        mb_tlora_backward(m->lora, pool, l, MB_LORA_K, m->dtmp, m->dk, a->xn1, N);
        mb_tlora_backward(m->lora, pool, l, MB_LORA_V, m->dtmp, m->dv, a->xn1, N);
        mb_rmsnorm_backward(pool, m->dres, gw->attn_norm, m->dtmp, m->xs[l], a->rs1, w->attn_norm,
                            N, D, 1);
    }
    if (m->g.tok_embd) mb_embed_backward(m->g.tok_embd, m->dres, tokens, N, D);
}
