/* The llama forward pass over a batch of tokens, with its KV cache and every
 * buffer planned at creation: evaluating tokens allocates nothing. */
#ifndef MB_MODEL_FORWARD_H
#define MB_MODEL_FORWARD_H

#include "core/threadpool.h"
#include "model/model.h"
#include "model/moe.h"
#include "model/rope.h"

typedef struct {
    const mb_model *model;
    int n_ctx, n_batch, n_threads;
    mb_rope rope;
    uint16_t *k_cache, *v_cache; /* [layer][pos][kv_dim], F16 */
    uint64_t kv_bytes;
    float *x, *xn, *q, *k, *v, *attn, *gate, *up; /* [n_batch][width] */
    float *scores;                                /* [n_threads][n_ctx] */
    float *logits;                                /* [n_vocab] */
    uint8_t *act_in, *act_mid; /* converted activations of width n_embd / max(q, ffn) */
    mb_act a_in, a_mid;
    mb_moe_work *moe; /* expert buffers of MoE models, else NULL */
} mb_forward_state;

/* Bytes of KV cache for N_CTX positions. */
uint64_t mb_kv_cache_bytes(const mb_hparams *hp, int n_ctx);

mb_status mb_forward_state_new(const mb_model *m, int n_ctx, int n_batch, int n_threads,
                               mb_forward_state **out);
void mb_forward_state_free(mb_forward_state *s);

/* Run TOKENS[0..n) at positions POS.. (n <= n_batch, pos + n <= n_ctx) and
 * write the logits of the last one to s->logits. If ALL_LOGITS is not NULL,
 * also write every position's logits there (n x n_vocab). */
mb_status mb_forward(mb_forward_state *s, mb_threadpool *pool, const mb_token *tokens, int n,
                     int pos, float *all_logits);

#endif
