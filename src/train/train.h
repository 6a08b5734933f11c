/* Training a llama-architecture model from scratch in float32: the
 * configuration, the trainable model (parameters, gradients, AdamW moments,
 * activations kept for the backward pass), the optimizer, checkpoints and the
 * training loop. The ops themselves (forward and backward side by side) are
 * in ops.h; docs/TRAINING.md describes the whole. */
#ifndef MB_TRAIN_TRAIN_H
#define MB_TRAIN_TRAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/threadpool.h"
#include "matchbox.h"
#include "matchbox/train.h"

/* ---- the trainable model -------------------------------------------- */

/* One named parameter tensor inside the flat buffers. */
typedef struct {
    char name[64];
    size_t offset, n; /* in floats */
    uint32_t n_dims;
    uint64_t ne[2]; /* ne[0] is the row length, as in GGUF */
    bool decay;     /* AdamW weight decay: matrices yes, norms no */
} mb_tparam;

typedef struct {
    float *attn_norm, *wq, *wk, *wv, *wo, *ffn_norm, *w_gate, *w_up, *w_down;
} mb_tlayer;

/* Pointers into one flat buffer (parameters or gradients). */
typedef struct {
    float *tok_embd, *output_norm, *output; /* output == tok_embd when tied */
    mb_tlayer *layers;
} mb_tweights;

typedef struct mb_tmodel mb_tmodel;

/* A model for micro-batches of BATCH sequences of CTX tokens. Parameters are
 * initialized from the config's seed (normal, init_std; the projections
 * into the residual stream scaled by 1/sqrt(2 n_layers)). */
mb_status mb_tmodel_new(const mb_train_config *c, mb_tmodel **out);
void mb_tmodel_free(mb_tmodel *m);
const mb_train_config *mb_tmodel_config(const mb_tmodel *m);
size_t mb_tmodel_n_params(const mb_tmodel *m);
int mb_tmodel_n_tensors(const mb_tmodel *m);
const mb_tparam *mb_tmodel_tensor(const mb_tmodel *m, int i);
float *mb_tmodel_params(mb_tmodel *m);
float *mb_tmodel_grads(mb_tmodel *m);
float *mb_tmodel_adam_m(mb_tmodel *m);
float *mb_tmodel_adam_v(mb_tmodel *m);
/* Bytes held: weights, gradients, AdamW moments, activations (*_out may be NULL). */
void mb_tmodel_memory(const mb_train_config *c, uint64_t *weights, uint64_t *grads, uint64_t *adam,
                      uint64_t *acts);

/* Forward pass over N_SEQ (<= batch) sequences of ctx tokens, keeping every
 * activation the backward pass needs. Returns the logits [n_seq*ctx, vocab]. */
float *mb_tmodel_forward(mb_tmodel *m, mb_threadpool *pool, const int32_t *tokens, int n_seq);
/* Backward pass of the last forward, given dL/dlogits in the logits buffer
 * (a loss head such as mb_loss_xent writes it there): gradients are ADDED to
 * the gradient buffer, so micro-batches accumulate. */
void mb_tmodel_backward(mb_tmodel *m, mb_threadpool *pool, const int32_t *tokens, int n_seq);
void mb_tmodel_zero_grads(mb_tmodel *m);
/* Round Q, K, V and the attention weights to F16 in the forward, as the
 * inference engine's attention does (its KV cache is F16), so its logits can
 * be compared with ours to 1e-4 (tests; never used for training). */
void mb_tmodel_set_f16_attention(mb_tmodel *m, bool on);

/* ---- optimizer ------------------------------------------------------- */

/* Learning rate of STEP (0-based): linear warmup to lr over `warmup` steps,
 * then cosine decay to min_lr at `steps`. */
float mb_train_lr(const mb_train_config *c, int step);
/* Scale the gradients so their global L2 norm is at most MAX_NORM (<= 0:
 * no clipping). Returns the norm before clipping (summed in double, in
 * parameter order, so it does not depend on the thread count). */
double mb_train_clip(float *grads, size_t n, float max_norm);
/* One AdamW step (Loshchilov & Hutter: decay decoupled from the moments) on
 * every tensor; STEP is 1-based for the bias correction. */
void mb_train_adamw(mb_tmodel *m, float lr, int step);

/* ---- checkpoints ----------------------------------------------------- */

/* Write the model as a llama GGUF (tokenizer.* keys copied from the config's
 * tokenizer file). F16 stores the matrices in F16. With TRAIN_STATE the
 * AdamW moments, step and RNG state go in matchbox.train.* (docs/TRAINING.md). */
mb_status mb_tmodel_save(mb_tmodel *m, const char *path, bool f16, bool train_state, int step,
                         uint64_t rng);
/* Read a checkpoint written with train state into M (shapes must match). */
mb_status mb_tmodel_resume(mb_tmodel *m, const char *path, int *step, uint64_t *rng);

/* ---- the loop -------------------------------------------------------- */

/* What a variant of training (distillation, fine-tuning) changes in the
 * loop; every field may be NULL / 0. */
struct mb_train_data;
typedef struct {
    void *user;
    /* After the corpus is loaded and before the first step (a teacher's
     * top-k cache is built here). C is the loop's copy of the config. */
    mb_status (*prepare)(void *user, const struct mb_train_data *d, const mb_train_config *c);
    /* On a fresh model only, not on resume (a student copied from a slice
     * of its teacher; a base model's weights and its adapters). */
    mb_status (*init)(void *user, mb_tmodel *m);
    /* Windows start at multiples of ctx (window k: tokens k*ctx .. k*ctx+ctx)
     * instead of anywhere, so per-window data can be cached. */
    int aligned_windows;
    /* The loss head in place of cross-entropy: as mb_loss_xent, plus the
     * micro-batch's inputs and the windows' start offsets in the tokens. */
    double (*loss)(void *user, mb_threadpool *pool, float *logits, const int32_t *inputs,
                   const int32_t *targets, const size_t *starts, int n_seq, float scale,
                   float *row_loss);
    /* Parameters other than the model's own are trained (adapters): the
     * model is frozen, its gradient and moment buffers never touched (so
     * not counted in the memory needed), and these replace the model's
     * gradient zeroing, clipping + AdamW step (returning the norm before
     * clipping) and final save (no checkpoints, no resume). */
    void (*zero_grads)(void *user);
    double (*update)(void *user, const mb_train_config *c, float lr, int step);
    mb_status (*save)(void *user, const char *path);
    /* Validation over every window of the held-out text, before the first
     * step (*val_before) and after the last (*val_after), instead of a
     * sample of eval_batches at the end. */
    int eval_all;
    double *val_before, *val_after;
    /* Mixed into the seed of the window sampler (0: the trainer's own). */
    uint64_t rng_salt;
} mb_train_hooks;

/* mb_train with the changes of H (NULL: none). */
mb_status mb_train_hooked(const mb_train_config *c, const mb_train_params *p,
                          const mb_train_hooks *h, mb_train_result *out);

/* Format a message and pass it to P's log callback, if any. */
void mb_train_logf(const mb_train_params *p, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#endif
