/* The paged KV pool (kv_pool.h): blocks, their references, the tree of
 * published prefixes, the cached blocks' LRU list, admission quotas. */
#include "runtime/kv_pool.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int refs;
    int published;                 /* in the prefix tree */
    int parent;                    /* published: the block before it, -1 for the first */
    int child, next_sib, prev_sib; /* the tree's links (-1: none) */
    int lru_prev, lru_next;        /* cached blocks, oldest release first */
    int next_free;
    int n_tok; /* published: positions whose contents it vouches for */
    mb_token tok[MB_KV_BLOCK];
} block;

struct mb_kv_pool {
    pthread_mutex_t mu;
    uint8_t *mem;
    size_t block_bytes;
    int n_blocks;
    block *b;
    int root_child; /* first published block of the tree's first level */
    int free_head, lru_head, lru_tail;
    int n_free, n_cached, committed;
    int *stack; /* [n_blocks] unpublish's work list */
    uint64_t adopted_tokens, copies, evictions, merged;
};

mb_status mb_kv_pool_new(int n_blocks, size_t block_bytes, mb_kv_pool **out) {
    *out = NULL;
    if (n_blocks < 1 || block_bytes == 0 || (uint64_t)n_blocks > SIZE_MAX / block_bytes)
        return mb_errorf(MB_ERR_INVALID_ARG, "a KV pool of %d blocks of %zu bytes", n_blocks,
                         block_bytes);
    mb_kv_pool *p = calloc(1, sizeof *p);
    if (!p) return mb_errorf(MB_ERR_NO_MEMORY, "out of memory");
    p->mem = calloc((size_t)n_blocks, block_bytes);
    p->b = calloc((size_t)n_blocks, sizeof *p->b);
    p->stack = malloc((size_t)n_blocks * sizeof *p->stack);
    if (!p->mem || !p->b || !p->stack) {
        mb_kv_pool_free(p);
        return mb_errorf(MB_ERR_NO_MEMORY, "out of memory for a KV pool of %d blocks of %zu bytes",
                         n_blocks, block_bytes);
    }
    pthread_mutex_init(&p->mu, NULL);
    p->block_bytes = block_bytes;
    p->n_blocks = n_blocks;
    p->root_child = p->lru_head = p->lru_tail = -1;
    for (int i = 0; i < n_blocks; i++) {
        block *b = &p->b[i];
        b->parent = b->child = b->next_sib = b->prev_sib = b->lru_prev = b->lru_next = -1;
        b->next_free = i + 1 < n_blocks ? i + 1 : -1;
    }
    p->free_head = 0;
    p->n_free = n_blocks;
    *out = p;
    return MB_OK;
}

void mb_kv_pool_free(mb_kv_pool *p) {
    if (!p) return;
    if (p->b) pthread_mutex_destroy(&p->mu);
    free(p->mem);
    free(p->b);
    free(p->stack);
    free(p);
}

uint8_t *mb_kv_pool_block(mb_kv_pool *p, int id) {
    return p->mem + (size_t)id * p->block_bytes;
}

int mb_kv_pool_n_blocks(const mb_kv_pool *p) {
    return p->n_blocks;
}

int mb_kv_blocks_for(int n_total) {
    return (n_total + MB_KV_BLOCK - 1) / MB_KV_BLOCK;
}

mb_status mb_kv_seq_init(mb_kv_seq *s, int n_ctx, void (*on_change)(void *, int, int), void *user) {
    memset(s, 0, sizeof *s);
    s->n_table = mb_kv_blocks_for(n_ctx);
    s->table = malloc((size_t)s->n_table * sizeof *s->table);
    if (!s->table) return mb_errorf(MB_ERR_NO_MEMORY, "out of memory");
    for (int i = 0; i < s->n_table; i++)
        s->table[i] = -1;
    s->on_change = on_change;
    s->user = user;
    return MB_OK;
}

void mb_kv_seq_free(mb_kv_pool *p, mb_kv_seq *s) {
    if (p && s->table) mb_kv_pool_release(p, s);
    free(s->table);
    s->table = NULL;
}

/* ---- lists ---------------------------------------------------------------- */

static void lru_remove(mb_kv_pool *p, int id) {
    block *b = &p->b[id];
    if (b->lru_prev >= 0)
        p->b[b->lru_prev].lru_next = b->lru_next;
    else
        p->lru_head = b->lru_next;
    if (b->lru_next >= 0)
        p->b[b->lru_next].lru_prev = b->lru_prev;
    else
        p->lru_tail = b->lru_prev;
    b->lru_prev = b->lru_next = -1;
    p->n_cached--;
}

static void lru_push(mb_kv_pool *p, int id) {
    block *b = &p->b[id];
    b->lru_prev = p->lru_tail;
    b->lru_next = -1;
    if (p->lru_tail >= 0)
        p->b[p->lru_tail].lru_next = id;
    else
        p->lru_head = id;
    p->lru_tail = id;
    p->n_cached++;
}

static void free_push(mb_kv_pool *p, int id) {
    p->b[id].next_free = p->free_head;
    p->free_head = id;
    p->n_free++;
}

static int *first_child(mb_kv_pool *p, int parent) {
    return parent < 0 ? &p->root_child : &p->b[parent].child;
}

static void tree_link(mb_kv_pool *p, int id, int parent) {
    block *b = &p->b[id];
    int *head = first_child(p, parent);
    b->published = 1;
    b->parent = parent;
    b->prev_sib = -1;
    b->next_sib = *head;
    if (*head >= 0) p->b[*head].prev_sib = id;
    *head = id;
}

static void tree_unlink(mb_kv_pool *p, int id) {
    block *b = &p->b[id];
    if (b->prev_sib >= 0)
        p->b[b->prev_sib].next_sib = b->next_sib;
    else
        *first_child(p, b->parent) = b->next_sib;
    if (b->next_sib >= 0) p->b[b->next_sib].prev_sib = b->prev_sib;
    b->published = 0;
    b->parent = b->next_sib = b->prev_sib = -1;
}

/* Withdraw ID and everything published below it (no prompt can reach them
 * any more): cached ones become free, held ones stay with their holders. */
static void unpublish(mb_kv_pool *p, int id) {
    int top = 0;
    p->stack[top++] = id;
    while (top > 0) {
        const int x = p->stack[--top];
        for (int c = p->b[x].child; c >= 0; c = p->b[c].next_sib)
            p->stack[top++] = c;
        p->b[x].child = -1;
        if (x == id)
            tree_unlink(p, x);
        else
            p->b[x].published = 0, p->b[x].parent = p->b[x].next_sib = p->b[x].prev_sib = -1;
        if (p->b[x].refs == 0) {
            lru_remove(p, x);
            free_push(p, x);
        }
    }
}

/* A block for new contents: a free one, else the cached block released
 * longest ago (and its published descendants). Only called within a
 * promised quota, so one exists. */
static int take_block(mb_kv_pool *p) {
    if (p->free_head < 0 && p->lru_head >= 0) {
        unpublish(p, p->lru_head);
        p->evictions++;
    }
    const int id = p->free_head;
    if (id < 0) return -1;
    p->free_head = p->b[id].next_free;
    p->n_free--;
    p->b[id].refs = 1;
    return id;
}

static void ref(mb_kv_pool *p, int id) {
    if (p->b[id].refs++ == 0) lru_remove(p, id); /* only published blocks are cached */
}

static void unref(mb_kv_pool *p, int id) {
    if (--p->b[id].refs > 0) return;
    if (p->b[id].published)
        lru_push(p, id);
    else
        free_push(p, id);
}

static void set_entry(mb_kv_seq *s, int i, int id) {
    s->table[i] = id;
    if (s->on_change) s->on_change(s->user, i, id);
}

/* ---- sequences ------------------------------------------------------------ */

/* The published child of PARENT sharing the longest common start with
 * TOK[0..n); its length in *LCP. */
static int best_child(mb_kv_pool *p, int parent, const mb_token *tok, int n, int *lcp) {
    int best = -1;
    *lcp = 0;
    for (int c = *first_child(p, parent); c >= 0; c = p->b[c].next_sib) {
        const block *b = &p->b[c];
        const int lim = n < b->n_tok ? n : b->n_tok;
        int k = 0;
        while (k < lim && b->tok[k] == tok[k])
            k++;
        if (k > *lcp) *lcp = k, best = c;
    }
    return best;
}

/* Adopt up to LIMIT positions of TOKENS into the empty S; ALLOW_PARTIAL 0
 * stops at the last whole block. Returns the positions adopted. */
static int adopt(mb_kv_pool *p, mb_kv_seq *s, const mb_token *tokens, int limit,
                 int allow_partial) {
    int pos = 0, parent = -1;
    while (pos < limit && pos / MB_KV_BLOCK < s->n_table) {
        const int want = limit - pos < MB_KV_BLOCK ? limit - pos : MB_KV_BLOCK;
        int lcp;
        const int c = best_child(p, parent, tokens + pos, want, &lcp);
        if (c < 0 || (lcp < MB_KV_BLOCK && !allow_partial)) break;
        ref(p, c);
        set_entry(s, pos / MB_KV_BLOCK, c);
        pos += lcp;
        if (lcp < MB_KV_BLOCK) break;
        parent = c;
    }
    return pos;
}

static void drop_all(mb_kv_pool *p, mb_kv_seq *s) {
    for (int i = s->n_table - 1; i >= 0; i--)
        if (s->table[i] >= 0) {
            unref(p, s->table[i]);
            set_entry(s, i, -1);
        }
    p->committed -= s->quota;
    s->quota = 0;
}

int mb_kv_pool_admit(mb_kv_pool *p, mb_kv_seq *s, const mb_token *tokens, int n_prompt,
                     int n_total) {
    if (n_total > s->n_table * MB_KV_BLOCK) n_total = s->n_table * MB_KV_BLOCK;
    pthread_mutex_lock(&p->mu);
    drop_all(p, s);
    int got = -1;
    for (int partial = 1; partial >= 0 && got < 0; partial--) {
        const int pos = adopt(p, s, tokens, n_prompt - 1, partial);
        /* Blocks wholly below POS are never written; the one holding POS
         * (adopted or not) may need a private copy. */
        const int need = mb_kv_blocks_for(n_total) - pos / MB_KV_BLOCK;
        if (p->n_free + p->n_cached - p->committed >= need) {
            s->quota = need;
            p->committed += need;
            p->adopted_tokens += (uint64_t)pos;
            got = pos;
        } else {
            drop_all(p, s);
        }
    }
    pthread_mutex_unlock(&p->mu);
    return got;
}

int mb_kv_pool_prepare(mb_kv_pool *p, mb_kv_seq *s, int pos, int n) {
    if (n <= 0) return 0;
    const int b0 = pos / MB_KV_BLOCK, b1 = (pos + n - 1) / MB_KV_BLOCK;
    if (pos < 0 || b1 >= s->n_table) return -1;
    int rc = 0;
    pthread_mutex_lock(&p->mu);
    for (int i = b0; i <= b1 && rc == 0; i++) {
        const int id = s->table[i];
        const int first = i == b0 ? pos - i * MB_KV_BLOCK : 0; /* first offset written */
        /* Its own block is written in place, unless that would change what
         * a published block vouches for: then, as for a shared block, it
         * writes a private copy (the published one stays for others). */
        if (id >= 0 && p->b[id].refs == 1 && !(p->b[id].published && first < p->b[id].n_tok))
            continue;
        if (s->quota <= 0) {
            rc = -1;
            break;
        }
        const int nb = take_block(p);
        if (nb < 0) {
            rc = -1;
            break;
        }
        s->quota--;
        p->committed--;
        if (id >= 0) { /* shared: a private copy of what it holds */
            memcpy(mb_kv_pool_block(p, nb), mb_kv_pool_block(p, id), p->block_bytes);
            unref(p, id);
            p->copies++;
        }
        set_entry(s, i, nb);
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

void mb_kv_pool_publish(mb_kv_pool *p, mb_kv_seq *s, const mb_token *tokens, int n) {
    pthread_mutex_lock(&p->mu);
    int parent = -1;
    for (int i = 0; i * MB_KV_BLOCK < n && i < s->n_table; i++) {
        const int id = s->table[i];
        if (id < 0) break;
        const mb_token *tok = tokens + (size_t)i * MB_KV_BLOCK;
        const int k = n - i * MB_KV_BLOCK < MB_KV_BLOCK ? n - i * MB_KV_BLOCK : MB_KV_BLOCK;
        block *b = &p->b[id];
        if (b->published && b->parent == parent &&
            memcmp(b->tok, tok, (size_t)(b->n_tok < k ? b->n_tok : k) * sizeof *tok) == 0) {
            /* Already there (adopted, or published before): extend it if
             * this sequence alone wrote the rest. */
            if (b->n_tok < k && b->refs == 1) {
                memcpy(b->tok, tok, (size_t)k * sizeof *tok);
                b->n_tok = k;
            }
            if (b->n_tok < MB_KV_BLOCK) break;
            parent = id;
            continue;
        }
        if (b->published) unpublish(p, id); /* stale: published under other tokens */
        if (k == MB_KV_BLOCK) {
            int lcp;
            const int twin = best_child(p, parent, tok, MB_KV_BLOCK, &lcp);
            /* (Only for a block it holds alone, so the swap frees one.) */
            if (twin >= 0 && lcp == MB_KV_BLOCK && p->b[twin].n_tok == MB_KV_BLOCK &&
                b->refs == 1) {
                ref(p, twin);
                unref(p, id);
                set_entry(s, i, twin);
                p->merged++;
                parent = twin;
                continue;
            }
        }
        if (b->refs > 1) break; /* shared but not published: not this sequence's to name */
        memcpy(b->tok, tok, (size_t)k * sizeof *tok);
        b->n_tok = k;
        tree_link(p, id, parent);
        if (k < MB_KV_BLOCK) break;
        parent = id;
    }
    pthread_mutex_unlock(&p->mu);
}

void mb_kv_pool_release(mb_kv_pool *p, mb_kv_seq *s) {
    pthread_mutex_lock(&p->mu);
    drop_all(p, s);
    pthread_mutex_unlock(&p->mu);
}

void mb_kv_pool_get_stats(mb_kv_pool *p, mb_kv_pool_stats *out) {
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&p->mu);
    out->n_blocks = p->n_blocks;
    for (int i = 0; i < p->n_blocks; i++) {
        out->used += p->b[i].refs > 0;
        out->shared += p->b[i].refs > 1;
    }
    out->cached = p->n_cached;
    out->free = p->n_free;
    out->committed = p->committed;
    out->block_bytes = p->block_bytes;
    out->adopted_tokens = p->adopted_tokens;
    out->copies = p->copies;
    out->evictions = p->evictions;
    out->merged = p->merged;
    pthread_mutex_unlock(&p->mu);
}
