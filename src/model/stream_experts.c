/* The expert cache of MoE models under a budget (stream.h): entries of one
 * expert each (its gate, up and down slices of the 3-D *_exps tensors, read
 * with pread), evicting the least recently used. Only the routed experts of
 * a token are read; a hit costs nothing. Used by one forward pass at a time
 * (the stream's pass lock), so it needs no lock of its own; its counters
 * are atomic, for the statistics. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "model/stream.h"

typedef struct {
    int key;       /* layer * n_expert + expert; -1: empty */
    uint64_t used; /* tick of the last use */
    mb_matrix mats[3];
} entry;

struct mb_expert_cache {
    const mb_model *m;
    int fd, n_expert, cap, n_filled;
    uint64_t entry_bytes, tick;
    uint8_t *mem;   /* cap x entry_bytes */
    entry *entries; /* [cap] */
    int *where;     /* [n_layer x n_expert]: entry index, or -1 */
    /* Atomic: mb_model_stream_stats may read them while a pass runs. */
    _Atomic uint64_t hits, misses, bytes;
};

mb_status mb_expert_cache_new(const mb_model *m, const mb_weight_plan *p, int fd,
                              mb_expert_cache **out) {
    *out = NULL;
    mb_expert_cache *c = calloc(1, sizeof *c);
    if (!c) return mb_errorf(MB_ERR_NO_MEMORY, "out of memory");
    c->m = m;
    c->fd = fd;
    c->n_expert = p->n_expert;
    c->cap = p->n_cache > 0 ? p->n_cache : 1;
    c->entry_bytes = p->expert_bytes;
    const size_t n_keys = (size_t)p->n_layer * (size_t)p->n_expert;
    c->entries = calloc((size_t)c->cap, sizeof *c->entries);
    c->where = malloc(n_keys * sizeof *c->where);
    c->mem = aligned_alloc(64, (size_t)c->cap * c->entry_bytes);
    if (!c->entries || !c->where || !c->mem) {
        const int cap = c->cap;
        const unsigned long long bytes = c->entry_bytes;
        mb_expert_cache_free(c);
        return mb_errorf(MB_ERR_NO_MEMORY, "cannot allocate an expert cache of %d x %llu bytes",
                         cap, bytes);
    }
    for (size_t i = 0; i < n_keys; i++)
        c->where[i] = -1;
    for (int i = 0; i < c->cap; i++)
        c->entries[i].key = -1;
    *out = c;
    return MB_OK;
}

void mb_expert_cache_free(mb_expert_cache *c) {
    if (!c) return;
    free(c->entries);
    free(c->where);
    free(c->mem);
    free(c);
}

/* An empty entry while there is one, else the least recently used. */
static int victim(mb_expert_cache *c) {
    if (c->n_filled < c->cap) return c->n_filled++;
    int v = 0;
    for (int i = 1; i < c->cap; i++)
        if (c->entries[i].used < c->entries[v].used) v = i;
    return v;
}

mb_status mb_expert_cache_get(mb_expert_cache *c, int il, int e, const mb_matrix **mats) {
    const int key = il * c->n_expert + e;
    int at = c->where[key];
    if (at >= 0) {
        c->hits++;
        c->entries[at].used = ++c->tick;
        *mats = c->entries[at].mats;
        return MB_OK;
    }
    c->misses++;
    at = victim(c);
    entry *x = &c->entries[at];
    if (x->key >= 0) c->where[x->key] = -1;
    x->key = -1;
    uint8_t *dst = c->mem + (size_t)at * c->entry_bytes;
    const uint8_t *base = c->m->gguf->map.data;
    const mb_matrix *src = c->m->expert_mats + (size_t)il * 3 * c->n_expert;
    static const char *names[3] = {"ffn_gate_exps", "ffn_up_exps", "ffn_down_exps"};
    uint64_t off = 0;
    for (int k = 0; k < 3; k++) {
        const mb_matrix *w = &src[(size_t)k * c->n_expert + e];
        const uint64_t len = (uint64_t)w->n_out * w->row_bytes;
        char what[96];
        snprintf(what, sizeof what, "blk.%d.%s.weight, expert %d", il, names[k], e);
        mb_status st = mb_stream_read(c->fd, dst + off, len, (uint64_t)(w->data - base), what);
        if (st) return st; /* the entry stays empty */
        x->mats[k] = *w;
        x->mats[k].data = dst + off;
        off += (len + 63) & ~(uint64_t)63;
        c->bytes += len;
    }
    x->key = key;
    x->used = ++c->tick;
    c->where[key] = at;
    *mats = x->mats;
    return MB_OK;
}

void mb_expert_cache_counts(const mb_expert_cache *c, uint64_t *hits, uint64_t *misses,
                            uint64_t *bytes) {
    *hits = c->hits;
    *misses = c->misses;
    *bytes = c->bytes;
}
