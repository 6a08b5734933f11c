/* The training loop: sample windows, forward, loss, backward over
 * grad_accum micro-batches, clip, AdamW, evaluate, checkpoint, report. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/log.h"
#include "core/file_map.h"
#include "core/timer.h"
#include "train/data.h"
#include "train/ops.h"
#include "train/rng.h"
#include "train/train.h"

typedef struct {
    const mb_train_config *c;
    mb_tmodel *m;
    mb_threadpool *pool;
    mb_train_data d;
    int32_t *in, *tgt;
    size_t *starts; /* [batch]: where each window of the micro-batch starts */
    float *row_loss;
    mb_train_run *run;
} trainer;

static void fill_window(trainer *t, int b, size_t start) {
    int T = t->c->ctx;
    t->starts[b] = start;
    memcpy(t->in + (size_t)b * T, t->d.tokens + start, (size_t)T * sizeof(int32_t));
    memcpy(t->tgt + (size_t)b * T, t->d.tokens + start + 1, (size_t)T * sizeof(int32_t));
}

/* Mean loss of one optimizer step's micro-batches; gradients accumulated. */
static double train_step(trainer *t, uint64_t *rng) {
    const mb_train_config *c = t->c;
    int N = c->batch * c->ctx;
    double total = 0;
    mb_tmodel_zero_grads(t->m);
    for (int a = 0; a < c->grad_accum; a++) {
        const mb_train_hooks *h = t->run->hooks;
        for (int b = 0; b < c->batch; b++) {
            if (h && h->aligned_windows)
                fill_window(t, b, mb_rng_below(rng, (t->d.n_train - 1) / c->ctx) * c->ctx);
            else
                fill_window(t, b, mb_rng_below(rng, t->d.n_train - (size_t)c->ctx));
        }
        double t0 = mb_now();
        float *logits = mb_tmodel_forward(t->m, t->pool, t->in, c->batch);
        double t1 = mb_now();
        float scale = 1.0f / c->grad_accum;
        if (h && h->loss)
            total += h->loss(h->user, t->pool, logits, t->in, t->tgt, t->starts, c->batch, scale,
                             t->row_loss);
        else
            total += mb_loss_xent(t->pool, logits, t->tgt, N, c->vocab, scale, t->row_loss);
        double t2 = mb_now();
        mb_tmodel_backward(t->m, t->pool, t->in, c->batch);
        t->run->fwd_s += t1 - t0;
        t->run->bwd_s += mb_now() - t2;
    }
    return total / ((double)N * c->grad_accum);
}

/* Mean loss over up to eval_batches*batch evenly spaced validation windows
 * (the same windows every time). Negative when there is no validation text. */
static double evaluate(trainer *t) {
    const mb_train_config *c = t->c;
    if (t->d.n_val < (size_t)c->ctx + 1) return -1;
    size_t n_win = (t->d.n_val - 1) / c->ctx, want = (size_t)c->eval_batches * c->batch;
    if (want == 0) return -1;
    if (want > n_win) want = n_win;
    const int32_t *val = t->d.tokens + t->d.n_train;
    double total = 0;
    size_t done = 0;
    while (done < want) {
        int nb = 0;
        for (; nb < c->batch && done + nb < want; nb++) {
            size_t w = (done + nb) * n_win / want;
            fill_window(t, nb, (size_t)(val - t->d.tokens) + w * c->ctx);
        }
        float *logits = mb_tmodel_forward(t->m, t->pool, t->in, nb);
        total += mb_loss_xent_eval(t->pool, logits, t->tgt, nb * c->ctx, c->vocab, t->row_loss);
        done += nb;
    }
    return total / ((double)done * c->ctx);
}

static void fmt_time(char *buf, size_t cap, double s) {
    long x = (long)(s + 0.5);
    if (x >= 3600)
        snprintf(buf, cap, "%ldh%02ldm", x / 3600, x / 60 % 60);
    else
        snprintf(buf, cap, "%ldm%02lds", x / 60, x % 60);
}

static mb_status check_memory(const mb_train_config *c, const mb_train_run *run) {
    uint64_t w, g, a, act;
    mb_tmodel_memory(c, &w, &g, &a, &act);
    uint64_t total = w + g + a + act, avail = mb_mem_available();
    if (!run->quiet)
        mb_log(MB_LOG_INFO,
               "memory: weights %.1f MiB, gradients %.1f MiB, AdamW moments %.1f MiB, "
               "activations %.1f MiB = %.1f MiB (available %.0f MiB)\n",
               w / 1048576.0, g / 1048576.0, a / 1048576.0, act / 1048576.0, total / 1048576.0,
               avail / 1048576.0);
    if (avail && total > avail)
        return mb_errorf(MB_ERR_NO_MEMORY,
                         "training needs %.1f MiB but only %.1f MiB is available: lower batch, "
                         "ctx, dim or vocab",
                         total / 1048576.0, avail / 1048576.0);
    return MB_OK;
}

static mb_status loop(trainer *t, int step, uint64_t rng, const char *ckpt) {
    const mb_train_config *c = t->c;
    mb_train_run *run = t->run;
    double start = mb_now(), tokens = 0;
    int first_step = step;
    run->first_loss = run->last_loss = run->last_val_loss = -1;
    const int end = run->stop_at > 0 && run->stop_at < c->steps ? run->stop_at : c->steps;
    for (; step < end; step++) {
        double loss = train_step(t, &rng);
        double norm = mb_train_clip(mb_tmodel_grads(t->m), mb_tmodel_n_params(t->m), c->clip);
        float lr = mb_train_lr(c, step);
        mb_train_adamw(t->m, lr, step + 1);
        tokens += (double)c->batch * c->ctx * c->grad_accum;
        if (step == first_step) run->first_loss = loss;
        run->last_loss = loss;
        double val = -1;
        if (c->eval_every > 0 && ((step + 1) % c->eval_every == 0 || step + 1 == c->steps))
            run->last_val_loss = val = evaluate(t);
        double el = mb_now() - start;
        run->tok_per_s = tokens / el;
        if (!run->quiet) {
            char eta[32], vbuf[32] = "";
            fmt_time(eta, sizeof eta, el / (step + 1 - first_step) * (end - step - 1));
            if (val >= 0) snprintf(vbuf, sizeof vbuf, " | val %.4f", val);
            mb_log(MB_LOG_INFO,
                   "step %5d/%d | loss %.4f%s | lr %.2e | norm %.3f | %.0f tok/s | ETA %s\n",
                   step + 1, c->steps, loss, vbuf, lr, norm, run->tok_per_s, eta);
        }
        if (c->ckpt_every > 0 && (step + 1) % c->ckpt_every == 0 && step + 1 < end) {
            mb_status st = mb_tmodel_save(t->m, ckpt, false, true, step + 1, rng);
            if (st) return st;
            if (!run->quiet) mb_log(MB_LOG_INFO, "checkpoint: %s (step %d)\n", ckpt, step + 1);
        }
    }
    /* The final file carries the train state too when it is F32, so it can be resumed. */
    return mb_tmodel_save(t->m, run->out_path, run->f16, !run->f16, step, rng);
}

mb_status mb_train(const mb_train_config *cfg, mb_train_run *run) {
    mb_train_config c = *cfg;
    trainer t = {.c = &c, .run = run};
    char ckpt[4096];
    int step = 0;
    uint64_t rng = c.seed * 0x9E3779B97F4A7C15ull ^ 0xDA7AULL;
    if (run->ckpt_path)
        snprintf(ckpt, sizeof ckpt, "%s", run->ckpt_path);
    else
        snprintf(ckpt, sizeof ckpt, "%s.ckpt.gguf", run->out_path);
    if (run->n_threads < 1 || run->n_threads > 256)
        return mb_errorf(MB_ERR_INVALID_ARG, "threads %d must be in 1..256", run->n_threads);
    mb_status st =
        mb_train_data_load(&t.d, run->corpus_path, run->val_path, c.tokenizer, run->val_split);
    if (st) return st;
    if (c.vocab == 0) c.vocab = t.d.n_vocab;
    if (c.vocab != t.d.n_vocab) {
        st = mb_errorf(MB_ERR_INVALID_ARG, "config vocab %d differs from the tokenizer's %d tokens",
                       c.vocab, t.d.n_vocab);
        goto done;
    }
    if (t.d.n_train < (size_t)c.ctx + 2) {
        st = mb_errorf(MB_ERR_INVALID_ARG, "%s: %zu training tokens, fewer than ctx %d + 2",
                       run->corpus_path, t.d.n_train, c.ctx);
        goto done;
    }
    if (!run->quiet)
        mb_log(MB_LOG_INFO, "corpus: %zu tokens for training, %zu held out for validation\n",
               t.d.n_train, t.d.n_val);
    if ((st = mb_train_config_check(&c)) || (st = check_memory(&c, run)) ||
        (st = mb_threadpool_new(run->n_threads, &t.pool)) || (st = mb_tmodel_new(&c, &t.m)))
        goto done;
    size_t N = (size_t)c.batch * c.ctx;
    t.in = malloc(N * sizeof *t.in);
    t.tgt = malloc(N * sizeof *t.tgt);
    t.row_loss = malloc(N * sizeof *t.row_loss);
    t.starts = malloc((size_t)c.batch * sizeof *t.starts);
    if (!t.in || !t.tgt || !t.row_loss || !t.starts) {
        st = mb_errorf(MB_ERR_NO_MEMORY, "training buffers: out of memory");
        goto done;
    }
    const mb_train_hooks *h = run->hooks;
    if (h && h->prepare && (st = h->prepare(h->user, &t.d, &c))) goto done;
    if (run->resume_path) {
        if ((st = mb_tmodel_resume(t.m, run->resume_path, &step, &rng))) goto done;
        if (!run->quiet) mb_log(MB_LOG_INFO, "resumed %s at step %d\n", run->resume_path, step);
    } else if (h && h->init && (st = h->init(h->user, t.m))) {
        goto done;
    }
    if (!run->quiet)
        mb_log(MB_LOG_INFO, "model: %zu parameters, %d threads\n", mb_tmodel_n_params(t.m),
               run->n_threads);
    st = loop(&t, step, rng, ckpt);
done:
    free(t.in);
    free(t.tgt);
    free(t.row_loss);
    free(t.starts);
    mb_tmodel_free(t.m);
    mb_threadpool_free(t.pool);
    mb_train_data_free(&t.d);
    return st;
}
