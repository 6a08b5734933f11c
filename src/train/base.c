/* A base model to fine-tune: its shape as a training config and its weights
 * in float32 in the trainable model. The file is loaded through the model
 * layer, so every tensor has already been found and shape-checked. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "model/model.h"
#include "tensor/types.h"
#include "train/lora.h"

static mb_status open_model(const char *path, mb_model **out) {
    mb_model_params p = mb_model_default_params();
    p.use_mmap = 1; /* read once, converted: no need for a private copy */
    return mb_model_load(path, &p, out);
}

/* The trainer implements plain llama blocks only: refuse anything it would
 * silently compute differently. */
static mb_status check_supported(const char *path, const mb_model *m) {
    const mb_hparams *hp = &m->hp;
    const char *why = NULL;
    if (strcmp(hp->arch, "llama") != 0)
        why = "architecture is not llama";
    else if (hp->n_expert > 0)
        why = "mixture-of-experts layers";
    else if (hp->head_dim * hp->n_head != hp->n_embd)
        why = "head_dim x heads differs from the embedding width";
    else if (hp->n_rot != hp->head_dim || hp->rope_scaling != MB_ROPE_SCALING_NONE || m->rope_freqs)
        why = "partial or scaled RoPE";
    else if (hp->rope_mode != MB_ROPE_NORM)
        why = "NeoX RoPE";
    for (int l = 0; !why && l < hp->n_layer; l++)
        if (m->layers[l].bq || m->layers[l].bk || m->layers[l].bv) why = "projection biases";
    if (why)
        return mb_errorf(MB_ERR_UNSUPPORTED, "%s: cannot fine-tune this model: %s (%s)", path, why,
                         hp->arch);
    return MB_OK;
}

mb_status mb_train_config_from_model(const char *path, mb_train_config *c) {
    mb_model *m = NULL;
    mb_status st = open_model(path, &m);
    if (st) return st;
    if (!(st = check_supported(path, m))) {
        const mb_hparams *hp = &m->hp;
        c->dim = hp->n_embd;
        c->n_layers = hp->n_layer;
        c->n_heads = hp->n_head;
        c->n_kv_heads = hp->n_head_kv;
        c->ffn = hp->n_ff;
        c->vocab = hp->n_vocab;
        c->rope_base = hp->rope_base;
        c->rms_eps = hp->rms_eps;
        c->tied = mb_gguf_find_tensor(m->gguf, "output.weight") == NULL;
        if (strlen(path) >= sizeof c->tokenizer) {
            st = mb_errorf(MB_ERR_INVALID_ARG, "%s: path too long", path);
        } else {
            snprintf(c->tokenizer, sizeof c->tokenizer, "%s", path);
        }
    }
    mb_model_free(m);
    return st;
}

mb_status mb_tmodel_load_weights(mb_tmodel *tm, const char *path) {
    mb_model *m = NULL;
    mb_status st = open_model(path, &m);
    if (st) return st;
    if ((st = check_supported(path, m))) goto done;
    for (int i = 0; i < mb_tmodel_n_tensors(tm) && !st; i++) {
        const mb_tparam *p = mb_tmodel_tensor(tm, i);
        const mb_gguf_tensor *t = mb_gguf_find_tensor(m->gguf, p->name);
        if (!t) {
            st = mb_errorf(MB_ERR_FORMAT, "%s: tensor '%s' is missing", path, p->name);
            break;
        }
        uint64_t n = 1;
        for (uint32_t d = 0; d < t->n_dims; d++)
            n *= t->ne[d];
        const mb_type_traits *tt = mb_type_get(t->type);
        if (t->ne[0] != p->ne[0] || n != p->n || !tt || !tt->to_float) {
            st = mb_errorf(MB_ERR_FORMAT,
                           "%s: tensor '%s' (%s, %llu values) does not match the model's shape "
                           "(%zu values)",
                           path, p->name, mb_type_name(t->type), (unsigned long long)n, p->n);
            break;
        }
        tt->to_float(t->data, mb_tmodel_params(tm) + p->offset, (int64_t)p->n);
    }
done:
    mb_model_free(m);
    return st;
}
