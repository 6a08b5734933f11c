/* Pruning (mb_prune_file): a planner that gives the transformer blocks'
 * matrices their sparse (or dense) type and a hook that writes them pruned.
 * Per matrix row, each weight gets a score — |w| (magnitude) or
 * |w| * sqrt(mean x_j^2) over calibration inputs (Wanda: the row's output
 * changes least when the weights that move it least go) — and the lowest
 * scores are set to zero: per row for unstructured pruning (Wanda's
 * comparison group), per M consecutive weights for N:M. A sparse type
 * holds at most half of each block of 256, so unstructured pruning into
 * one keeps the best scores with at most 128 per block (a row whose plain
 * selection crowds a block is selected again under that cap, so it still
 * loses exactly its share). The zeros then go through the type's encoder, which
 * stores exactly the non-zeros (tensor/sparse.c). SparseGPT instead
 * prunes each matrix against its inputs' Hessian and updates the kept
 * weights to compensate (sparsegpt.c), on the Hessians the GPTQ model
 * hook collects (gptq_model.c), then goes through the same encoder. */
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/threadpool.h"
#include "quantize/calib.h"
#include "quantize/gptq.h"
#include "quantize/progress.h"
#include "quantize/quantize.h"
#include "tensor/blocks.h"
#include "tensor/select.h"
#include "tensor/types.h"

enum { MAX_SCHEDULE = 32 };

typedef struct {
    regex_t re;
    double sparsity;
} schedule_rule;

typedef struct {
    mb_prune_params p;
    const char *in_path;
    int sparse_type; /* MB_TYPE_SQ4 / MB_TYPE_SQ8, or -1: the preset's dense type */
    schedule_rule rules[MAX_SCHEDULE];
    int n_rules;
    const mb_gguf *g; /* during mb_quantize_run */
    uint64_t n_tensors;
    const mb_quant_choice *plan;
    double **col_ms; /* Wanda: per tensor, mean x^2 per input column (NULL: not reached) */
    uint64_t *col_n; /* rows seen per tensor */
    mb_threadpool *pool;
    /* the tensor being written */
    const mb_gguf_tensor *t;
    uint8_t *out;
    double sparsity;
    float *scratch; /* per thread: SCRATCH_PER_COL floats per column */
    uint64_t zeros, total;
    mb_gptq_model *sgpt; /* SparseGPT: the Hessians, collected per site */
    mb_quant_hook sgpt_hook;
} prune_ctx;

/* Only the transformer blocks' projections: embeddings are looked up (no
 * product to skip), the output head decides every token, norms are tiny. */
static int is_pruned(const mb_gguf_tensor *t) {
    return strncmp(t->name, "blk.", 4) == 0 && t->n_dims == 2 &&
           mb_quant_is_weight(t->name, t->n_dims) && !strstr(t->name, "ffn_gate_inp") &&
           mb_type_get(t->type) && mb_type_get(t->type)->to_float;
}

static double tensor_sparsity(const prune_ctx *c, const char *name) {
    for (int i = 0; i < c->n_rules; i++)
        if (regexec(&c->rules[i].re, name, 0, NULL, 0) == 0) return c->rules[i].sparsity;
    return c->p.n ? 1.0 - (double)c->p.n / c->p.m : c->p.sparsity;
}

static mb_status parse_schedule(prune_ctx *c, const char *spec) {
    const char *s = spec;
    while (*s) {
        const char *end = strchr(s, ',');
        const size_t len = end ? (size_t)(end - s) : strlen(s);
        const char *eq = memchr(s, '=', len);
        if (!eq || eq == s)
            return mb_errorf(MB_ERR_INVALID_ARG,
                             "schedule '%s': expected REGEX=SPARSITY[,REGEX=SPARSITY...]", spec);
        if (c->n_rules == MAX_SCHEDULE)
            return mb_errorf(MB_ERR_INVALID_ARG, "schedule: more than %d rules", MAX_SCHEDULE);
        char pat[256], num[32];
        snprintf(pat, sizeof pat, "%.*s", (int)(eq - s), s);
        snprintf(num, sizeof num, "%.*s", (int)(s + len - eq - 1), eq + 1);
        char *e = NULL;
        const double v = strtod(num, &e);
        if (!*num || *e || !(v >= 0.0 && v <= 0.95))
            return mb_errorf(MB_ERR_INVALID_ARG,
                             "schedule: sparsity '%s' for '%s' is not in 0..0.95", num, pat);
        if (regcomp(&c->rules[c->n_rules].re, pat, REG_EXTENDED | REG_NOSUB) != 0)
            return mb_errorf(MB_ERR_INVALID_ARG, "schedule: bad regular expression '%s'", pat);
        c->rules[c->n_rules++].sparsity = v;
        s += len + (end ? 1 : 0);
    }
    return MB_OK;
}

/* ---- scores and masks --------------------------------------------------- */

/* Zero the K lowest of SCORE[0..N) in ROW (ties: the later ones go).
 * TMP holds N floats. */
static void drop_lowest(float *row, const float *score, int n, int k, float *tmp) {
    if (k <= 0) return;
    if (k >= n) {
        memset(row, 0, (size_t)n * sizeof *row);
        return;
    }
    memcpy(tmp, score, (size_t)n * sizeof *tmp);
    const float cut = mb_select_kth(tmp, n, k - 1); /* the k-th lowest */
    int below = 0;
    for (int j = 0; j < n; j++)
        below += score[j] < cut;
    int at_cut = k - below; /* how many equal to the cut go, the later ones */
    for (int j = n - 1; j >= 0; j--) {
        if (score[j] < cut)
            row[j] = 0.0f;
        else if (score[j] == cut && at_cut > 0)
            row[j] = 0.0f, at_cut--;
    }
}

typedef struct {
    float score;
    int j;
} ranked_weight;

static int by_score_desc(const void *pa, const void *pb) {
    const ranked_weight *a = pa, *b = pb;
    if (a->score != b->score) return a->score < b->score ? 1 : -1;
    return a->j - b->j; /* ties: the earlier one stays (drop_lowest's rule) */
}

/* A sparse type holds at most MB_SPARSE_CAP per block: keep the KEEP best
 * scores of ORIG such that no block is over the cap (greedy by score is
 * optimal under per-block caps), so the row still has exactly its share of
 * zeros when the plain selection crowded a block. RANKED holds N,
 * IN_BLOCK N / MB_QK_SPARSE. */
static void keep_capped(float *row, const float *orig, const float *score, int n, int keep,
                        ranked_weight *ranked, int *in_block) {
    for (int j = 0; j < n; j++)
        ranked[j] = (ranked_weight){score[j], j};
    qsort(ranked, (size_t)n, sizeof *ranked, by_score_desc);
    memset(in_block, 0, sizeof *in_block * (size_t)(n / MB_QK_SPARSE));
    memset(row, 0, (size_t)n * sizeof *row);
    for (int i = 0; i < n && keep > 0; i++) {
        const int j = ranked[i].j, b = j / MB_QK_SPARSE;
        if (in_block[b] == MB_SPARSE_CAP) continue;
        in_block[b]++;
        row[j] = orig[j];
        keep--;
    }
}

/* The per-thread scratch of a row of N: row, scores, selection copy,
 * original values (4 N floats), ranks (2 N) and block counts (N). */
enum { SCRATCH_PER_COL = 7 };

static void prune_row(prune_ctx *c, float *row, int n, const double *col_ms) {
    float *score = row + n, *tmp = score + n, *orig = tmp + n;
    ranked_weight *ranked = (ranked_weight *)(orig + n);
    int *in_block = (int *)(orig + 3 * (size_t)n);
    for (int j = 0; j < n; j++)
        score[j] = fabsf(row[j]) * (col_ms ? (float)sqrt(col_ms[j]) : 1.0f);
    if (c->p.n) {
        for (int j = 0; j < n; j += c->p.m)
            drop_lowest(row + j, score + j, c->p.m, c->p.m - c->p.n, tmp);
    } else {
        const int k = (int)lround(c->sparsity * n);
        if (c->sparse_type >= 0) memcpy(orig, row, (size_t)n * sizeof *row);
        drop_lowest(row, score, n, k, tmp);
        if (c->sparse_type < 0) return;
        for (int b = 0; b < n; b += MB_QK_SPARSE) {
            int nz = 0;
            for (int j = b; j < b + MB_QK_SPARSE; j++)
                nz += row[j] != 0.0f;
            if (nz > MB_SPARSE_CAP) {
                keep_capped(row, orig, score, n, n - k, ranked, in_block);
                return;
            }
        }
    }
}

static void prune_rows(void *arg, int ith, int nth) {
    prune_ctx *c = arg;
    const mb_gguf_tensor *t = c->t;
    const int n = (int)t->ne[0];
    const uint64_t index = (uint64_t)(t - c->g->tensors);
    const uint32_t to = c->plan[index].type;
    uint64_t in_row = 0, out_row = 0;
    mb_type_row_bytes(t->type, t->ne[0], &in_row);
    mb_type_row_bytes(to, t->ne[0], &out_row);
    float *row = c->scratch + (size_t)ith * SCRATCH_PER_COL * n;
    long begin, end;
    mb_split_range((long)t->ne[1], ith, nth, &begin, &end);
    uint64_t zeros = 0;
    for (long r = begin; r < end; r++) {
        mb_type_get(t->type)->to_float(t->data + (uint64_t)r * in_row, row, n);
        prune_row(c, row, n, c->col_ms ? c->col_ms[index] : NULL);
        for (int j = 0; j < n; j++)
            zeros += row[j] == 0.0f;
        mb_type_get(to)->from_float(row, c->out + (uint64_t)r * out_row, n);
    }
    __atomic_fetch_add(&c->zeros, zeros, __ATOMIC_RELAXED);
}

/* ---- the quantizer's planner and hook ---------------------------------- */

static mb_status plan(void *user, const mb_gguf *g, const mb_quant_rules *r, mb_quant_choice *pl) {
    prune_ctx *c = user;
    (void)r;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const mb_gguf_tensor *t = &g->tensors[i];
        if (!is_pruned(t)) continue;
        if (c->p.n && t->ne[0] % c->p.m != 0)
            return mb_errorf(MB_ERR_INVALID_ARG,
                             "tensor '%s': rows of %llu are not a multiple of M = %d", t->name,
                             (unsigned long long)t->ne[0], c->p.m);
        if (c->sparse_type >= 0) {
            if (t->ne[0] % MB_QK_SPARSE != 0)
                return mb_errorf(MB_ERR_UNSUPPORTED,
                                 "tensor '%s': rows of %llu are not a multiple of %d, the block of "
                                 "%s; use a dense --type",
                                 t->name, (unsigned long long)t->ne[0], MB_QK_SPARSE,
                                 mb_type_name((uint32_t)c->sparse_type));
            if (tensor_sparsity(c, t->name) < 0.5 && !c->p.n)
                return mb_errorf(MB_ERR_INVALID_ARG,
                                 "tensor '%s': sparsity %.2f keeps more than the half of each "
                                 "block of 256 that %s holds; use a dense --type for it",
                                 t->name, tensor_sparsity(c, t->name),
                                 mb_type_name((uint32_t)c->sparse_type));
            pl[i].type = pl[i].wanted = (uint32_t)c->sparse_type;
            pl[i].fallback = 0;
        }
        pl[i].quantize = 1;
        pl[i].fixed = 1;
    }
    return MB_OK;
}

/* Wanda: sum x_j^2 of every input row each matrix sees. */
static void observe(void *user, uint64_t tensor, const float *x, int n_rows, int n_in) {
    prune_ctx *c = user;
    if (!c->col_ms[tensor]) {
        if (!(c->col_ms[tensor] = calloc((size_t)n_in, sizeof(double)))) return;
    }
    double *ms = c->col_ms[tensor];
    for (int r = 0; r < n_rows; r++)
        for (int j = 0; j < n_in; j++)
            ms[j] += (double)x[(size_t)r * n_in + j] * x[(size_t)r * n_in + j];
    c->col_n[tensor] += (uint64_t)n_rows;
}

/* SparseGPT: tensor INDEX's rows W pruned against H, then encoded. */
static int sgpt_want(void *user, const mb_gguf_tensor *t) {
    (void)user;
    return is_pruned(t);
}

static mb_status sgpt_solve(void *user, uint64_t index, float *w, int64_t n_rows, int n_cols,
                            const double *h, void *out) {
    prune_ctx *c = user;
    const mb_sparsegpt_params sp = {.sparsity = tensor_sparsity(c, c->g->tensors[index].name),
                                    .n = c->p.n,
                                    .m = c->p.m,
                                    .n_threads = mb_threadpool_size(c->pool)};
    mb_status st = mb_sparsegpt_prune(w, n_rows, n_cols, h, &sp);
    if (st) return mb_error_prefix(st, "%s", c->g->tensors[index].name);
    const uint32_t to = c->plan[index].type;
    uint64_t out_row = 0, zeros = 0;
    mb_type_row_bytes(to, (uint64_t)n_cols, &out_row);
    for (int64_t r = 0; r < n_rows; r++) {
        const float *wr = w + (size_t)r * n_cols;
        for (int j = 0; j < n_cols; j++)
            zeros += wr[j] == 0.0f;
        mb_type_get(to)->from_float(wr, (uint8_t *)out + (uint64_t)r * out_row, n_cols);
    }
    c->zeros += zeros;
    return MB_OK;
}

static mb_status prepare_sparsegpt(prune_ctx *c, const mb_gguf *g, const mb_quant_choice *pl) {
    const mb_gptq_model_params gp = {.model_path = c->in_path,
                                     .calib_path = c->p.calib_path,
                                     .calib_chunks = c->p.calib_chunks,
                                     .calib_ctx = c->p.calib_ctx,
                                     .n_threads = c->p.n_threads,
                                     .progress = c->p.progress,
                                     .progress_user = c->p.progress_user,
                                     .solver = {sgpt_want, sgpt_solve, c}};
    mb_progressf(c->p.progress, c->p.progress_user, "sparsegpt: calibrating on %s\n",
                 c->p.calib_path);
    mb_status st = mb_gptq_model_new(&gp, &c->sgpt);
    if (st) return st;
    mb_gptq_model_hook(c->sgpt, &c->sgpt_hook);
    return c->sgpt_hook.prepare(c->sgpt_hook.user, g, pl);
}

static mb_status prepare(void *user, const mb_gguf *g, const mb_quant_choice *pl) {
    prune_ctx *c = user;
    c->g = g;
    c->n_tensors = g->n_tensors;
    c->plan = pl;
    uint64_t max_row = 0;
    for (uint64_t i = 0; i < g->n_tensors; i++)
        if (g->tensors[i].ne[0] > max_row) max_row = g->tensors[i].ne[0];
    const int nth = c->p.n_threads > 0 ? c->p.n_threads : mb_physical_cores();
    mb_status st = mb_threadpool_new(nth, &c->pool);
    if (!st && !(c->scratch = malloc((size_t)nth * SCRATCH_PER_COL * max_row * sizeof(float))))
        st = mb_errorf(MB_ERR_NO_MEMORY, "cannot allocate the pruning scratch");
    if (!st && c->p.method == MB_PRUNE_SPARSEGPT) return prepare_sparsegpt(c, g, pl);
    if (st || c->p.method != MB_PRUNE_WANDA) return st;
    c->col_ms = calloc(g->n_tensors, sizeof *c->col_ms);
    c->col_n = calloc(g->n_tensors, sizeof *c->col_n);
    if (!c->col_ms || !c->col_n) return mb_errorf(MB_ERR_NO_MEMORY, "out of memory (Wanda)");
    const mb_calib_params cp = {c->p.calib_ctx, c->p.calib_chunks, c->p.n_threads};
    mb_calib *cal = NULL;
    mb_progressf(c->p.progress, c->p.progress_user, "wanda: calibrating on %s\n", c->p.calib_path);
    st = mb_calib_open(c->in_path, c->p.calib_path, &cp, &cal);
    if (!st) st = mb_calib_run(cal, observe, c);
    mb_calib_close(cal);
    for (uint64_t i = 0; !st && i < g->n_tensors; i++) {
        if (!is_pruned(&g->tensors[i])) continue;
        if (!c->col_ms[i])
            return mb_errorf(MB_ERR_FORMAT, "wanda: calibration never reached tensor '%s'",
                             g->tensors[i].name);
        for (uint64_t j = 0; j < g->tensors[i].ne[0]; j++)
            c->col_ms[i][j] /= (double)c->col_n[i];
    }
    return st;
}

static mb_status tensor(void *user, uint64_t index, void *out, uint64_t nbytes, int *done) {
    prune_ctx *c = user;
    (void)nbytes;
    const mb_gguf_tensor *t = &c->g->tensors[index];
    if (!is_pruned(t)) return MB_OK;
    c->t = t;
    c->out = out;
    c->sparsity = tensor_sparsity(c, t->name);
    c->total += t->ne[0] * t->ne[1];
    if (c->sgpt) {
        mb_status st = c->sgpt_hook.tensor(c->sgpt_hook.user, index, out, nbytes, done);
        if (!st && !*done)
            st = mb_errorf(MB_ERR_FORMAT, "sparsegpt: calibration never reached tensor '%s'",
                           t->name);
        return st;
    }
    const int nth = mb_threadpool_size(c->pool);
    mb_threadpool_run(c->pool, t->ne[1] < (uint64_t)nth ? (int)t->ne[1] : nth, prune_rows, c);
    *done = 1;
    return MB_OK;
}

static mb_status metadata(void *user, mb_gguf_writer *w) {
    prune_ctx *c = user;
    char pattern[32];
    if (c->p.n)
        snprintf(pattern, sizeof pattern, "%d:%d", c->p.n, c->p.m);
    else
        snprintf(pattern, sizeof pattern, "unstructured");
    static const char *const names[] = {"magnitude", "wanda", "sparsegpt"};
    mb_status st = mb_gguf_writer_set_str(w, "matchbox.sparse.method", names[c->p.method]);
    if (!st) st = mb_gguf_writer_set_str(w, "matchbox.sparse.pattern", pattern);
    if (!st)
        st =
            mb_gguf_writer_set_f32(w, "matchbox.sparse.sparsity",
                                   (float)(c->p.n ? 1.0 - (double)c->p.n / c->p.m : c->p.sparsity));
    if (!st && c->p.schedule)
        st = mb_gguf_writer_set_str(w, "matchbox.sparse.schedule", c->p.schedule);
    return st;
}

mb_prune_params mb_prune_default_params(void) {
    mb_prune_params p;
    memset(&p, 0, sizeof p);
    p.sparsity = 0.5;
    p.method = MB_PRUNE_MAGNITUDE;
    p.type = "SQ4";
    p.preset = "Q4_K_M";
    return p;
}

static mb_status check(const mb_prune_params *p, prune_ctx *c) {
    if (p->method != MB_PRUNE_MAGNITUDE && p->method != MB_PRUNE_WANDA &&
        p->method != MB_PRUNE_SPARSEGPT)
        return mb_errorf(MB_ERR_INVALID_ARG, "unknown pruning method %d", (int)p->method);
    if (p->method != MB_PRUNE_MAGNITUDE && !p->calib_path)
        return mb_errorf(MB_ERR_INVALID_ARG, "%s needs a calibration text (--calib)",
                         p->method == MB_PRUNE_WANDA ? "wanda" : "sparsegpt");
    if (!(p->sparsity >= 0.0 && p->sparsity <= 0.95))
        return mb_errorf(MB_ERR_INVALID_ARG, "sparsity %g is not in 0..0.95", p->sparsity);
    if ((p->n || p->m) && !(p->n > 0 && p->m > p->n && p->m <= 64))
        return mb_errorf(MB_ERR_INVALID_ARG, "pattern %d:%d: need 0 < N < M <= 64", p->n, p->m);
    if (p->n && 2 * p->n > p->m && p->type && (!strcmp(p->type, "SQ4") || !strcmp(p->type, "SQ8")))
        return mb_errorf(MB_ERR_INVALID_ARG,
                         "pattern %d:%d keeps more than half, more than %s holds; use a dense type",
                         p->n, p->m, p->type);
    c->sparse_type = -1;
    if (p->type) {
        const int t = mb_type_from_name(p->type);
        if (t != MB_TYPE_SQ4 && t != MB_TYPE_SQ8 && t != MB_TYPE_SQ4_24)
            return mb_errorf(MB_ERR_INVALID_ARG,
                             "type '%s': the pruned matrices' type is SQ4, SQ8 or SQ4_24 (or "
                             "none: the preset's dense types)",
                             p->type);
        if (t == MB_TYPE_SQ4_24 && !(p->n == 2 && p->m == 4))
            return mb_errorf(MB_ERR_INVALID_ARG, "type SQ4_24 stores the 2:4 pattern: give "
                                                 "--pattern 2:4 with it");
        c->sparse_type = t;
    }
    return p->schedule ? parse_schedule(c, p->schedule) : MB_OK;
}

mb_status mb_prune_file(const char *in, const char *out, const mb_prune_params *params,
                        mb_quantize_stats *stats) {
    mb_quantize_stats local;
    if (!stats) stats = &local;
    memset(stats, 0, sizeof *stats);
    const mb_prune_params p = params ? *params : mb_prune_default_params();
    prune_ctx *c = calloc(1, sizeof *c);
    if (!c) return mb_errorf(MB_ERR_NO_MEMORY, "out of memory");
    c->p = p;
    c->in_path = in;
    mb_status st = check(&p, c);
    if (!st) {
        mb_quantize_params qp = mb_quantize_default_params();
        qp.type = p.preset ? p.preset : "Q4_K_M";
        qp.n_threads = p.n_threads;
        qp.progress = p.progress;
        qp.progress_user = p.progress_user;
        const mb_quant_hook hook = {prepare, tensor, c, metadata};
        const mb_quant_planner planner = {plan, c};
        st = mb_quantize_run(in, out, &qp, &hook, &planner, stats);
        if (!st && c->total)
            mb_progressf(p.progress, p.progress_user,
                         "pruned: %.2f%% of the %llu weights of the pruned matrices are zero\n",
                         100.0 * (double)c->zeros / (double)c->total, (unsigned long long)c->total);
    }
    for (int i = 0; i < c->n_rules; i++)
        regfree(&c->rules[i].re);
    if (c->col_ms)
        for (uint64_t i = 0; i < c->n_tensors; i++)
            free(c->col_ms[i]);
    free(c->col_ms);
    free(c->col_n);
    free(c->scratch);
    mb_gptq_model_free(c->sgpt);
    mb_threadpool_free(c->pool);
    free(c);
    return st;
}
