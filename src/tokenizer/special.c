/* Cutting special tokens out of a text before it is encoded, with
 * llama.cpp's semantics so that both engines give the same ids. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "tokenizer/vocab_internal.h"

static mb_status frag_push(mb_frag_list *l, size_t off, size_t len, mb_token id) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        mb_fragment *a = realloc(l->a, cap * sizeof *a);
        if (!a) return mb_errorf(MB_ERR_NO_MEMORY, "tokenize: no memory for %zu fragments", cap);
        l->a = a;
        l->cap = cap;
    }
    l->a[l->n++] = (mb_fragment){off, len, id};
    return MB_OK;
}

/* White space as llama.cpp's strip attributes see it: C's isspace. */
static bool is_space(char c) {
    return c == ' ' || (c >= '\t' && c <= '\r');
}

/* Cut the occurrences of one special token out of the raw fragments of IN.
 * With LSTRIP the white space just before an occurrence goes with it, with
 * RSTRIP the white space just after; only raw text of the same fragment is
 * taken, never a neighbouring special token. */
static mb_status split_on(const mb_vocab *v, const char *text, mb_token sp, const mb_frag_list *in,
                          mb_frag_list *out) {
    const char *s = mb_vocab_text(v, sp);
    size_t slen = v->text_len[sp];
    bool lstrip = v->strip[sp] & MB_TOKEN_LSTRIP, rstrip = v->strip[sp] & MB_TOKEN_RSTRIP;
    out->n = 0;
    mb_status st = MB_OK;
    for (size_t i = 0; i < in->n && st == MB_OK; i++) {
        mb_fragment f = in->a[i];
        if (f.id >= 0 || f.len < slen) {
            st = frag_push(out, f.off, f.len, f.id);
            continue;
        }
        size_t pos = f.off, end = f.off + f.len;
        const char *hit;
        while (st == MB_OK && pos < end && (hit = memmem(text + pos, end - pos, s, slen))) {
            size_t at = (size_t)(hit - text), left_end = at;
            while (lstrip && left_end > pos && is_space(text[left_end - 1]))
                left_end--;
            if (left_end > pos) st = frag_push(out, pos, left_end - pos, -1);
            if (st == MB_OK) st = frag_push(out, at, slen, sp);
            pos = at + slen;
            while (rstrip && pos < end && is_space(text[pos]))
                pos++;
        }
        if (st == MB_OK && pos < end) st = frag_push(out, pos, end - pos, -1);
    }
    return st;
}

/* Like llama.cpp, each special token in turn (longest text first) is cut
 * out of what is still raw text; so a longer token wins over a shorter one
 * anywhere it occurs, and white space a strip attribute takes is gone
 * before any shorter token is looked for. User-defined tokens are always cut out, as
 * SentencePiece and Hugging Face's added tokens define them; control and
 * unknown ones only with parse_special. */
mb_status mb_vocab_partition(const mb_vocab *v, const char *text, size_t len, bool parse_special,
                             mb_frag_list lists[2], mb_frag_list **result) {
    mb_frag_list *cur = &lists[0], *next = &lists[1];
    mb_status st = frag_push(cur, 0, len, -1);
    for (int i = 0; i < v->n_specials && st == MB_OK; i++) {
        mb_token sp = v->specials[i];
        if (!parse_special && v->types[sp] != MB_TOKEN_USER_DEFINED) continue;
        st = split_on(v, text, sp, cur, next);
        mb_frag_list *tmp = cur;
        cur = next;
        next = tmp;
    }
    *result = cur;
    return st;
}
