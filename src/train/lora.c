/* LoRA adapters for the trainable model: parameters, gradients, AdamW
 * moments and the kept products x A^T in flat buffers; forward and backward
 * through the same linear kernels as the base model. */
#include "train/lora.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "format/gguf.h"
#include "tensor/types.h"
#include "train/ops.h"
#include "train/rng.h"

typedef struct {
    int in, out;
    size_t a, b; /* offsets of A and B in the flat buffers, in floats */
    float *u;    /* s x A^T of the last forward, [N, r] */
} lora_slot;

struct mb_tlora {
    int n_layers, rank, n_rows;
    float alpha, scale;
    unsigned targets;
    size_t n_params;
    float *params, *grads, *adam_m, *adam_v;
    lora_slot *slots; /* [layer][target] */
    float *acts, *du, *scratch;
};

static const char *const target_names[MB_LORA_N_TARGETS] = {
    "attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"};
static const char *const target_short[MB_LORA_N_TARGETS] = {"q",    "k",  "v",   "o",
                                                            "gate", "up", "down"};

const char *mb_lora_target_tensor(mb_lora_target t) {
    return t < MB_LORA_N_TARGETS ? target_names[t] : "?";
}

mb_status mb_lora_targets_parse(const char *list, unsigned *mask) {
    *mask = 0;
    if (!strcmp(list, "all")) {
        *mask = (1u << MB_LORA_N_TARGETS) - 1;
        return MB_OK;
    }
    const char *p = list;
    while (*p) {
        size_t len = strcspn(p, ",");
        int found = -1;
        for (int t = 0; t < MB_LORA_N_TARGETS; t++)
            if (strlen(target_short[t]) == len && !strncmp(p, target_short[t], len)) found = t;
        if (found < 0)
            return mb_errorf(MB_ERR_INVALID_ARG,
                             "LoRA target '%.*s' unknown (choose from q,k,v,o,gate,up,down or all)",
                             (int)len, p);
        *mask |= 1u << found;
        p += len + (p[len] == ',');
    }
    if (!*mask) return mb_errorf(MB_ERR_INVALID_ARG, "no LoRA targets given");
    return MB_OK;
}

/* In and out widths of target T of a layer of config C. */
static void target_shape(const mb_train_config *c, int t, int *in, int *out) {
    int hd = c->dim / c->n_heads, dq = c->n_heads * hd, dkv = c->n_kv_heads * hd;
    const int shapes[MB_LORA_N_TARGETS][2] = {{c->dim, dq},    {c->dim, dkv},    {c->dim, dkv},
                                              {dq, c->dim},    {c->dim, c->ffn}, {c->dim, c->ffn},
                                              {c->ffn, c->dim}};
    *in = shapes[t][0];
    *out = shapes[t][1];
}

static lora_slot *slot(mb_tlora *l, int layer, mb_lora_target t) {
    if (!l || layer < 0 || layer >= l->n_layers || t >= MB_LORA_N_TARGETS || !(l->targets >> t & 1))
        return NULL;
    return &l->slots[(size_t)layer * MB_LORA_N_TARGETS + t];
}

mb_status mb_tlora_new(const mb_train_config *c, int rank, float alpha, unsigned targets,
                       uint64_t seed, mb_tlora **out) {
    *out = NULL;
    if (rank < 1 || rank > 4096)
        return mb_errorf(MB_ERR_INVALID_ARG, "LoRA rank %d must be in 1..4096", rank);
    if (!(targets & ((1u << MB_LORA_N_TARGETS) - 1)))
        return mb_errorf(MB_ERR_INVALID_ARG, "no LoRA targets given");
    mb_tlora *l = calloc(1, sizeof *l);
    if (!l) return mb_errorf(MB_ERR_NO_MEMORY, "LoRA: out of memory");
    l->n_layers = c->n_layers;
    l->rank = rank;
    l->alpha = alpha;
    l->scale = alpha / (float)rank;
    l->targets = targets;
    l->n_rows = c->batch * c->ctx;
    l->slots = calloc((size_t)c->n_layers * MB_LORA_N_TARGETS, sizeof *l->slots);
    if (!l->slots) goto oom;
    size_t n_act = 0, scratch = 0, N = (size_t)l->n_rows;
    for (int layer = 0; layer < c->n_layers; layer++)
        for (int t = 0; t < MB_LORA_N_TARGETS; t++) {
            lora_slot *s = slot(l, layer, (mb_lora_target)t);
            if (!s) continue;
            target_shape(c, t, &s->in, &s->out);
            s->a = l->n_params;
            s->b = s->a + (size_t)rank * s->in;
            l->n_params = s->b + (size_t)s->out * rank;
            n_act += N * rank;
            size_t sa = mb_linear_scratch_floats(l->n_rows, s->in, rank);
            size_t sb = mb_linear_scratch_floats(l->n_rows, rank, s->out);
            scratch = sa > scratch ? sa : scratch;
            scratch = sb > scratch ? sb : scratch;
        }
    l->params = calloc(l->n_params, sizeof(float));
    l->grads = calloc(l->n_params, sizeof(float));
    l->adam_m = calloc(l->n_params, sizeof(float));
    l->adam_v = calloc(l->n_params, sizeof(float));
    l->acts = calloc(n_act + N * rank + scratch, sizeof(float));
    if (!l->params || !l->grads || !l->adam_m || !l->adam_v || !l->acts) goto oom;
    float *cur = l->acts;
    uint64_t rng = seed ^ 0x10AADA95ull;
    for (int layer = 0; layer < c->n_layers; layer++)
        for (int t = 0; t < MB_LORA_N_TARGETS; t++) {
            lora_slot *s = slot(l, layer, (mb_lora_target)t);
            if (!s) continue;
            s->u = cur;
            cur += N * rank;
            float std = 1.0f / sqrtf((float)s->in);
            for (size_t k = 0; k < (size_t)rank * s->in; k++)
                l->params[s->a + k] = mb_rng_normal(&rng) * std;
        }
    l->du = cur;
    l->scratch = cur + N * rank;
    *out = l;
    return MB_OK;
oom:
    mb_tlora_free(l);
    return mb_errorf(MB_ERR_NO_MEMORY, "LoRA adapters: out of memory");
}

void mb_tlora_free(mb_tlora *l) {
    if (!l) return;
    free(l->slots);
    free(l->params);
    free(l->grads);
    free(l->adam_m);
    free(l->adam_v);
    free(l->acts);
    free(l);
}

size_t mb_tlora_n_params(const mb_tlora *l) {
    return l->n_params;
}
float *mb_tlora_params(mb_tlora *l) {
    return l->params;
}
float *mb_tlora_grads(mb_tlora *l) {
    return l->grads;
}
float *mb_tlora_a(mb_tlora *l, int layer, mb_lora_target t) {
    lora_slot *s = slot(l, layer, t);
    return s ? l->params + s->a : NULL;
}
float *mb_tlora_b(mb_tlora *l, int layer, mb_lora_target t) {
    lora_slot *s = slot(l, layer, t);
    return s ? l->params + s->b : NULL;
}
void mb_tlora_zero_grads(mb_tlora *l) {
    memset(l->grads, 0, l->n_params * sizeof(float));
}

void mb_tlora_adamw(mb_tlora *l, const mb_train_config *c, float lr, int step) {
    mb_adamw_update(c, l->params, l->grads, l->adam_m, l->adam_v, l->n_params, c->weight_decay, lr,
                    step);
}

/* The scale s is folded into the kept product u = s x A^T, so that
 * dB = dY^T u needs no extra pass over the (wide) dY. */
void mb_tlora_forward(mb_tlora *l, mb_threadpool *pool, int layer, mb_lora_target t, float *y,
                      const float *x, int n) {
    lora_slot *s = slot(l, layer, t);
    if (!s) return;
    int r = l->rank;
    mb_linear_forward(pool, s->u, x, l->params + s->a, n, s->in, r);
    for (size_t i = 0; i < (size_t)n * r; i++)
        s->u[i] *= l->scale;
    /* y += u B^T: the kernel overwrites, so the product goes through the
     * scratch and is added row by row. */
    float *v = l->scratch;
    mb_linear_forward(pool, v, s->u, l->params + s->b, n, r, s->out);
    for (size_t i = 0; i < (size_t)n * s->out; i++)
        y[i] += v[i];
}

/* With u = s x A^T and y += u B^T:
 *   dB += dY^T u,  du = dY B,  dA += s du^T x,  dX += s du A. */
void mb_tlora_backward(mb_tlora *l, mb_threadpool *pool, int layer, mb_lora_target t, float *dx,
                       const float *dy, const float *x, int n) {
    lora_slot *s = slot(l, layer, t);
    if (!s) return;
    int r = l->rank;
    mb_linear_backward(pool, l->du, l->grads + s->b, dy, s->u, l->params + s->b, n, r, s->out, 0,
                       l->scratch);
    for (size_t i = 0; i < (size_t)n * r; i++)
        l->du[i] *= l->scale;
    mb_linear_backward(pool, dx, l->grads + s->a, l->du, x, l->params + s->a, n, s->in, r, 1,
                       l->scratch);
}

mb_status mb_tlora_save(mb_tlora *l, const char *path) {
    mb_gguf_writer *w = NULL;
    mb_status st = mb_gguf_writer_new(&w);
    if (st) return st;
    if ((st = mb_gguf_writer_set_str(w, "general.architecture", "llama")) ||
        (st = mb_gguf_writer_set_str(w, "general.type", "adapter")) ||
        (st = mb_gguf_writer_set_str(w, "general.name", "matchbox-lora")) ||
        (st = mb_gguf_writer_set_str(w, "adapter.type", "lora")) ||
        (st = mb_gguf_writer_set_f32(w, "adapter.lora.alpha", l->alpha)))
        goto done;
    for (int layer = 0; layer < l->n_layers && !st; layer++)
        for (int t = 0; t < MB_LORA_N_TARGETS && !st; t++) {
            lora_slot *s = slot(l, layer, (mb_lora_target)t);
            if (!s) continue;
            char name[96];
            /* ne order: A is r rows of `in` values, B is `out` rows of r. */
            uint64_t ne_a[2] = {(uint64_t)s->in, (uint64_t)l->rank};
            uint64_t ne_b[2] = {(uint64_t)l->rank, (uint64_t)s->out};
            snprintf(name, sizeof name, "blk.%d.%s.weight.lora_a", layer, target_names[t]);
            st = mb_gguf_writer_add_tensor(w, name, MB_TYPE_F32, 2, ne_a, l->params + s->a,
                                           (uint64_t)l->rank * s->in * 4);
            if (st) break;
            snprintf(name, sizeof name, "blk.%d.%s.weight.lora_b", layer, target_names[t]);
            st = mb_gguf_writer_add_tensor(w, name, MB_TYPE_F32, 2, ne_b, l->params + s->b,
                                           (uint64_t)l->rank * s->out * 4);
        }
    if (!st) st = mb_gguf_writer_write(w, path);
done:
    mb_gguf_writer_free(w);
    return st;
}
