/* LoRA adapters for the trainable model (Hu et al. 2021): on each chosen
 * projection W (out x in) of each layer, y = x W^T + s (x A^T) B^T with
 * A (r x in, random), B (out x r, zeros at the start) and s = alpha / r.
 * The base model is frozen; only A and B are trained, with their own
 * gradients and AdamW moments. The adapter file uses the reference
 * implementation's GGUF LoRA layout (docs/TRAINING.md, "LoRA fine-tuning"). */
#ifndef MB_TRAIN_LORA_H
#define MB_TRAIN_LORA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/threadpool.h"
#include "matchbox.h"
#include "train/train.h"

/* The projections an adapter can sit on, in the order of the layer. */
typedef enum {
    MB_LORA_Q,
    MB_LORA_K,
    MB_LORA_V,
    MB_LORA_O,
    MB_LORA_GATE,
    MB_LORA_UP,
    MB_LORA_DOWN,
    MB_LORA_N_TARGETS
} mb_lora_target;

/* "attn_q", "attn_k", ..., "ffn_down": the GGUF tensor name's middle part. */
const char *mb_lora_target_tensor(mb_lora_target t);
/* Parse "q,k,v,o,gate,up,down" (any subset, or "all") into a bit mask. */
mb_status mb_lora_targets_parse(const char *list, unsigned *mask);

typedef struct mb_tlora mb_tlora;

/* Adapters of rank RANK on the TARGETS (bit mask) of every layer of a model
 * of config C, for micro-batches of c->batch x c->ctx rows. A is drawn from
 * N(0, 1/in) (Kaiming-like: x A^T keeps the scale of x), B is zero, so the
 * adapted model starts equal to the base. */
mb_status mb_tlora_new(const mb_train_config *c, int rank, float alpha, unsigned targets,
                       uint64_t seed, mb_tlora **out);
void mb_tlora_free(mb_tlora *l);
size_t mb_tlora_n_params(const mb_tlora *l);
float *mb_tlora_params(mb_tlora *l);
float *mb_tlora_grads(mb_tlora *l);
/* A and B of (LAYER, T), or NULL when T is not adapted. */
float *mb_tlora_a(mb_tlora *l, int layer, mb_lora_target t);
float *mb_tlora_b(mb_tlora *l, int layer, mb_lora_target t);
void mb_tlora_zero_grads(mb_tlora *l);
/* One AdamW step on A and B (weight decay from the config, on both). */
void mb_tlora_adamw(mb_tlora *l, const mb_train_config *c, float lr, int step);

/* Y[n, out] += s (X A^T) B^T for (LAYER, T); no-op when T is not adapted.
 * Keeps s X A^T for the backward. */
void mb_tlora_forward(mb_tlora *l, mb_threadpool *pool, int layer, mb_lora_target t, float *y,
                      const float *x, int n);
/* Given dY, add dX += s dY B A and accumulate dA, dB. */
void mb_tlora_backward(mb_tlora *l, mb_threadpool *pool, int layer, mb_lora_target t, float *dx,
                       const float *dy, const float *x, int n);

/* Write the adapter: general.type "adapter", adapter.type "lora",
 * adapter.lora.alpha, general.architecture "llama", and per adapted
 * projection "blk.N.<tensor>.weight.lora_a" (ne [in, r]) and ".lora_b"
 * (ne [r, out]), F32. Atomic. */
mb_status mb_tlora_save(mb_tlora *l, const char *path);

/* ---- hooks in the trainable model (model.c) and optimizer (optim.c) ---- */

/* Route every adapted projection of M through L (NULL detaches). */
void mb_tmodel_set_lora(mb_tmodel *m, mb_tlora *l);
/* Freeze the base: the backward pass skips the weight gradients of every
 * matrix and of the embedding (norm gradients are still summed: cheap, and
 * unused). Input gradients still flow, to the adapters. */
void mb_tmodel_freeze(mb_tmodel *m);
/* The AdamW update of mb_train_adamw on one flat range of N floats with
 * decay WD; STEP is 1-based. */
void mb_adamw_update(const mb_train_config *c, float *p, const float *g, float *am, float *av,
                     size_t n, float wd, float lr, int step);

/* ---- a base model to fine-tune (base.c) ------------------------------ */

/* Shape keys of the llama GGUF at PATH into C (dim, layers, heads, ffn,
 * vocab, tied, rope base, rms eps; tokenizer = PATH); other keys are left.
 * Architectures other than plain llama are refused. */
mb_status mb_train_config_from_model(const char *path, mb_train_config *c);
/* Every tensor of M from PATH, converted to F32 (F32, F16, BF16 and any
 * quantized type with a decoder), shapes checked. */
mb_status mb_tmodel_load_weights(mb_tmodel *m, const char *path);

#endif
