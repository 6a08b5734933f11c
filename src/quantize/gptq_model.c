/* GPTQ over a whole model file, as a hook of mb_quantize_file.
 *
 * Sites: matrices that read the same input share one Hessian (attn_q/k/v
 * read attn_norm's output, ffn_gate/up read ffn_norm's); each other
 * projection (attn_output, ffn_down, output) has its own. The embedding
 * lookup is no matrix product and keeps plain rounding, as do tensors of a
 * type without a grid (F16, ...) and inputs calibration never reached.
 *
 * Memory: Hessians are collected on demand. When the writer asks for a
 * tensor whose Hessian is not there, one calibration pass collects it and
 * those of the following sites in file order, as many as fit in mem_mib
 * (n^2 doubles each); a Hessian is freed when the last tensor of its site
 * is written. With the default 1 GiB a small model takes one pass; a big one
 * takes a pass per layer or so, holding one layer's Hessians. Inputs come
 * from the float model (not from the already quantized layers). */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/timer.h"
#include "quantize/calib.h"
#include "quantize/progress.h"
#include "quantize/gptq.h"
#include "tensor/types.h"

typedef struct {
    char key[128];
    int n, users_left, active, ready;
    uint64_t first; /* tensor whose observed input is accumulated */
    mb_calib_stat st;
} site;

struct mb_gptq_model {
    mb_gptq_model_params p;
    const mb_gguf *g;
    const mb_quant_choice *plan;
    int *site_of; /* per tensor, or -1 */
    site *sites;
    int n_sites, n_passes;
    mb_calib *calib;
};

/* The site name: the tensor name with the siblings of a shared input
 * mapped to one of them. */
static void site_key(const char *name, char *key, size_t cap) {
    static const char *const same[][2] = {
        {"attn_k.weight", "attn_q.weight"},
        {"attn_v.weight", "attn_q.weight"},
        {"ffn_up.weight", "ffn_gate.weight"},
    };
    snprintf(key, cap, "%s", name);
    for (size_t i = 0; i < sizeof same / sizeof *same; i++) {
        const size_t ln = strlen(key), ls = strlen(same[i][0]);
        if (ln >= ls && strcmp(key + ln - ls, same[i][0]) == 0) {
            snprintf(key + ln - ls, cap - (ln - ls), "%s", same[i][1]);
            return;
        }
    }
}

static int eligible(const mb_gptq_model *m, const mb_gguf_tensor *t, const mb_quant_choice *ch) {
    const mb_gptq_solver *s = &m->p.solver;
    return ch->quantize && (s->solve ? s->want(s->user, t) : mb_qgrid_supported(ch->type)) &&
           t->ne[2] == 1 && t->ne[3] == 1 && strcmp(t->name, "token_embd.weight") != 0 &&
           mb_type_get(t->type)->to_float && t->ne[0] <= 65536;
}

static mb_status prepare(void *user, const mb_gguf *g, const mb_quant_choice *plan) {
    mb_gptq_model *m = user;
    m->g = g;
    m->plan = plan;
    m->site_of = malloc(sizeof *m->site_of * (g->n_tensors ? g->n_tensors : 1));
    m->sites = calloc(g->n_tensors ? g->n_tensors : 1, sizeof *m->sites);
    if (!m->site_of || !m->sites) return mb_errorf(MB_ERR_NO_MEMORY, "GPTQ: out of memory");
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const mb_gguf_tensor *t = &g->tensors[i];
        m->site_of[i] = -1;
        if (!eligible(m, t, &plan[i])) continue;
        char key[128];
        site_key(t->name, key, sizeof key);
        int s = 0;
        while (s < m->n_sites && strcmp(m->sites[s].key, key) != 0)
            s++;
        if (s == m->n_sites) {
            snprintf(m->sites[s].key, sizeof m->sites[s].key, "%s", key);
            m->sites[s].n = (int)t->ne[0];
            m->sites[s].first = i;
            m->n_sites++;
        }
        if (m->sites[s].n != (int)t->ne[0]) continue; /* not really a shared input */
        m->sites[s].users_left++;
        m->site_of[i] = s;
    }
    /* Load the model and the text now: a bad calibration text is refused
     * before the output file exists. */
    if (m->n_sites == 0) return MB_OK;
    mb_calib_params cp = {
        .n_ctx = m->p.calib_ctx, .n_chunks = m->p.calib_chunks, .n_threads = m->p.n_threads};
    return mb_calib_open(m->p.model_path, m->p.calib_path, &cp, &m->calib);
}

static void observe(void *user, uint64_t tensor, const float *x, int n_rows, int n_in) {
    mb_gptq_model *m = user;
    if (tensor >= m->g->n_tensors || m->site_of[tensor] < 0) return;
    site *s = &m->sites[m->site_of[tensor]];
    if (s->active && s->first == tensor && s->n == n_in)
        mb_calib_stat_add(&s->st, mb_calib_pool(m->calib), x, n_rows);
}

/* One calibration pass collecting the Hessian of site S0 and of the sites
 * after it that fit in the memory budget. */
static mb_status collect(mb_gptq_model *m, int s0) {
    mb_status st = MB_OK;
    const double budget = (m->p.mem_mib > 0 ? m->p.mem_mib : 1024.0) * 1048576.0;
    const int nth = mb_threadpool_size(mb_calib_pool(m->calib));
    double used = 0;
    int n_active = 0;
    for (int s = s0; s < m->n_sites && !st; s++) {
        site *x = &m->sites[s];
        if (x->ready || x->users_left == 0) continue;
        const double bytes = 8.0 * x->n * x->n;
        if (n_active > 0 && used + bytes > budget) break;
        st = mb_calib_stat_init(&x->st, x->n, 1, nth);
        x->active = !st;
        n_active += !st;
        used += bytes;
    }
    const double t0 = mb_now();
    if (!st) st = mb_calib_run(m->calib, observe, m);
    for (int s = s0; s < m->n_sites; s++) {
        site *x = &m->sites[s];
        if (!x->active) continue;
        x->active = 0;
        x->ready = 1;
        mb_calib_stat_finish(&x->st);
    }
    m->n_passes++;
    if (m->p.progress)
        mb_progressf(m->p.progress, m->p.progress_user,
                     "%s: calibration pass %d: %d input(s), %.1f MiB of Hessians, %d x %d tokens, "
                     "%.2fs\n",
                     m->p.solver.solve ? "sparsegpt" : "gptq", m->n_passes, n_active,
                     used / 1048576.0, mb_calib_n_chunks(m->calib), mb_calib_n_ctx(m->calib),
                     mb_now() - t0);
    return st;
}

static mb_status quantize_tensor(void *user, uint64_t index, void *out, uint64_t nbytes,
                                 int *done) {
    mb_gptq_model *m = user;
    (void)nbytes;
    *done = 0;
    const int s = m->site_of[index];
    if (s < 0) return MB_OK;
    site *x = &m->sites[s];
    mb_status st = x->ready ? MB_OK : collect(m, s);
    if (st) return st;
    const mb_gguf_tensor *t = &m->g->tensors[index];
    const int64_t rows = (int64_t)t->ne[1];
    const int n = (int)t->ne[0];
    float *w = NULL;
    if (x->st.n_rows > 0 && !(w = malloc(sizeof *w * (size_t)rows * (size_t)n)))
        st = mb_errorf(MB_ERR_NO_MEMORY, "GPTQ: out of memory for %lld x %d floats",
                       (long long)rows, n);
    if (!st && w) {
        const mb_type_traits *tr = mb_type_get(t->type);
        uint64_t in_row = 0;
        mb_type_row_bytes(t->type, t->ne[0], &in_row);
        for (int64_t r = 0; r < rows; r++)
            tr->to_float(t->data + (uint64_t)r * in_row, w + (size_t)r * n, n);
        mb_gptq_params gp = m->p.gptq;
        if (gp.n_threads <= 0) gp.n_threads = m->p.n_threads > 0 ? m->p.n_threads : 1;
        if (m->p.solver.solve)
            st = m->p.solver.solve(m->p.solver.user, index, w, rows, n, x->st.h, out);
        else
            st = mb_gptq_quantize(w, rows, n, x->st.h, m->plan[index].type, &gp, out, NULL);
        *done = !st;
    }
    free(w);
    if (--x->users_left == 0) mb_calib_stat_free(&x->st);
    return st;
}

mb_status mb_gptq_model_new(const mb_gptq_model_params *p, mb_gptq_model **out) {
    *out = calloc(1, sizeof **out);
    if (!*out) return mb_errorf(MB_ERR_NO_MEMORY, "out of memory");
    (*out)->p = *p;
    if ((*out)->p.n_threads <= 0) (*out)->p.n_threads = mb_physical_cores();
    return MB_OK;
}

void mb_gptq_model_hook(mb_gptq_model *m, mb_quant_hook *hook) {
    hook->prepare = prepare;
    hook->tensor = quantize_tensor;
    hook->user = m;
    hook->metadata = NULL;
}

int mb_gptq_model_passes(const mb_gptq_model *m) {
    return m->n_passes;
}

void mb_gptq_model_free(mb_gptq_model *m) {
    if (!m) return;
    for (int s = 0; s < m->n_sites; s++)
        mb_calib_stat_free(&m->sites[s].st);
    free(m->sites);
    free(m->site_of);
    mb_calib_close(m->calib);
    free(m);
}
