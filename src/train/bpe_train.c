/* Byte-level BPE training. Words (pre-tokenizer matches) are counted once
 * each; every distinct word is a sequence of token ids. Pair counts are kept
 * incrementally: merging a pair rewrites only the words that hold it (each
 * pair keeps the list of words it occurs in), and a max-heap with lazy
 * deletion finds the next most frequent pair. */
#include "train/bpe_train.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/timer.h"
#include "format/gguf.h"
#include "tokenizer/bpe_pre.h"
#include "tokenizer/vocab.h"

static const char special_text[] = "<|endoftext|>";

static uint64_t hash_bytes(const char *p, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)p[i]) * 1099511628211ull;
    return h ^ (h >> 29);
}

static uint64_t hash_u64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    return x ^ (x >> 33);
}

/* Open addressing from byte strings (held elsewhere: ptr/len arrays) to ids. */
typedef struct {
    int32_t *slot;
    size_t cap; /* power of two */
} str_index;

typedef struct {
    const char **ptr;
    size_t *len;
} str_store;

static bool index_grow(str_index *ix, const str_store *st, size_t n_used) {
    if (ix->cap && n_used * 2 < ix->cap) return true;
    size_t cap = ix->cap ? ix->cap * 2 : 1024;
    int32_t *slot = malloc(cap * sizeof *slot);
    if (!slot) return false;
    memset(slot, 0xff, cap * sizeof *slot);
    for (size_t i = 0; i < ix->cap; i++) {
        int32_t id = ix->slot[i];
        if (id < 0) continue;
        size_t h = hash_bytes(st->ptr[id], st->len[id]) & (cap - 1);
        while (slot[h] >= 0)
            h = (h + 1) & (cap - 1);
        slot[h] = id;
    }
    free(ix->slot);
    ix->slot = slot;
    ix->cap = cap;
    return true;
}

/* The slot of P[0..N) (holding its id, or -1 where it would go). */
static int32_t *index_find(const str_index *ix, const str_store *st, const char *p, size_t n) {
    size_t h = hash_bytes(p, n) & (ix->cap - 1);
    while (ix->slot[h] >= 0) {
        int32_t id = ix->slot[h];
        if (st->len[id] == n && !memcmp(st->ptr[id], p, n)) break;
        h = (h + 1) & (ix->cap - 1);
    }
    return &ix->slot[h];
}

typedef struct {
    int32_t a, b;
    int64_t count;
    int32_t *words;
    size_t n_words, cap_words;
    bool merged;
    uint32_t stamp;
} pair;

typedef struct {
    int64_t count;
    int32_t a, b, id;
} heap_entry;

typedef struct {
    /* distinct words */
    size_t n_unique;
    int64_t *freq;
    int32_t **sym;
    size_t *n_sym;
    /* tokens: raw bytes */
    char **raw;
    size_t *raw_len;
    size_t n_tok, cap_tok;
    str_index tok_ix;
    /* pairs */
    pair *pairs;
    size_t n_pairs, cap_pairs;
    uint64_t *pkey;
    int32_t *pslot;
    size_t pcap;
    heap_entry *heap;
    size_t n_heap, cap_heap;
    int32_t *touched;
    size_t n_touched, cap_touched;
    uint32_t stamp;
} trainer;

static bool heap_less(const heap_entry *x, const heap_entry *y) {
    if (x->count != y->count) return x->count < y->count;
    if (x->a != y->a) return x->a > y->a;
    return x->b > y->b;
}

static bool heap_push(trainer *t, const pair *p, int32_t id) {
    if (t->n_heap == t->cap_heap) {
        size_t cap = t->cap_heap ? t->cap_heap * 2 : 4096;
        heap_entry *h = realloc(t->heap, cap * sizeof *h);
        if (!h) return false;
        t->heap = h;
        t->cap_heap = cap;
    }
    size_t i = t->n_heap++;
    heap_entry e = {p->count, p->a, p->b, id};
    while (i > 0 && heap_less(&t->heap[(i - 1) / 2], &e)) {
        t->heap[i] = t->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    t->heap[i] = e;
    return true;
}

static heap_entry heap_pop(trainer *t) {
    heap_entry top = t->heap[0], last = t->heap[--t->n_heap];
    size_t i = 0, n = t->n_heap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && heap_less(&t->heap[c], &t->heap[c + 1])) c++;
        if (!heap_less(&last, &t->heap[c])) break;
        t->heap[i] = t->heap[c];
        i = c;
    }
    if (n) t->heap[i] = last;
    return top;
}

static bool pairs_grow(trainer *t) {
    if (t->pcap && t->n_pairs * 2 < t->pcap) return true;
    size_t cap = t->pcap ? t->pcap * 2 : 4096;
    uint64_t *key = malloc(cap * sizeof *key);
    int32_t *slot = malloc(cap * sizeof *slot);
    if (!key || !slot) {
        free(key);
        free(slot);
        return false;
    }
    memset(slot, 0xff, cap * sizeof *slot);
    for (size_t i = 0; i < t->pcap; i++) {
        if (t->pslot[i] < 0) continue;
        size_t h = hash_u64(t->pkey[i]) & (cap - 1);
        while (slot[h] >= 0)
            h = (h + 1) & (cap - 1);
        slot[h] = t->pslot[i];
        key[h] = t->pkey[i];
    }
    free(t->pkey);
    free(t->pslot);
    t->pkey = key;
    t->pslot = slot;
    t->pcap = cap;
    return true;
}

/* The pair (A, B), created with count 0 if new; -1 when out of memory. */
static int32_t pair_get(trainer *t, int32_t a, int32_t b) {
    if (!pairs_grow(t)) return -1;
    uint64_t k = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
    size_t h = hash_u64(k) & (t->pcap - 1);
    while (t->pslot[h] >= 0) {
        if (t->pkey[h] == k) return t->pslot[h];
        h = (h + 1) & (t->pcap - 1);
    }
    if (t->n_pairs == t->cap_pairs) {
        size_t cap = t->cap_pairs ? t->cap_pairs * 2 : 4096;
        pair *p = realloc(t->pairs, cap * sizeof *p);
        if (!p) return -1;
        t->pairs = p;
        t->cap_pairs = cap;
    }
    int32_t id = (int32_t)t->n_pairs++;
    t->pairs[id] = (pair){.a = a, .b = b};
    t->pkey[h] = k;
    t->pslot[h] = id;
    return id;
}

/* Add DELTA occurrences of every adjacent pair of word W; with DELTA > 0 the
 * word joins each pair's word list. Changed pairs are noted as touched. */
static bool word_pairs(trainer *t, size_t w, int64_t delta) {
    for (size_t i = 0; i + 1 < t->n_sym[w]; i++) {
        int32_t id = pair_get(t, t->sym[w][i], t->sym[w][i + 1]);
        if (id < 0) return false;
        pair *p = &t->pairs[id];
        p->count += delta;
        if (delta > 0 && (p->n_words == 0 || p->words[p->n_words - 1] != (int32_t)w)) {
            if (p->n_words == p->cap_words) {
                size_t cap = p->cap_words ? p->cap_words * 2 : 4;
                int32_t *nw = realloc(p->words, cap * sizeof *nw);
                if (!nw) return false;
                p->words = nw;
                p->cap_words = cap;
            }
            p->words[p->n_words++] = (int32_t)w;
        }
        if (p->stamp != t->stamp) {
            p->stamp = t->stamp;
            if (t->n_touched == t->cap_touched) {
                size_t cap = t->cap_touched ? t->cap_touched * 2 : 1024;
                int32_t *nt = realloc(t->touched, cap * sizeof *nt);
                if (!nt) return false;
                t->touched = nt;
                t->cap_touched = cap;
            }
            t->touched[t->n_touched++] = id;
        }
    }
    return true;
}

static str_store tok_store(trainer *t) {
    return (str_store){(const char **)t->raw, t->raw_len};
}

/* The id of the token with raw bytes P[0..N), added if new; -1 on OOM. */
static int32_t token_add(trainer *t, const char *p, size_t n) {
    str_store st = tok_store(t);
    if (!index_grow(&t->tok_ix, &st, t->n_tok)) return -1;
    int32_t *slot = index_find(&t->tok_ix, &st, p, n);
    if (*slot >= 0) return *slot;
    if (t->n_tok == t->cap_tok) {
        size_t cap = t->cap_tok * 2;
        char **r = realloc(t->raw, cap * sizeof *r);
        if (r) t->raw = r;
        size_t *l = realloc(t->raw_len, cap * sizeof *l);
        if (l) t->raw_len = l;
        if (!r || !l) return -1;
        t->cap_tok = cap;
        st = tok_store(t);
        slot = index_find(&t->tok_ix, &st, p, n);
    }
    char *copy = malloc(n + 1);
    if (!copy) return -1;
    memcpy(copy, p, n);
    copy[n] = 0;
    int32_t id = (int32_t)t->n_tok++;
    t->raw[id] = copy;
    t->raw_len[id] = n;
    *slot = id;
    return id;
}

/* Count the distinct words of TEXT. */
static mb_status count_words(trainer *t, const char *text, size_t len, const char *pre,
                             mb_bpe_train_stats *stats, char *pre_name) {
    mb_bpe_pre *bp = NULL;
    mb_span *spans = NULL;
    size_t cap = 0, n = 0;
    mb_status st = mb_bpe_pre_new(pre, strlen(pre), "--pre", &bp);
    if (st) return st;
    snprintf(pre_name, 32, "%s", mb_bpe_pre_name(bp));
    st = mb_bpe_pre_split(bp, text, len, &spans, &cap, &n);
    mb_bpe_pre_free(bp);
    if (st) return st;
    stats->n_words = n;
    const char **wptr = malloc((n + 1) * sizeof *wptr);
    size_t *wlen = malloc((n + 1) * sizeof *wlen);
    t->freq = calloc(n + 1, sizeof *t->freq);
    str_index ix = {0};
    if (!wptr || !wlen || !t->freq) goto oom;
    str_store ws = {wptr, wlen};
    for (size_t i = 0; i < n; i++) {
        if (!spans[i].len) continue;
        if (!index_grow(&ix, &ws, t->n_unique)) goto oom;
        const char *p = text + spans[i].off;
        int32_t *slot = index_find(&ix, &ws, p, spans[i].len);
        if (*slot < 0) {
            *slot = (int32_t)t->n_unique;
            wptr[t->n_unique] = p;
            wlen[t->n_unique++] = spans[i].len;
        }
        t->freq[*slot]++;
    }
    stats->n_unique = t->n_unique;
    t->sym = calloc(t->n_unique + 1, sizeof *t->sym);
    t->n_sym = calloc(t->n_unique + 1, sizeof *t->n_sym);
    if (!t->sym || !t->n_sym) goto oom;
    for (size_t w = 0; w < t->n_unique; w++) {
        if (!(t->sym[w] = malloc(wlen[w] * sizeof(int32_t)))) goto oom;
        for (size_t i = 0; i < wlen[w]; i++)
            t->sym[w][i] = (uint8_t)wptr[w][i];
        t->n_sym[w] = wlen[w];
    }
    free(wptr);
    free(wlen);
    free(ix.slot);
    free(spans);
    return MB_OK;
oom:
    free(wptr);
    free(wlen);
    free(ix.slot);
    free(spans);
    return mb_errorf(MB_ERR_NO_MEMORY, "tokenizer-train: out of memory counting words");
}

/* Replace every (A, B) in word W by NEW, left to right. */
static void merge_word(trainer *t, size_t w, int32_t a, int32_t b, int32_t nw) {
    int32_t *s = t->sym[w];
    size_t o = 0, n = t->n_sym[w];
    for (size_t i = 0; i < n; i++) {
        if (i + 1 < n && s[i] == a && s[i + 1] == b) {
            s[o++] = nw;
            i++;
        } else {
            s[o++] = s[i];
        }
    }
    t->n_sym[w] = o;
}

static bool word_has(const trainer *t, size_t w, int32_t a, int32_t b) {
    for (size_t i = 0; i + 1 < t->n_sym[w]; i++)
        if (t->sym[w][i] == a && t->sym[w][i + 1] == b) return true;
    return false;
}

static bool push_touched(trainer *t) {
    for (size_t i = 0; i < t->n_touched; i++) {
        const pair *p = &t->pairs[t->touched[i]];
        if (p->count > 0 && !p->merged && !heap_push(t, p, t->touched[i])) return false;
    }
    t->n_touched = 0;
    t->stamp++;
    return true;
}

/* The merge loop; appends "A B" rank by rank to MERGES (as token id pairs). */
static mb_status learn(trainer *t, int n_normal, int32_t **merges, int *n_merges) {
    int32_t *mg = malloc((size_t)n_normal * 2 * sizeof *mg);
    if (!mg) return mb_errorf(MB_ERR_NO_MEMORY, "tokenizer-train: out of memory");
    *merges = mg;
    *n_merges = 0;
    t->stamp = 1;
    for (size_t w = 0; w < t->n_unique; w++)
        if (!word_pairs(t, w, t->freq[w])) goto oom;
    if (!push_touched(t)) goto oom;
    while ((int)t->n_tok < n_normal && t->n_heap > 0) {
        heap_entry e = heap_pop(t);
        pair *p = &t->pairs[e.id];
        if (p->merged || p->count != e.count || p->count <= 0) continue; /* stale */
        p->merged = true;
        int32_t a = p->a, b = p->b;
        size_t la = t->raw_len[a], lb = t->raw_len[b];
        char *cat = malloc(la + lb);
        if (!cat) goto oom;
        memcpy(cat, t->raw[a], la);
        memcpy(cat + la, t->raw[b], lb);
        int32_t nw = token_add(t, cat, la + lb);
        free(cat);
        if (nw < 0) goto oom;
        mg[2 * *n_merges] = a;
        mg[2 * *n_merges + 1] = b;
        (*n_merges)++;
        p = &t->pairs[e.id];
        /* The word list may grow while we walk it (new pairs): copy it. */
        size_t nws = p->n_words;
        int32_t *ws = p->words;
        p->words = NULL;
        p->n_words = p->cap_words = 0;
        for (size_t i = 0; i < nws; i++) {
            size_t w = (size_t)ws[i];
            if (!word_has(t, w, a, b)) continue;
            if (!word_pairs(t, w, -t->freq[w])) goto oom_ws;
            merge_word(t, w, a, b, nw);
            if (!word_pairs(t, w, t->freq[w])) goto oom_ws;
        }
        free(ws);
        if (!push_touched(t)) goto oom;
        continue;
    oom_ws:
        free(ws);
        goto oom;
    }
    return MB_OK;
oom:
    return mb_errorf(MB_ERR_NO_MEMORY, "tokenizer-train: out of memory merging");
}

static void trainer_free(trainer *t) {
    for (size_t w = 0; w < t->n_unique; w++)
        free(t->sym ? t->sym[w] : NULL);
    free(t->sym);
    free(t->n_sym);
    free(t->freq);
    for (size_t i = 0; i < t->n_tok; i++)
        free(t->raw[i]);
    free(t->raw);
    free(t->raw_len);
    free(t->tok_ix.slot);
    for (size_t i = 0; i < t->n_pairs; i++)
        free(t->pairs[i].words);
    free(t->pairs);
    free(t->pkey);
    free(t->pslot);
    free(t->heap);
    free(t->touched);
}

static char *stored_form(const char *raw, size_t n) {
    char *out = malloc(2 * n + 1);
    if (!out) return NULL;
    out[mb_bpe_map_bytes(raw, n, out)] = 0;
    return out;
}

/* Build the vocabulary: tokens in stored form, types, merges as text. */
static mb_status build_vocab(trainer *t, const int32_t *mg, int n_merges, mb_bpe_vocab *v) {
    int n = (int)t->n_tok + 1;
    v->tokens = calloc((size_t)n, sizeof *v->tokens);
    v->types = calloc((size_t)n, sizeof *v->types);
    v->merges = calloc((size_t)n_merges + 1, sizeof *v->merges);
    if (!v->tokens || !v->types || !v->merges) goto oom;
    v->n_tokens = n;
    for (size_t i = 0; i < t->n_tok; i++) {
        if (!(v->tokens[i] = stored_form(t->raw[i], t->raw_len[i]))) goto oom;
        v->types[i] = MB_TOKEN_NORMAL;
    }
    if (!(v->tokens[n - 1] = strdup(special_text))) goto oom;
    v->types[n - 1] = MB_TOKEN_CONTROL;
    v->bos = v->eos = n - 1;
    for (int i = 0; i < n_merges; i++) {
        const char *a = v->tokens[mg[2 * i]], *b = v->tokens[mg[2 * i + 1]];
        size_t la = strlen(a), lb = strlen(b);
        if (!(v->merges[i] = malloc(la + lb + 2))) goto oom;
        memcpy(v->merges[i], a, la);
        v->merges[i][la] = ' ';
        memcpy(v->merges[i] + la + 1, b, lb + 1);
        v->n_merges = i + 1;
    }
    return MB_OK;
oom:
    return mb_errorf(MB_ERR_NO_MEMORY, "tokenizer-train: out of memory building the vocabulary");
}

mb_status mb_bpe_train(const char *text, size_t len, int n_vocab, const char *pre,
                       mb_bpe_vocab *out, mb_bpe_train_stats *stats) {
    memset(out, 0, sizeof *out);
    mb_bpe_train_stats s = {0};
    double t0 = mb_now();
    if (n_vocab < 257 || n_vocab > (1 << 24))
        return mb_errorf(MB_ERR_INVALID_ARG, "--vocab %d must be in 257..16777216", n_vocab);
    /* Word and token ids are int32. */
    if (len > ((size_t)1 << 31))
        return mb_errorf(MB_ERR_INVALID_ARG, "tokenizer-train: %zu bytes of text; at most 2 GiB",
                         len);
    trainer t = {0};
    int32_t *mg = NULL;
    int n_merges = 0;
    t.cap_tok = 512;
    t.raw = malloc(t.cap_tok * sizeof *t.raw);
    t.raw_len = malloc(t.cap_tok * sizeof *t.raw_len);
    mb_status st = MB_OK;
    if (!t.raw || !t.raw_len) {
        st = mb_errorf(MB_ERR_NO_MEMORY, "tokenizer-train: out of memory");
        goto done;
    }
    for (int b = 0; b < 256 && !st; b++) {
        char c = (char)b;
        if (token_add(&t, &c, 1) != b) st = mb_errorf(MB_ERR_NO_MEMORY, "tokenizer-train: OOM");
    }
    if (st || (st = count_words(&t, text, len, pre ? pre : "gpt-2", &s, out->pre)) ||
        (st = learn(&t, n_vocab - 1, &mg, &n_merges)))
        goto done;
    if ((int)t.n_tok < n_vocab - 1) {
        st = mb_errorf(MB_ERR_INVALID_ARG,
                       "the text has too few distinct pairs for %d tokens: it reaches %zu", n_vocab,
                       t.n_tok + 1);
        goto done;
    }
    st = build_vocab(&t, mg, n_merges, out);
done:
    trainer_free(&t);
    free(mg);
    if (st) {
        mb_bpe_vocab_free(out);
        return st;
    }
    s.n_tokens = out->n_tokens;
    s.n_merges = out->n_merges;
    s.seconds = mb_now() - t0;
    if (stats) *stats = s;
    return MB_OK;
}

void mb_bpe_vocab_free(mb_bpe_vocab *v) {
    for (int i = 0; v->tokens && i < v->n_tokens; i++)
        free(v->tokens[i]);
    for (int i = 0; v->merges && i < v->n_merges; i++)
        free(v->merges[i]);
    free(v->tokens);
    free(v->types);
    free(v->merges);
    memset(v, 0, sizeof *v);
}

mb_status mb_bpe_vocab_write(const mb_bpe_vocab *v, const char *path) {
    mb_gguf_writer *w = NULL;
    mb_status st = mb_gguf_writer_new(&w);
    if (st) return st;
    if ((st = mb_gguf_writer_set_str(w, "general.name", "matchbox-bpe")) ||
        (st = mb_gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2")) ||
        (st = mb_gguf_writer_set_str(w, "tokenizer.ggml.pre", v->pre)) ||
        (st = mb_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)v->tokens,
                                         (uint64_t)v->n_tokens)) ||
        (st = mb_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", MB_GGUF_I32, v->types,
                                     (uint64_t)v->n_tokens)) ||
        (st = mb_gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", (const char *const *)v->merges,
                                         (uint64_t)v->n_merges)) ||
        (st = mb_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)v->bos)) ||
        (st = mb_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)v->eos)) ||
        (st = mb_gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", false)) ||
        (st = mb_gguf_writer_set_bool(w, "tokenizer.ggml.add_eos_token", false)))
        goto done;
    st = mb_gguf_writer_write(w, path);
done:
    mb_gguf_writer_free(w);
    return st;
}

mb_status mb_bpe_train_file(const char *text, size_t len, int n_vocab, const char *pre,
                            const char *path, mb_bpe_train_stats *stats) {
    mb_bpe_vocab v;
    mb_status st = mb_bpe_train(text, len, n_vocab, pre, &v, stats);
    if (st) return st;
    st = mb_bpe_vocab_write(&v, path);
    mb_bpe_vocab_free(&v);
    return st;
}
