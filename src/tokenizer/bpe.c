/* Byte-level BPE (tokenizer.ggml.model = "gpt2"), with llama.cpp's
 * semantics so that ids match the reference engine:
 *
 * 1. Special tokens are cut out of the text first (special.c).
 * 2. The pre-tokenizer's expressions cut each remaining run into words
 *    (bpe_pre.c).
 * 3. Every byte of a word is one symbol: the token whose text is the byte's
 *    printable stand-in (GPT-2's byte-to-unicode table: the printable
 *    Latin-1 bytes stand for themselves, the other 68 bytes for U+0100 on,
 *    so a space is 'Ġ' U+0120 and a newline 'Ċ' U+010A). Tokens are stored
 *    in that mapped form.
 * 4. The adjacent pair with the lowest merge rank (tokenizer.ggml.merges
 *    index) is merged, again and again, ties to the leftmost pair; a heap of
 *    candidates makes a word O(n log n). With Llama 3's pre-tokenizer a word
 *    that is itself a token is taken whole first.
 *
 * Symbols are token ids and merges are looked up by id pair, so a merge
 * costs one hash probe. A merge whose parts or result are not text tokens
 * can never apply to symbols that are tokens, and is dropped at load. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "tokenizer/bpe_pre.h"
#include "tokenizer/vocab_internal.h"

typedef struct {
    uint64_t key; /* left id << 32 | right id */
    int32_t rank; /* -1: empty slot */
    mb_token result;
} merge_slot;

struct mb_bpe {
    merge_slot *merges;
    size_t merge_mask;
    size_t n_merges; /* kept */
    mb_bpe_pre *pre;
    bool ignore_merges;
};

/* ---- the byte-to-unicode table ------------------------------------------ */

/* Bytes that stand for themselves: '!'..'~', '¡'..'¬', '®'..'ÿ'. The other
 * 68 take U+0100 + their index among themselves, in byte order. */
static unsigned byte_cp(unsigned b) {
    if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174) return b;
    if (b <= 32) return 256 + b;               /* 0..32 -> U+0100..U+0120 */
    if (b <= 160) return 256 + 33 + (b - 127); /* 127..160 -> U+0121..U+0142 */
    return 256 + 67;                           /* 173 (soft hyphen) -> U+0143 */
}

static int cp_byte(unsigned cp) {
    if (cp < 256) return byte_cp(cp) == cp ? (int)cp : -1;
    if (cp <= 256 + 32) return (int)(cp - 256);
    if (cp <= 256 + 66) return (int)(cp - 256 - 33 + 127);
    if (cp == 256 + 67) return 173;
    return -1;
}

/* Write the mapped form of byte B; returns its length (1 or 2). */
static size_t put_mapped(unsigned char b, char *out) {
    unsigned cp = byte_cp(b);
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
}

size_t mb_bpe_map_bytes(const char *in, size_t len, char *out) {
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += put_mapped((unsigned char)in[i], out + n);
    return n;
}

int mb_bpe_char_byte(const char *s, size_t len, size_t *used) {
    const unsigned char *u = (const unsigned char *)s;
    *used = 1;
    if (u[0] < 0x80) return cp_byte(u[0]);
    /* Every byte character is below U+0800: two bytes, 110xxxxx 10xxxxxx. */
    if ((u[0] & 0xE0) != 0xC0 || len < 2 || (u[1] & 0xC0) != 0x80) return -1;
    unsigned cp = ((unsigned)(u[0] & 0x1F) << 6) | (u[1] & 0x3F);
    if (cp < 0x80) return -1; /* overlong */
    int b = cp_byte(cp);
    if (b >= 0) *used = 2;
    return b;
}

/* ---- merges ------------------------------------------------------------------ */

static size_t merge_hash(uint64_t key, size_t mask) {
    return (size_t)((key * 0x9E3779B97F4A7C15ull) >> 20) & mask;
}

static const merge_slot *merge_find(const mb_bpe *b, mb_token left, mb_token right) {
    uint64_t key = (uint64_t)(uint32_t)left << 32 | (uint32_t)right;
    for (size_t i = merge_hash(key, b->merge_mask);; i = (i + 1) & b->merge_mask) {
        const merge_slot *s = &b->merges[i];
        if (s->rank < 0) return NULL;
        if (s->key == key) return s;
    }
}

/* Insert unless the pair is there already: the first (lowest) rank wins. */
static void merge_insert(mb_bpe *b, mb_token left, mb_token right, int32_t rank, mb_token result) {
    uint64_t key = (uint64_t)(uint32_t)left << 32 | (uint32_t)right;
    size_t i = merge_hash(key, b->merge_mask);
    while (b->merges[i].rank >= 0) {
        if (b->merges[i].key == key) return;
        i = (i + 1) & b->merge_mask;
    }
    b->merges[i] = (merge_slot){key, rank, result};
    b->n_merges++;
}

static mb_token text_token(const mb_vocab *v, const char *s, size_t len) {
    mb_token id = mb_vocab_lookup(v, s, len);
    return id >= 0 && mb_token_type_is_text(v->types[id]) ? id : -1;
}

/* "a b": the two parts split at the first space after the first byte (a
 * part never holds a space: spaces are stored as 'Ġ'). */
static mb_status add_merge(mb_bpe *b, const mb_vocab *v, const char *s, size_t len, size_t rank,
                           char *joined) {
    const char *sp = len > 1 ? memchr(s + 1, ' ', len - 1) : NULL;
    if (!sp)
        return mb_errorf(MB_ERR_FORMAT,
                         "tokenizer.ggml.merges[%zu] = '%.*s' is not two tokens "
                         "separated by a space",
                         rank, (int)(len > 64 ? 64 : len), s);
    size_t l_len = (size_t)(sp - s), r_len = len - l_len - 1;
    mb_token left = text_token(v, s, l_len), right = text_token(v, sp + 1, r_len);
    if (left < 0 || right < 0) return MB_OK;
    memcpy(joined, s, l_len);
    memcpy(joined + l_len, sp + 1, r_len);
    mb_token result = text_token(v, joined, l_len + r_len);
    if (result >= 0) merge_insert(b, left, right, (int32_t)rank, result);
    return MB_OK;
}

static mb_status build_merges(mb_bpe *b, const mb_vocab *v, const mb_vocab_init *init) {
    if (init->n_merges > (size_t)INT32_MAX)
        return mb_errorf(MB_ERR_FORMAT, "tokenizer.ggml.merges has %zu entries, too many",
                         init->n_merges);
    size_t n_slots = 16, longest = 0;
    while (n_slots < init->n_merges * 2)
        n_slots *= 2;
    for (size_t i = 0; i < init->n_merges; i++) {
        if (init->merge_lens[i] > 0 && !init->merges[i])
            return mb_errorf(MB_ERR_INVALID_ARG, "vocab: merge %zu has no text", i);
        if (init->merge_lens[i] > longest) longest = init->merge_lens[i];
    }
    b->merges = malloc(n_slots * sizeof *b->merges);
    char *joined = malloc(longest + 1);
    if (!b->merges || !joined) {
        free(joined);
        return mb_errorf(MB_ERR_NO_MEMORY, "vocab: no memory for %zu merges", init->n_merges);
    }
    for (size_t i = 0; i < n_slots; i++)
        b->merges[i].rank = -1;
    b->merge_mask = n_slots - 1;
    mb_status st = MB_OK;
    for (size_t i = 0; i < init->n_merges && st == MB_OK; i++)
        st = add_merge(b, v, init->merges[i], init->merge_lens[i], i, joined);
    free(joined);
    return st;
}

void mb_bpe_free(mb_bpe *b) {
    if (!b) return;
    free(b->merges);
    mb_bpe_pre_free(b->pre);
    free(b);
}

mb_status mb_bpe_attach(mb_vocab *v, const mb_vocab_init *init) {
    mb_bpe *b = calloc(1, sizeof *b);
    if (!b) return mb_errorf(MB_ERR_NO_MEMORY, "vocab: no memory");
    v->bpe = b;
    const char *pre = init->pre ? init->pre : "default";
    size_t pre_len = init->pre ? init->pre_len : strlen(pre);
    mb_status st =
        mb_bpe_pre_new(pre, pre_len, init->pre_source ? init->pre_source : "vocab", &b->pre);
    if (st != MB_OK) return st;
    b->ignore_merges = mb_bpe_pre_ignore_merges(b->pre);
    /* The SentencePiece byte table means nothing here: the token of byte B
     * is the one whose text is B's stand-in. */
    for (int i = 0; i < 256; i++) {
        char m[2];
        size_t n = put_mapped((unsigned char)i, m);
        v->byte_token[i] = text_token(v, m, n);
    }
    return build_merges(b, v, init);
}

const char *mb_vocab_pre_name(const mb_vocab *v) {
    return v->bpe ? mb_bpe_pre_name(v->bpe->pre) : NULL;
}

/* ---- encoding ----------------------------------------------------------------- */

typedef struct {
    int32_t prev, next;
    mb_token id; /* -1 once merged into its left neighbour */
} symbol;

typedef struct {
    int32_t rank, left, right;
    mb_token left_id, right_id, result;
} candidate;

typedef struct {
    symbol *syms;
    candidate *heap;
    size_t heap_n, heap_cap;
    char *mapped; /* a word in stored form, for the whole-word lookup */
    mb_span *words;
    size_t words_cap;
} bpe_work;

static bool cand_before(const candidate *a, const candidate *b) {
    return a->rank != b->rank ? a->rank < b->rank : a->left < b->left;
}

static mb_status heap_push(bpe_work *w, candidate c) {
    if (w->heap_n == w->heap_cap) {
        size_t cap = w->heap_cap ? w->heap_cap * 2 : 64;
        candidate *h = realloc(w->heap, cap * sizeof *h);
        if (!h) return mb_errorf(MB_ERR_NO_MEMORY, "tokenize: no memory for %zu merges", cap);
        w->heap = h;
        w->heap_cap = cap;
    }
    size_t i = w->heap_n++;
    while (i > 0 && cand_before(&c, &w->heap[(i - 1) / 2])) {
        w->heap[i] = w->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    w->heap[i] = c;
    return MB_OK;
}

static candidate heap_pop(bpe_work *w) {
    candidate top = w->heap[0], last = w->heap[--w->heap_n];
    size_t n = w->heap_n, i = 0;
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= n) break;
        if (child + 1 < n && cand_before(&w->heap[child + 1], &w->heap[child])) child++;
        if (!cand_before(&w->heap[child], &last)) break;
        w->heap[i] = w->heap[child];
        i = child;
    }
    if (n > 0) w->heap[i] = last;
    return top;
}

static mb_status try_pair(const mb_vocab *v, bpe_work *w, int32_t left, int32_t right) {
    if (left < 0 || right < 0) return MB_OK;
    mb_token l = w->syms[left].id, r = w->syms[right].id;
    if (l < 0 || r < 0) return MB_OK;
    const merge_slot *m = merge_find(v->bpe, l, r);
    if (!m) return MB_OK;
    return heap_push(w, (candidate){m->rank, left, right, l, r, m->result});
}

static mb_status emit_id(const mb_vocab *v, mb_token id, unsigned char byte, mb_tok_out *o) {
    if (id >= 0) {
        mb_tok_emit(o, id);
        return MB_OK;
    }
    if (v->unk < 0)
        return mb_errorf(MB_ERR_UNSUPPORTED,
                         "tokenize: byte 0x%02x has no token in this BPE vocabulary, and there is "
                         "no unknown token",
                         (unsigned)byte);
    mb_tok_emit(o, v->unk);
    return MB_OK;
}

static mb_status encode_word(const mb_vocab *v, bpe_work *w, const char *s, size_t len,
                             mb_tok_out *o) {
    if (len == 1) return emit_id(v, v->byte_token[(unsigned char)s[0]], (unsigned char)s[0], o);
    if (v->bpe->ignore_merges) {
        mb_token whole = text_token(v, w->mapped, mb_bpe_map_bytes(s, len, w->mapped));
        if (whole >= 0) {
            mb_tok_emit(o, whole);
            return MB_OK;
        }
    }
    int32_t n = (int32_t)len;
    for (int32_t i = 0; i < n; i++)
        w->syms[i] = (symbol){i - 1, i + 1 < n ? i + 1 : -1, v->byte_token[(unsigned char)s[i]]};
    w->heap_n = 0;
    mb_status st = MB_OK;
    for (int32_t i = 1; i < n && st == MB_OK; i++)
        st = try_pair(v, w, i - 1, i);
    while (w->heap_n > 0 && st == MB_OK) {
        candidate c = heap_pop(w);
        symbol *l = &w->syms[c.left], *r = &w->syms[c.right];
        /* Stale when either side has merged since: a symbol that grows
         * becomes another token, one merged away has id -1. */
        if (l->id != c.left_id || r->id != c.right_id || l->next != c.right) continue;
        l->id = c.result;
        r->id = -1;
        l->next = r->next;
        if (r->next >= 0) w->syms[r->next].prev = c.left;
        st = try_pair(v, w, l->prev, c.left);
        if (st == MB_OK) st = try_pair(v, w, c.left, l->next);
    }
    /* Symbol 0 is never merged away: symbols only merge into the left. */
    for (int32_t i = 0; i >= 0 && st == MB_OK; i = w->syms[i].next)
        st = emit_id(v, w->syms[i].id, (unsigned char)s[i], o);
    return st;
}

static mb_status encode_run(const mb_vocab *v, bpe_work *w, const char *text, size_t len,
                            mb_tok_out *o) {
    size_t n_words = 0;
    mb_status st = mb_bpe_pre_split(v->bpe->pre, text, len, &w->words, &w->words_cap, &n_words);
    for (size_t i = 0; i < n_words && st == MB_OK; i++)
        st = encode_word(v, w, text + w->words[i].off, w->words[i].len, o);
    return st;
}

mb_status mb_bpe_encode(const mb_vocab *v, const char *text, size_t len, bool parse_special,
                        mb_tok_out *o) {
    mb_frag_list lists[2] = {{0}, {0}};
    mb_frag_list *frags = NULL;
    bpe_work w = {0};
    mb_status st = mb_vocab_partition(v, text, len, parse_special, lists, &frags);
    /* A word is at most the whole text: one symbol and two mapped bytes a byte. */
    w.syms = malloc(len * sizeof *w.syms);
    w.mapped = malloc(len * 2);
    if (st == MB_OK && (!w.syms || !w.mapped))
        st = mb_errorf(MB_ERR_NO_MEMORY, "tokenize: no memory for %zu bytes of text", len);
    for (size_t i = 0; frags && i < frags->n && st == MB_OK; i++) {
        const mb_fragment *f = &frags->a[i];
        if (f->id >= 0)
            mb_tok_emit(o, f->id);
        else
            st = encode_run(v, &w, text + f->off, f->len, o);
    }
    free(lists[0].a);
    free(lists[1].a);
    free(w.syms);
    free(w.heap);
    free(w.mapped);
    free(w.words);
    return st;
}

/* ---- building one by hand ----------------------------------------------------- */

mb_status mb_vocab_new_bpe(int n, const char *const *tokens, const size_t *lens,
                           const int32_t *types, size_t n_merges, const char *const *merges,
                           const char *pre, mb_token bos, mb_token eos, mb_vocab **out) {
    *out = NULL;
    size_t *merge_lens = malloc((n_merges ? n_merges : 1) * sizeof *merge_lens);
    if (!merge_lens) return mb_errorf(MB_ERR_NO_MEMORY, "vocab: no memory");
    for (size_t i = 0; i < n_merges; i++)
        merge_lens[i] = merges[i] ? strlen(merges[i]) : 0;
    mb_vocab_init init = {
        .n_tokens = n,
        .texts = tokens,
        .lens = lens,
        .types = types,
        .bos = bos,
        .eos = eos,
        .unk = -1,
        .sep = -1,
        .pad = -1,
        .eot = -1,
        .eom = -1,
        .model = "gpt2",
        .n_merges = n_merges,
        .merges = merges,
        .merge_lens = merge_lens,
        .pre = pre,
        .pre_len = pre ? strlen(pre) : 0,
        .pre_source = "vocab",
    };
    bool add_bos = false;
    if (pre) mb_bpe_pre_known(pre, init.pre_len, &add_bos);
    init.add_bos = add_bos && bos >= 0;
    mb_status st = mb_vocab_build(&init, out);
    free(merge_lens);
    return st;
}
