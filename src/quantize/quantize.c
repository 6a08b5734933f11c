/* The GGUF-to-GGUF quantizer. Every tensor's type is planned first (so a
 * refusal comes before any output exists); then the GGUF writer pulls each
 * tensor's bytes through a callback while it writes, so only one output
 * tensor is in memory at a time, and the threads split its rows. The input
 * is mapped: its pages are page cache, released as the kernel sees fit. */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "core/checked.h"
#include "core/error.h"
#include "core/threadpool.h"
#include "core/timer.h"
#include "format/gguf.h"
#include "quantize/progress.h"
#include "quantize/quantize.h"
#include "quantize/smooth.h"
#include "tensor/quant_weighted.h"
#include "tensor/types.h"

typedef struct {
    const mb_gguf *in;
    const mb_quant_choice *plan;
    const mb_quant_hook *hook;
    mb_threadpool *pool;
    int n_threads;
    float *rows; /* n_threads scratch rows of max_row floats */
    uint64_t max_row;
    mb_progress_fn progress;
    void *progress_user;
    uint64_t done_bytes_in, done_bytes_out;
    /* the job of the tensor being converted */
    const mb_gguf_tensor *t;
    uint32_t to;
    uint8_t *dst;
    /* quantize --imatrix / --smooth: the importance matrix and SmoothQuant
     * scales, and for the tensor being converted its importances
     * [n_mat][ne0] (NULL: plain fits) and column scales (NULL: none) */
    const mb_imatrix *imatrix;
    mb_smooth *sq;
    const float *qw, *smooth;
    float *qw_buf;
    int n_weighted;
} qctx;

static void convert_rows(void *arg, int ith, int nth) {
    qctx *c = arg;
    const mb_gguf_tensor *t = c->t;
    const uint64_t n_rows = t->ne[1] * t->ne[2] * t->ne[3];
    const mb_type_traits *src = mb_type_get(t->type), *dst = mb_type_get(c->to);
    uint64_t in_row = 0, out_row = 0;
    mb_type_row_bytes(t->type, t->ne[0], &in_row);
    mb_type_row_bytes(c->to, t->ne[0], &out_row);
    float *row = c->rows + (uint64_t)ith * c->max_row;
    long begin, end;
    mb_split_range((long)n_rows, ith, nth, &begin, &end);
    for (long r = begin; r < end; r++) {
        src->to_float(t->data + (uint64_t)r * in_row, row, (int64_t)t->ne[0]);
        for (uint64_t j = 0; c->smooth && j < t->ne[0]; j++)
            row[j] *= c->smooth[j];
        const float *qw = c->qw ? c->qw + (uint64_t)r / t->ne[1] * t->ne[0] : NULL;
        uint8_t *o = c->dst + (uint64_t)r * out_row;
        if (!qw || !mb_quant_row_weighted(c->to, row, o, (int64_t)t->ne[0], qw))
            dst->from_float(row, o, (int64_t)t->ne[0]);
    }
}

/* The importances and SmoothQuant scales of tensor T, into C. Activations
 * become x / s, so their mean x^2 becomes mean x^2 / s^2. */
static mb_status calib_tensor(qctx *c, const mb_gguf_tensor *t) {
    int is_norm = 0;
    const float *s = c->sq ? mb_smooth_scales(c->sq, t->name, &is_norm) : NULL;
    c->smooth = s && !is_norm ? s : NULL;
    c->qw = NULL;
    const mb_imatrix_entry *e = c->imatrix ? mb_imatrix_find(c->imatrix, t->name) : NULL;
    const uint64_t n_mat = t->ne[2] * t->ne[3];
    if (!e || (uint64_t)e->n_cols != t->ne[0] || (uint64_t)e->n_mat != n_mat) return MB_OK;
    free(c->qw_buf);
    if (!(c->qw_buf = malloc((size_t)(t->ne[0] * n_mat) * sizeof *c->qw_buf)))
        return mb_errorf(MB_ERR_NO_MEMORY, "out of memory for the importances of '%s'", t->name);
    for (uint64_t m = 0; m < n_mat; m++) {
        float *w = c->qw_buf + m * t->ne[0];
        mb_imatrix_mean(e, (int)m, w);
        for (uint64_t j = 0; c->smooth && j < t->ne[0]; j++)
            w[j] /= c->smooth[j] * c->smooth[j];
    }
    /* A channel never active in the calibration text would get weight 0,
     * and a block of such channels a zero scale: floor the weights. */
    const uint64_t n_all = t->ne[0] * n_mat;
    double mean = 0;
    for (uint64_t j = 0; j < n_all; j++)
        mean += c->qw_buf[j] / (double)n_all;
    const float floor_w = mean > 0 ? (float)(1e-6 * mean) : 1.0f;
    for (uint64_t j = 0; j < n_all; j++)
        if (!(c->qw_buf[j] >= floor_w)) c->qw_buf[j] = floor_w;
    c->qw = c->qw_buf;
    c->n_weighted++;
    return MB_OK;
}

static mb_status fill_tensor(void *user, uint64_t index, void *out, uint64_t nbytes) {
    qctx *c = user;
    const mb_gguf_tensor *t = &c->in->tensors[index];
    const mb_quant_choice *ch = &c->plan[index];
    const double t0 = mb_now();
    int done = 0;
    if (c->hook && c->hook->tensor) {
        mb_status st = c->hook->tensor(c->hook->user, index, out, nbytes, &done);
        if (st) return mb_error_prefix(st, "tensor '%s'", t->name);
    }
    /* Importances only for what the plain path encodes (counted as fitted
     * with them): a method's hook writes its tensors with its own. */
    mb_status cst = done ? MB_OK : calib_tensor(c, t);
    if (cst) return cst;
    if (!done && !ch->quantize) {
        memcpy(out, t->data, (size_t)nbytes);
    } else if (!done) {
        c->t = t;
        c->to = ch->type;
        c->dst = out;
        const uint64_t n_rows = t->ne[1] * t->ne[2] * t->ne[3];
        int nth = n_rows < (uint64_t)c->n_threads ? (int)n_rows : c->n_threads;
        mb_threadpool_run(c->pool, nth > 0 ? nth : 1, convert_rows, c);
    }
    int is_norm = 0;
    const float *sv = c->sq ? mb_smooth_scales(c->sq, t->name, &is_norm) : NULL;
    for (uint64_t j = 0; sv && is_norm && j < t->ne[0]; j++)
        ((float *)out)[j] /= sv[j]; /* a copied F32 norm: activations x / s */
    /* The input pages are not needed again: let the kernel drop them now
     * rather than count them against this process. */
    if (c->in->map.is_mmap && t->nbytes > 0) {
        uintptr_t lo = (uintptr_t)t->data & ~(uintptr_t)4095;
        (void)madvise((void *)lo, (size_t)((uintptr_t)t->data + t->nbytes - lo), MADV_DONTNEED);
    }
    c->done_bytes_in += t->nbytes;
    c->done_bytes_out += nbytes;
    if (c->progress) {
        char shape[96];
        int len = snprintf(shape, sizeof shape, "%llu", (unsigned long long)t->ne[0]);
        for (uint32_t d = 1; d < t->n_dims && len < (int)sizeof shape; d++)
            len += snprintf(shape + len, sizeof shape - (size_t)len, " x %llu",
                            (unsigned long long)t->ne[d]);
        char fb[96] = "";
        if (ch->fallback)
            snprintf(fb, sizeof fb, " (fallback: %s needs rows of a multiple of %u)",
                     mb_type_name(ch->wanted), mb_type_get(ch->wanted)->block_size);
        /* mb_type_name may share one per-thread buffer: one call per format */
        char from[24], to[24];
        snprintf(from, sizeof from, "%s", mb_type_name(t->type));
        snprintf(to, sizeof to, "%s", mb_type_name(ch->type));
        mb_progressf(c->progress, c->progress_user,
                     "[%4llu/%4llu] %-32s [%s] %s -> %s%s  %.3f -> %.3f MiB  %.2fs\n",
                     (unsigned long long)index + 1, (unsigned long long)c->in->n_tensors, t->name,
                     shape, from, to, fb, (double)t->nbytes / (1 << 20), (double)nbytes / (1 << 20),
                     mb_now() - t0);
    }
    return MB_OK;
}

/* Hyper-parameters the type rules use, from <arch>.* keys (defaults when
 * absent: the rules then act as for a dense model with no GQA). */
static void read_rules(const mb_gguf *g, mb_quant_rules *r) {
    mb_str arch = {"llama", 5};
    mb_gguf_get_str(g, "general.architecture", &arch);
    char key[160];
    uint32_t v = 0, heads = 0, kv = 0;
#define ARCH_KEY(suffix) (snprintf(key, sizeof key, "%.*s." suffix, (int)arch.len, arch.ptr), key)
    if (mb_gguf_get_u32(g, ARCH_KEY("block_count"), &v) == MB_OK) r->n_layer = (int)v;
    if (mb_gguf_get_u32(g, ARCH_KEY("attention.head_count"), &heads) == MB_OK &&
        mb_gguf_get_u32(g, ARCH_KEY("attention.head_count_kv"), &kv) == MB_OK && kv > 0)
        r->n_gqa = (int)(heads / kv);
    if (mb_gguf_get_u32(g, ARCH_KEY("expert_count"), &v) == MB_OK) r->n_expert = (int)v;
#undef ARCH_KEY
    if (r->n_gqa < 1) r->n_gqa = 1;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const char *n = g->tensors[i].name;
        if (strstr(n, "attn_v.weight") || strstr(n, "attn_qkv.weight") ||
            strstr(n, "attn_kv_b.weight"))
            r->n_attn_v++;
        if (strcmp(n, "output.weight") == 0) r->has_output = 1;
    }
}

static mb_status check_plan(const mb_gguf *g, const mb_quantize_params *prm,
                            const mb_quant_choice *plan) {
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const mb_gguf_tensor *t = &g->tensors[i];
        const mb_type_traits *tr = mb_type_get(t->type);
        if (plan[i].quantize && tr->is_quantized && !prm->allow_requantize)
            return mb_errorf(MB_ERR_UNSUPPORTED,
                             "tensor '%s' is already quantized (%s); requantizing loses more "
                             "than quantizing the original, pass --allow-requantize to do it "
                             "anyway",
                             t->name, tr->name);
        if (plan[i].quantize && !mb_type_get(plan[i].type)->from_float)
            return mb_errorf(MB_ERR_UNSUPPORTED, "tensor '%s': no encoder for %s", t->name,
                             mb_type_name(plan[i].type));
    }
    return MB_OK;
}

/* The preset's type of every tensor, then the user's overrides, then the
 * planner's re-planning; checked before and after the planner. */
static mb_status plan_all(const mb_gguf *g, const mb_quant_preset *p, const mb_quantize_params *prm,
                          const mb_quant_planner *planner, mb_quant_choice *plan) {
    mb_quant_rules r = {0};
    r.allow_fallback = prm->allow_fallback;
    read_rules(g, &r);
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const mb_gguf_tensor *t = &g->tensors[i];
        mb_status st = mb_quant_choose(p, &r, t->name, t->n_dims, t->ne, t->type, &plan[i]);
        uint32_t want;
        if (!st && mb_quant_is_weight(t->name, t->n_dims) &&
            mb_quant_overrides_match(prm->overrides, t->name, r.has_output, &want)) {
            st = mb_quant_settle(&r, t->name, t->ne, want, t->type, &plan[i]);
            plan[i].fixed = 1;
        }
        if (st != MB_OK) return st;
    }
    mb_status st = check_plan(g, prm, plan);
    if (!st && planner) {
        st = planner->plan(planner->user, g, &r, plan);
        if (!st) st = check_plan(g, prm, plan);
    }
    return st;
}

/* quantize --imatrix / --smooth: plan the SmoothQuant scales. */
static mb_status setup_calibrated(qctx *c, const mb_gguf *g, mb_quant_choice *plan,
                                  const mb_quantize_params *prm, const mb_quant_hook *hook,
                                  mb_quantize_stats *stats) {
    c->imatrix = prm->imatrix;
    if (!(prm->smooth_alpha > 0)) return MB_OK;
    if (hook) /* its tensors would skip the column scales the norms assume */
        return mb_errorf(MB_ERR_INVALID_ARG, "SmoothQuant cannot be combined with a calibrated "
                                             "method (GPTQ, AWQ): both rescale the weights");
    if (!prm->imatrix)
        return mb_errorf(MB_ERR_INVALID_ARG, "SmoothQuant needs an importance matrix with "
                                             "per-channel maxima (from matchbox calibrate)");
    int n_groups = 0, n_skipped = 0;
    mb_status st =
        mb_smooth_plan(g, prm->imatrix, prm->smooth_alpha, &c->sq, &n_groups, &n_skipped);
    if (!st && n_groups == 0)
        st = mb_errorf(MB_ERR_INVALID_ARG,
                       "the importance matrix has no per-channel maxima (in_max) for any norm "
                       "of this model: make it with matchbox calibrate on this model");
    for (uint64_t i = 0; !st && i < g->n_tensors; i++) {
        int is_norm = 0;
        if (!mb_smooth_scales(c->sq, g->tensors[i].name, &is_norm) || is_norm) continue;
        /* A matrix that keeps its type is still rescaled: convert it to itself. */
        if (!plan[i].quantize && mb_type_get(plan[i].type)->from_float)
            plan[i].quantize = 1;
        else if (!plan[i].quantize)
            st = mb_errorf(MB_ERR_UNSUPPORTED, "SmoothQuant: tensor '%s' (%s) cannot be rescaled",
                           g->tensors[i].name, mb_type_name(plan[i].type));
    }
    stats->n_smooth_groups = n_groups;
    return st;
}

static mb_status build_writer(const mb_gguf *g, const mb_quant_preset *p,
                              const mb_quant_choice *plan, qctx *c, mb_gguf_writer *w) {
    static const char *const skip[] = {"general.file_type", "general.quantization_version",
                                       "split.no", "split.count", "split.tensors.count"};
    mb_status st = MB_OK;
    for (uint64_t i = 0; i < g->n_kv && !st; i++) {
        int keep = 1;
        for (size_t k = 0; k < sizeof skip / sizeof *skip; k++)
            if (strcmp(g->kv[i].key, skip[k]) == 0) keep = 0;
        if (keep) st = mb_gguf_writer_set_value(w, g->kv[i].key, &g->kv[i].value);
    }
    if (!st) st = mb_gguf_writer_set_u32(w, "general.quantization_version", 2);
    if (!st) st = mb_gguf_writer_set_u32(w, "general.file_type", p->ftype);
    if (!st && c->hook && c->hook->metadata) st = c->hook->metadata(c->hook->user, w);
    for (uint64_t i = 0; i < g->n_tensors && !st; i++) {
        const mb_gguf_tensor *t = &g->tensors[i];
        st = mb_gguf_writer_add_tensor_cb(w, t->name, plan[i].type, t->n_dims, t->ne, fill_tensor,
                                          c);
        if (t->ne[0] > c->max_row) c->max_row = t->ne[0];
    }
    return st;
}

mb_status mb_quantize_run(const char *in, const char *out, const mb_quantize_params *params,
                          const mb_quant_hook *hook, const mb_quant_planner *planner,
                          mb_quantize_stats *stats) {
    memset(stats, 0, sizeof *stats);
    const char *preset_name = params->type;
    const mb_quant_preset *p = mb_quant_preset_find(preset_name);
    if (!p)
        return mb_errorf(MB_ERR_INVALID_ARG, "unknown type '%s'; valid types: %s",
                         preset_name ? preset_name : "(none)", mb_quant_preset_names());
    const double t0 = mb_now();
    mb_gguf *g = NULL;
    mb_status st = mb_gguf_open(in, 1, 0, &g);
    if (st) return mb_error_prefix(st, "cannot quantize %s", in);
    mb_quant_choice *plan = calloc(g->n_tensors ? g->n_tensors : 1, sizeof *plan);
    mb_gguf_writer *w = NULL;
    qctx c = {.in = g,
              .plan = plan,
              .hook = hook,
              .progress = params->progress,
              .progress_user = params->progress_user};
    c.n_threads = params->n_threads > 0 ? params->n_threads : mb_physical_cores();
    if (!plan) st = mb_errorf(MB_ERR_NO_MEMORY, "out of memory planning %s", in);
    if (!st) st = plan_all(g, p, params, planner, plan);
    if (!st) st = setup_calibrated(&c, g, plan, params, hook, stats);
    if (!st && hook && hook->prepare) st = hook->prepare(hook->user, g, plan);
    if (!st) st = mb_gguf_writer_new(&w);
    if (!st) st = build_writer(g, p, plan, &c, w);
    uint64_t scratch = 0;
    if (!st && !mb_mul_u64(c.max_row, (uint64_t)c.n_threads * sizeof(float), &scratch))
        st = mb_errorf(MB_ERR_NO_MEMORY, "row scratch overflows");
    if (!st && !(c.rows = malloc(scratch ? (size_t)scratch : 1)))
        st = mb_errorf(MB_ERR_NO_MEMORY, "cannot allocate %llu bytes of row scratch",
                       (unsigned long long)scratch);
    if (!st) st = mb_threadpool_new(c.n_threads, &c.pool);
    if (!st) st = mb_gguf_writer_write(w, out);
    if (!st) {
        stats->n_tensors = (int)g->n_tensors;
        for (uint64_t i = 0; i < g->n_tensors; i++) {
            const mb_gguf_tensor *t = &g->tensors[i];
            stats->n_weights += t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
            stats->n_converted += plan[i].quantize;
            stats->n_fallback += plan[i].fallback;
        }
        stats->n_weighted = c.n_weighted;
        stats->bytes_in = c.done_bytes_in;
        stats->bytes_out = c.done_bytes_out;
        stats->file_in = g->map.size;
        FILE *f = fopen(out, "rb");
        if (f && fseek(f, 0, SEEK_END) == 0) stats->file_out = (uint64_t)ftell(f);
        if (f) fclose(f);
        stats->seconds = mb_now() - t0;
    }
    mb_threadpool_free(c.pool);
    mb_smooth_free(c.sq);
    free(c.qw_buf);
    free(c.rows);
    mb_gguf_writer_free(w);
    free(plan);
    mb_gguf_close(g);
    return st;
}
