/* Bind the llama tensors of a GGUF to the model, checking every shape. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "kernels/kernels.h"
#include "model/model.h"

static mb_status find(const mb_model *m, const char *name, int required,
                      const mb_gguf_tensor **out) {
    *out = mb_gguf_find_tensor(m->gguf, name);
    if (!*out && required) return mb_errorf(MB_ERR_FORMAT, "tensor '%s' is missing", name);
    return MB_OK;
}

/* NE2 > 0: a 3-D tensor (stacked experts); NE1 == 0: a vector. */
static mb_status check_shape(const mb_gguf_tensor *t, uint64_t ne0, uint64_t ne1, uint64_t ne2) {
    uint64_t want_dims = ne2 > 0 ? 3 : ne1 > 0 ? 2 : 1;
    uint64_t want[3] = {ne0, ne1, ne2};
    int bad = 0;
    for (uint32_t d = 0; d < 4; d++) {
        uint64_t got = d < t->n_dims ? t->ne[d] : 1;
        bad |= d < want_dims ? got != want[d] : got != 1;
    }
    if (bad)
        return mb_errorf(MB_ERR_FORMAT,
                         "tensor '%s' has shape [%llu, %llu, %llu, %llu], expected [%llu, %llu, "
                         "%llu]",
                         t->name, (unsigned long long)t->ne[0], (unsigned long long)t->ne[1],
                         (unsigned long long)t->ne[2], (unsigned long long)t->ne[3],
                         (unsigned long long)ne0, (unsigned long long)(ne1 ? ne1 : 1),
                         (unsigned long long)(ne2 ? ne2 : 1));
    return MB_OK;
}

static mb_status matrix_type(const char *name, uint32_t type) {
    const mb_dot_traits *dt = type < MB_TYPE_COUNT ? &mb_kernels()->dot[type] : NULL;
    if (!dt || !dt->vec_dot)
        return mb_errorf(MB_ERR_UNSUPPORTED, "tensor '%s': weight type %s has no matrix kernel",
                         name, mb_type_name(type));
    return MB_OK;
}

static mb_status bind_matrix(mb_model *m, const char *name, int n_in, int n_out, mb_matrix *out) {
    const mb_gguf_tensor *t;
    mb_status st = find(m, name, 1, &t);
    if (st || (st = check_shape(t, (uint64_t)n_in, (uint64_t)n_out, 0)) ||
        (st = matrix_type(name, t->type)))
        return st;
    uint64_t row = 0;
    mb_type_row_bytes(t->type, (uint64_t)n_in, &row);
    *out = (mb_matrix){t->data, t->type, n_in, n_out, (size_t)row, MB_LAYOUT_ROWS};
    return MB_OK;
}

/* Rows [r0, r0 + n) of FUSED as a matrix of its own (whole rows, so any
 * weight type splits cleanly). */
static mb_matrix row_view(const mb_matrix *fused, int r0, int n) {
    mb_matrix v = *fused;
    v.data = fused->data + (size_t)r0 * fused->row_bytes;
    v.n_out = n;
    return v;
}

/* A 3-D [n_in, n_out, n_expert] tensor: expert e is the contiguous 2-D slice
 * e (the reader checked that the whole tensor lies inside the file). */
static mb_status bind_experts(mb_model *m, const char *name, int n_in, int n_out, int n_expert,
                              mb_matrix *out) {
    const mb_gguf_tensor *t;
    mb_status st = find(m, name, 1, &t);
    if (st || (st = check_shape(t, (uint64_t)n_in, (uint64_t)n_out, (uint64_t)n_expert)) ||
        (st = matrix_type(name, t->type)))
        return st;
    uint64_t row = 0;
    mb_type_row_bytes(t->type, (uint64_t)n_in, &row);
    for (int e = 0; e < n_expert; e++)
        out[e] = (mb_matrix){t->data + (size_t)e * (size_t)n_out * row, t->type, n_in, n_out,
                             (size_t)row, MB_LAYOUT_ROWS};
    return MB_OK;
}

/* Norm weights are used as floats; other stored types are converted once. */
static mb_status bind_vector(mb_model *m, const char *name, int n, float **cursor,
                             const float **out) {
    const mb_gguf_tensor *t;
    mb_status st = find(m, name, 1, &t);
    if (st || (st = check_shape(t, (uint64_t)n, 0, 0))) return st;
    if (t->type == MB_TYPE_F32 && ((uintptr_t)t->data % sizeof(float)) == 0) {
        *out = (const float *)t->data;
        return MB_OK;
    }
    mb_type_get(t->type)->to_float(t->data, *cursor, n);
    *out = *cursor;
    *cursor += n;
    return MB_OK;
}

/* Biases of the Q, K and V projections: required where the architecture
 * has them (qwen2), optional elsewhere (some llama-architecture files). */
static mb_status bind_qkv_bias(mb_model *m, int il, float **cursor, mb_layer *l) {
    const mb_hparams *hp = &m->hp;
    int q_dim = hp->n_head * hp->head_dim, kv_dim = hp->n_head_kv * hp->head_dim;
    const char *suffix[3] = {"attn_q.bias", "attn_k.bias", "attn_v.bias"};
    int width[3] = {q_dim, kv_dim, kv_dim};
    const float **dst[3] = {&l->bq, &l->bk, &l->bv};
    for (int k = 0; k < 3; k++) {
        char name[96];
        snprintf(name, sizeof name, "blk.%d.%s", il, suffix[k]);
        if (!hp->qkv_bias && !mb_gguf_find_tensor(m->gguf, name)) continue;
        mb_status st = bind_vector(m, name, width[k], cursor, dst[k]);
        if (st) return st;
    }
    return MB_OK;
}

static mb_status bind_ffn(mb_model *m, int il, mb_layer *l) {
    const mb_hparams *hp = &m->hp;
    char name[96];
    mb_status st;
#define NAME(suffix) (snprintf(name, sizeof name, "blk.%d." suffix, il), name)
    if (hp->n_expert == 0 && !mb_gguf_find_tensor(m->gguf, NAME("ffn_gate.weight")) &&
        strcmp(hp->arch, "phi3") == 0) {
        /* Phi-3: one ffn_up of 2 n_ff rows, the gate's first. */
        mb_matrix fused;
        if ((st = bind_matrix(m, NAME("ffn_up.weight"), hp->n_embd, 2 * hp->n_ff, &fused)))
            return st;
        l->w_gate = row_view(&fused, 0, hp->n_ff);
        l->w_up = row_view(&fused, hp->n_ff, hp->n_ff);
        return bind_matrix(m, NAME("ffn_down.weight"), hp->n_ff, hp->n_embd, &l->w_down);
    }
    if (hp->n_expert == 0) {
        if ((st = bind_matrix(m, NAME("ffn_gate.weight"), hp->n_embd, hp->n_ff, &l->w_gate)) ||
            (st = bind_matrix(m, NAME("ffn_up.weight"), hp->n_embd, hp->n_ff, &l->w_up)))
            return st;
        return bind_matrix(m, NAME("ffn_down.weight"), hp->n_ff, hp->n_embd, &l->w_down);
    }
    const int ff = hp->n_ff_exp;
    int ne = hp->n_expert;
    mb_matrix *mats = m->expert_mats + (size_t)il * 3 * ne;
    l->gate_exps = mats;
    l->up_exps = mats + ne;
    l->down_exps = mats + 2 * ne;
    if ((st = bind_matrix(m, NAME("ffn_gate_inp.weight"), hp->n_embd, ne, &l->gate_inp)) ||
        (st = bind_experts(m, NAME("ffn_gate_exps.weight"), hp->n_embd, ff, ne, mats)) ||
        (st = bind_experts(m, NAME("ffn_up_exps.weight"), hp->n_embd, ff, ne, mats + ne)))
        return st;
    return bind_experts(m, NAME("ffn_down_exps.weight"), ff, hp->n_embd, ne, mats + 2 * ne);
#undef NAME
}

/* Q, K and V: three tensors, or Phi-3's one attn_qkv (rows Q, K, V). */
static mb_status bind_qkv(mb_model *m, int il, mb_layer *l) {
    const mb_hparams *hp = &m->hp;
    int q_dim = hp->n_head * hp->head_dim, kv_dim = hp->n_head_kv * hp->head_dim;
    char name[96];
    mb_status st;
#define NAME(suffix) (snprintf(name, sizeof name, "blk.%d." suffix, il), name)
    if (mb_gguf_find_tensor(m->gguf, NAME("attn_qkv.weight"))) {
        mb_matrix fused;
        if ((st = bind_matrix(m, name, hp->n_embd, q_dim + 2 * kv_dim, &fused))) return st;
        l->wq = row_view(&fused, 0, q_dim);
        l->wk = row_view(&fused, q_dim, kv_dim);
        l->wv = row_view(&fused, q_dim + kv_dim, kv_dim);
        return MB_OK;
    }
    if ((st = bind_matrix(m, NAME("attn_q.weight"), hp->n_embd, q_dim, &l->wq)) ||
        (st = bind_matrix(m, NAME("attn_k.weight"), hp->n_embd, kv_dim, &l->wk)))
        return st;
    return bind_matrix(m, NAME("attn_v.weight"), hp->n_embd, kv_dim, &l->wv);
#undef NAME
}

/* The norms beyond llama's two: per-head Q/K norms (qwen3, gemma3) and the
 * output norms of the attention and FFN blocks (gemma). */
static mb_status bind_extra_norms(mb_model *m, int il, float **cursor, mb_layer *l) {
    const mb_hparams *hp = &m->hp;
    char name[96];
    mb_status st;
#define NAME(suffix) (snprintf(name, sizeof name, "blk.%d." suffix, il), name)
    if (hp->qk_norm &&
        ((st = bind_vector(m, NAME("attn_q_norm.weight"), hp->head_dim, cursor, &l->q_norm)) ||
         (st = bind_vector(m, NAME("attn_k_norm.weight"), hp->head_dim, cursor, &l->k_norm))))
        return st;
    if (hp->post_norm && ((st = bind_vector(m, NAME("post_attention_norm.weight"), hp->n_embd,
                                            cursor, &l->post_attn_norm)) ||
                          (st = bind_vector(m, NAME("post_ffw_norm.weight"), hp->n_embd, cursor,
                                            &l->post_ffn_norm))))
        return st;
    return MB_OK;
#undef NAME
}

/* Frequency divisors: Llama 3's rope_freqs, Phi-3's LongRoPE pair. */
static mb_status bind_rope_factors(mb_model *m, float **cursor) {
    const int n = m->hp.n_rot / 2;
    const char *names[3] = {"rope_freqs.weight", "rope_factors_long.weight",
                            "rope_factors_short.weight"};
    const float **dst[3] = {&m->rope_freqs, &m->rope_factors_long, &m->rope_factors_short};
    for (int i = 0; i < 3; i++) {
        if (!mb_gguf_find_tensor(m->gguf, names[i])) continue;
        mb_status st = bind_vector(m, names[i], n, cursor, dst[i]);
        if (st) return st;
    }
    if (!m->rope_factors_long != !m->rope_factors_short)
        return mb_errorf(MB_ERR_FORMAT, "rope_factors_long and rope_factors_short come in pairs");
    return MB_OK;
}

mb_status mb_model_bind_weights(mb_model *m) {
    const mb_hparams *hp = &m->hp;
    int q_dim = hp->n_head * hp->head_dim, kv_dim = hp->n_head_kv * hp->head_dim;
    /* Room for every vector in case all need conversion. */
    size_t per_layer =
        4 * (size_t)hp->n_embd + (size_t)q_dim + 2 * (size_t)kv_dim + 2 * (size_t)hp->head_dim;
    size_t n_floats =
        per_layer * (size_t)hp->n_layer + (size_t)hp->n_embd + 3 * (size_t)hp->n_rot / 2;
    m->owned_vectors = malloc(n_floats * sizeof(float));
    m->layers = calloc((size_t)hp->n_layer, sizeof *m->layers);
    if (hp->n_expert > 0)
        m->expert_mats = calloc((size_t)hp->n_layer * 3 * (size_t)hp->n_expert, sizeof(mb_matrix));
    if (!m->owned_vectors || !m->layers || (hp->n_expert > 0 && !m->expert_mats))
        return mb_errorf(MB_ERR_NO_MEMORY, "out of memory");
    float *cursor = m->owned_vectors;
    mb_status st;
    if ((st = bind_matrix(m, "token_embd.weight", hp->n_embd, hp->n_vocab, &m->tok_embd)))
        return st;
    if (!mb_type_get(m->tok_embd.type)->to_float)
        return mb_errorf(MB_ERR_UNSUPPORTED, "token_embd.weight: type has no decoder");
    if (mb_gguf_find_tensor(m->gguf, "output.weight")) {
        if ((st = bind_matrix(m, "output.weight", hp->n_embd, hp->n_vocab, &m->output))) return st;
    } else {
        m->output = m->tok_embd; /* tied embeddings */
    }
    if ((st = bind_vector(m, "output_norm.weight", hp->n_embd, &cursor, &m->output_norm)))
        return st;
    if ((st = bind_rope_factors(m, &cursor))) return st;
    for (int i = 0; i < hp->n_layer; i++) {
        mb_layer *l = &m->layers[i];
        char name[96];
#define NAME(suffix) (snprintf(name, sizeof name, "blk.%d." suffix, i), name)
        if ((st = bind_vector(m, NAME("attn_norm.weight"), hp->n_embd, &cursor, &l->attn_norm)) ||
            (st = bind_vector(m, NAME("ffn_norm.weight"), hp->n_embd, &cursor, &l->ffn_norm)) ||
            (st = bind_qkv(m, i, l)) ||
            (st = bind_matrix(m, NAME("attn_output.weight"), q_dim, hp->n_embd, &l->wo)) ||
            (st = bind_qkv_bias(m, i, &cursor, l)) || (st = bind_extra_norms(m, i, &cursor, l)) ||
            (st = bind_ffn(m, i, l)))
            return st;
#undef NAME
    }
    return MB_OK;
}
