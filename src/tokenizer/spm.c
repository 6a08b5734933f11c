/* SentencePiece-style BPE encoding (tokenizer.ggml.model = "llama"), with
 * llama.cpp's semantics so that ids match the reference engine:
 *
 * 1. Special tokens are cut out of the text first (special.c).
 * 2. Each remaining run of text gets a leading space when add_space_prefix is
 *    on and the run starts the text or follows a special token; spaces
 *    become U+2581 '▁'.
 * 3. The run is split into UTF-8 characters (an ill-formed byte is a symbol
 *    of its own), and the adjacent pair whose concatenation is a vocabulary
 *    token with the highest score is merged, again and again; ties go to the
 *    leftmost pair. A heap of candidate pairs makes this O(n log n).
 * 4. Each final symbol is its token, or, for a character the vocabulary
 *    lacks, its bytes as <0xXX> tokens (unk when there are none). Merged
 *    symbols are always tokens: only pairs that form a token are merged. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "tokenizer/utf8_stream.h"
#include "tokenizer/vocab_internal.h"

/* A piece of the escaped text; len 0 marks a symbol merged into its left
 * neighbour. prev/next link the live symbols (-1 at the ends). */
typedef struct {
    int32_t prev, next;
    uint32_t off, len;
} symbol;

/* A candidate merge. len is the pair's length when it was queued: if either
 * side has changed since, the entry is stale and skipped. */
typedef struct {
    float score;
    int32_t left, right;
    uint32_t len;
} bigram;

typedef struct {
    char *text; /* the escaped run */
    symbol *syms;
    bigram *heap;
    size_t heap_n, heap_cap;
} spm_work;

/* ---- a binary max-heap of bigrams ---------------------------------------- */

static int bigram_before(const bigram *a, const bigram *b) {
    if (a->score != b->score) return a->score > b->score;
    return a->left < b->left;
}

static mb_status heap_push(spm_work *w, bigram b) {
    if (w->heap_n == w->heap_cap) {
        size_t cap = w->heap_cap ? w->heap_cap * 2 : 64;
        bigram *h = realloc(w->heap, cap * sizeof *h);
        if (!h) return mb_errorf(MB_ERR_NO_MEMORY, "tokenize: no memory for %zu merges", cap);
        w->heap = h;
        w->heap_cap = cap;
    }
    size_t i = w->heap_n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!bigram_before(&b, &w->heap[parent])) break;
        w->heap[i] = w->heap[parent];
        i = parent;
    }
    w->heap[i] = b;
    return MB_OK;
}

static bigram heap_pop(spm_work *w) {
    bigram top = w->heap[0];
    bigram last = w->heap[--w->heap_n];
    size_t n = w->heap_n, i = 0;
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= n) break;
        if (child + 1 < n && bigram_before(&w->heap[child + 1], &w->heap[child])) child++;
        if (!bigram_before(&w->heap[child], &last)) break;
        w->heap[i] = w->heap[child];
        i = child;
    }
    if (n > 0) w->heap[i] = last;
    return top;
}

/* ---- one run of text ------------------------------------------------------ */

static mb_status try_add_pair(const mb_vocab *v, spm_work *w, int32_t left, int32_t right) {
    if (left < 0 || right < 0) return MB_OK;
    const symbol *l = &w->syms[left], *r = &w->syms[right];
    uint32_t len = l->len + r->len;
    mb_token id = mb_vocab_lookup(v, w->text + l->off, len);
    /* Only text tokens: a merge must never produce a control or byte token,
     * whose piece would not give the text back. */
    if (id < 0 || !mb_token_type_is_text(v->types[id])) return MB_OK;
    return heap_push(w, (bigram){v->scores[id], left, right, len});
}

/* Escape the run into w->text; returns its length. */
static size_t escape_run(const mb_vocab *v, const char *raw, size_t len, bool prefix, char *dst) {
    size_t n = 0;
    if (prefix && v->add_space_prefix) {
        memcpy(dst, "\xE2\x96\x81", 3);
        n = 3;
    }
    for (size_t i = 0; i < len; i++) {
        if (raw[i] == ' ') {
            memcpy(dst + n, "\xE2\x96\x81", 3);
            n += 3;
        } else {
            dst[n++] = raw[i];
        }
    }
    return n;
}

static mb_status emit_symbol(const mb_vocab *v, const char *s, uint32_t len, mb_tok_out *o) {
    mb_token id = mb_vocab_lookup(v, s, len);
    if (id >= 0 && mb_token_type_is_text(v->types[id])) {
        mb_tok_emit(o, id);
        return MB_OK;
    }
    /* A character the vocabulary lacks (merged symbols are always tokens). */
    bool all_bytes = true;
    for (uint32_t i = 0; i < len; i++)
        if (v->byte_token[(unsigned char)s[i]] < 0) all_bytes = false;
    if (all_bytes) {
        for (uint32_t i = 0; i < len; i++)
            mb_tok_emit(o, v->byte_token[(unsigned char)s[i]]);
        return MB_OK;
    }
    if (v->unk < 0)
        return mb_errorf(MB_ERR_UNSUPPORTED,
                         "tokenize: byte 0x%02x has no token, and the vocabulary has neither byte "
                         "tokens nor an unknown token",
                         (unsigned)(unsigned char)s[0]);
    mb_tok_emit(o, v->unk);
    return MB_OK;
}

static mb_status encode_run(const mb_vocab *v, spm_work *w, const char *raw, size_t raw_len,
                            bool prefix, mb_tok_out *o) {
    size_t len = escape_run(v, raw, raw_len, prefix, w->text);
    if (len == 0) return MB_OK;
    const unsigned char *t = (const unsigned char *)w->text;
    int32_t n_syms = 0;
    for (size_t off = 0; off < len;) {
        int k = mb_utf8_seq_len(t + off, len - off);
        size_t step = k > 0 ? (size_t)k : 1; /* ill-formed or cut short: one byte */
        w->syms[n_syms] = (symbol){n_syms - 1, -1, (uint32_t)off, (uint32_t)step};
        if (n_syms > 0) w->syms[n_syms - 1].next = n_syms;
        n_syms++;
        off += step;
    }
    w->heap_n = 0;
    mb_status st = MB_OK;
    for (int32_t i = 1; i < n_syms && st == MB_OK; i++)
        st = try_add_pair(v, w, i - 1, i);
    while (w->heap_n > 0 && st == MB_OK) {
        bigram b = heap_pop(w);
        symbol *l = &w->syms[b.left], *r = &w->syms[b.right];
        /* A symbol only grows by taking in its right neighbour, so both sides
         * unchanged means they are still adjacent and the pair still valid. */
        if (l->len == 0 || r->len == 0 || l->len + r->len != b.len) continue;
        l->len += r->len;
        r->len = 0;
        l->next = r->next;
        if (r->next >= 0) w->syms[r->next].prev = b.left;
        st = try_add_pair(v, w, l->prev, b.left);
        if (st == MB_OK) st = try_add_pair(v, w, b.left, l->next);
    }
    for (int32_t i = 0; i >= 0 && st == MB_OK; i = w->syms[i].next)
        st = emit_symbol(v, w->text + w->syms[i].off, w->syms[i].len, o);
    return st;
}

mb_status mb_spm_encode(const mb_vocab *v, const char *text, size_t len, bool parse_special,
                        mb_tok_out *o) {
    mb_frag_list lists[2] = {{0}, {0}};
    mb_frag_list *frags = NULL;
    spm_work w = {0};
    mb_status st = mb_vocab_partition(v, text, len, parse_special, lists, &frags);
    /* Room for the longest run: every byte a space (3 bytes) plus the
     * prefix; a symbol is at least one byte of the input or the prefix. */
    w.text = malloc(len * 3 + 3);
    w.syms = malloc((len + 1) * sizeof *w.syms);
    if (st == MB_OK && (!w.text || !w.syms))
        st = mb_errorf(MB_ERR_NO_MEMORY, "tokenize: no memory for %zu bytes of text", len);
    bool after_special = true; /* the start of the text counts as one */
    for (size_t i = 0; frags && i < frags->n && st == MB_OK; i++) {
        const mb_fragment *f = &frags->a[i];
        if (f->id >= 0) {
            mb_tok_emit(o, f->id);
            after_special = true;
        } else {
            st = encode_run(v, &w, text + f->off, f->len, after_special, o);
            after_special = false;
        }
    }
    free(lists[0].a);
    free(lists[1].a);
    free(w.text);
    free(w.syms);
    free(w.heap);
    return st;
}
