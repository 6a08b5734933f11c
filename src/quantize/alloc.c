/* quantize --target-bpw (alloc.h): measure each weight matrix's damage on
 * a calibration text and plan the types that meet the size with the least.
 * Memory: the float model, the float model's log-probabilities at the
 * scored positions (at most BASE_BYTES), one probe tensor's bytes, and per
 * tensor its input's mean x^2. Time: one calibration pass per tensor. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/timer.h"
#include "model/model.h"
#include "quantize/alloc.h"
#include "quantize/calib.h"
#include "quantize/progress.h"
#include "runtime/log_softmax.h"
#include "tensor/types.h"

enum { MAX_SHARED = 4 };
#define BASE_BYTES ((size_t)256 << 20)

typedef struct {
    uint64_t tensor;
    mb_alloc_item item;
    uint32_t type[MB_ALLOC_MAX_CAND];
    double err[MB_ALLOC_MAX_CAND]; /* importance-weighted squared error */
    int probe;                     /* candidate probed */
    double kld;                    /* measured at the probe */
    double *x2;                    /* [ne0] sum of x^2 per input channel */
    uint64_t x2_rows;
} entry;

struct mb_alloc {
    mb_alloc_params p;
    mb_calib *calib;
    entry *e;
    int n;
    int *of_tensor; /* tensor index -> entry, or -1 */
    int n_vocab, stride;
    float *base; /* [n_scored][n_vocab] log-probabilities of the float model */
    size_t n_scored, at;
    double kld_sum;
    float *logp; /* [n_vocab] scratch */
    double predicted;
};

static const uint32_t k_cands[] = {MB_TYPE_Q2_K, MB_TYPE_Q3_K, MB_TYPE_Q4_K,
                                   MB_TYPE_Q5_K, MB_TYPE_Q6_K, MB_TYPE_Q8_0};
static const uint32_t legacy_cands[] = {MB_TYPE_Q4_0, MB_TYPE_Q4_1, MB_TYPE_Q5_0, MB_TYPE_Q5_1,
                                        MB_TYPE_Q8_0};

static uint64_t tensor_bits(uint32_t type, const mb_gguf_tensor *t) {
    uint64_t row = 0;
    mb_type_row_bytes(type, t->ne[0], &row);
    return 8 * row * t->ne[1] * t->ne[2] * t->ne[3];
}

/* Candidates of tensor T: the K-quants and Q8_0 where 256 divides the
 * rows, else the legacy 32-blocks; 0 if none applies. */
static int candidates(const mb_gguf_tensor *t, entry *e) {
    const int k = t->ne[0] % 256 == 0;
    const uint32_t *list = k ? k_cands : legacy_cands;
    const int n_list = k ? (int)(sizeof k_cands / sizeof *k_cands)
                         : (int)(sizeof legacy_cands / sizeof *legacy_cands);
    int n = 0;
    for (int i = 0; i < n_list; i++)
        if (t->ne[0] % mb_type_get(list[i])->block_size == 0) {
            e->type[n] = list[i];
            e->item.bits[n] = tensor_bits(list[i], t);
            n++;
        }
    e->item.n_cand = n;
    return n;
}

/* Positions scored: every STRIDE-th of the whole pass. */
static int scored(const mb_alloc *a, int chunk, int pos, int n_ctx) {
    return ((size_t)chunk * (size_t)n_ctx + (size_t)pos) % (size_t)a->stride == 0;
}

static void base_logits(void *user, int chunk, int pos, int n, const float *logits) {
    mb_alloc *a = user;
    const int n_ctx = mb_calib_n_ctx(a->calib);
    for (int j = 0; j < n && a->at < a->n_scored; j++)
        if (scored(a, chunk, pos + j, n_ctx))
            mb_log_softmax(logits + (size_t)j * a->n_vocab, a->n_vocab,
                           a->base + a->at++ * (size_t)a->n_vocab);
}

static void probe_logits(void *user, int chunk, int pos, int n, const float *logits) {
    mb_alloc *a = user;
    const int n_ctx = mb_calib_n_ctx(a->calib);
    for (int j = 0; j < n && a->at < a->n_scored; j++) {
        if (!scored(a, chunk, pos + j, n_ctx)) continue;
        mb_log_softmax(logits + (size_t)j * a->n_vocab, a->n_vocab, a->logp);
        const float *b = a->base + a->at++ * (size_t)a->n_vocab;
        double kl = 0;
        for (int v = 0; v < a->n_vocab; v++)
            kl += exp((double)b[v]) * ((double)b[v] - a->logp[v]);
        a->kld_sum += kl;
    }
}

static void observe_x2(void *user, uint64_t tensor, const float *x, int n_rows, int n_in) {
    mb_alloc *a = user;
    const mb_gguf *g = mb_calib_model(a->calib)->gguf;
    if (tensor >= g->n_tensors || a->of_tensor[tensor] < 0) return;
    entry *e = &a->e[a->of_tensor[tensor]];
    for (int r = 0; r < n_rows; r++)
        for (int k = 0; k < n_in; k++) {
            const double v = x[(size_t)r * n_in + k];
            e->x2[k] += v * v;
        }
    e->x2_rows += (uint64_t)n_rows;
}

/* Round trip of every STRIDE-th row of tensor T through TYPE, split over
 * the pool: the bytes (row r at BYTES + r * row size) and the
 * importance-weighted squared error. */
typedef struct {
    const mb_gguf_tensor *t;
    uint32_t type;
    const double *x2;
    uint8_t *bytes;
    float *rows; /* per thread: 2 rows of ne0 */
    uint64_t stride;
    double err[64];
} trip_job;

static void trip_rows(void *arg, int ith, int nth) {
    trip_job *j = arg;
    const mb_gguf_tensor *t = j->t;
    const mb_type_traits *src = mb_type_get(t->type), *dst = mb_type_get(j->type);
    uint64_t in_row = 0, out_row = 0;
    mb_type_row_bytes(t->type, t->ne[0], &in_row);
    mb_type_row_bytes(j->type, t->ne[0], &out_row);
    float *row = j->rows + (size_t)ith * 2 * t->ne[0], *back = row + t->ne[0];
    const long n = (long)((t->ne[1] + j->stride - 1) / j->stride);
    long r0, r1;
    mb_split_range(n, ith, nth, &r0, &r1);
    double err = 0;
    for (long k = r0; k < r1; k++) {
        const uint64_t r = (uint64_t)k * j->stride;
        uint8_t *o = j->bytes + r * out_row;
        src->to_float(t->data + r * in_row, row, (int64_t)t->ne[0]);
        dst->from_float(row, o, (int64_t)t->ne[0]);
        dst->to_float(o, back, (int64_t)t->ne[0]);
        for (uint64_t c = 0; c < t->ne[0]; c++) {
            const double d = (double)row[c] - back[c];
            err += j->x2[c] * d * d;
        }
    }
    j->err[ith] = err;
}

static double round_trip(mb_threadpool *pool, const mb_gguf_tensor *t, uint32_t type,
                         const double *x2, uint8_t *bytes, float *rows, uint64_t stride) {
    trip_job j = {.t = t, .type = type, .x2 = x2, .bytes = bytes, .rows = rows, .stride = stride};
    int nth = mb_threadpool_size(pool);
    nth = nth < 64 ? nth : 64;
    mb_threadpool_run(pool, nth, trip_rows, &j);
    double err = 0;
    for (int i = 0; i < nth; i++)
        err += j.err[i];
    return err;
}

/* The candidates' errors are compared on a sample of about SAMPLE_ROWS
 * evenly spaced rows: their ratios are what matter, and encoding every
 * row six times would cost more than the passes on a 1B model. */
enum { SAMPLE_ROWS = 512 };
static uint64_t sample_stride(const mb_gguf_tensor *t) {
    return (t->ne[1] + SAMPLE_ROWS - 1) / SAMPLE_ROWS;
}

/* The model's matrices that read tensor T's bytes (a tied embedding is
 * both tok_embd and output). */
static int matrices_of(mb_model *m, const uint8_t *data, mb_matrix **out) {
    int n = 0;
#define TRY(mat)                                                                                   \
    if ((mat).data == data && n < MAX_SHARED) out[n++] = &(mat)
    TRY(m->tok_embd);
    TRY(m->output);
    for (int l = 0; l < m->hp.n_layer; l++) {
        mb_layer *L = &m->layers[l];
        TRY(L->wq);
        TRY(L->wk);
        TRY(L->wv);
        TRY(L->wo);
        TRY(L->w_gate);
        TRY(L->w_up);
        TRY(L->w_down);
    }
#undef TRY
    return n;
}

/* Entry E's KLD with its tensor replaced by the probe type. */
static mb_status probe(mb_alloc *a, entry *e, uint8_t *bytes, float *rows) {
    mb_model *m = mb_calib_model(a->calib);
    const mb_gguf_tensor *t = &m->gguf->tensors[e->tensor];
    mb_matrix *mats[MAX_SHARED], saved[MAX_SHARED];
    const int n = matrices_of(m, t->data, mats);
    if (n == 0) /* not read as a matrix (e.g. a 3-D expert tensor): unknown damage */
        return mb_errorf(MB_ERR_UNSUPPORTED,
                         "--target-bpw: tensor '%s' is not a matrix of the forward pass", t->name);
    const uint32_t type = e->type[e->probe];
    round_trip(mb_calib_pool(a->calib), t, type, e->x2, bytes, rows, 1);
    uint64_t out_row = 0;
    mb_type_row_bytes(type, t->ne[0], &out_row);
    for (int i = 0; i < n; i++) {
        saved[i] = *mats[i];
        mats[i]->data = bytes;
        mats[i]->type = type;
        mats[i]->row_bytes = (size_t)out_row;
    }
    a->at = 0;
    a->kld_sum = 0;
    mb_status st = mb_calib_run_logits(a->calib, NULL, probe_logits, a);
    for (int i = 0; i < n; i++)
        *mats[i] = saved[i];
    e->kld = a->at ? a->kld_sum / (double)a->at : 0;
    if (e->kld < 0) e->kld = 0;
    return st;
}

/* The tensors to plan and their candidates. */
static mb_status collect(mb_alloc *a, const mb_gguf *g, const mb_quant_choice *plan) {
    a->e = calloc(g->n_tensors ? g->n_tensors : 1, sizeof *a->e);
    a->of_tensor = malloc(sizeof *a->of_tensor * (g->n_tensors ? g->n_tensors : 1));
    if (!a->e || !a->of_tensor) return mb_errorf(MB_ERR_NO_MEMORY, "out of memory");
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const mb_gguf_tensor *t = &g->tensors[i];
        a->of_tensor[i] = -1;
        if (plan[i].fixed || !mb_type_get(plan[i].type)->is_quantized || t->n_dims != 2 ||
            !mb_quant_is_weight(t->name, t->n_dims) || mb_type_get(t->type)->is_quantized ||
            !mb_type_get(t->type)->to_float)
            continue;
        entry *e = &a->e[a->n];
        e->tensor = i;
        if (candidates(t, e) < 2) continue;
        if (!(e->x2 = calloc((size_t)t->ne[0], sizeof *e->x2)))
            return mb_errorf(MB_ERR_NO_MEMORY, "out of memory");
        a->of_tensor[i] = a->n++;
    }
    return MB_OK;
}

/* The probe type: the candidate nearest the target in bits per weight. */
static int probe_index(const entry *e, const mb_gguf_tensor *t, double bpw) {
    const double n = (double)(t->ne[0] * t->ne[1]);
    int best = 0;
    for (int c = 1; c < e->item.n_cand; c++)
        if (fabs((double)e->item.bits[c] / n - bpw) < fabs((double)e->item.bits[best] / n - bpw))
            best = c;
    return best;
}

static mb_status plan_types(void *user, const mb_gguf *g, const mb_quant_rules *rules,
                            mb_quant_choice *plan) {
    mb_alloc *a = user;
    mb_status st = collect(a, g, plan);
    if (st || a->n == 0) return st;
    /* The budget: target bits over every element, less what the tensors
     * not planned here take. */
    uint64_t n_elem = 0, fixed_bits = 0, min_bits = 0;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const mb_gguf_tensor *t = &g->tensors[i];
        n_elem += t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
        if (a->of_tensor[i] < 0) fixed_bits += tensor_bits(plan[i].type, t);
    }
    for (int k = 0; k < a->n; k++) {
        uint64_t lo = UINT64_MAX;
        for (int c = 0; c < a->e[k].item.n_cand; c++)
            lo = a->e[k].item.bits[c] < lo ? a->e[k].item.bits[c] : lo;
        min_bits += lo;
    }
    const double target = a->p.target_bpw * (double)n_elem;
    if (target < (double)(fixed_bits + min_bits))
        return mb_errorf(MB_ERR_INVALID_ARG,
                         "--target-bpw %.3f is below the smallest this model allows with its "
                         "fixed tensors (%.3f bpw)",
                         a->p.target_bpw, (double)(fixed_bits + min_bits) / (double)n_elem);
    const uint64_t budget = (uint64_t)(target - (double)fixed_bits);

    mb_calib_params cp = {
        .n_ctx = a->p.calib_ctx, .n_chunks = a->p.calib_chunks, .n_threads = a->p.n_threads};
    st = mb_calib_open(a->p.model_path, a->p.calib_path, &cp, &a->calib);
    if (st) return st;
    const int n_ctx = mb_calib_n_ctx(a->calib), n_chunks = mb_calib_n_chunks(a->calib);
    a->n_vocab = mb_model_n_vocab(mb_calib_model(a->calib));
    const size_t total = (size_t)n_ctx * (size_t)n_chunks;
    const size_t per = (size_t)a->n_vocab * sizeof(float);
    a->stride = (int)((total * per + BASE_BYTES - 1) / BASE_BYTES);
    if (a->stride < 1) a->stride = 1;
    a->n_scored = (total + (size_t)a->stride - 1) / (size_t)a->stride;
    a->base = malloc(a->n_scored * per);
    a->logp = malloc(per);
    if (!a->base || !a->logp)
        return mb_errorf(MB_ERR_NO_MEMORY,
                         "out of memory for --target-bpw's %zu x %d log-probabilities", a->n_scored,
                         a->n_vocab);
    const double t0 = mb_now();
    st = mb_calib_run_logits(a->calib, observe_x2, base_logits, a);
    if (st) return st;
    a->n_scored = a->at;

    /* Every candidate's weighted error; the scratch holds the largest
     * tensor's bytes at its largest candidate. */
    uint64_t max_bytes = 0, max_row = 0;
    for (int k = 0; k < a->n; k++) {
        const mb_gguf_tensor *t = &g->tensors[a->e[k].tensor];
        for (int c = 0; c < a->e[k].item.n_cand; c++)
            max_bytes = a->e[k].item.bits[c] / 8 > max_bytes ? a->e[k].item.bits[c] / 8 : max_bytes;
        max_row = t->ne[0] > max_row ? t->ne[0] : max_row;
    }
    uint8_t *bytes = malloc(max_bytes ? (size_t)max_bytes : 1);
    const int nth = mb_threadpool_size(mb_calib_pool(a->calib));
    float *row = malloc(sizeof *row * (size_t)max_row * 2 * (size_t)(nth < 64 ? nth : 64));
    if (!bytes || !row) st = mb_errorf(MB_ERR_NO_MEMORY, "out of memory for a probe tensor");
    if (a->p.progress && !st)
        mb_progressf(a->p.progress, a->p.progress_user,
                     "target-bpw: float pass over %d x %d tokens (%zu scored) %.2fs; probing %d "
                     "tensors, one pass each\n",
                     n_chunks, n_ctx, a->n_scored, mb_now() - t0, a->n);
    mb_model *m = mb_calib_model(a->calib);
    for (int k = 0; !st && k < a->n; k++) {
        entry *e = &a->e[k];
        const mb_gguf_tensor *t = &m->gguf->tensors[e->tensor];
        /* A matrix no product reads (an untied token_embd: rows are looked
         * up) has no input statistics; every value of a row it hands on
         * counts alike, so its errors are compared unweighted. */
        for (uint64_t c = 0; c < t->ne[0]; c++)
            e->x2[c] = e->x2_rows ? e->x2[c] / (double)e->x2_rows : 1.0;
        for (int c = 0; c < e->item.n_cand; c++)
            e->err[c] = round_trip(mb_calib_pool(a->calib), t, e->type[c], e->x2, bytes, row,
                                   sample_stride(t));
        e->probe = probe_index(e, t, a->p.target_bpw);
        const double t1 = mb_now();
        st = probe(a, e, bytes, row);
        const double ep = e->err[e->probe];
        for (int c = 0; c < e->item.n_cand; c++)
            e->item.cost[c] = ep > 0 ? e->kld * e->err[c] / ep : 0;
        if (!st && a->p.progress)
            mb_progressf(a->p.progress, a->p.progress_user,
                         "target-bpw: %-28s KLD %.3e at %-5s %.2fs\n", t->name, e->kld,
                         mb_type_name(e->type[e->probe]), mb_now() - t1);
    }
    free(bytes);
    free(row);
    mb_calib_close(a->calib);
    a->calib = NULL;
    if (st) return st;

    mb_alloc_item *items = malloc(sizeof *items * (size_t)a->n);
    int *choice = malloc(sizeof *choice * (size_t)a->n);
    if (!items || !choice) st = mb_errorf(MB_ERR_NO_MEMORY, "out of memory");
    for (int k = 0; !st && k < a->n; k++)
        items[k] = a->e[k].item;
    if (!st && mb_alloc_solve(items, a->n, budget, choice) < -1)
        st = mb_errorf(MB_ERR_NO_MEMORY, "out of memory");
    a->predicted = 0;
    uint64_t used = fixed_bits;
    for (int k = 0; !st && k < a->n; k++) {
        const entry *e = &a->e[k];
        const mb_gguf_tensor *t = &g->tensors[e->tensor];
        a->predicted += e->item.cost[choice[k]];
        used += e->item.bits[choice[k]];
        st = mb_quant_settle(rules, t->name, t->ne, e->type[choice[k]], t->type, &plan[e->tensor]);
    }
    if (!st && a->p.progress) {
        mb_progressf(a->p.progress, a->p.progress_user,
                     "target-bpw: %.3f bpw planned (target %.3f), estimated KLD %.4g:",
                     (double)used / (double)n_elem, a->p.target_bpw, a->predicted);
        for (size_t c = 0; c < sizeof k_cands / sizeof *k_cands; c++) {
            int cnt = 0;
            for (int k = 0; k < a->n; k++)
                cnt += a->e[k].type[choice[k]] == k_cands[c];
            if (cnt)
                mb_progressf(a->p.progress, a->p.progress_user, " %d %s", cnt,
                             mb_type_name(k_cands[c]));
        }
        mb_progressf(a->p.progress, a->p.progress_user, "\n");
    }
    free(items);
    free(choice);
    return st;
}

mb_status mb_alloc_new(const mb_alloc_params *p, mb_alloc **out) {
    if (!(p->target_bpw > 0) || !p->calib_path)
        return mb_errorf(MB_ERR_INVALID_ARG, "--target-bpw needs a positive size and --calib TEXT");
    *out = calloc(1, sizeof **out);
    if (!*out) return mb_errorf(MB_ERR_NO_MEMORY, "out of memory");
    (*out)->p = *p;
    return MB_OK;
}

void mb_alloc_planner(mb_alloc *a, mb_quant_planner *out) {
    out->plan = plan_types;
    out->user = a;
}

double mb_alloc_predicted_kld(const mb_alloc *a) {
    return a->predicted;
}

void mb_alloc_free(mb_alloc *a) {
    if (!a) return;
    for (int k = 0; k < a->n; k++)
        free(a->e[k].x2);
    free(a->e);
    free(a->of_tensor);
    free(a->base);
    free(a->logp);
    mb_calib_close(a->calib);
    free(a);
}
