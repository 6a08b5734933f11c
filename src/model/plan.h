/* The weight plan under a memory budget (mb_model_params.mem_budget): which
 * weight bytes stay resident and which are read from the file while the
 * forward pass runs (model/stream.c).
 *
 * Resident: every tensor outside the layers but the token embeddings (the
 * output matrix, the final norm, RoPE factors), the 1-D tensors of every
 * layer (norms, biases: a few KiB each), and the matrices of layers
 * 0..n_resident-1. Streamed: the matrices of the other layers, read into a
 * ring of n_ring layer buffers one layer ahead of the pass. Token
 * embeddings are read by row from the file: a row per token, never the
 * whole table (tied embeddings are resident: the output reads them all).
 *
 * Whole layers rather than single matrices: the pass needs a layer's
 * matrices together, and a layer is one run of the file (one sequential
 * read). The first layers stay resident so that the streamed ones are one
 * contiguous range the prefetcher walks in file order, starting while the
 * resident layers compute.
 *
 * MoE models with a budget read experts on demand: the 3-D *_exps tensors
 * are never streamed whole; each routed expert's three slices go to an
 * expert cache (LRU) that gets the budget left after the dense parts. The
 * dense parts (attention, router) come first: every token uses them, an
 * expert only when routed to. */
#ifndef MB_MODEL_PLAN_H
#define MB_MODEL_PLAN_H

#include <stdint.h>

#include "format/gguf.h"
#include "matchbox.h"

struct mb_model;

/* A file range [off, off + len) read to BUF_OFF of a layer buffer. */
typedef struct {
    uint64_t off, len, buf_off;
} mb_span;

typedef struct {
    uint64_t budget;
    int n_layer, n_resident, n_ring;
    uint64_t fixed_bytes;    /* resident outside the layer matrices */
    uint64_t resident_bytes; /* fixed + resident layers' matrices */
    uint64_t streamed_bytes; /* streamed layers' matrices: read once per forward pass */
    uint64_t buf_bytes;      /* one layer buffer: the largest streamed layer (aligned spans) */
    uint64_t embd_row_bytes; /* one token embedding row, read per token (0: resident) */
    /* Streamed matrices of layer il: spans[span_at[il] .. span_at[il + 1]). */
    mb_span *spans;
    int *span_at;
    /* Experts on demand (MoE with a budget): one cache entry holds an
     * expert's gate, up and down slices. */
    int experts_on_demand;
    uint64_t expert_bytes;       /* one entry: the largest expert of any layer */
    uint64_t experts_total;      /* all experts of all layers, bytes */
    int n_cache;                 /* entries */
    int n_expert, n_expert_used; /* the model's */
} mb_weight_plan;

/* Plan MODEL's weights (bound, from a mapped file) under BUDGET bytes into
 * *PLAN. Everything resident (n_resident == n_layer, nothing on demand)
 * when the weights fit. MB_ERR_INVALID_ARG naming the budget and the least
 * this model needs (fixed bytes + layer buffers (+ one token's experts))
 * when it is below that. */
mb_status mb_plan_make(const struct mb_model *model, uint64_t budget, mb_weight_plan *plan);
void mb_plan_free(mb_weight_plan *plan);

/* 1 when the plan reads anything while running. */
int mb_plan_streams(const mb_weight_plan *plan);

/* 1 when tensor T of G is read while running (not resident) under PLAN. */
int mb_plan_is_streamed(const mb_weight_plan *plan, const mb_gguf *g, const mb_gguf_tensor *t);

/* Read every resident tensor of MODEL's file (not yet bound) into one
 * block of anonymous memory (huge pages advised) and point the tensor table
 * at it: after this nothing touches the mapping, so a file that changes
 * under a running model gives read errors (model/stream.c), never SIGBUS,
 * and the resident part is exactly what RSS holds. The block goes to
 * model->resident_block. */
mb_status mb_plan_load_resident(struct mb_model *model, const mb_weight_plan *plan,
                                const char *path);

/* Bytes the plan holds in RAM: resident + layer buffers + expert cache. */
uint64_t mb_plan_ram_bytes(const mb_weight_plan *plan);

/* One paragraph for -v and bench: resident vs streamed bytes, the buffers,
 * the expert cache, and the bytes read per token. */
void mb_plan_describe(const mb_weight_plan *plan, char *buf, size_t cap);

#endif
