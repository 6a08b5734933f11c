/* Distillation around the training loop: the teacher is loaded by the
 * inference engine (any GGUF matchbox runs, quantized too) and gives its
 * logits for each window of the micro-batch, either recomputed as windows
 * are drawn or taken from a top-k cache built once over the aligned windows
 * of the corpus; the student may start from a slice of the teacher. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/log.h"
#include "core/timer.h"
#include "format/gguf.h"
#include "tensor/types.h"
#include "train/data.h"
#include "train/distill.h"
#include "train/ops.h"

typedef struct {
    const mb_distill_params *p;
    const mb_train_config *c;
    const mb_train_run *run;
    mb_model *teacher;
    mb_session *ts;
    float *tlogits; /* [batch * ctx][vocab]: the micro-batch's teacher logits */
    /* top-k cache over aligned windows: [n_win][ctx][k], and one micro-batch's rows */
    int32_t *cache_ids, *batch_ids;
    float *cache_logits, *batch_logits;
    float *cache_lse, *batch_lse; /* [rows]: log sum exp(teacher logits / T) */
    size_t n_win;
} distill_ctx;

/* The teacher's logits for CTX tokens from position 0. */
static mb_status teacher_window(distill_ctx *d, const int32_t *tokens, float *out) {
    mb_status st = mb_session_rewind(d->ts, 0);
    if (!st) st = mb_session_eval_all(d->ts, tokens, (size_t)d->c->ctx, out);
    return st;
}

/* The K largest of Z[0..n) by value (ties: lower id), descending. */
static void top_k(const float *z, int n, int k, int32_t *ids, float *vals) {
    int have = 0;
    for (int i = 0; i < n; i++) {
        if (have == k && z[i] <= vals[k - 1]) continue;
        int at = have < k ? have++ : k - 1;
        while (at > 0 && vals[at - 1] < z[i]) {
            vals[at] = vals[at - 1];
            ids[at] = ids[at - 1];
            at--;
        }
        vals[at] = z[i];
        ids[at] = i;
    }
}

static mb_status prepare(void *user, const mb_train_data *data, const mb_train_config *c) {
    distill_ctx *d = user;
    d->c = c; /* the loop's copy, with the vocabulary filled in */
    if (mb_model_n_vocab(d->teacher) != c->vocab)
        return mb_errorf(MB_ERR_INVALID_ARG,
                         "the teacher %s has %d tokens but the student's vocabulary has %d: "
                         "they must share one tokenizer",
                         d->p->teacher_path, mb_model_n_vocab(d->teacher), c->vocab);
    const int k = d->p->topk;
    if (k <= 0) return MB_OK;
    if (k > c->vocab)
        return mb_errorf(MB_ERR_INVALID_ARG, "--topk %d exceeds the vocabulary (%d)", k, c->vocab);
    d->n_win = (data->n_train - 1) / (size_t)c->ctx;
    const size_t rows = d->n_win * (size_t)c->ctx, brows = (size_t)c->batch * c->ctx;
    const double mib = (double)rows * (k * 8 + 4) / 1048576.0;
    if (!d->run->quiet)
        mb_log(MB_LOG_INFO, "teacher top-%d cache: %zu windows, %.1f MiB\n", k, d->n_win, mib);
    d->cache_ids = malloc(rows * k * sizeof *d->cache_ids);
    d->cache_logits = malloc(rows * k * sizeof *d->cache_logits);
    d->batch_ids = malloc(brows * k * sizeof *d->batch_ids);
    d->batch_logits = malloc(brows * k * sizeof *d->batch_logits);
    d->cache_lse = malloc(rows * sizeof *d->cache_lse);
    d->batch_lse = malloc(brows * sizeof *d->batch_lse);
    if (!d->cache_ids || !d->cache_logits || !d->batch_ids || !d->batch_logits || !d->cache_lse ||
        !d->batch_lse)
        return mb_errorf(MB_ERR_NO_MEMORY, "teacher top-%d cache of %.1f MiB: out of memory", k,
                         mib);
    double t0 = mb_now();
    for (size_t w = 0; w < d->n_win; w++) {
        mb_status st = teacher_window(d, data->tokens + w * c->ctx, d->tlogits);
        if (st) return mb_error_prefix(st, "teacher %s: ", d->p->teacher_path);
        for (int r = 0; r < c->ctx; r++) {
            size_t row = w * c->ctx + r;
            const float *z = d->tlogits + (size_t)r * c->vocab;
            top_k(z, c->vocab, k, d->cache_ids + row * k, d->cache_logits + row * k);
            d->cache_lse[row] = (float)mb_logsumexp_scaled(z, c->vocab, 1.0f / d->p->temperature);
        }
        if (!d->run->quiet && ((w + 1) % 64 == 0 || w + 1 == d->n_win))
            mb_log(MB_LOG_INFO, "\rteacher: %zu/%zu windows, %.0f tok/s", w + 1, d->n_win,
                   (double)(w + 1) * c->ctx / (mb_now() - t0));
    }
    if (!d->run->quiet) mb_log(MB_LOG_INFO, "\n");
    return MB_OK;
}

static double loss(void *user, mb_threadpool *pool, float *logits, const int32_t *inputs,
                   const int32_t *targets, const size_t *starts, int n_seq, float scale,
                   float *row_loss) {
    distill_ctx *d = user;
    const mb_train_config *c = d->c;
    const int k = d->p->topk;
    mb_teacher_view v = {.temperature = d->p->temperature, .alpha = d->p->alpha, .k = k};
    for (int b = 0; b < n_seq; b++) {
        size_t brow = (size_t)b * c->ctx;
        if (k > 0) {
            size_t row = starts[b] / c->ctx * c->ctx; /* aligned: the window's first row */
            memcpy(d->batch_ids + brow * k, d->cache_ids + row * k,
                   (size_t)c->ctx * k * sizeof *d->batch_ids);
            memcpy(d->batch_logits + brow * k, d->cache_logits + row * k,
                   (size_t)c->ctx * k * sizeof *d->batch_logits);
            memcpy(d->batch_lse + brow, d->cache_lse + row, (size_t)c->ctx * sizeof *d->batch_lse);
        } else if (teacher_window(d, inputs + brow, d->tlogits + brow * c->vocab)) {
            /* The windows were checked when the corpus loaded; a failure
             * here is a bug, and a NaN loss makes it visible. */
            return NAN;
        }
    }
    if (k > 0) {
        v.topk_ids = d->batch_ids;
        v.topk_logits = d->batch_logits;
        v.topk_lse = d->batch_lse;
    } else {
        v.logits = d->tlogits;
    }
    return mb_loss_distill(pool, logits, targets, n_seq * c->ctx, c->vocab, &v, scale, row_loss);
}

/* Student layer IL of N_S takes teacher layer IL * N_T / N_S (evenly spaced). */
static void teacher_name(const char *student, int n_s, int n_t, char *out, size_t cap) {
    int il;
    const char *rest;
    if (sscanf(student, "blk.%d.", &il) == 1 && (rest = strchr(student + 4, '.')))
        snprintf(out, cap, "blk.%d%s", (int)((long)il * n_t / n_s), rest);
    else
        snprintf(out, cap, "%s", student);
}

static mb_status init_from_teacher(void *user, mb_tmodel *m) {
    distill_ctx *d = user;
    if (!d->p->init_from_teacher) return MB_OK;
    mb_gguf *g = NULL;
    mb_status st = mb_gguf_open(d->p->teacher_path, 0, 0, &g);
    if (st) return st;
    uint32_t n_t = 0;
    if ((st = mb_gguf_get_u32(g, "llama.block_count", &n_t))) goto done;
    const int n_s = d->c->n_layers;
    if (n_s > (int)n_t) {
        st = mb_errorf(MB_ERR_INVALID_ARG, "the student has %d layers, the teacher only %u", n_s,
                       n_t);
        goto done;
    }
    float *params = mb_tmodel_params(m), *row = NULL;
    for (int i = 0; i < mb_tmodel_n_tensors(m); i++) {
        const mb_tparam *p = mb_tmodel_tensor(m, i);
        char name[96];
        teacher_name(p->name, n_s, (int)n_t, name, sizeof name);
        const mb_gguf_tensor *t = mb_gguf_find_tensor(g, name);
        if (!t && !strcmp(name, "output.weight")) t = mb_gguf_find_tensor(g, "token_embd.weight");
        const mb_type_traits *tt = t ? mb_type_get(t->type) : NULL;
        uint64_t cols = p->ne[0], rows = p->n_dims > 1 ? p->ne[1] : 1;
        if (!t || !tt || t->ne[0] < cols || (p->n_dims > 1 && t->ne[1] < rows)) {
            st = mb_errorf(MB_ERR_INVALID_ARG,
                           "the teacher has no tensor %s of at least %llu x %llu for the "
                           "student's %s",
                           name, (unsigned long long)cols, (unsigned long long)rows, p->name);
            break;
        }
        uint64_t row_bytes;
        if (!mb_type_row_bytes(t->type, t->ne[0], &row_bytes) ||
            !(row = realloc(row, t->ne[0] * sizeof *row))) {
            st = mb_errorf(MB_ERR_NO_MEMORY, "%s: row of %llu values", name,
                           (unsigned long long)t->ne[0]);
            break;
        }
        for (uint64_t r = 0; r < rows; r++) {
            tt->to_float(t->data + r * row_bytes, row, (int64_t)t->ne[0]);
            memcpy(params + p->offset + r * cols, row, cols * sizeof *row);
        }
    }
    free(row);
    if (!st && !d->run->quiet)
        mb_log(MB_LOG_INFO, "student: %d layers sliced from the teacher's %u\n", n_s, n_t);
done:
    mb_gguf_close(g);
    return st;
}

mb_status mb_distill(const mb_train_config *c, mb_train_run *run, const mb_distill_params *p) {
    if (!(p->temperature > 0) || !(p->alpha >= 0 && p->alpha <= 1) || p->topk < 0)
        return mb_errorf(MB_ERR_INVALID_ARG,
                         "distillation needs T > 0 (got %g), alpha in [0, 1] (got %g), "
                         "top-k >= 0 (got %d)",
                         p->temperature, p->alpha, p->topk);
    distill_ctx d = {.p = p, .c = c, .run = run};
    mb_model_params mp = mb_model_default_params();
    mb_session_params sp = mb_session_default_params();
    sp.n_ctx = c->ctx;
    sp.n_threads = run->n_threads;
    mb_status st = mb_model_load(p->teacher_path, &mp, &d.teacher);
    if (!st) st = mb_session_new(d.teacher, &sp, &d.ts);
    if (st) goto done;
    d.tlogits = malloc((size_t)c->batch * c->ctx * mb_model_n_vocab(d.teacher) * sizeof *d.tlogits);
    if (!d.tlogits) {
        st = mb_errorf(MB_ERR_NO_MEMORY, "teacher logits for %d x %d tokens: out of memory",
                       c->batch, c->ctx);
        goto done;
    }
    mb_train_hooks h = {.user = &d,
                        .prepare = prepare,
                        .init = init_from_teacher,
                        .aligned_windows = p->topk > 0,
                        .loss = loss};
    run->hooks = &h;
    st = mb_train(c, run);
    run->hooks = NULL;
done:
    free(d.tlogits);
    free(d.cache_ids);
    free(d.cache_logits);
    free(d.batch_ids);
    free(d.batch_logits);
    free(d.cache_lse);
    free(d.batch_lse);
    mb_session_free(d.ts);
    mb_model_free(d.teacher);
    return st;
}
