/* The llama forward pass over a batch of tokens, with its KV cache and every
 * buffer planned at creation: evaluating tokens allocates nothing. */
#ifndef MB_MODEL_FORWARD_H
#define MB_MODEL_FORWARD_H

#include "core/threadpool.h"
#include "model/kv_cache.h"
#include "model/model.h"
#include "model/moe.h"
#include "model/rope.h"

/* Calibration hook (imatrix, GPTQ, AWQ, SmoothQuant): called with the float
 * input rows X [n_rows][w->n_in] of every dense matrix product, before it
 * runs, from the calling thread. W->data points into the GGUF tensor's data,
 * which identifies the tensor. Expert matrices of MoE layers are not seen. */
typedef void (*mb_matmul_observer)(void *user, const mb_matrix *w, const float *x, int n_rows);

typedef struct mb_forward_state mb_forward_state;
struct mb_forward_state {
    const mb_model *model;
    int n_ctx, n_batch, n_threads;
    mb_rope rope, rope_swa; /* global layers', windowed layers' */
    /* The KV cache: per layer, page tables of K and V rows (model/kv_cache.h).
     * A full layer holds n_ctx positions, a windowed one a ring of its
     * window plus a margin (mb_kv_layer_slots). */
    mb_kv_cache kv;
    int swa_full;   /* windowed layers keep full caches too */
    int kv_max_pos; /* highest position ever stored (-1: none): a ring's
                       older positions are overwritten from it on */
    int kv_lo;      /* windowed layers hold nothing below this position (a
                       state loaded from a ring, runtime/state.c); else 0 */
    float *x, *xn, *q, *k, *v, *attn, *gate, *up; /* [n_batch][width] */
    float *scores;             /* attention scratch: [n_threads][mb_attention_work_floats] */
    float *logits;             /* [n_vocab] */
    uint8_t *act_in, *act_mid; /* converted activations of width n_embd / max(q, ffn) */
    mb_act a_in, a_mid;
    mb_moe_work *moe; /* expert buffers of MoE models, else NULL */
    /* Per call: row t reads and writes the KV cache of row_cache[t] at
     * position row_pos[t] ([n_batch] each). mb_forward points every row at
     * this state's own cache; batched decoding at each session's. */
    mb_forward_state **row_cache;
    int *row_pos;
    int rows_share_cache;       /* all rows in one cache at consecutive positions */
    float *lora_tmp;            /* [n_batch][rank]: A x of a LoRA adapter, or NULL */
    mb_matmul_observer observe; /* NULL unless calibrating */
    void *observe_user;
    /* Polled between layers by mb_forward (mb_session_set_abort); NULL: never. */
    int (*abort_fn)(void *user);
    void *abort_user;
    /* A paged cache's (runtime/session_paged.c): make positions [pos, pos
     * + n) writable before they are stored (blocks mapped, shared ones
     * copied). NULL: the cache owns its rows. */
    mb_status (*kv_prepare)(void *user, int pos, int n);
    void *kv_prepare_user;
    /* Embeddings (runtime/embed.c): mb_forward leaves every row's final
     * hidden state, after the output norm, in xn ([n][n_embd]) and skips
     * the output projection; logits are neither computed nor written. */
    int hidden_only;
};

/* Bytes of every buffer mb_forward_state_new allocates besides the KV cache
 * (activations of N_BATCH rows, attention scratch of N_THREADS threads,
 * logits, LoRA and expert buffers): the sizes the allocation uses. */
uint64_t mb_forward_buffer_bytes(const mb_hparams *hp, int n_ctx, int n_batch, int n_threads,
                                 int lora_rank);

/* Of those, the floats of the converted-activation buffers (act_in, act_mid):
 * sized for F32, the widest activation type; the rows a quantized weight
 * type converts to fill only its activation type's bytes of them. */
uint64_t mb_forward_act_floats(const mb_hparams *hp, int n_batch);

/* The oldest position every layer's cache still holds: 0 (or kv_lo) until a
 * windowed layer's ring wraps, then the highest position stored minus the
 * ring's slots plus one. A session rewound to P can go on without re-evaluating
 * only if the window of position P starts at or after it. */
int mb_forward_oldest_kept(const mb_forward_state *s);

/* N_CTX 0 makes a workspace without a KV cache, for mb_forward_rows. The
 * cache's K rows are of TYPE_K, its V rows of TYPE_V (mb_kv_check_types). */
mb_status mb_forward_state_new(const mb_model *m, int n_ctx, int n_batch, int n_threads,
                               int swa_full, uint32_t type_k, uint32_t type_v,
                               mb_forward_state **out);
void mb_forward_state_free(mb_forward_state *s);
/* A state whose cache is paged (mb_kv_cache_init_paged): its pages are
 * mapped by the owner, which sets kv_prepare. Every layer is full. */
mb_status mb_forward_state_new_paged(const mb_model *m, int n_ctx, int n_batch, int n_threads,
                                     uint32_t type_k, uint32_t type_v, mb_forward_state **out);
/* Call S's kv_prepare for positions [POS, POS + N), if it has one. */
mb_status mb_forward_kv_prepare(mb_forward_state *s, int pos, int n);

/* Run TOKENS[0..n) at positions POS.. (n <= n_batch, pos + n <= n_ctx) and
 * write the logits of the last one to s->logits (with s->hidden_only: the
 * normed hidden states of all to s->xn instead). If ALL_LOGITS is not NULL,
 * also write every position's logits there (n x n_vocab). MB_ERR_ABORTED
 * when s->abort_fn stops it between layers: then s->logits is untouched,
 * but the cache may hold some layers' keys and values of these positions
 * (and kv_max_pos counts them). MB_ERR_IO the same way when a streamed
 * weight cannot be read (model/stream.h). */
mb_status mb_forward(mb_forward_state *s, mb_threadpool *pool, const mb_token *tokens, int n,
                     int pos, float *all_logits);

/* One token per row, each in its own state's KV cache: row t runs TOKENS[t]
 * at position POS[t] of CACHES[t] (distinct states of the same model, each
 * with room at that position; the caller checks), using WS's buffers
 * (n <= ws->n_batch). Every row's logits go to ALL_LOGITS (n x n_vocab).
 * Fails only when a streamed weight cannot be read (model/stream.h). */
mb_status mb_forward_rows(mb_forward_state *ws, mb_threadpool *pool, const mb_token *tokens, int n,
                          mb_forward_state *const *caches, const int *pos, float *all_logits);

#endif
