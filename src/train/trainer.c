/* The training loop: sample windows, forward, loss, backward over
 * grad_accum micro-batches, clip, AdamW, evaluate, checkpoint, report.
 * Distillation and fine-tuning run this loop too, through its hooks. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
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
    const mb_train_params *p;
    const mb_train_hooks *h; /* never NULL: empty hooks for plain training */
    mb_train_result *r;
} trainer;

void mb_train_logf(const mb_train_params *p, const char *fmt, ...) {
    if (!p->log) return;
    char buf[512], *text = buf;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    /* Paths can be long: a message that does not fit is formatted again. */
    if (n >= (int)sizeof buf && (text = malloc((size_t)n + 1)) != NULL) {
        va_start(ap, fmt);
        vsnprintf(text, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    p->log(text ? text : buf, p->user);
    if (text != buf) free(text);
}

mb_train_params mb_train_default_params(void) {
    return (mb_train_params){.val_split = 0.05f};
}

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
    const mb_train_hooks *h = t->h;
    if (h->zero_grads)
        h->zero_grads(h->user);
    else
        mb_tmodel_zero_grads(t->m);
    for (int a = 0; a < c->grad_accum; a++) {
        for (int b = 0; b < c->batch; b++) {
            if (h->aligned_windows)
                fill_window(t, b, mb_rng_below(rng, (t->d.n_train - 1) / c->ctx) * c->ctx);
            else
                fill_window(t, b, mb_rng_below(rng, t->d.n_train - (size_t)c->ctx));
        }
        double t0 = mb_now();
        float *logits = mb_tmodel_forward(t->m, t->pool, t->in, c->batch);
        double t1 = mb_now();
        float scale = 1.0f / c->grad_accum;
        if (h->loss)
            total += h->loss(h->user, t->pool, logits, t->in, t->tgt, t->starts, c->batch, scale,
                             t->row_loss);
        else
            total += mb_loss_xent(t->pool, logits, t->tgt, N, c->vocab, scale, t->row_loss);
        double t2 = mb_now();
        mb_tmodel_backward(t->m, t->pool, t->in, c->batch);
        t->r->fwd_s += t1 - t0;
        t->r->bwd_s += mb_now() - t2;
    }
    return total / ((double)N * c->grad_accum);
}

/* Mean loss over up to eval_batches*batch evenly spaced validation windows
 * (the same windows every time), or over all of them with eval_all.
 * Negative when there is no validation text. */
static double evaluate(trainer *t) {
    const mb_train_config *c = t->c;
    if (t->d.n_val < (size_t)c->ctx + 1) return -1;
    size_t n_win = (t->d.n_val - 1) / c->ctx, want = (size_t)c->eval_batches * c->batch;
    if (t->h->eval_all) want = n_win;
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

static mb_status check_memory(const mb_train_config *c, const mb_train_params *p, bool frozen) {
    uint64_t w, g, a, act;
    mb_tmodel_memory(c, &w, &g, &a, &act);
    uint64_t avail = mb_mem_available();
    /* A frozen base's gradient and moment buffers exist but stay untouched
     * (zero pages); adapters add little next to the activations. */
    uint64_t total = frozen ? w + act : w + g + a + act;
    if (frozen)
        mb_train_logf(p,
                      "memory: base weights %.1f MiB, activations %.1f MiB (available %.0f MiB)\n",
                      w / 1048576.0, act / 1048576.0, avail / 1048576.0);
    else
        mb_train_logf(p,
                      "memory: weights %.1f MiB, gradients %.1f MiB, AdamW moments %.1f MiB, "
                      "activations %.1f MiB = %.1f MiB (available %.0f MiB)\n",
                      w / 1048576.0, g / 1048576.0, a / 1048576.0, act / 1048576.0,
                      total / 1048576.0, avail / 1048576.0);
    if (avail && total > avail)
        return mb_errorf(MB_ERR_NO_MEMORY,
                         "%s needs %.1f MiB but only %.1f MiB is available: lower %s",
                         frozen ? "fine-tuning" : "training", total / 1048576.0, avail / 1048576.0,
                         frozen ? "batch or ctx" : "batch, ctx, dim or vocab");
    return MB_OK;
}

/* One optimizer step's update: clip and AdamW, on the model or through the
 * hooks. Returns the gradient norm before clipping. */
static double update(trainer *t, float lr, int step) {
    const mb_train_config *c = t->c;
    if (t->h->update) return t->h->update(t->h->user, c, lr, step + 1);
    double norm = mb_train_clip(mb_tmodel_grads(t->m), mb_tmodel_n_params(t->m), c->clip);
    mb_train_adamw(t->m, lr, step + 1);
    return norm;
}

static mb_status loop(trainer *t, int step, uint64_t rng, const char *ckpt) {
    const mb_train_config *c = t->c;
    const mb_train_params *p = t->p;
    mb_train_result *r = t->r;
    double start = mb_now(), tokens = 0;
    int first_step = step;
    const int end = p->stop_at > 0 && p->stop_at < c->steps ? p->stop_at : c->steps;
    for (; step < end; step++) {
        double loss = train_step(t, &rng);
        float lr = mb_train_lr(c, step);
        double norm = update(t, lr, step);
        tokens += (double)c->batch * c->ctx * c->grad_accum;
        if (step == first_step) r->first_loss = loss;
        r->last_loss = loss;
        double val = -1;
        /* With eval_all the last step's validation is the "after" one. */
        int last_eval = t->h->eval_all ? 0 : step + 1 == c->steps;
        if (c->eval_every > 0 && ((step + 1) % c->eval_every == 0 || last_eval) &&
            (!t->h->eval_all || step + 1 < c->steps))
            r->last_val_loss = val = evaluate(t);
        double el = mb_now() - start;
        r->tok_per_s = tokens / el;
        if (p->progress) {
            mb_train_progress pr = {.step = step + 1,
                                    .steps = c->steps,
                                    .loss = loss,
                                    .val_loss = val,
                                    .lr = lr,
                                    .grad_norm = norm,
                                    .tok_per_s = r->tok_per_s,
                                    .eta_seconds = el / (step + 1 - first_step) * (end - step - 1)};
            p->progress(&pr, p->user);
        }
        if (!t->h->save && c->ckpt_every > 0 && (step + 1) % c->ckpt_every == 0 && step + 1 < end) {
            mb_status st = mb_tmodel_save(t->m, ckpt, false, true, step + 1, rng);
            if (st) return st;
            mb_train_logf(p, "checkpoint: %s (step %d)\n", ckpt, step + 1);
        }
    }
    if (t->h->eval_all) {
        double v = evaluate(t);
        if (t->h->val_after) *t->h->val_after = v;
        if (v >= 0) mb_train_logf(p, "held-out loss after: %.4f\n", v);
    }
    if (t->h->save) return t->h->save(t->h->user, p->out_path);
    /* The final file carries the train state too when it is F32, so it can be resumed. */
    return mb_tmodel_save(t->m, p->out_path, p->f16, !p->f16, step, rng);
}

mb_status mb_train_hooked(const mb_train_config *cfg, const mb_train_params *p,
                          const mb_train_hooks *hooks, mb_train_result *out) {
    static const mb_train_hooks none;
    mb_train_result res = {-1, -1, -1, 0, 0, 0};
    mb_train_config c = *cfg;
    trainer t = {.c = &c, .p = p, .h = hooks ? hooks : &none, .r = &res};
    const mb_train_hooks *h = t.h;
    const bool frozen = h->update != NULL;
    char ckpt[4096];
    int step = 0;
    uint64_t rng = c.seed * 0x9E3779B97F4A7C15ull ^ (h->rng_salt ? h->rng_salt : 0xDA7AULL);
    mb_status st = MB_OK;
    if (p->ckpt_path)
        snprintf(ckpt, sizeof ckpt, "%s", p->ckpt_path);
    else
        snprintf(ckpt, sizeof ckpt, "%s.ckpt.gguf", p->out_path);
    const int n_threads = p->n_threads == 0 ? mb_physical_cores() : p->n_threads;
    if (n_threads < 1 || n_threads > 256) {
        st = mb_errorf(MB_ERR_INVALID_ARG, "threads %d must be in 1..256", n_threads);
        goto done;
    }
    if ((st = mb_train_data_load(&t.d, p->corpus_path, p->val_path, c.tokenizer, p->val_split)))
        goto done;
    if (c.vocab == 0) c.vocab = t.d.n_vocab;
    if (c.vocab != t.d.n_vocab) {
        st = mb_errorf(MB_ERR_INVALID_ARG, "config vocab %d differs from the tokenizer's %d tokens",
                       c.vocab, t.d.n_vocab);
        goto done;
    }
    if (t.d.n_train < (size_t)c.ctx + 2) {
        st = mb_errorf(MB_ERR_INVALID_ARG, "%s: %zu training tokens, fewer than ctx %d + 2",
                       p->corpus_path, t.d.n_train, c.ctx);
        goto done;
    }
    mb_train_logf(p, "corpus: %zu tokens for training, %zu held out for validation\n", t.d.n_train,
                  t.d.n_val);
    if ((st = mb_train_config_check(&c)) || (st = check_memory(&c, p, frozen)) ||
        (st = mb_threadpool_new(n_threads, &t.pool)) || (st = mb_tmodel_new(&c, &t.m)))
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
    if (h->prepare && (st = h->prepare(h->user, &t.d, &c))) goto done;
    if (p->resume_path && !frozen) {
        if ((st = mb_tmodel_resume(t.m, p->resume_path, &step, &rng))) goto done;
        mb_train_logf(p, "resumed %s at step %d\n", p->resume_path, step);
    } else if (h->init && (st = h->init(h->user, t.m))) {
        goto done;
    }
    /* A frozen base's hooks said what they train in init. */
    if (!frozen)
        mb_train_logf(p, "model: %zu parameters, %d threads\n", mb_tmodel_n_params(t.m), n_threads);
    if (h->eval_all) {
        double v = evaluate(&t);
        if (h->val_before) *h->val_before = v;
        if (v >= 0) mb_train_logf(p, "held-out loss before: %.4f\n", v);
    }
    st = loop(&t, step, rng, ckpt);
done:
    free(t.in);
    free(t.tgt);
    free(t.row_loss);
    free(t.starts);
    mb_tmodel_free(t.m);
    mb_threadpool_free(t.pool);
    mb_train_data_free(&t.d);
    if (out) *out = res;
    return st;
}

mb_status mb_train(const mb_train_config *c, const mb_train_params *p, mb_train_result *out) {
    return mb_train_hooked(c, p, NULL, out);
}
