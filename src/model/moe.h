/* The mixture-of-experts feed-forward block of llama-family models
 * (Mixtral): a router picks the top-k experts per token, and only those
 * experts' SwiGLU blocks run. Every buffer is planned when the session is
 * created. */
#ifndef MB_MODEL_MOE_H
#define MB_MODEL_MOE_H

#include "core/threadpool.h"
#include "kernels/matmul.h"
#include "matchbox.h"

/* Expert E of layer IL as its gate, up and down matrices (valid until the
 * next call), fetched on demand (model/stream.h: an expert cache). */
typedef mb_status (*mb_moe_fetch)(void *ctx, int il, int e, const mb_matrix **mats);

/* One layer's experts: the router [n_embd -> n_expert] and n_expert SwiGLU
 * blocks (gate, up: n_embd -> n_ff; down: n_ff -> n_embd), resident, or
 * FETCH (not NULL) gives each routed expert of layer LAYER when it runs. */
typedef struct {
    const mb_matrix *gate_inp;
    const mb_matrix *gate, *up, *down;
    mb_moe_fetch fetch;
    void *fetch_ctx;
    int layer;
} mb_moe_layer;

/* Buffers for a batch of up to n_batch tokens. */
typedef struct {
    int n_expert, n_used, n_embd, n_ff, n_batch, n_threads;
    float *router;         /* [n_batch][n_expert] router logits, then probabilities */
    int *sel;              /* [n_batch][n_used] chosen experts, best first */
    float *sel_w;          /* [n_batch][n_used] their renormalized weights */
    int *n_rows;           /* [n_expert] tokens routed to each expert */
    int *rows;             /* [n_expert][n_batch] which tokens, in batch order */
    float *row_w;          /* [n_expert][n_batch] with which weight */
    float *xe, *gate, *up; /* gathered inputs [n_batch][n_embd], hidden [n_batch][n_ff] */
    float *out;            /* [n_batch][n_embd] one expert's outputs */
    float *acc;            /* [n_batch][n_embd] weighted sum over the experts */
    uint8_t *act_buf;      /* converted activations, room for n_batch x max(n_embd, n_ff) */
    mb_act act;
    long expert_runs; /* expert blocks computed so far (a statistic for tests) */
    /* The smallest margin so far between the probability of the last expert
     * chosen and the best one not chosen (tests reset it): below ~1e-4 a
     * token's routing is a coin toss between correct implementations. */
    float min_margin;
} mb_moe_work;

mb_status mb_moe_work_new(int n_expert, int n_used, int n_embd, int n_ff, int n_batch,
                          int n_threads, mb_moe_work **out);
void mb_moe_work_free(mb_moe_work *w);
/* Bytes mb_moe_work_new allocates for these sizes (the memory plan's figure). */
uint64_t mb_moe_work_bytes(int n_expert, int n_used, int n_embd, int n_ff, int n_batch);

/* Softmax over all N_EXPERT router logits (in place), then the K most
 * probable experts (ties to the lower index) into SEL, best first, with
 * their probabilities renormalized to sum to 1 into WEIGHT. This equals a
 * softmax over the selected experts' logits alone, Mixtral's definition. */
void mb_moe_route(float *logits, int n_expert, int k, int *sel, float *weight);

/* X[t] += sum over token t's routed experts e of weight(t, e) * expert_e(XN[t])
 * for the N (<= n_batch) rows of XN (n_embd floats each). Tokens are grouped
 * by expert, so each routed expert's weights are read once per batch. Fails
 * (X unchanged) only when L->fetch does. */
mb_status mb_moe_forward(mb_moe_work *w, mb_threadpool *pool, const mb_moe_layer *l,
                         const float *xn, int n, float *x);

#endif
