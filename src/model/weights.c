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

static mb_status check_shape(const mb_gguf_tensor *t, uint64_t ne0, uint64_t ne1) {
    uint64_t want_dims = ne1 > 0 ? 2 : 1;
    uint64_t got1 = t->n_dims >= 2 ? t->ne[1] : 0;
    int extra = 0;
    for (uint32_t d = (uint32_t)want_dims; d < t->n_dims; d++)
        extra |= t->ne[d] != 1;
    if (t->ne[0] != ne0 || (ne1 > 0 && got1 != ne1) || extra)
        return mb_errorf(MB_ERR_FORMAT,
                         "tensor '%s' has shape [%llu, %llu, %llu, %llu], expected [%llu, %llu]",
                         t->name, (unsigned long long)t->ne[0], (unsigned long long)t->ne[1],
                         (unsigned long long)t->ne[2], (unsigned long long)t->ne[3],
                         (unsigned long long)ne0, (unsigned long long)ne1);
    return MB_OK;
}

static mb_status bind_matrix(mb_model *m, const char *name, int n_in, int n_out, mb_matrix *out) {
    const mb_gguf_tensor *t;
    mb_status st = find(m, name, 1, &t);
    if (st || (st = check_shape(t, (uint64_t)n_in, (uint64_t)n_out))) return st;
    const mb_dot_traits *dt = t->type < MB_TYPE_COUNT ? &mb_kernels()->dot[t->type] : NULL;
    if (!dt || !dt->vec_dot)
        return mb_errorf(MB_ERR_UNSUPPORTED, "tensor '%s': weight type %s has no matrix kernel",
                         name, mb_type_name(t->type));
    uint64_t row = 0;
    mb_type_row_bytes(t->type, (uint64_t)n_in, &row);
    *out = (mb_matrix){t->data, t->type, n_in, n_out, (size_t)row};
    return MB_OK;
}

/* Norm weights are used as floats; other stored types are converted once. */
static mb_status bind_vector(mb_model *m, const char *name, int n, float **cursor,
                             const float **out) {
    const mb_gguf_tensor *t;
    mb_status st = find(m, name, 1, &t);
    if (st || (st = check_shape(t, (uint64_t)n, 0))) return st;
    if (t->type == MB_TYPE_F32 && ((uintptr_t)t->data % sizeof(float)) == 0) {
        *out = (const float *)t->data;
        return MB_OK;
    }
    mb_type_get(t->type)->to_float(t->data, *cursor, n);
    *out = *cursor;
    *cursor += n;
    return MB_OK;
}

mb_status mb_model_bind_weights(mb_model *m) {
    const mb_hparams *hp = &m->hp;
    int q_dim = hp->n_head * hp->head_dim, kv_dim = hp->n_head_kv * hp->head_dim;
    /* Room for every vector in case all need conversion. */
    size_t n_floats = (size_t)hp->n_embd * (2 * (size_t)hp->n_layer + 1) + (size_t)hp->n_rot;
    m->owned_vectors = malloc(n_floats * sizeof(float));
    m->layers = calloc((size_t)hp->n_layer, sizeof *m->layers);
    if (!m->owned_vectors || !m->layers) return mb_errorf(MB_ERR_NO_MEMORY, "out of memory");
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
    const mb_gguf_tensor *freqs = mb_gguf_find_tensor(m->gguf, "rope_freqs.weight");
    if (freqs && (st = bind_vector(m, "rope_freqs.weight", hp->n_rot / 2, &cursor, &m->rope_freqs)))
        return st;
    for (int i = 0; i < hp->n_layer; i++) {
        mb_layer *l = &m->layers[i];
        char name[96];
#define NAME(suffix) (snprintf(name, sizeof name, "blk.%d." suffix, i), name)
        if ((st = bind_vector(m, NAME("attn_norm.weight"), hp->n_embd, &cursor, &l->attn_norm)) ||
            (st = bind_vector(m, NAME("ffn_norm.weight"), hp->n_embd, &cursor, &l->ffn_norm)) ||
            (st = bind_matrix(m, NAME("attn_q.weight"), hp->n_embd, q_dim, &l->wq)) ||
            (st = bind_matrix(m, NAME("attn_k.weight"), hp->n_embd, kv_dim, &l->wk)) ||
            (st = bind_matrix(m, NAME("attn_v.weight"), hp->n_embd, kv_dim, &l->wv)) ||
            (st = bind_matrix(m, NAME("attn_output.weight"), q_dim, hp->n_embd, &l->wo)) ||
            (st = bind_matrix(m, NAME("ffn_gate.weight"), hp->n_embd, hp->n_ff, &l->w_gate)) ||
            (st = bind_matrix(m, NAME("ffn_up.weight"), hp->n_embd, hp->n_ff, &l->w_up)) ||
            (st = bind_matrix(m, NAME("ffn_down.weight"), hp->n_ff, hp->n_embd, &l->w_down)))
            return st;
#undef NAME
    }
    return MB_OK;
}
