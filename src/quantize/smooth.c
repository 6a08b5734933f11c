/* SmoothQuant scales (smooth.h): one scale vector per norm group, planned
 * from the importance matrix's maxima and the weights' column maxima. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "quantize/smooth.h"
#include "tensor/types.h"

typedef struct {
    char name[96];
    const float *s;
    int is_norm;
} smooth_entry;

struct mb_smooth {
    smooth_entry *e;
    int n, cap;
    float **groups;
    int n_groups;
};

void mb_smooth_free(mb_smooth *s) {
    if (!s) return;
    for (int i = 0; i < s->n_groups; i++)
        free(s->groups[i]);
    free(s->groups);
    free(s->e);
    free(s);
}

const float *mb_smooth_scales(const mb_smooth *s, const char *name, int *is_norm) {
    for (int i = 0; s && i < s->n; i++)
        if (strcmp(s->e[i].name, name) == 0) {
            *is_norm = s->e[i].is_norm;
            return s->e[i].s;
        }
    return NULL;
}

static mb_status add(mb_smooth *s, const char *name, const float *v, int is_norm) {
    if (s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 32;
        smooth_entry *e = realloc(s->e, (size_t)cap * sizeof *e);
        if (!e) return mb_errorf(MB_ERR_NO_MEMORY, "out of memory planning SmoothQuant");
        s->e = e;
        s->cap = cap;
    }
    snprintf(s->e[s->n].name, sizeof s->e[s->n].name, "%s", name);
    s->e[s->n].s = v;
    s->e[s->n].is_norm = is_norm;
    s->n++;
    return MB_OK;
}

/* Column maxima of |W| of a 2-D tensor into WMAX (max with what is there). */
static mb_status weight_col_max(const mb_gguf_tensor *t, float *row, float *wmax) {
    const mb_type_traits *tr = mb_type_get(t->type);
    uint64_t rb = 0;
    if (!tr || !tr->to_float || !mb_type_row_bytes(t->type, t->ne[0], &rb))
        return mb_errorf(MB_ERR_UNSUPPORTED, "tensor '%s': cannot decode %s", t->name,
                         mb_type_name(t->type));
    for (uint64_t r = 0; r < t->ne[1]; r++) {
        tr->to_float(t->data + r * rb, row, (int64_t)t->ne[0]);
        for (uint64_t j = 0; j < t->ne[0]; j++)
            if (fabsf(row[j]) > wmax[j]) wmax[j] = fabsf(row[j]);
    }
    return MB_OK;
}

/* One group: NORM's output read by the matrices named in MATS. */
static mb_status plan_group(const mb_gguf *g, const mb_imatrix *im, float alpha, mb_smooth *s,
                            int layer, const char *norm, const char *const *mats, int *planned) {
    char name[96];
    *planned = 0;
    snprintf(name, sizeof name, "blk.%d.%s.weight", layer, norm);
    const mb_gguf_tensor *nt = mb_gguf_find_tensor(g, name);
    if (!nt || nt->type != MB_TYPE_F32 || nt->n_dims != 1) return MB_OK;
    const uint64_t n = nt->ne[0];
    const mb_gguf_tensor *wt[4] = {0};
    const float *xmax = NULL;
    int n_w = 0;
    for (int k = 0; mats[k]; k++) {
        snprintf(name, sizeof name, "blk.%d.%s.weight", layer, mats[k]);
        const mb_gguf_tensor *t = mb_gguf_find_tensor(g, name);
        if (!t) continue;
        if (t->n_dims != 2 || t->ne[0] != n) return MB_OK; /* not the plain shape: leave it */
        wt[n_w++] = t;
        const mb_imatrix_entry *e = mb_imatrix_find(im, name);
        if (e && e->max_abs && e->n_cols == (int)n && e->n_mat == 1) xmax = e->max_abs;
    }
    if (!n_w || !xmax) return MB_OK;
    float *sv = calloc(n, sizeof *sv), *row = malloc(n * sizeof *row);
    float **gr = realloc(s->groups, (size_t)(s->n_groups + 1) * sizeof *gr);
    if (gr) s->groups = gr;
    if (!sv || !row || !gr) {
        free(sv);
        free(row);
        return mb_errorf(MB_ERR_NO_MEMORY, "out of memory planning SmoothQuant");
    }
    s->groups[s->n_groups++] = sv;
    mb_status st = MB_OK;
    for (int k = 0; k < n_w && !st; k++)
        st = weight_col_max(wt[k], row, sv);
    free(row);
    if (st) return st;
    for (uint64_t j = 0; j < n; j++) {
        const float wm = sv[j], xm = xmax[j];
        float v = wm > 0 && xm > 0 ? powf(xm, alpha) / powf(wm, 1 - alpha) : 1.0f;
        if (!(v >= 1e-4f && v <= 1e4f)) v = v < 1e-4f ? 1e-4f : 1e4f;
        sv[j] = v;
    }
    snprintf(name, sizeof name, "blk.%d.%s.weight", layer, norm);
    st = add(s, name, sv, 1);
    for (int k = 0; k < n_w && !st; k++)
        st = add(s, wt[k]->name, sv, 0);
    *planned = !st;
    return st;
}

mb_status mb_smooth_plan(const mb_gguf *g, const mb_imatrix *im, float alpha, mb_smooth **out,
                         int *n_groups, int *n_skipped) {
    static const char *const attn[] = {"attn_q", "attn_k", "attn_v", "attn_qkv", NULL};
    static const char *const ffn[] = {"ffn_gate", "ffn_up", NULL};
    *n_groups = *n_skipped = 0;
    if (!(alpha >= 0 && alpha <= 1))
        return mb_errorf(MB_ERR_INVALID_ARG, "SmoothQuant alpha %g is not in [0, 1]",
                         (double)alpha);
    mb_smooth *s = calloc(1, sizeof *s);
    if (!s) return mb_errorf(MB_ERR_NO_MEMORY, "out of memory planning SmoothQuant");
    mb_status st = MB_OK;
    for (int layer = 0; !st; layer++) {
        char name[96];
        snprintf(name, sizeof name, "blk.%d.attn_norm.weight", layer);
        const int has_attn = mb_gguf_find_tensor(g, name) != NULL;
        snprintf(name, sizeof name, "blk.%d.ffn_norm.weight", layer);
        if (!has_attn && !mb_gguf_find_tensor(g, name)) break;
        int done = 0;
        st = plan_group(g, im, alpha, s, layer, "attn_norm", attn, &done);
        *n_groups += done;
        *n_skipped += !done;
        if (!st) st = plan_group(g, im, alpha, s, layer, "ffn_norm", ffn, &done);
        *n_groups += done;
        *n_skipped += !done;
    }
    if (st) {
        mb_smooth_free(s);
        return st;
    }
    *out = s;
    return MB_OK;
}
