/* LoRA fine-tuning as a client of the training loop (trainer.c): its hooks
 * load the frozen base model into the fresh model, put the adapters on its
 * projections, and make the loop step, clip and save the adapters instead
 * of the model; the held-out loss is measured on the whole validation text
 * before and after. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/threadpool.h"
#include "train/lora.h"
#include "train/train.h"

typedef struct {
    const mb_finetune_params *p;
    unsigned targets;
    float alpha;
    int n_threads;
    uint64_t seed;
    mb_tlora *lora;
    mb_finetune_result *r;
} tuner;

static mb_status init(void *user, mb_tmodel *m) {
    tuner *t = user;
    const mb_train_config *c = mb_tmodel_config(m);
    mb_status st = mb_tmodel_load_weights(m, t->p->model_path);
    if (!st) st = mb_tlora_new(c, t->p->rank, t->alpha, t->targets, t->seed, &t->lora);
    if (st) return st;
    mb_tmodel_freeze(m);
    mb_tmodel_set_lora(m, t->lora);
    t->r->n_adapter_params = mb_tlora_n_params(t->lora);
    const mb_train_params log = {.log = t->p->log, .user = t->p->user};
    mb_train_logf(&log,
                  "model: %zu frozen parameters, LoRA rank %d alpha %g: %zu trainable, %d "
                  "threads\n",
                  mb_tmodel_n_params(m), t->p->rank, t->alpha, t->r->n_adapter_params,
                  t->n_threads);
    return MB_OK;
}

static void zero_grads(void *user) {
    mb_tlora_zero_grads(((tuner *)user)->lora);
}

static double update(void *user, const mb_train_config *c, float lr, int step) {
    tuner *t = user;
    double norm = mb_train_clip(mb_tlora_grads(t->lora), mb_tlora_n_params(t->lora), c->clip);
    mb_tlora_adamw(t->lora, c, lr, step);
    return norm;
}

static mb_status save(void *user, const char *path) {
    return mb_tlora_save(((tuner *)user)->lora, path);
}

void mb_finetune_config_default(mb_train_config *c) {
    mb_train_config_default(c);
    c->steps = 200;
    c->batch = 8;
    c->ctx = 128;
    c->eval_every = 50;
    c->weight_decay = 0.0f;
    c->min_lr = -1; /* lr / 10 */
    c->warmup = -1; /* steps / 10 */
}

mb_finetune_params mb_finetune_default_params(void) {
    return (mb_finetune_params){.alpha = -1, .val_split = 0.1f};
}

mb_status mb_finetune(const mb_train_config *cfg, const mb_finetune_params *p,
                      mb_finetune_result *out) {
    mb_finetune_result res = {-1, -1, -1, -1, 0, 0};
    tuner t = {.p = p, .r = &res, .alpha = p->alpha < 0 ? (float)p->rank : p->alpha};
    mb_train_config c = *cfg;
    mb_status st = MB_OK;
    t.n_threads = p->n_threads == 0 ? mb_physical_cores() : p->n_threads;
    if (p->rank < 1)
        st = mb_errorf(MB_ERR_INVALID_ARG, "LoRA rank %d must be at least 1", p->rank);
    else if (t.n_threads < 1 || t.n_threads > 256)
        st = mb_errorf(MB_ERR_INVALID_ARG, "threads %d must be in 1..256", t.n_threads);
    if (!st) st = mb_lora_targets_parse(p->targets ? p->targets : "all", &t.targets);
    /* The shape keys (and the tokenizer) come from the base model. */
    if (!st) st = mb_train_config_from_model(p->model_path, &c);
    if (st) goto done;
    if (c.min_lr < 0) c.min_lr = c.lr / 10;
    if (c.warmup < 0) c.warmup = c.steps / 10 > 0 ? c.steps / 10 : 1;
    c.ckpt_every = 0;
    t.seed = c.seed;
    const mb_train_params tp = {.corpus_path = p->corpus_path,
                                .val_path = p->val_path,
                                .out_path = p->out_path,
                                .n_threads = t.n_threads,
                                .val_split = p->val_split,
                                .progress = p->progress,
                                .log = p->log,
                                .user = p->user};
    const mb_train_hooks h = {.user = &t,
                              .init = init,
                              .zero_grads = zero_grads,
                              .update = update,
                              .save = save,
                              .eval_all = 1,
                              .val_before = &res.val_before,
                              .val_after = &res.val_after,
                              .rng_salt = 0xF1E7ull};
    mb_train_result tr;
    st = mb_train_hooked(&c, &tp, &h, &tr);
    res.first_loss = tr.first_loss;
    res.last_loss = tr.last_loss;
    res.tok_per_s = tr.tok_per_s;
done:
    mb_tlora_free(t.lora);
    if (out) *out = res;
    return st;
}
