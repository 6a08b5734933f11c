/* The weight plan under a memory budget (plan.h). */
#include "model/plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "model/model.h"

/* Spans start on 64 bytes in a layer buffer (the kernels' widest loads). */
static uint64_t align64(uint64_t n) {
    return (n + 63) & ~(uint64_t)63;
}

/* "blk.N.": N; -1 for tensors outside the layers. */
static int layer_of(const char *name, int n_layer) {
    if (strncmp(name, "blk.", 4) != 0) return -1;
    char *end = NULL;
    long il = strtol(name + 4, &end, 10);
    if (end == name + 4 || *end != '.' || il < 0 || il >= n_layer) return -1;
    return (int)il;
}

static int is_matrix(const mb_gguf_tensor *t) {
    return t->n_dims >= 2 && t->ne[1] > 1;
}

static int is_expert(const mb_gguf_tensor *t) {
    return strstr(t->name, "_exps.") != NULL && t->n_dims == 3;
}

/* The streamable matrices of every layer, in file order, as spans; tensors
 * whose gap is under a page are merged into one read. */
static mb_status make_spans(const mb_model *m, int on_demand, mb_weight_plan *p,
                            uint64_t *layer_bytes) {
    const mb_gguf *g = m->gguf;
    const int nl = p->n_layer;
    p->span_at = calloc((size_t)nl + 1, sizeof *p->span_at);
    p->spans = calloc(g->n_tensors + 1, sizeof *p->spans);
    if (!p->span_at || !p->spans) return mb_errorf(MB_ERR_NO_MEMORY, "out of memory");
    int n = 0;
    for (int il = 0; il < nl; il++) {
        p->span_at[il] = n;
        uint64_t last_end = 0, buf = 0;
        int first = n;
        /* The table is in file order in every writer we know; a span is
         * extended only forward, so another order costs reads, not bytes. */
        for (uint64_t i = 0; i < g->n_tensors; i++) {
            const mb_gguf_tensor *t = &g->tensors[i];
            if (layer_of(t->name, nl) != il || !is_matrix(t) || (on_demand && is_expert(t)))
                continue;
            const uint64_t off = (uint64_t)(t->data - g->map.data);
            if (n > first && off >= last_end && off - last_end < 4096) {
                mb_span *s = &p->spans[n - 1];
                buf += off - last_end + t->nbytes;
                s->len = off + t->nbytes - s->off;
            } else {
                buf = align64(buf);
                p->spans[n++] = (mb_span){off, t->nbytes, buf};
                buf += t->nbytes;
            }
            last_end = off + t->nbytes;
        }
        layer_bytes[il] = align64(buf);
    }
    p->span_at[nl] = n;
    return MB_OK;
}

/* Token embeddings the output does not share: read by row. */
static int is_row_embd(const mb_gguf *g, const mb_gguf_tensor *t) {
    return !strcmp(t->name, "token_embd.weight") && t->n_dims >= 2 && t->ne[1] > 0 &&
           mb_gguf_find_tensor(g, "output.weight");
}

/* Resident bytes outside the layer matrices, and the experts' sizes. */
static void count_fixed(const mb_model *m, int on_demand, mb_weight_plan *p) {
    const mb_gguf *g = m->gguf;
    uint64_t *per_layer = calloc((size_t)p->n_layer, sizeof *per_layer);
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const mb_gguf_tensor *t = &g->tensors[i];
        const int il = layer_of(t->name, p->n_layer);
        if (il < 0) {
            if (is_row_embd(g, t))
                p->embd_row_bytes = t->nbytes / t->ne[1];
            else
                p->fixed_bytes += t->nbytes;
        } else if (!is_matrix(t)) {
            p->fixed_bytes += t->nbytes;
        } else if (on_demand && is_expert(t)) {
            p->experts_total += t->nbytes;
            /* An entry holds any layer's expert: the largest gate + up + down. */
            if (per_layer) per_layer[il] += align64(t->nbytes / t->ne[2]);
        }
    }
    for (int il = 0; per_layer && il < p->n_layer; il++)
        if (per_layer[il] > p->expert_bytes) p->expert_bytes = per_layer[il];
    free(per_layer);
}

int mb_plan_is_streamed(const mb_weight_plan *p, const mb_gguf *g, const mb_gguf_tensor *t) {
    if (!mb_plan_streams(p)) return 0;
    if (layer_of(t->name, p->n_layer) < 0) return is_row_embd(g, t);
    if (!is_matrix(t)) return 0;
    if (p->experts_on_demand && is_expert(t)) return 1;
    return layer_of(t->name, p->n_layer) >= p->n_resident;
}

static double mib(uint64_t b) {
    return (double)b / (1 << 20);
}

mb_status mb_plan_make(const mb_model *m, uint64_t budget, mb_weight_plan *p) {
    memset(p, 0, sizeof *p);
    p->budget = budget;
    p->n_layer = m->hp.n_layer;
    p->n_expert = m->hp.n_expert;
    p->n_expert_used = m->hp.n_expert_used;
    const int nl = p->n_layer;
    uint64_t *lb = calloc((size_t)nl + 1, sizeof *lb);
    if (!lb) return mb_errorf(MB_ERR_NO_MEMORY, "out of memory");
    /* First as if everything fitted (no experts on demand). */
    mb_status st = make_spans(m, 0, p, lb);
    uint64_t all = 0;
    if (!st) {
        count_fixed(m, 0, p);
        const mb_gguf_tensor *e = mb_gguf_find_tensor(m->gguf, "token_embd.weight");
        all = p->fixed_bytes + (p->embd_row_bytes && e ? e->nbytes : 0);
        for (int il = 0; il < nl; il++)
            all += lb[il];
    }
    if (st || budget >= all) {
        p->n_resident = nl;
        p->embd_row_bytes = 0;
        p->resident_bytes = all;
        free(lb);
        return st;
    }
    /* Streaming: plan again, the experts apart where the model has them. */
    const int on_demand = m->hp.n_expert > 0;
    mb_plan_free(p);
    memset(p, 0, sizeof *p);
    p->budget = budget;
    p->n_layer = nl;
    p->n_expert = m->hp.n_expert;
    p->n_expert_used = m->hp.n_expert_used;
    p->experts_on_demand = on_demand;
    if ((st = make_spans(m, on_demand, p, lb))) {
        free(lb);
        return st;
    }
    count_fixed(m, on_demand, p);
    const uint64_t expert_min = on_demand ? (uint64_t)p->n_expert_used * p->expert_bytes : 0;
    /* The most resident layers that leave room for the ring (two buffers:
     * one in use, one being read) and one token's experts. */
    uint64_t least = 0, least_buf = 0;
    for (int k = nl; k >= 0; k--) {
        uint64_t resident = p->fixed_bytes, buf = 0, streamed = 0;
        for (int il = 0; il < nl; il++) {
            if (il < k)
                resident += lb[il];
            else {
                streamed += lb[il];
                if (lb[il] > buf) buf = lb[il];
            }
        }
        const int ring = nl - k < 2 ? nl - k : 2;
        const uint64_t need = resident + (uint64_t)ring * buf + expert_min;
        if (k == 0) {
            least = need;
            least_buf = buf;
        }
        if (need > budget) continue;
        p->n_resident = k;
        p->n_ring = ring;
        p->buf_bytes = ring ? buf : 0;
        p->resident_bytes = resident;
        p->streamed_bytes = streamed;
        break;
    }
    free(lb);
    if (p->n_resident == 0 && p->n_ring == 0) {
        mb_plan_free(p);
        return mb_errorf(MB_ERR_INVALID_ARG,
                         "memory budget %.2f MiB is below the %.2f MiB this model needs at least "
                         "(%.1f MiB resident: output, norms; 2 layer buffers of %.1f MiB%s)",
                         mib(budget), mib(least), mib(p->fixed_bytes), mib(least_buf),
                         on_demand ? "; one token's experts" : "");
    }
    if (on_demand) {
        const uint64_t left = budget - p->resident_bytes - (uint64_t)p->n_ring * p->buf_bytes;
        const uint64_t all_experts = (uint64_t)nl * (uint64_t)p->n_expert;
        uint64_t n = left / p->expert_bytes;
        if (n > all_experts) n = all_experts;
        p->n_cache = (int)n;
    }
    return MB_OK;
}

void mb_plan_free(mb_weight_plan *p) {
    free(p->spans);
    free(p->span_at);
    p->spans = NULL;
    p->span_at = NULL;
}

int mb_plan_streams(const mb_weight_plan *p) {
    return p->n_resident < p->n_layer || p->experts_on_demand;
}

uint64_t mb_plan_ram_bytes(const mb_weight_plan *p) {
    return p->resident_bytes + (uint64_t)p->n_ring * p->buf_bytes +
           (uint64_t)p->n_cache * p->expert_bytes;
}

void mb_plan_describe(const mb_weight_plan *p, char *buf, size_t cap) {
    if (!mb_plan_streams(p)) {
        snprintf(buf, cap, "weights: all %.1f MiB resident (budget %.1f MiB)",
                 mib(p->resident_bytes), mib(p->budget));
        return;
    }
    int n = p->n_resident == p->n_layer
                ? snprintf(buf, cap,
                           "weights under a budget of %.1f MiB: %.1f MiB resident (all %d "
                           "layers%s, output, norms)",
                           mib(p->budget), mib(p->resident_bytes), p->n_layer,
                           p->experts_on_demand ? " but their experts" : "")
                : snprintf(buf, cap,
                           "weights under a budget of %.1f MiB: %.1f MiB resident (%d of %d "
                           "layers, output, norms), %.1f MiB streamed per forward pass through %d "
                           "layer buffers of %.1f MiB",
                           mib(p->budget), mib(p->resident_bytes), p->n_resident, p->n_layer,
                           mib(p->streamed_bytes), p->n_ring, mib(p->buf_bytes));
    if (n < 0 || (size_t)n >= cap) return;
    if (p->experts_on_demand)
        n += snprintf(buf + n, cap - (size_t)n,
                      "; experts on demand: cache of %d of %d experts (%.1f of %.1f MiB)",
                      p->n_cache, p->n_layer * p->n_expert,
                      mib((uint64_t)p->n_cache * p->expert_bytes), mib(p->experts_total));
    if (n < 0 || (size_t)n >= cap) return;
    n += snprintf(buf + n, cap - (size_t)n, "; expected read per decoded token: %.2f MiB",
                  mib(p->streamed_bytes + p->embd_row_bytes));
    if (n < 0 || (size_t)n >= cap || !p->experts_on_demand) return;
    /* Each layer's routed experts, all missing the cache at worst. */
    const uint64_t worst = (uint64_t)p->n_layer * p->n_expert_used * p->expert_bytes;
    snprintf(buf + n, cap - (size_t)n, " + the expert cache's misses (at most %.1f MiB)",
             mib(worst));
}
