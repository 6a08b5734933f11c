/* Loading a LoRA adapter against a model, and applying it in the forward
 * pass (docs/TRAINING.md, "LoRA fine-tuning", gives the file layout). */
#include "model/lora.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "tensor/types.h"

static int has_suffix(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n > k && !strcmp(s + n - k, suffix);
}

/* Only the matrices the forward pass multiplies through project() can be
 * adapted there: the attention and FFN projections and the output. */
static int adaptable(const char *base) {
    static const char *const parts[] = {"attn_q",   "attn_k", "attn_v",  "attn_output",
                                        "ffn_gate", "ffn_up", "ffn_down"};
    if (!strcmp(base, "output.weight")) return 1;
    int layer = -1, end = 0;
    char part[32];
    if (sscanf(base, "blk.%d.%31[a-z_].weight%n", &layer, part, &end) != 2 || base[end] ||
        layer < 0)
        return 0;
    for (size_t i = 0; i < sizeof parts / sizeof *parts; i++)
        if (!strcmp(part, parts[i])) return 1;
    return 0;
}

static mb_status check_header(const mb_gguf *g, const mb_model *m, const char *path, float *alpha) {
    mb_str s;
    if (mb_gguf_get_str(g, "general.type", &s) || s.len != 7 || memcmp(s.ptr, "adapter", 7))
        return mb_errorf(MB_ERR_FORMAT, "%s: not a LoRA adapter (general.type is not 'adapter')",
                         path);
    if (mb_gguf_get_str(g, "adapter.type", &s) || s.len != 4 || memcmp(s.ptr, "lora", 4))
        return mb_errorf(MB_ERR_UNSUPPORTED, "%s: adapter.type is not 'lora'", path);
    if (mb_gguf_get_str(g, "general.architecture", &s) || s.len != strlen(m->hp.arch) ||
        memcmp(s.ptr, m->hp.arch, s.len))
        return mb_errorf(MB_ERR_FORMAT,
                         "%s: adapter architecture '%.*s' differs from the model's '%s' (wrong "
                         "base model?)",
                         path, (int)(s.ptr ? s.len : 0), s.ptr ? s.ptr : "", m->hp.arch);
    *alpha = 0; /* absent or 0: the scale is used as is, as the reference does */
    mb_status st = mb_gguf_get_f32(g, "adapter.lora.alpha", alpha);
    if (st && st != MB_ERR_INVALID_ARG) return mb_error_prefix(st, "%s: ", path);
    return MB_OK;
}

/* Pair A and B of one base tensor and check them against it. */
static mb_status check_pair(const mb_gguf *g, const mb_model *m, const char *path,
                            const mb_gguf_tensor *ta, mb_lora_weight *w,
                            const mb_gguf_tensor **tb_out) {
    size_t n = strlen(ta->name) - strlen(".lora_a");
    if (n >= sizeof w->name)
        return mb_errorf(MB_ERR_FORMAT, "%s: tensor name '%s' too long", path, ta->name);
    memcpy(w->name, ta->name, n);
    w->name[n] = 0;
    char bname[128];
    snprintf(bname, sizeof bname, "%s.lora_b", w->name);
    const mb_gguf_tensor *tb = mb_gguf_find_tensor(g, bname);
    const mb_gguf_tensor *base = mb_gguf_find_tensor(m->gguf, w->name);
    if (!tb) return mb_errorf(MB_ERR_FORMAT, "%s: '%s' has no '%s'", path, ta->name, bname);
    if (!adaptable(w->name))
        return mb_errorf(MB_ERR_UNSUPPORTED,
                         "%s: LoRA on '%s' is not supported (only attention and FFN projections "
                         "and output.weight)",
                         path, w->name);
    if (!base)
        return mb_errorf(MB_ERR_FORMAT, "%s: '%s' does not exist in the base model (wrong base?)",
                         path, w->name);
    const mb_type_traits *ka = mb_type_get(ta->type), *kb = mb_type_get(tb->type);
    if (ta->n_dims != 2 || tb->n_dims != 2 || !ka || !kb || ka->is_quantized || kb->is_quantized)
        return mb_errorf(MB_ERR_UNSUPPORTED, "%s: '%s' lora_a/lora_b must be 2-D F32/F16/BF16",
                         path, w->name);
    if (ta->ne[0] != base->ne[0] || tb->ne[1] != base->ne[1] || ta->ne[1] != tb->ne[0] ||
        ta->ne[1] < 1 || ta->ne[1] > 65536)
        return mb_errorf(MB_ERR_FORMAT,
                         "%s: '%s' has lora_a [%llu, %llu] and lora_b [%llu, %llu], base [%llu, "
                         "%llu]: expected [in, r] and [r, out] (wrong base model?)",
                         path, w->name, (unsigned long long)ta->ne[0],
                         (unsigned long long)ta->ne[1], (unsigned long long)tb->ne[0],
                         (unsigned long long)tb->ne[1], (unsigned long long)base->ne[0],
                         (unsigned long long)base->ne[1]);
    w->key = base->data;
    w->in = (int)base->ne[0];
    w->out = (int)base->ne[1];
    w->rank = (int)ta->ne[1];
    *tb_out = tb;
    return MB_OK;
}

/* Every tensor must be one half of a pair: a stray name is a wrong file. */
static mb_status check_names(const mb_gguf *g, const char *path, int *n_pairs) {
    *n_pairs = 0;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const char *name = g->tensors[i].name;
        if (has_suffix(name, ".lora_a"))
            ++*n_pairs;
        else if (!has_suffix(name, ".lora_b"))
            return mb_errorf(MB_ERR_FORMAT, "%s: tensor '%s' is not a .lora_a/.lora_b", path, name);
    }
    if (*n_pairs == 0 || (uint64_t)*n_pairs * 2 != g->n_tensors)
        return mb_errorf(MB_ERR_FORMAT, "%s: %d lora_a tensors for %llu tensors", path, *n_pairs,
                         (unsigned long long)g->n_tensors);
    return MB_OK;
}

mb_status mb_lora_load(const mb_model *m, const char *path, float scale, mb_lora **out) {
    *out = NULL;
    mb_gguf *g = NULL;
    mb_status st = mb_gguf_open(path, 1, 0, &g);
    if (st) return st;
    float alpha = 0;
    int n_pairs = 0;
    mb_lora *l = calloc(1, sizeof *l);
    if (!l) {
        st = mb_errorf(MB_ERR_NO_MEMORY, "out of memory");
        goto done;
    }
    if ((st = check_header(g, m, path, &alpha)) || (st = check_names(g, path, &n_pairs))) goto done;
    l->w = calloc((size_t)n_pairs, sizeof *l->w);
    const mb_gguf_tensor **tb = calloc((size_t)n_pairs, sizeof *tb);
    const mb_gguf_tensor **ta = calloc((size_t)n_pairs, sizeof *ta);
    size_t floats = 0;
    for (uint64_t i = 0; l->w && tb && ta && i < g->n_tensors && !st; i++) {
        if (!has_suffix(g->tensors[i].name, ".lora_a")) continue;
        mb_lora_weight *w = &l->w[l->n];
        ta[l->n] = &g->tensors[i];
        if ((st = check_pair(g, m, path, ta[l->n], w, &tb[l->n]))) break;
        for (int k = 0; k < l->n; k++)
            if (l->w[k].key == w->key)
                st = mb_errorf(MB_ERR_FORMAT, "%s: two adapters for '%s'", path, w->name);
        w->scale = alpha != 0 ? scale * alpha / (float)w->rank : scale;
        l->max_rank = w->rank > l->max_rank ? w->rank : l->max_rank;
        floats += (size_t)w->rank * ((size_t)w->in + (size_t)w->out);
        l->n++;
    }
    if (!st && (!l->w || !tb || !ta || !(l->data = malloc(floats * sizeof(float)))))
        st = mb_errorf(MB_ERR_NO_MEMORY, "%s: out of memory", path);
    float *cur = l->data;
    for (int k = 0; !st && k < l->n; k++) {
        mb_lora_weight *w = &l->w[k];
        size_t na = (size_t)w->rank * w->in, nb = (size_t)w->out * w->rank;
        mb_type_get(ta[k]->type)->to_float(ta[k]->data, cur, (int64_t)na);
        mb_type_get(tb[k]->type)->to_float(tb[k]->data, cur + na, (int64_t)nb);
        w->a = cur;
        w->b = cur + na;
        cur += na + nb;
    }
    free(ta);
    free(tb);
done:
    mb_gguf_close(g);
    if (st) {
        mb_lora_free(l);
        return st;
    }
    *out = l;
    return MB_OK;
}

void mb_lora_free(mb_lora *l) {
    if (!l) return;
    free(l->w);
    free(l->data);
    free(l);
}

/* A linear scan: a model has at most 7 adapted matrices per layer, and
 * the scan costs nothing beside the matrix product it follows. */
const mb_lora_weight *mb_lora_find(const mb_lora *l, const mb_matrix *w) {
    for (int i = 0; l && i < l->n; i++)
        if (l->w[i].key == w->data) return &l->w[i];
    return NULL;
}

void mb_lora_apply(const mb_lora_weight *lw, const float *x, int n, float *out, float *tmp) {
    const int r = lw->rank;
    for (int t = 0; t < n; t++) {
        const float *xt = x + (size_t)t * lw->in;
        float *u = tmp + (size_t)t * r;
        for (int k = 0; k < r; k++) {
            const float *a = lw->a + (size_t)k * lw->in;
            float s = 0;
            for (int i = 0; i < lw->in; i++)
                s += a[i] * xt[i];
            u[k] = s * lw->scale;
        }
        float *o = out + (size_t)t * lw->out;
        for (int j = 0; j < lw->out; j++) {
            const float *b = lw->b + (size_t)j * r;
            float s = 0;
            for (int k = 0; k < r; k++)
                s += b[k] * u[k];
            o[j] += s;
        }
    }
}

mb_status mb_model_load_lora(mb_model *m, const char *path, float scale) {
    if (m->vocab_only)
        return mb_errorf(MB_ERR_INVALID_ARG, "%s: the model was loaded vocab-only", path);
    if (m->lora)
        return mb_errorf(MB_ERR_INVALID_ARG, "%s: the model already has a LoRA adapter", path);
    /* Adapted matrices are found by their data pointer, which a streamed
     * layer's buffer does not keep. */
    if (m->stream)
        return mb_errorf(MB_ERR_INVALID_ARG,
                         "%s: a LoRA adapter needs every weight resident (the memory budget "
                         "streams some layers)",
                         path);
    /* Sessions plan their buffers for the model as it was: an adapter they
     * did not plan for would be silently skipped by them. */
    if (m->n_users > 0)
        return mb_errorf(MB_ERR_INVALID_ARG,
                         "%s: load the adapter before creating sessions (%d exist for this model)",
                         path, (int)m->n_users);
    return mb_lora_load(m, path, scale, &m->lora);
}
