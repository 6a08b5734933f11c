/* Checkpoints and final models as llama GGUF files. A checkpoint is a normal
 * F32 model (matchbox run loads it) plus the optimizer state under the
 * matchbox.train. namespace, documented in docs/TRAINING.md:
 *   matchbox.train.step (u64)        optimizer steps done
 *   matchbox.train.rng (u64)         the data sampler's splitmix64 state
 *   matchbox.train.n_params (u64)    floats in each moment tensor
 *   matchbox.train.adam_m / adam_v   1-D F32 tensors: the AdamW moments, in
 *                                    the order of the model tensors */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "format/gguf.h"
#include "tensor/types.h"
#include "train/train.h"

static mb_status copy_tokenizer(mb_gguf_writer *w, const char *path) {
    mb_gguf *g = NULL;
    mb_status st = mb_gguf_open(path, 1, 0, &g);
    if (st) return mb_error_prefix(st, "tokenizer %s: ", path);
    for (uint64_t i = 0; i < g->n_kv && !st; i++)
        if (!strncmp(g->kv[i].key, "tokenizer.", 10))
            st = mb_gguf_writer_set_value(w, g->kv[i].key, &g->kv[i].value);
    mb_gguf_close(g);
    return st;
}

static mb_status set_hparams(mb_gguf_writer *w, const mb_train_config *c, bool f16) {
    mb_status st;
    int hd = c->dim / c->n_heads;
    if ((st = mb_gguf_writer_set_str(w, "general.architecture", "llama")) ||
        (st = mb_gguf_writer_set_str(w, "general.name", "matchbox-trained")) ||
        (st = mb_gguf_writer_set_u32(w, "general.file_type", f16 ? 1 : 0)) ||
        (st = mb_gguf_writer_set_u32(w, "llama.context_length", (uint32_t)c->ctx)) ||
        (st = mb_gguf_writer_set_u32(w, "llama.embedding_length", (uint32_t)c->dim)) ||
        (st = mb_gguf_writer_set_u32(w, "llama.block_count", (uint32_t)c->n_layers)) ||
        (st = mb_gguf_writer_set_u32(w, "llama.feed_forward_length", (uint32_t)c->ffn)) ||
        (st = mb_gguf_writer_set_u32(w, "llama.attention.head_count", (uint32_t)c->n_heads)) ||
        (st =
             mb_gguf_writer_set_u32(w, "llama.attention.head_count_kv", (uint32_t)c->n_kv_heads)) ||
        (st = mb_gguf_writer_set_u32(w, "llama.rope.dimension_count", (uint32_t)hd)) ||
        (st = mb_gguf_writer_set_f32(w, "llama.rope.freq_base", c->rope_base)) ||
        (st = mb_gguf_writer_set_f32(w, "llama.attention.layer_norm_rms_epsilon", c->rms_eps)) ||
        (st = mb_gguf_writer_set_u32(w, "llama.vocab_size", (uint32_t)c->vocab)))
        return st;
    return MB_OK;
}

mb_status mb_tmodel_save(mb_tmodel *m, const char *path, bool f16, bool train_state, int step,
                         uint64_t rng) {
    const mb_train_config *c = mb_tmodel_config(m);
    mb_gguf_writer *w = NULL;
    uint16_t *half = NULL;
    mb_status st = mb_gguf_writer_new(&w);
    if (st) return st;
    if ((st = set_hparams(w, c, f16)) || (st = copy_tokenizer(w, c->tokenizer))) goto done;
    size_t n_half = 0;
    for (int i = 0; f16 && i < mb_tmodel_n_tensors(m); i++)
        if (mb_tmodel_tensor(m, i)->n_dims == 2) n_half += mb_tmodel_tensor(m, i)->n;
    if (n_half && !(half = malloc(n_half * sizeof *half))) {
        st = mb_errorf(MB_ERR_NO_MEMORY, "%s: out of memory converting to F16", path);
        goto done;
    }
    size_t hoff = 0;
    for (int i = 0; i < mb_tmodel_n_tensors(m); i++) {
        const mb_tparam *t = mb_tmodel_tensor(m, i);
        const float *src = mb_tmodel_params(m) + t->offset;
        /* Norm vectors stay F32, as in llama GGUF files. */
        if (f16 && t->n_dims == 2) {
            uint16_t *h = half + hoff;
            for (size_t k = 0; k < t->n; k++)
                h[k] = mb_fp32_to_fp16(src[k]);
            hoff += t->n;
            st = mb_gguf_writer_add_tensor(w, t->name, MB_TYPE_F16, 2, t->ne, h, t->n * 2);
        } else {
            st =
                mb_gguf_writer_add_tensor(w, t->name, MB_TYPE_F32, t->n_dims, t->ne, src, t->n * 4);
        }
        if (st) goto done;
    }
    if (train_state) {
        uint64_t n = mb_tmodel_n_params(m);
        if ((st = mb_gguf_writer_set_u64(w, "matchbox.train.step", (uint64_t)step)) ||
            (st = mb_gguf_writer_set_u64(w, "matchbox.train.rng", rng)) ||
            (st = mb_gguf_writer_set_u64(w, "matchbox.train.n_params", n)) ||
            (st = mb_gguf_writer_add_tensor(w, "matchbox.train.adam_m", MB_TYPE_F32, 1, &n,
                                            mb_tmodel_adam_m(m), n * 4)) ||
            (st = mb_gguf_writer_add_tensor(w, "matchbox.train.adam_v", MB_TYPE_F32, 1, &n,
                                            mb_tmodel_adam_v(m), n * 4)))
            goto done;
    }
    st = mb_gguf_writer_write(w, path);
done:
    mb_gguf_writer_free(w);
    free(half);
    return st;
}

static mb_status read_f32(const mb_gguf *g, const char *path, const char *name, float *dst,
                          size_t n) {
    const mb_gguf_tensor *t = mb_gguf_find_tensor(g, name);
    if (!t) return mb_errorf(MB_ERR_FORMAT, "%s: tensor '%s' missing", path, name);
    if (t->type != MB_TYPE_F32 || t->nbytes != (uint64_t)n * 4)
        return mb_errorf(MB_ERR_FORMAT,
                         "%s: tensor '%s' is not F32 with %zu values (the config's shape)", path,
                         name, n);
    memcpy(dst, t->data, n * 4);
    return MB_OK;
}

mb_status mb_tmodel_resume(mb_tmodel *m, const char *path, int *step, uint64_t *rng) {
    mb_gguf *g = NULL;
    mb_status st = mb_gguf_open(path, 0, 0, &g);
    if (st) return st;
    int64_t s = 0, n = 0;
    uint64_t want = mb_tmodel_n_params(m);
    /* The RNG state uses all 64 bits: read it raw (the typed getters cap at INT64_MAX). */
    const mb_gguf_kv *r = mb_gguf_find_kv(g, "matchbox.train.rng");
    if ((st = mb_gguf_get_i64(g, "matchbox.train.step", &s)) ||
        (st = mb_gguf_get_i64(g, "matchbox.train.n_params", &n))) {
        st = mb_error_prefix(st, "%s: not a training checkpoint: ", path);
        goto done;
    }
    if (!r || r->value.type != MB_GGUF_U64) {
        st = mb_errorf(MB_ERR_FORMAT, "%s: matchbox.train.rng missing or not u64", path);
        goto done;
    }
    if ((uint64_t)n != want || s < 0 || s > (1 << 30)) {
        st = mb_errorf(MB_ERR_FORMAT, "%s: checkpoint has %lld parameters, the config %llu", path,
                       (long long)n, (unsigned long long)want);
        goto done;
    }
    for (int i = 0; i < mb_tmodel_n_tensors(m) && !st; i++) {
        const mb_tparam *t = mb_tmodel_tensor(m, i);
        st = read_f32(g, path, t->name, mb_tmodel_params(m) + t->offset, t->n);
    }
    if (!st) st = read_f32(g, path, "matchbox.train.adam_m", mb_tmodel_adam_m(m), want);
    if (!st) st = read_f32(g, path, "matchbox.train.adam_v", mb_tmodel_adam_v(m), want);
    *step = (int)s;
    *rng = r->value.u64;
done:
    mb_gguf_close(g);
    return st;
}
