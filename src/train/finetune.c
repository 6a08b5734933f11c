/* LoRA fine-tuning: a frozen base model from a GGUF, adapters on its
 * projections, the training loop on the adapters only, and the held-out
 * loss measured on the whole validation text before and after. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/log.h"
#include "core/file_map.h"
#include "core/timer.h"
#include "train/data.h"
#include "train/lora.h"
#include "train/ops.h"
#include "train/rng.h"

typedef struct {
    mb_train_config c;
    mb_finetune_run *run;
    mb_train_data d;
    mb_threadpool *pool;
    mb_tmodel *m;
    mb_tlora *lora;
    int32_t *in, *tgt;
    float *row_loss;
} tuner;

static void put_window(tuner *t, int b, size_t start) {
    size_t T = (size_t)t->c.ctx;
    memcpy(t->in + b * T, t->d.tokens + start, T * sizeof(int32_t));
    memcpy(t->tgt + b * T, t->d.tokens + start + 1, T * sizeof(int32_t));
}

/* Mean loss over every whole ctx window of the validation text (not a
 * sample: the before/after numbers are the point of a fine-tune).
 * Negative when there is no validation text. */
static double held_out_loss(tuner *t) {
    const mb_train_config *c = &t->c;
    if (t->d.n_val < (size_t)c->ctx + 1) return -1;
    size_t n_win = (t->d.n_val - 1) / c->ctx, done = 0;
    double total = 0;
    while (done < n_win) {
        int nb = 0;
        for (; nb < c->batch && done + nb < n_win; nb++)
            put_window(t, nb, t->d.n_train + (done + nb) * c->ctx);
        float *logits = mb_tmodel_forward(t->m, t->pool, t->in, nb);
        total += mb_loss_xent_eval(t->pool, logits, t->tgt, nb * c->ctx, c->vocab, t->row_loss);
        done += nb;
    }
    return total / ((double)n_win * c->ctx);
}

static double step_loss(tuner *t, uint64_t *rng) {
    const mb_train_config *c = &t->c;
    int N = c->batch * c->ctx;
    double total = 0;
    mb_tlora_zero_grads(t->lora);
    for (int a = 0; a < c->grad_accum; a++) {
        for (int b = 0; b < c->batch; b++)
            put_window(t, b, mb_rng_below(rng, t->d.n_train - (size_t)c->ctx));
        float *logits = mb_tmodel_forward(t->m, t->pool, t->in, c->batch);
        total +=
            mb_loss_xent(t->pool, logits, t->tgt, N, c->vocab, 1.0f / c->grad_accum, t->row_loss);
        mb_tmodel_backward(t->m, t->pool, t->in, c->batch);
    }
    return total / ((double)N * c->grad_accum);
}

static mb_status check_memory(tuner *t) {
    uint64_t w, g, a, act;
    mb_tmodel_memory(&t->c, &w, &g, &a, &act);
    /* The base's gradient and moment buffers exist but stay untouched
     * (zero pages); the adapters add 4x their parameters and N x r per
     * adapted projection. */
    uint64_t total = w + act, avail = mb_mem_available();
    if (!t->run->quiet)
        mb_log(MB_LOG_INFO,
               "memory: base weights %.1f MiB, activations %.1f MiB (available %.0f MiB)\n",
               w / 1048576.0, act / 1048576.0, avail / 1048576.0);
    if (avail && total > avail)
        return mb_errorf(MB_ERR_NO_MEMORY,
                         "fine-tuning needs %.1f MiB but only %.1f MiB is available: lower "
                         "batch or ctx",
                         total / 1048576.0, avail / 1048576.0);
    return MB_OK;
}

static mb_status setup(tuner *t) {
    mb_finetune_run *run = t->run;
    mb_train_config *c = &t->c;
    mb_status st;
    if ((st = mb_train_config_from_model(run->model_path, c)) ||
        (st = mb_train_data_load(&t->d, run->corpus_path, run->val_path, c->tokenizer,
                                 run->val_split)))
        return st;
    if (t->d.n_train < (size_t)c->ctx + 2)
        return mb_errorf(MB_ERR_INVALID_ARG, "%s: %zu training tokens, fewer than ctx %d + 2",
                         run->corpus_path, t->d.n_train, c->ctx);
    if (!run->quiet)
        mb_log(MB_LOG_INFO, "corpus: %zu tokens for training, %zu held out for validation\n",
               t->d.n_train, t->d.n_val);
    if ((st = mb_train_config_check(c)) || (st = check_memory(t)) ||
        (st = mb_threadpool_new(run->n_threads, &t->pool)) || (st = mb_tmodel_new(c, &t->m)) ||
        (st = mb_tmodel_load_weights(t->m, run->model_path)) ||
        (st = mb_tlora_new(c, run->rank, run->alpha, run->targets, c->seed, &t->lora)))
        return st;
    mb_tmodel_freeze(t->m);
    mb_tmodel_set_lora(t->m, t->lora);
    size_t N = (size_t)c->batch * c->ctx;
    t->in = malloc(N * sizeof *t->in);
    t->tgt = malloc(N * sizeof *t->tgt);
    t->row_loss = malloc(N * sizeof *t->row_loss);
    if (!t->in || !t->tgt || !t->row_loss)
        return mb_errorf(MB_ERR_NO_MEMORY, "fine-tuning buffers: out of memory");
    run->n_adapter_params = mb_tlora_n_params(t->lora);
    if (!run->quiet)
        mb_log(MB_LOG_INFO,
               "model: %zu frozen parameters, LoRA rank %d alpha %g: %zu trainable, %d "
               "threads\n",
               mb_tmodel_n_params(t->m), run->rank, run->alpha, run->n_adapter_params,
               run->n_threads);
    return MB_OK;
}

static void loop(tuner *t) {
    const mb_train_config *c = &t->c;
    mb_finetune_run *run = t->run;
    uint64_t rng = c->seed * 0x9E3779B97F4A7C15ull ^ 0xF1E7ull;
    double start = mb_now(), tokens = 0;
    for (int step = 0; step < c->steps; step++) {
        double loss = step_loss(t, &rng);
        double norm = mb_train_clip(mb_tlora_grads(t->lora), mb_tlora_n_params(t->lora), c->clip);
        float lr = mb_train_lr(c, step);
        mb_tlora_adamw(t->lora, c, lr, step + 1);
        tokens += (double)c->batch * c->ctx * c->grad_accum;
        if (step == 0) run->first_loss = loss;
        run->last_loss = loss;
        double val = -1;
        if (c->eval_every > 0 && (step + 1) % c->eval_every == 0 && step + 1 < c->steps)
            val = held_out_loss(t);
        double el = mb_now() - start;
        run->tok_per_s = tokens / el;
        if (run->quiet) continue;
        char vbuf[32] = "";
        if (val >= 0) snprintf(vbuf, sizeof vbuf, " | val %.4f", val);
        long eta = (long)(el / (step + 1) * (c->steps - step - 1) + 0.5);
        mb_log(MB_LOG_INFO,
               "step %5d/%d | loss %.4f%s | lr %.2e | norm %.3f | %.0f tok/s | ETA %ldm%02lds\n",
               step + 1, c->steps, loss, vbuf, lr, norm, run->tok_per_s, eta / 60, eta % 60);
    }
}

mb_status mb_finetune(const mb_train_config *cfg, mb_finetune_run *run) {
    tuner t = {.c = *cfg, .run = run};
    run->val_before = run->val_after = run->first_loss = run->last_loss = -1;
    if (run->n_threads < 1 || run->n_threads > 256)
        return mb_errorf(MB_ERR_INVALID_ARG, "threads %d must be in 1..256", run->n_threads);
    mb_status st = setup(&t);
    if (st) goto done;
    run->val_before = held_out_loss(&t);
    if (!run->quiet && run->val_before >= 0)
        mb_log(MB_LOG_INFO, "held-out loss before: %.4f\n", run->val_before);
    loop(&t);
    run->val_after = held_out_loss(&t);
    if (!run->quiet && run->val_after >= 0)
        mb_log(MB_LOG_INFO, "held-out loss after: %.4f\n", run->val_after);
    st = mb_tlora_save(t.lora, run->out_path);
done:
    free(t.in);
    free(t.tgt);
    free(t.row_loss);
    mb_tlora_free(t.lora);
    mb_tmodel_free(t.m);
    mb_threadpool_free(t.pool);
    mb_train_data_free(&t.d);
    return st;
}
