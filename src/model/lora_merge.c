/* lora-merge: W' = W + scale (alpha / r) B A written into a copy of the
 * base model, one tensor at a time through the GGUF writer's callback. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "model/lora.h"
#include "tensor/types.h"

typedef struct {
    const mb_gguf *g;
    const mb_lora *lora;
    const mb_lora_weight **adapter; /* [n_tensors]: the tensor's adapter or NULL */
    uint32_t *type;                 /* [n_tensors]: the type written */
} merge_job;

/* Rows of W, dequantized, plus B A scaled, encoded in the written type. */
static mb_status fill(void *user, uint64_t index, void *dst, uint64_t nbytes) {
    const merge_job *j = user;
    const mb_gguf_tensor *t = &j->g->tensors[index];
    const mb_lora_weight *lw = j->adapter[index];
    if (!lw) {
        memcpy(dst, t->data, nbytes);
        return MB_OK;
    }
    size_t in = (size_t)lw->in, out = (size_t)lw->out;
    float *w = malloc(in * out * sizeof *w);
    if (!w) return mb_errorf(MB_ERR_NO_MEMORY, "'%s': out of memory merging", t->name);
    mb_type_get(t->type)->to_float(t->data, w, (int64_t)(in * out));
    for (size_t o = 0; o < out; o++) {
        const float *b = lw->b + o * lw->rank;
        float *row = w + o * in;
        for (int k = 0; k < lw->rank; k++) {
            const float *a = lw->a + (size_t)k * in;
            float s = b[k] * lw->scale;
            for (size_t i = 0; i < in; i++)
                row[i] += s * a[i];
        }
    }
    mb_type_get(j->type[index])->from_float(w, dst, (int64_t)(in * out));
    free(w);
    return MB_OK;
}

static mb_status add_tensors(mb_gguf_writer *wr, merge_job *j, int *n_merged, int *n_to_f16) {
    const mb_gguf *g = j->g;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const mb_gguf_tensor *t = &g->tensors[i];
        const mb_lora_weight *lw = NULL;
        for (int k = 0; k < j->lora->n && !lw; k++)
            if (j->lora->w[k].key == t->data && !strcmp(j->lora->w[k].name, t->name))
                lw = &j->lora->w[k];
        j->adapter[i] = lw;
        j->type[i] = t->type;
        if (lw) {
            ++*n_merged;
            if (t->type != MB_TYPE_F32 && t->type != MB_TYPE_F16 && t->type != MB_TYPE_BF16) {
                j->type[i] = MB_TYPE_F16;
                ++*n_to_f16;
            }
        }
        mb_status st =
            mb_gguf_writer_add_tensor_cb(wr, t->name, j->type[i], t->n_dims, t->ne, fill, j);
        if (st) return st;
    }
    return MB_OK;
}

mb_status mb_lora_merge(const char *base_path, const char *adapter_path, float scale,
                        const char *out_path, int *n_merged, int *n_to_f16) {
    int merged_unused, f16_unused; /* either counter may be NULL (matchbox/gguf.h) */
    if (!n_merged) n_merged = &merged_unused;
    if (!n_to_f16) n_to_f16 = &f16_unused;
    *n_merged = *n_to_f16 = 0;
    mb_model_params p = mb_model_default_params();
    p.use_mmap = 1;
    mb_model *m = NULL;
    mb_lora *lora = NULL;
    mb_gguf_writer *wr = NULL;
    merge_job j = {0};
    mb_status st = mb_model_load(base_path, &p, &m);
    if (st || (st = mb_lora_load(m, adapter_path, scale, &lora)) || (st = mb_gguf_writer_new(&wr)))
        goto done;
    j.g = m->gguf;
    j.lora = lora;
    j.adapter = calloc(m->gguf->n_tensors + 1, sizeof *j.adapter);
    j.type = calloc(m->gguf->n_tensors + 1, sizeof *j.type);
    if (!j.adapter || !j.type) {
        st = mb_errorf(MB_ERR_NO_MEMORY, "out of memory");
        goto done;
    }
    /* Every key but the alignment, which the writer sets itself. */
    for (uint64_t i = 0; i < m->gguf->n_kv && !st; i++)
        if (strcmp(m->gguf->kv[i].key, "general.alignment") != 0)
            st = mb_gguf_writer_set_value(wr, m->gguf->kv[i].key, &m->gguf->kv[i].value);
    if (st || (st = add_tensors(wr, &j, n_merged, n_to_f16))) goto done;
    st = mb_gguf_writer_write(wr, out_path);
done:
    free(j.adapter);
    free(j.type);
    mb_gguf_writer_free(wr);
    mb_lora_free(lora);
    mb_model_free(m);
    return st;
}
