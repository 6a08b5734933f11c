/* Forward and backward of each op of the llama architecture, side by side,
 * in float32 on row-major [rows, cols] buffers. Backward functions ADD into
 * parameter gradients (micro-batches accumulate) and, unless said
 * otherwise, overwrite input gradients. Every result element is computed by
 * one thread in a fixed order, so the results do not depend on the thread
 * count. POOL may be NULL (single-threaded). */
#ifndef MB_TRAIN_OPS_H
#define MB_TRAIN_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "core/threadpool.h"

/* ---- linear: y[n, out] = x[n, in] W[out, in]^T ----------------------- */

void mb_linear_forward(mb_threadpool *pool, float *y, const float *x, const float *w, int n, int in,
                       int out);
/* dx (n x in) = dy W, added to dx when ACCUMULATE (several projections read
 * the same input); dw += dy^T x. dx may be NULL (no input gradient), and
 * dw (frozen weights, as under LoRA).
 * SCRATCH holds mb_linear_scratch_floats(n, in, out) floats. */
void mb_linear_backward(mb_threadpool *pool, float *dx, float *dw, const float *dy, const float *x,
                        const float *w, int n, int in, int out, int accumulate, float *scratch);
size_t mb_linear_scratch_floats(int n, int in, int out);

/* ---- embedding -------------------------------------------------------- */

void mb_embed_forward(float *x, const float *table, const int32_t *tokens, int n, int dim);
void mb_embed_backward(float *dtable, const float *dx, const int32_t *tokens, int n, int dim);

/* ---- RMSNorm: y = x / rms(x) * w; rs[n] keeps 1/rms for the backward --- */

void mb_rmsnorm_forward(mb_threadpool *pool, float *y, float *rs, const float *x, const float *w,
                        int n, int dim, float eps);
/* dx is overwritten, or added to when ACCUMULATE (the residual stream). */
void mb_rmsnorm_backward(mb_threadpool *pool, float *dx, float *dw, const float *dy, const float *x,
                         const float *rs, const float *w, int n, int dim, int accumulate);

/* ---- RoPE on adjacent pairs (x[2i], x[2i+1]) of each head, as llama GGUF
 * files expect; position of row r is r % ctx. cs holds cos/sin per
 * [pos][i] (mb_rope_table). Backward rotates back, in place. ------------- */

void mb_rope_table(float *cs, int ctx, int head_dim, float base);
void mb_rope_forward(float *x, const float *cs, int n, int ctx, int n_heads, int head_dim);
void mb_rope_backward(float *dx, const float *cs, int n, int ctx, int n_heads, int head_dim);

/* ---- causal self-attention with grouped-query heads ------------------ */

typedef struct {
    int n_seq, ctx, n_heads, n_kv_heads, head_dim;
    int f16_weights; /* round the weights of V to F16, as the engine does (tests) */
} mb_attn_shape;

/* q [n, H*hd], k and v [n, Hkv*hd] (n = n_seq*ctx); probs [n_seq, H, ctx, ctx]
 * keeps the softmax for the backward; out [n, H*hd]. */
void mb_attention_forward(mb_threadpool *pool, const mb_attn_shape *s, float *out, float *probs,
                          const float *q, const float *k, const float *v);
/* SCRATCH: ctx floats per thread of the pool. */
void mb_attention_backward(mb_threadpool *pool, const mb_attn_shape *s, float *dq, float *dk,
                           float *dv, const float *dout, const float *probs, const float *q,
                           const float *k, const float *v, float *scratch);

/* ---- SwiGLU: h = silu(g) * u ----------------------------------------- */

void mb_swiglu_forward(float *h, const float *g, const float *u, size_t n);
void mb_swiglu_backward(float *dg, float *du, const float *dh, const float *g, const float *u,
                        size_t n);

/* ---- loss heads: read logits [n, vocab], write dL/dlogits in place ----- */

/* Mean cross-entropy over the N rows against TARGETS, times SCALE for the
 * gradient (1/grad_accum); returns the summed (not averaged) loss in double.
 * ROW_LOSS (n floats of scratch) keeps the per-row values so the sum is
 * taken in row order. */
double mb_loss_xent(mb_threadpool *pool, float *logits, const int32_t *targets, int n, int vocab,
                    float scale, float *row_loss);
/* The loss only, logits untouched (validation). */
double mb_loss_xent_eval(mb_threadpool *pool, const float *logits, const int32_t *targets, int n,
                         int vocab, float *row_loss);

/* A teacher's logits for the rows of a micro-batch: all of them
 * ([n][vocab]), or its top K ([n][k] ids and logits, with its normalizer at
 * temperature T per row) when LOGITS is NULL. */
typedef struct {
    const float *logits;
    const int32_t *topk_ids;
    const float *topk_logits;
    const float *topk_lse; /* [n]: log sum exp(teacher logits / T) over the vocabulary */
    int k;
    float temperature, alpha; /* T > 0; alpha in [0, 1]: the KL term's weight */
} mb_teacher_view;

/* Distillation head (ops_distill.c): alpha T^2 KL(teacher_T || student_T) +
 * (1 - alpha) cross-entropy, per row; gradient and return as mb_loss_xent. */
double mb_loss_distill(mb_threadpool *pool, float *logits, const int32_t *targets, int n, int vocab,
                       const mb_teacher_view *teacher, float scale, float *row_loss);

/* Run FN on every thread of POOL (or once when POOL is NULL). */
void mb_train_parallel(mb_threadpool *pool, mb_job_fn fn, void *ctx);

#endif
