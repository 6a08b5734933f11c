/* AWQ over a model file, as a hook of mb_quantize_file. The groups are
 * the matrices fed by an RMSNorm: attn_q/k/v (attn_norm) and ffn_gate/up
 * (ffn_norm) of each layer. For each group one calibration pass gives the
 * per-channel mean |x| and H = sum x x^T of the norm's output; the scales
 * s of least output error at the group's own target types are searched
 * (awq_search.c); then the norm weight is written divided by s and each
 * matrix's columns multiplied by s before the usual encoder:
 * norm(x) / s * (W s)^T = norm(x) W^T, so the float model is unchanged and
 * only the rounding moves. ffn_down is a group too (unless no_down): its
 * input silu(gate) * up takes the division through ffn_up's rows (a row
 * scale, which block types absorb in their scales). Memory: one n^2 matrix
 * per group (collected in one pass: n_embd^2 or n_ff^2 doubles), plus one
 * group's weights in float at a time. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/timer.h"
#include "quantize/awq.h"
#include "quantize/calib.h"
#include "quantize/progress.h"
#include "tensor/quant_weighted.h"
#include "tensor/types.h"

enum { MAX_MEMBERS = 4 };

typedef struct {
    int n, n_members;
    uint64_t members[MAX_MEMBERS]; /* tensors; members[0] is observed */
    uint64_t norm; /* the 1-D norm divided by s, or with FOLD_ROWS the matrix whose rows are */
    int fold_rows;
    mb_calib_stat st;
    float *s;  /* chosen scales, after prepare */
    float *qw; /* weighted_fit: the importances of x / s for the members' columns */
} group;

struct mb_awq_model {
    mb_awq_model_params p;
    const mb_gguf *g;
    const mb_quant_choice *plan;
    group *groups;
    int n_groups;
    int *col_of, *div_of; /* per tensor: the group whose s multiplies its columns /
                           * divides it (a norm, or a matrix's rows); -1: none */
    mb_calib *calib;
};

static int find_tensor(const mb_gguf *g, const char *name, uint64_t *out) {
    for (uint64_t i = 0; i < g->n_tensors; i++)
        if (strcmp(g->tensors[i].name, name) == 0) {
            *out = i;
            return 1;
        }
    return 0;
}

/* Whether the hook can rewrite tensor T (to its planned type). */
static int rewritable(const mb_awq_model *m, uint64_t t) {
    const mb_gguf_tensor *tt = &m->g->tensors[t];
    return mb_type_get(m->plan[t].type)->from_float && mb_type_get(tt->type)->to_float &&
           tt->ne[2] == 1 && tt->ne[3] == 1;
}

/* Group of layer L fed by NORM ("attn_norm") with members NAMES. With
 * FOLD_ROWS, NORM names a matrix whose output rows feed the members
 * (ffn_up for ffn_down: down's input is silu(gate) * up, so dividing up's
 * row j by s_j divides input channel j of down). */
static void add_group(mb_awq_model *m, int l, const char *norm, int fold_rows,
                      const char *const *names, int k) {
    const mb_gguf *g = m->g;
    group *gr = &m->groups[m->n_groups];
    memset(gr, 0, sizeof *gr);
    char name[96];
    snprintf(name, sizeof name, "blk.%d.%s.weight", l, norm);
    if (!find_tensor(g, name, &gr->norm)) return;
    const mb_gguf_tensor *nt = &g->tensors[gr->norm];
    if (fold_rows ? !rewritable(m, gr->norm) || nt->n_dims != 2
                  : nt->type != MB_TYPE_F32 || nt->n_dims != 1)
        return;
    gr->fold_rows = fold_rows;
    gr->n = (int)(fold_rows ? nt->ne[1] : nt->ne[0]);
    for (int i = 0; i < k; i++) {
        uint64_t t;
        snprintf(name, sizeof name, "blk.%d.%s.weight", l, names[i]);
        if (!find_tensor(g, name, &t)) continue;
        const mb_gguf_tensor *tt = &g->tensors[t];
        if (!rewritable(m, t) || tt->ne[0] != (uint64_t)gr->n)
            return; /* every reader of the norm must take the scales */
        gr->members[gr->n_members++] = t;
    }
    if (gr->n_members > 0) m->n_groups++;
}

static void observe(void *user, uint64_t tensor, const float *x, int n_rows, int n_in) {
    mb_awq_model *m = user;
    if (tensor >= m->g->n_tensors || m->col_of[tensor] < 0) return;
    group *gr = &m->groups[m->col_of[tensor]];
    if (gr->members[0] == tensor && gr->n == n_in)
        mb_calib_stat_add(&gr->st, mb_calib_pool(m->calib), x, n_rows);
}

static float *to_float(const mb_gguf_tensor *t) {
    float *w = malloc(sizeof *w * (size_t)t->ne[0] * (size_t)t->ne[1]);
    if (!w) return NULL;
    uint64_t in_row = 0;
    mb_type_row_bytes(t->type, t->ne[0], &in_row);
    for (uint64_t r = 0; r < t->ne[1]; r++)
        mb_type_get(t->type)->to_float(t->data + r * in_row, w + r * t->ne[0], (int64_t)t->ne[0]);
    return w;
}

/* Search one group's scales; its statistics are freed after. */
static mb_status search_group(mb_awq_model *m, group *gr) {
    const int n = gr->n;
    mb_status st = MB_OK;
    gr->s = malloc(sizeof *gr->s * (size_t)n);
    double *mean = malloc(sizeof *mean * (size_t)n);
    float *h = malloc(sizeof *h * (size_t)n * (size_t)n);
    mb_awq_matrix mats[MAX_MEMBERS] = {{0}};
    if (!gr->s || !mean || !h) st = mb_errorf(MB_ERR_NO_MEMORY, "AWQ: out of memory");
    for (int i = 0; !st && i < gr->n_members; i++) {
        const mb_gguf_tensor *t = &m->g->tensors[gr->members[i]];
        mats[i] = (mb_awq_matrix){to_float(t), (int64_t)t->ne[1], m->plan[gr->members[i]].type,
                                  m->p.weighted_fit};
        if (!mats[i].w) st = mb_errorf(MB_ERR_NO_MEMORY, "AWQ: out of memory for '%s'", t->name);
    }
    float alpha = 0;
    double e_best = 0, e_plain = 0;
    if (!st) {
        const double rows = gr->st.n_rows ? (double)gr->st.n_rows : 1;
        for (int k = 0; k < n; k++)
            mean[k] = gr->st.abs_sum[k] / rows;
        mb_calib_stat_finish(&gr->st);
        for (size_t k = 0; k < (size_t)n * n; k++)
            h[k] = (float)(gr->st.h[k] / rows);
        if (m->p.fixed_alpha) {
            alpha = m->p.alpha;
            mb_awq_scales(mean, n, alpha, gr->s);
        } else {
            st = mb_awq_search(mats, gr->n_members, n, h, mean, m->p.n_grid, m->p.n_threads, gr->s,
                               &alpha, &e_best, &e_plain);
        }
    }
    /* The file's encode sees the same importances as the search did. */
    if (!st && m->p.weighted_fit) {
        if (!(gr->qw = malloc(sizeof *gr->qw * (size_t)n)))
            st = mb_errorf(MB_ERR_NO_MEMORY, "AWQ: out of memory");
        else
            mb_awq_importances(h, n, gr->s, gr->qw);
    }
    if (!st && m->p.progress)
        mb_progressf(m->p.progress, m->p.progress_user,
                     "awq: %-28s alpha %.2f, output error %.4g -> %.4g (%.1f%%)\n",
                     m->g->tensors[gr->norm].name, (double)alpha, e_plain, e_best,
                     e_plain > 0 ? 100.0 * e_best / e_plain : 100.0);
    for (int i = 0; i < gr->n_members; i++)
        free((void *)mats[i].w);
    free(mean);
    free(h);
    mb_calib_stat_free(&gr->st);
    return st;
}

static mb_status prepare(void *user, const mb_gguf *g, const mb_quant_choice *plan) {
    static const char *const attn[] = {"attn_q", "attn_k", "attn_v"};
    static const char *const ffn[] = {"ffn_gate", "ffn_up"};
    static const char *const down[] = {"ffn_down"};
    mb_awq_model *m = user;
    m->g = g;
    m->plan = plan;
    int n_layer = 0;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        int l = -1;
        if (sscanf(g->tensors[i].name, "blk.%d.", &l) == 1 && l + 1 > n_layer) n_layer = l + 1;
    }
    const size_t nt = g->n_tensors ? g->n_tensors : 1;
    m->groups = calloc((size_t)n_layer * 3 + 1, sizeof *m->groups);
    m->col_of = malloc(sizeof *m->col_of * nt);
    m->div_of = malloc(sizeof *m->div_of * nt);
    if (!m->groups || !m->col_of || !m->div_of)
        return mb_errorf(MB_ERR_NO_MEMORY, "AWQ: out of memory");
    for (int l = 0; l < n_layer && n_layer < 100000; l++) {
        add_group(m, l, "attn_norm", 0, attn, 3);
        add_group(m, l, "ffn_norm", 0, ffn, 2);
        if (!m->p.no_down) add_group(m, l, "ffn_up", 1, down, 1);
    }
    for (uint64_t i = 0; i < g->n_tensors; i++)
        m->col_of[i] = m->div_of[i] = -1;
    mb_status st = MB_OK;
    for (int k = 0; k < m->n_groups; k++) {
        group *gr = &m->groups[k];
        m->div_of[gr->norm] = k;
        for (int i = 0; i < gr->n_members; i++)
            m->col_of[gr->members[i]] = k;
    }
    if (m->n_groups == 0) return MB_OK;
    mb_calib_params cp = {
        .n_ctx = m->p.calib_ctx, .n_chunks = m->p.calib_chunks, .n_threads = m->p.n_threads};
    st = mb_calib_open(m->p.model_path, m->p.calib_path, &cp, &m->calib);
    const int nth = st ? 1 : mb_threadpool_size(mb_calib_pool(m->calib));
    for (int k = 0; !st && k < m->n_groups; k++)
        st = mb_calib_stat_init(&m->groups[k].st, m->groups[k].n, 1, nth);
    const double t0 = mb_now();
    if (!st) st = mb_calib_run(m->calib, observe, m);
    if (!st && m->p.progress)
        mb_progressf(m->p.progress, m->p.progress_user,
                     "awq: calibration pass over %d x %d tokens, %d groups, %.2fs\n",
                     mb_calib_n_chunks(m->calib), mb_calib_n_ctx(m->calib), m->n_groups,
                     mb_now() - t0);
    mb_calib_close(m->calib);
    m->calib = NULL;
    for (int k = 0; !st && k < m->n_groups; k++)
        st = search_group(m, &m->groups[k]);
    return st;
}

static mb_status write_tensor(void *user, uint64_t index, void *out, uint64_t nbytes, int *done) {
    mb_awq_model *m = user;
    *done = 0;
    if (!m->col_of || (m->col_of[index] < 0 && m->div_of[index] < 0)) return MB_OK;
    const group *col = m->col_of[index] >= 0 ? &m->groups[m->col_of[index]] : NULL;
    const group *div = m->div_of[index] >= 0 ? &m->groups[m->div_of[index]] : NULL;
    const mb_gguf_tensor *t = &m->g->tensors[index];
    if (div && !div->fold_rows) { /* an F32 norm, copied: divided by s */
        float *o = out;
        const float *in = (const float *)t->data;
        for (int k = 0; k < div->n; k++)
            o[k] = in[k] / div->s[k];
        *done = 1;
        return MB_OK;
    }
    float *w = to_float(t);
    if (!w) return mb_errorf(MB_ERR_NO_MEMORY, "AWQ: out of memory");
    const uint32_t type = m->plan[index].type;
    const mb_type_traits *tr = mb_type_get(type);
    /* A row scale (div) leaves the columns' relative importances as they are. */
    const float *qw = col ? col->qw : NULL;
    const uint64_t out_row = nbytes / t->ne[1];
    for (uint64_t r = 0; r < t->ne[1]; r++) {
        float *wr = w + r * t->ne[0];
        for (int k = 0; col && k < col->n; k++)
            wr[k] *= col->s[k];
        for (uint64_t k = 0; div && k < t->ne[0]; k++)
            wr[k] /= div->s[r];
        uint8_t *o = (uint8_t *)out + r * out_row;
        if (!qw || !mb_quant_row_weighted(type, wr, o, (int64_t)t->ne[0], qw))
            tr->from_float(wr, o, (int64_t)t->ne[0]);
    }
    free(w);
    *done = 1;
    return MB_OK;
}

mb_status mb_awq_model_new(const mb_awq_model_params *p, mb_awq_model **out) {
    *out = calloc(1, sizeof **out);
    if (!*out) return mb_errorf(MB_ERR_NO_MEMORY, "out of memory");
    (*out)->p = *p;
    if ((*out)->p.n_threads <= 0) (*out)->p.n_threads = mb_physical_cores();
    if ((*out)->p.n_grid <= 0) (*out)->p.n_grid = 20;
    return MB_OK;
}

void mb_awq_model_hook(mb_awq_model *m, mb_quant_hook *hook) {
    hook->prepare = prepare;
    hook->tensor = write_tensor;
    hook->user = m;
    hook->metadata = NULL;
}

void mb_awq_model_free(mb_awq_model *m) {
    if (!m) return;
    for (int k = 0; k < m->n_groups; k++) {
        mb_calib_stat_free(&m->groups[k].st);
        free(m->groups[k].s);
        free(m->groups[k].qw);
    }
    free(m->groups);
    free(m->col_of);
    free(m->div_of);
    mb_calib_close(m->calib);
    free(m);
}
