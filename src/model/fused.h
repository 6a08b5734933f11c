/* Fused per-row steps of the forward pass, each one pass over a batch's
 * rows split over the pool (a row's values are produced and consumed while
 * in L1, and prefill no longer runs these steps on one thread):
 *   - RMSNorm, then the row's conversion to the next matrix's activation type;
 *   - RoPE of Q and K from one set of angles per token, then K and V
 *     converted to the cache's types (F16, Q8_0, Q4_0) and stored;
 *   - SwiGLU, then the row's conversion for the down projection.
 * Each gives the same bits as the separate steps (docs/PERFORMANCE.md,
 * "Fusion", has the measurements). */
#ifndef MB_MODEL_FUSED_H
#define MB_MODEL_FUSED_H

#include "core/threadpool.h"
#include "kernels/matmul.h"
#include "model/kv_cache.h"
#include "model/model.h"
#include "model/rope.h"

/* xn[t] = rmsnorm(x[t]) * w for N rows of N_EMBD; with ACT, also converts
 * xn[t] for weights of WEIGHT_TYPE into ACT (sized by mb_act_bytes). */
void mb_fused_norm_quant(mb_threadpool *pool, int n_threads, const float *x, float *xn,
                         const float *w, int n, int n_embd, float eps, mb_act *act,
                         uint32_t weight_type);

/* For token t (position pos + t): each Q head (n_head) and K head
 * (n_head_kv) RMS-normed with q_norm / k_norm where set (qwen3, gemma3),
 * rotated in place, Q then multiplied by q_scale (1: not); K and V rows
 * (n_head_kv * hd values) converted to the cache's types and stored at
 * position pos + t of layer LAYER of KV. */
typedef struct {
    const mb_rope *rope;
    float *q, *k;
    const float *v;
    const mb_kv_cache *kv;
    int layer;
    const float *q_norm, *k_norm; /* [hd] each, or NULL */
    float eps, q_scale;
    int n, pos, n_head, n_head_kv, hd;
} mb_fused_rope_store;
void mb_fused_rope_kv(mb_threadpool *pool, int n_threads, const mb_fused_rope_store *a);

/* gate[t] = silu(gate[t]) * up[t] (or GeGLU's gelu(gate[t]) * up[t]) for
 * N rows of N_FF, each converted for weights of WEIGHT_TYPE into ACT. */
void mb_fused_glu_quant(mb_threadpool *pool, int n_threads, float *gate, const float *up, int n,
                        int n_ff, mb_ffn_act kind, mb_act *act, uint32_t weight_type);

#endif
