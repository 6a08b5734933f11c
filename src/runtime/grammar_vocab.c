/* A grammar over a model's vocabulary: which tokens may come next, and
 * moving past the one chosen. Token texts are bytes (a byte token may end
 * inside a UTF-8 character): the matcher is fed code points as they
 * complete, and a token that ends inside one is allowed when some stack
 * can take a character that starts with its bytes (the rest must come
 * with the next token).
 *
 * Masking checks every token, so the texts are sorted once per model
 * (the model keeps them for every later grammar state): a token
 * shares its first bytes with the one before it (the longest common
 * prefix is stored), and the stacks after those bytes are kept per depth,
 * so each shared prefix is matched once, and a prefix no stack can take
 * rules out every token that starts with it. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "model/model.h"
#include "runtime/grammar.h"

enum { TOK_TEXT = 0, TOK_EOG = 1, TOK_NEVER = 2 };

struct mb_gvocab {
    mb_model_shared_free_fn destroy; /* first: the model frees it (model/model.h) */
    int n_vocab, n_order, max_len;
    char *bytes;
    uint32_t *off;  /* token i's text: bytes[off[i] .. off[i+1]) */
    uint8_t *kind;  /* TOK_* */
    int32_t *order; /* the TOK_TEXT tokens, their texts sorted */
    uint16_t *lcp;  /* bytes order[i] shares with order[i-1] */
    /* The texts again, in sorted order (order[i]'s at sorted + soff[i]):
     * the mask reads them one after the other, not all over memory. */
    char *sorted;
    uint32_t *soff;
    mb_token eog;
};

static void vocab_free(mb_gvocab *v) {
    if (!v) return;
    free(v->bytes);
    free(v->off);
    free(v->kind);
    free(v->order);
    free(v->lcp);
    free(v->sorted);
    free(v->soff);
    free(v);
}

static void vocab_destroy(void *v) {
    vocab_free(v);
}

/* A merge sort of ORDER by text: qsort's comparator cannot take the
 * vocabulary as an argument, and a global would race between samplers
 * made on several threads. */
static void sort_order(const mb_gvocab *v, int32_t *a, int32_t *tmp, int n) {
    if (n < 2) return;
    int h = n / 2;
    sort_order(v, a, tmp, h);
    sort_order(v, a + h, tmp, n - h);
    int i = 0, j = h, k = 0;
    while (i < h && j < n) {
        int32_t x = a[i], y = a[j];
        uint32_t lx = v->off[x + 1] - v->off[x], ly = v->off[y + 1] - v->off[y];
        int c = memcmp(v->bytes + v->off[x], v->bytes + v->off[y], lx < ly ? lx : ly);
        if (!c) c = lx < ly ? -1 : lx > ly;
        tmp[k++] = c <= 0 ? a[i++] : a[j++];
    }
    while (i < h)
        tmp[k++] = a[i++];
    while (j < n)
        tmp[k++] = a[j++];
    memcpy(a, tmp, (size_t)n * sizeof *a);
}

static mb_status vocab_new(const mb_model *model, mb_gvocab **out) {
    int n = mb_model_n_vocab(model);
    mb_gvocab *v = calloc(1, sizeof *v);
    char buf[1024];
    size_t cap = 1 << 16, used = 0;
    if (v) {
        v->destroy = vocab_destroy;
        v->n_vocab = n;
        v->eog = -1;
        v->off = malloc(((size_t)n + 1) * sizeof *v->off);
        v->kind = malloc((size_t)n);
        v->order = malloc((size_t)n * sizeof *v->order);
        v->lcp = malloc((size_t)n * sizeof *v->lcp);
        v->bytes = malloc(cap);
    }
    if (!v || !v->off || !v->kind || !v->order || !v->lcp || !v->bytes) goto oom;
    if (mb_token_eos(model) >= 0 && mb_token_is_eog(model, mb_token_eos(model)))
        v->eog = mb_token_eos(model);
    for (int i = 0; i < n; i++) {
        size_t len = 0;
        v->off[i] = (uint32_t)used;
        if (mb_token_is_eog(model, i)) {
            v->kind[i] = TOK_EOG;
            if (v->eog < 0) v->eog = i;
            continue;
        }
        /* A text longer than the buffer, or none (a control token renders
         * as ""): never allowed under a grammar. */
        if (mb_token_to_piece(model, i, 0, buf, sizeof buf, &len) || len == 0 || len > 65535) {
            v->kind[i] = TOK_NEVER;
            continue;
        }
        if (used + len > cap) {
            while (used + len > cap)
                cap *= 2;
            char *t = realloc(v->bytes, cap);
            if (!t) goto oom;
            v->bytes = t;
        }
        memcpy(v->bytes + used, buf, len);
        used += len;
        v->kind[i] = TOK_TEXT;
        v->order[v->n_order++] = i;
        if ((int)len > v->max_len) v->max_len = (int)len;
    }
    v->off[n] = (uint32_t)used;
    int32_t *tmp = malloc(((size_t)v->n_order + 1) * sizeof *tmp);
    if (!tmp) goto oom;
    sort_order(v, v->order, tmp, v->n_order);
    free(tmp);
    v->sorted = malloc(used ? used : 1);
    v->soff = malloc(((size_t)v->n_order + 1) * sizeof *v->soff);
    if (!v->sorted || !v->soff) goto oom;
    uint32_t at = 0;
    for (int i = 0; i < v->n_order; i++) {
        int32_t id = v->order[i];
        v->soff[i] = at;
        memcpy(v->sorted + at, v->bytes + v->off[id], v->off[id + 1] - v->off[id]);
        at += v->off[id + 1] - v->off[id];
    }
    v->soff[v->n_order] = at;
    for (int i = 0; i < v->n_order; i++) {
        int32_t a = i ? v->order[i - 1] : 0, b = v->order[i];
        uint32_t la = i ? v->off[a + 1] - v->off[a] : 0, lb = v->off[b + 1] - v->off[b], k = 0;
        while (k < la && k < lb && v->bytes[v->off[a] + k] == v->bytes[v->off[b] + k])
            k++;
        v->lcp[i] = (uint16_t)k;
    }
    *out = v;
    return MB_OK;
oom:
    vocab_free(v);
    return mb_errorf(MB_ERR_NO_MEMORY, "out of memory for the grammar's vocabulary");
}

/* The model's sorted vocabulary: built by the first grammar state and
 * kept by the model, so a server sorts its vocabulary once, not per
 * request (16-47 ms for 32k-50k tokens, docs/PERFORMANCE.md). Two first
 * requests at once may both build it; one copy is kept. */
static mb_status vocab_shared(const mb_model *model, const mb_gvocab **out) {
    const mb_gvocab *v = mb_model_grammar_vocab(model);
    if (!v) {
        mb_gvocab *built = NULL;
        mb_status status = vocab_new(model, &built);
        if (status) return status;
        v = mb_model_publish_grammar_vocab(model, built);
        if (v != built) vocab_free(built);
    }
    *out = v;
    return MB_OK;
}

mb_status mb_gstate_new(const mb_model *model, const mb_grammar *g, mb_gstate **out) {
    *out = NULL;
    mb_gstate *st = calloc(1, sizeof *st);
    if (!st) return mb_errorf(MB_ERR_NO_MEMORY, "out of memory");
    mb_status status = vocab_shared(model, &st->vocab);
    if (status) {
        free(st);
        return status;
    }
    size_t nd = (size_t)st->vocab->max_len + 2;
    st->g = mb_grammar_clone(g);
    st->d_set = malloc(nd * sizeof *st->d_set);
    st->d_utf = malloc(nd * sizeof *st->d_utf);
    st->d_ok = malloc(nd);
    st->d_nodes = malloc(nd * sizeof *st->d_nodes);
    st->d_sets = malloc(nd * sizeof *st->d_sets);
    int fail = !st->g || !st->d_set || !st->d_utf || !st->d_ok || !st->d_nodes || !st->d_sets;
    fail |= mb_garena_init(&st->work, MB_GRAMMAR_MAX_NODES, MB_GRAMMAR_MAX_STACKS * (int)nd);
    for (int i = 0; i < 2; i++)
        fail |= mb_garena_init(&st->live[i], MB_GRAMMAR_MAX_NODES / 4, MB_GRAMMAR_MAX_STACKS);
    if (fail) {
        mb_gstate_free(st);
        return mb_errorf(MB_ERR_NO_MEMORY, "out of memory for a grammar's state");
    }
    mb_gset start = mb_gset_start(st->g, &st->work);
    st->set = mb_gset_copy(&st->live[0], &st->work, start);
    if (st->work.overflow || st->live[0].overflow) {
        mb_gstate_free(st);
        return mb_errorf(MB_ERR_UNSUPPORTED,
                         "the grammar's start rule expands to more than %d parse stacks",
                         MB_GRAMMAR_MAX_STACKS);
    }
    *out = st;
    return MB_OK;
}

void mb_gstate_free(mb_gstate *st) {
    if (!st) return;
    mb_grammar_free(st->g);
    mb_garena_free(&st->work);
    mb_garena_free(&st->live[0]);
    mb_garena_free(&st->live[1]);
    free(st->d_set);
    free(st->d_utf);
    free(st->d_ok);
    free(st->d_nodes);
    free(st->d_sets);
    for (int i = 0; i < MB_GRAMMAR_MASK_CACHE; i++) {
        free(st->cache[i].mask);
        mb_garena_free(&st->cache[i].stacks);
    }
    free(st);
}

/* Start a walk: depth 0 holds the accepted stacks. */
static void walk_begin(mb_gstate *st) {
    mb_garena_reset(&st->work, 0, 0);
    st->d_set[0] = mb_gset_import(&st->work, &st->live[st->cur], st->set);
    st->d_utf[0] = st->pending;
    st->d_ok[0] = 1;
    st->d_nodes[0] = st->work.n;
    st->d_sets[0] = st->work.n_sets;
}

/* Depth K+1 from depth K and byte B; returns whether it is possible. */
static int walk_step(mb_gstate *st, int k, uint8_t b) {
    mb_utf8_state u = st->d_utf[k];
    mb_gset in = st->d_set[k], out = {0, 0, 0};
    int ok = 0, r = mb_utf8_feed(&u, b);
    if (r == 0) {
        /* Inside a character: the stacks wait for the rest of it. */
        uint32_t lo, hi;
        mb_utf8_range(&u, &lo, &hi);
        ok = mb_gset_accepts_range(st->g, &st->work, in, lo, hi);
        out = in;
        out.complete = 0;
    } else if (r > 0) {
        out = mb_gset_advance(st->g, &st->work, in, u.cp);
        ok = out.n > 0 || out.complete;
    }
    st->d_set[k + 1] = out;
    st->d_utf[k + 1] = u;
    st->d_ok[k + 1] = (uint8_t)ok;
    st->d_nodes[k + 1] = st->work.n;
    st->d_sets[k + 1] = st->work.n_sets;
    return ok;
}

/* Walk the text T (LEN bytes) from depth D; returns the depth reached
 * (LEN when every byte was possible). */
static int walk_text(mb_gstate *st, const uint8_t *t, int len, int d) {
    mb_garena_reset(&st->work, st->d_nodes[d], st->d_sets[d]);
    for (; d < len; d++)
        if (!walk_step(st, d, t[d])) return d + 1;
    return d;
}

static int walk_token(mb_gstate *st, mb_token id, int d) {
    const mb_gvocab *v = st->vocab;
    return walk_text(st, (const uint8_t *)v->bytes + v->off[id], (int)(v->off[id + 1] - v->off[id]),
                     d);
}

static int eog_allowed(const mb_gstate *st) {
    return st->set.complete && st->pending.need == 0;
}

static int token_len(const mb_gvocab *v, mb_token id) {
    return (int)(v->off[id + 1] - v->off[id]);
}

int mb_gstate_allows(mb_gstate *st, mb_token id) {
    if (id < 0 || id >= st->vocab->n_vocab) return 0;
    if (st->vocab->kind[id] == TOK_EOG) return eog_allowed(st);
    if (st->vocab->kind[id] == TOK_NEVER) return 0;
    walk_begin(st);
    int d = walk_token(st, id, 0);
    if (st->work.overflow) st->failed = 1;
    return d == token_len(st->vocab, id) && st->d_ok[d];
}

/* The cached mask of the current state, or NULL. */
static const mb_gmask_entry *cached_mask(const mb_gstate *st) {
    const mb_garena *live = &st->live[st->cur];
    for (int i = 0; i < MB_GRAMMAR_MASK_CACHE; i++) {
        const mb_gmask_entry *e = &st->cache[i];
        if (e->valid && e->pending.cp == st->pending.cp && e->pending.need == st->pending.need &&
            e->pending.len == st->pending.len && mb_gset_equal(&e->stacks, e->set, live, st->set))
            return e;
    }
    return NULL;
}

/* Remember MASK for the current state (when its stacks fit an entry). */
static void cache_mask(mb_gstate *st, const uint8_t *mask, int count) {
    mb_gmask_entry *e = &st->cache[st->cache_next];
    int n = st->vocab->n_vocab;
    if (!e->mask && (!(e->mask = malloc((size_t)n)) || mb_garena_init(&e->stacks, 4096, 256)))
        return;
    const mb_garena *live = &st->live[st->cur];
    e->stacks.overflow = 0;
    e->set = mb_gset_copy(&e->stacks, live, st->set);
    mb_gset_clear_copies(live, st->set);
    e->valid = !e->stacks.overflow;
    if (!e->valid) return;
    e->pending = st->pending;
    memcpy(e->mask, mask, (size_t)n);
    e->count = count;
    st->cache_next = (st->cache_next + 1) % MB_GRAMMAR_MASK_CACHE;
}

int mb_gstate_mask(mb_gstate *st, uint8_t *allowed) {
    const mb_gvocab *v = st->vocab;
    const mb_gmask_entry *hit = st->cache_off ? NULL : cached_mask(st);
    if (hit) {
        memcpy(allowed, hit->mask, (size_t)v->n_vocab);
        return hit->count;
    }
    int count = 0, eog = eog_allowed(st);
    for (int i = 0; i < v->n_vocab; i++) {
        allowed[i] = v->kind[i] == TOK_EOG && eog;
        count += allowed[i];
    }
    walk_begin(st);
    int top = 0;
    for (int i = 0; i < v->n_order; i++) {
        int d = v->lcp[i] < top ? v->lcp[i] : top;
        if (!st->d_ok[d]) {
            top = d; /* the shared prefix is already impossible */
            continue;
        }
        int len = (int)(v->soff[i + 1] - v->soff[i]);
        top = walk_text(st, (const uint8_t *)v->sorted + v->soff[i], len, d);
        if (top == len && st->d_ok[top]) allowed[v->order[i]] = 1, count++;
    }
    if (st->work.overflow)
        st->failed = 1;
    else if (!st->cache_off)
        cache_mask(st, allowed, count);
    return count;
}

void mb_gstate_accept(mb_gstate *st, mb_token id) {
    if (id < 0 || id >= st->vocab->n_vocab || st->vocab->kind[id] != TOK_TEXT) return;
    walk_begin(st);
    int d = walk_token(st, id, 0);
    if (d != token_len(st->vocab, id) || !st->d_ok[d]) {
        st->failed = 1; /* not allowed: the caller broke the contract */
        return;
    }
    int next = 1 - st->cur;
    st->set = mb_gset_copy(&st->live[next], &st->work, st->d_set[d]);
    st->pending = st->d_utf[d];
    st->cur = next;
    if (st->work.overflow || st->live[next].overflow) st->failed = 1;
}

int mb_gstate_ended(const mb_gstate *st) {
    return st->set.n == 0 && st->pending.need == 0;
}

mb_token mb_gstate_eog(const mb_gstate *st) {
    return st->vocab->eog;
}
