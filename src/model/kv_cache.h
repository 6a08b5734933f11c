/* The KV cache's layout: per layer, a page table for K and one for V. A
 * position p of layer il lives in page (p / page_slots) % n_pages at slot
 * p % page_slots, each slot one position's row of n_head_kv x head_dim
 * values of the side's type (F16, or GGUF's Q8_0 / Q4_0 blocks), rows
 * row_bytes apart inside a page.
 *   - a full layer's cache is one page of n_ctx slots;
 *   - a windowed layer's ring is one page of its ring's slots (the modulo
 *     makes the ring: a position overwrites the one ring slots before it);
 *   - a paged cache is n_pages pages of a multiple of MB_ATTN_TILE slots
 *     (attention cuts its tiles at a page's end, so such a page never
 *     splits a tile), whose pointers may point into a pool shared by
 *     several caches.
 * Every reader and writer of rows (the K/V store, attention, the session
 * state) goes through mb_kv_row or mb_kv_attn, so the layout lives here. */
#ifndef MB_MODEL_KV_CACHE_H
#define MB_MODEL_KV_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "kernels/attention.h"
#include "model/model.h"

enum { MB_KV_K = 0, MB_KV_V = 1 };

/* One layer's page tables: pages[MB_KV_K][i] is K's page i. */
typedef struct {
    uint8_t **pages[2];
    int n_pages, page_slots;
} mb_kv_layer;

typedef struct {
    int n_layer;
    uint32_t type[2];     /* K's and V's: MB_TYPE_F16, MB_TYPE_Q8_0 or MB_TYPE_Q4_0 */
    size_t row_bytes[2];  /* one position of one layer: n_head_kv x head_dim values */
    size_t head_bytes[2]; /* one KV head's part of a row */
    mb_kv_layer *layers;  /* [n_layer] */
    uint64_t bytes;       /* of the rows this cache's pages hold */
    /* What mb_kv_cache_init allocated: the rows (one page per side and
     * layer) and the page tables' pointers. A cache whose pages belong to a
     * pool points its tables elsewhere and frees its own rows. */
    uint8_t *mem;
    uint8_t **page_ptrs;
} mb_kv_cache;

/* Bytes of row ROW_BYTES of POS in layer IL's K or V (WHICH). */
static inline uint8_t *mb_kv_row(const mb_kv_cache *c, int il, int which, int pos) {
    const mb_kv_layer *l = &c->layers[il];
    const int page = l->n_pages > 1 ? (pos / l->page_slots) % l->n_pages : 0;
    return l->pages[which][page] + (size_t)(pos % l->page_slots) * c->row_bytes[which];
}

/* Positions layer IL holds at once (fewer than the context: a ring). */
static inline int mb_kv_slots(const mb_kv_cache *c, int il) {
    return c->layers[il].n_pages * c->layers[il].page_slots;
}

/* Layer IL's K or V of KV head KVH as attention reads it. */
mb_attn_kv mb_kv_attn(const mb_kv_cache *c, int il, int which, int kvh);

/* Whether TYPE_K and TYPE_V can hold this model's keys and values: F16,
 * or Q8_0 / Q4_0 when the head size is a multiple of their 32-value block. */
mb_status mb_kv_check_types(const mb_hparams *hp, uint32_t type_k, uint32_t type_v);
/* Bytes of one position's row of TYPE (n_head_kv x head_dim values). */
uint64_t mb_kv_row_bytes(const mb_hparams *hp, uint32_t type);

/* Slots of layer IL's cache for N_CTX positions fed in batches of up to
 * N_BATCH: n_ctx for a full layer (or with SWA_FULL), else the window plus
 * one batch plus 16 (a speculative step or a regenerated turn can be
 * undone without losing what the window needs), at most n_ctx. */
int mb_kv_layer_slots(const mb_hparams *hp, int il, int n_ctx, int n_batch, int swa_full);
/* Bytes of KV cache for N_CTX positions, all layers, K of TYPE_K and V of
 * TYPE_V (n_ctx x layers x (K row + V row) when no layer is windowed). */
uint64_t mb_kv_cache_bytes(const mb_hparams *hp, int n_ctx, int n_batch, int swa_full,
                           uint32_t type_k, uint32_t type_v);
/* One line for -v and bench: bytes per layer kind, the total, its types,
 * and its share of what full caches on every layer would take. */
void mb_kv_describe(const mb_hparams *hp, int n_ctx, int n_batch, int swa_full, uint32_t type_k,
                    uint32_t type_v, char *buf, size_t cap);

/* A cache of one page per side and layer (mb_kv_layer_slots slots), rows
 * uninitialized; N_CTX 0: tables of no pages, no rows. */
mb_status mb_kv_cache_init(mb_kv_cache *c, const mb_hparams *hp, int n_ctx, int n_batch,
                           int swa_full, uint32_t type_k, uint32_t type_v);
void mb_kv_cache_free(mb_kv_cache *c);

#endif
