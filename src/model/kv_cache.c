#include "model/kv_cache.h"

#include <stdio.h>
#include <stdlib.h>

#include "tensor/types.h"

/* Ring margin past the window and one batch. */
enum { KV_RING_SPARE = 16 };

mb_attn_kv mb_kv_attn(const mb_kv_cache *c, int il, int which, int kvh) {
    const mb_kv_layer *l = &c->layers[il];
    return (mb_attn_kv){.pages = (const uint8_t *const *)l->pages[which],
                        .n_pages = l->n_pages,
                        .page_slots = l->page_slots,
                        .row_bytes = (int64_t)c->row_bytes[which],
                        .head_off = (int64_t)kvh * (int64_t)c->head_bytes[which],
                        .type = c->type[which]};
}

static int is_kv_type(uint32_t t) {
    return t == MB_TYPE_F16 || t == MB_TYPE_Q8_0 || t == MB_TYPE_Q4_0;
}

mb_status mb_kv_check_types(const mb_hparams *hp, uint32_t type_k, uint32_t type_v) {
    const uint32_t types[2] = {type_k, type_v};
    for (int i = 0; i < 2; i++) {
        const char *side = i == 0 ? "K" : "V";
        if (!is_kv_type(types[i]))
            return mb_errorf(MB_ERR_INVALID_ARG,
                             "KV cache type %s (%u) for %s: use f16, q8_0 or q4_0",
                             mb_type_name(types[i]), types[i], side);
        /* A block must not straddle two heads: attention converts one
         * head's values at a time. */
        if (types[i] != MB_TYPE_F16 && hp->head_dim % 32 != 0)
            return mb_errorf(MB_ERR_UNSUPPORTED,
                             "KV cache type %s for %s needs a head size that is a multiple of 32; "
                             "this model's is %d (use f16)",
                             mb_type_name(types[i]), side, hp->head_dim);
    }
    return MB_OK;
}

uint64_t mb_kv_row_bytes(const mb_hparams *hp, uint32_t type) {
    uint64_t bytes = 0;
    mb_type_row_bytes(type, (uint64_t)hp->head_dim, &bytes);
    return bytes * (uint64_t)hp->n_head_kv;
}

int mb_kv_layer_slots(const mb_hparams *hp, int il, int n_ctx, int n_batch, int swa_full) {
    if (swa_full || hp->sliding_window <= 0 || !hp->swa_layer[il]) return n_ctx;
    const int64_t ring = (int64_t)hp->sliding_window + n_batch + KV_RING_SPARE;
    return ring < n_ctx ? (int)ring : n_ctx;
}

uint64_t mb_kv_cache_bytes(const mb_hparams *hp, int n_ctx, int n_batch, int swa_full,
                           uint32_t type_k, uint32_t type_v) {
    uint64_t slots = 0;
    for (int il = 0; il < hp->n_layer; il++)
        slots += (uint64_t)mb_kv_layer_slots(hp, il, n_ctx, n_batch, swa_full);
    return slots * (mb_kv_row_bytes(hp, type_k) + mb_kv_row_bytes(hp, type_v));
}

/* "f16", or "q8_0/q4_0" when K and V differ. */
static void types_name(uint32_t type_k, uint32_t type_v, char *buf, size_t cap) {
    if (type_k == type_v)
        snprintf(buf, cap, "%s", mb_type_name(type_k));
    else
        snprintf(buf, cap, "K %s, V %s", mb_type_name(type_k), mb_type_name(type_v));
}

void mb_kv_describe(const mb_hparams *hp, int n_ctx, int n_batch, int swa_full, uint32_t type_k,
                    uint32_t type_v, char *buf, size_t cap) {
    const uint64_t per_slot = mb_kv_row_bytes(hp, type_k) + mb_kv_row_bytes(hp, type_v);
    const uint64_t total = mb_kv_cache_bytes(hp, n_ctx, n_batch, swa_full, type_k, type_v);
    const int n_swa = hp->sliding_window > 0 ? mb_hparams_n_swa_layers(hp) : 0;
    char types[48];
    types_name(type_k, type_v, types, sizeof types);
    int ring = n_ctx;
    for (int il = 0; il < hp->n_layer; il++)
        if (hp->sliding_window > 0 && hp->swa_layer[il])
            ring = mb_kv_layer_slots(hp, il, n_ctx, n_batch, swa_full);
    const double mib = 1.0 / (1 << 20);
    if (n_swa == 0) {
        snprintf(buf, cap, "KV cache: %d positions x %d layers, %.2f MiB (%s)", n_ctx, hp->n_layer,
                 (double)total * mib, types);
        return;
    }
    const uint64_t full = per_slot * (uint64_t)n_ctx * (uint64_t)hp->n_layer;
    snprintf(buf, cap,
             "KV cache: %d positions; %d full layers x %d slots (%.2f MiB), %d windowed layers "
             "(window %d) x %d slots%s (%.2f MiB); %.2f MiB (%s), %.1f%% of full attention's "
             "%.2f MiB",
             n_ctx, hp->n_layer - n_swa, n_ctx,
             (double)per_slot * n_ctx * (hp->n_layer - n_swa) * mib, n_swa, hp->sliding_window,
             ring,
             swa_full       ? " (--swa-full)"
             : ring < n_ctx ? " (ring)"
                            : "",
             (double)per_slot * ring * n_swa * mib, (double)total * mib, types,
             100.0 * (double)total / (double)full, (double)full * mib);
}

mb_status mb_kv_cache_init(mb_kv_cache *c, const mb_hparams *hp, int n_ctx, int n_batch,
                           int swa_full, uint32_t type_k, uint32_t type_v) {
    *c = (mb_kv_cache){.n_layer = hp->n_layer, .type = {type_k, type_v}};
    mb_status st = mb_kv_check_types(hp, type_k, type_v);
    if (st) return st;
    for (int w = 0; w < 2; w++) {
        c->row_bytes[w] = (size_t)mb_kv_row_bytes(hp, c->type[w]);
        c->head_bytes[w] = c->row_bytes[w] / (size_t)hp->n_head_kv;
    }
    c->bytes = mb_kv_cache_bytes(hp, n_ctx, n_batch, swa_full, type_k, type_v);
    c->layers = calloc((size_t)hp->n_layer, sizeof *c->layers);
    c->page_ptrs = calloc(2 * (size_t)hp->n_layer, sizeof *c->page_ptrs);
    if (n_ctx > 0) c->mem = malloc(c->bytes ? c->bytes : 1);
    if (!c->layers || !c->page_ptrs || (n_ctx > 0 && !c->mem)) {
        mb_kv_cache_free(c);
        return mb_errorf(
            MB_ERR_NO_MEMORY, "cannot allocate the KV cache (%llu bytes)",
            (unsigned long long)mb_kv_cache_bytes(hp, n_ctx, n_batch, swa_full, type_k, type_v));
    }
    /* Layer by layer, K's page then V's, one page each. */
    uint8_t *p = c->mem;
    for (int il = 0; il < hp->n_layer; il++) {
        mb_kv_layer *l = &c->layers[il];
        const int slots = mb_kv_layer_slots(hp, il, n_ctx, n_batch, swa_full);
        l->n_pages = n_ctx > 0 ? 1 : 0;
        l->page_slots = slots > 0 ? slots : 1;
        for (int w = 0; w < 2; w++) {
            l->pages[w] = c->page_ptrs + 2 * il + w;
            l->pages[w][0] = p;
            if (p) p += (size_t)slots * c->row_bytes[w];
        }
    }
    return MB_OK;
}

void mb_kv_cache_free(mb_kv_cache *c) {
    free(c->mem);
    free(c->page_ptrs);
    free(c->layers);
    *c = (mb_kv_cache){0};
}
