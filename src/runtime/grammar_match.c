/* The grammar's pushdown matcher: sets of parse stacks advanced one
 * Unicode code point at a time. A stack's top is always a character
 * element; a rule reference is expanded into one stack per alternative as
 * soon as it is reached, and the end of a rule pops to its caller, so
 * checking a character is a look at each top. A reference that ends its
 * alternative pushes nothing (its caller's continuation is reused): the
 * right recursion that repetitions become runs in constant depth. */
#include <string.h>
#include <stdlib.h>

#include "runtime/grammar.h"

/* A character element's ranges, or NULL when it has none (a grammar with
 * no ranges at all has a NULL table, to which no offset may be added). */
static const uint32_t *elem_ranges(const mb_grammar *g, const mb_gelem *e) {
    return e->n > 0 ? g->ranges + 2 * (size_t)e->a : NULL;
}

int mb_gelem_match(const mb_grammar *g, const mb_gelem *e, uint32_t c) {
    if (c < 128) return (g->ascii[4 * (e - g->elems) + (c >> 5)] >> (c & 31)) & 1;
    const uint32_t *r = elem_ranges(g, e);
    int in = 0;
    for (int i = 0; i < e->n && !in; i++)
        in = c >= r[2 * i] && c <= r[2 * i + 1];
    return in != e->negated;
}

void mb_grammar_fill_ascii(mb_grammar *g) {
    memset(g->ascii, 0, (size_t)g->n_elems * 16);
    for (int i = 0; i < g->n_elems; i++) {
        const mb_gelem *e = &g->elems[i];
        if (e->type != G_CHAR) continue;
        const uint32_t *r = elem_ranges(g, e);
        for (uint32_t c = 0; c < 128; c++) {
            int in = 0;
            for (int k = 0; k < e->n && !in; k++)
                in = c >= r[2 * k] && c <= r[2 * k + 1];
            if (in != e->negated) g->ascii[4 * i + (c >> 5)] |= 1u << (c & 31);
        }
    }
}

int mb_gelem_match_range(const mb_grammar *g, const mb_gelem *e, uint32_t lo, uint32_t hi) {
    const uint32_t *r = elem_ranges(g, e);
    for (int i = 0; i < e->n; i++) {
        if (!e->negated && r[2 * i] <= hi && r[2 * i + 1] >= lo) return 1;
        /* Negated: refused only when one range covers all of [lo, hi]
         * (ranges that cover it only together let it through; the next
         * byte is checked exactly). */
        if (e->negated && r[2 * i] <= lo && r[2 * i + 1] >= hi) return 0;
    }
    return e->negated;
}

int mb_utf8_feed(mb_utf8_state *st, uint8_t b) {
    if (st->need == 0) {
        if (b < 0x80) {
            st->cp = b;
            return 1;
        }
        if (b >= 0xC2 && b < 0xE0)
            st->cp = b & 0x1F, st->need = 1;
        else if (b >= 0xE0 && b < 0xF0)
            st->cp = b & 0x0F, st->need = 2;
        else if (b >= 0xF0 && b < 0xF5)
            st->cp = b & 0x07, st->need = 3;
        else
            return -1;
        st->len = st->need + 1;
        return 0;
    }
    if ((b & 0xC0) != 0x80) return -1;
    if (st->need == st->len - 1) {
        /* The second byte rules out overlong forms (E0 80..9F, F0 80..8F),
         * surrogates (ED A0..BF) and code points past U+10FFFF (F4 90..). */
        if (st->len == 3 && ((st->cp == 0 && b < 0xA0) || (st->cp == 0xD && b >= 0xA0))) return -1;
        if (st->len == 4 && ((st->cp == 0 && b < 0x90) || (st->cp == 4 && b >= 0x90))) return -1;
    }
    st->cp = (st->cp << 6) | (b & 0x3F);
    return --st->need == 0;
}

void mb_utf8_range(const mb_utf8_state *st, uint32_t *lo, uint32_t *hi) {
    static const uint32_t least[5] = {0, 0, 0x80, 0x800, 0x10000};
    *lo = st->cp << (6 * st->need);
    *hi = *lo | ((1u << (6 * st->need)) - 1);
    if (*lo < least[st->len]) *lo = least[st->len];
    if (*hi > 0x10FFFF) *hi = 0x10FFFF;
}

int mb_garena_init(mb_garena *a, int cap_nodes, int cap_sets) {
    memset(a, 0, sizeof *a);
    a->nodes = malloc((size_t)cap_nodes * sizeof *a->nodes);
    a->sets = malloc((size_t)cap_sets * sizeof *a->sets);
    a->chain = malloc((size_t)cap_nodes * sizeof *a->chain);
    a->cap = cap_nodes;
    a->cap_sets = cap_sets;
    return a->nodes && a->sets && a->chain ? 0 : -1;
}

void mb_garena_free(mb_garena *a) {
    free(a->nodes);
    free(a->sets);
    free(a->chain);
    memset(a, 0, sizeof *a);
}

static uint32_t node_hash(int32_t pos, const mb_gnode *parent) {
    uint32_t h = (uint32_t)pos * 0x9E3779B1u;
    if (parent) h ^= parent->hash * 0x85EBCA77u + 0x165667B1u;
    return h ^ (h >> 15);
}

static mb_gnode *new_node(mb_garena *a, int32_t pos, const mb_gnode *parent, uint32_t hash) {
    if (a->n >= a->cap) {
        a->overflow = 1;
        return NULL;
    }
    mb_gnode *n = &a->nodes[a->n++];
    *n = (mb_gnode){pos, hash, parent, NULL};
    return n;
}

static int chain_eq(const mb_gnode *x, const mb_gnode *y) {
    for (; x != y; x = x->parent, y = y->parent)
        if (!x || !y || x->hash != y->hash || x->pos != y->pos) return 0;
    return 1;
}

/* Add the stack (POS, PARENT) to the set being built (SETS[first..]),
 * unless it is there already. */
static void emit(mb_garena *a, int first, int32_t pos, const mb_gnode *parent) {
    uint32_t h = node_hash(pos, parent);
    for (int i = first; i < a->n_sets; i++) {
        const mb_gnode *s = a->sets[i];
        if (s->hash == h && s->pos == pos && chain_eq(s->parent, parent)) return;
    }
    if (a->n_sets - first >= MB_GRAMMAR_MAX_STACKS || a->n_sets >= a->cap_sets) {
        a->overflow = 1;
        return;
    }
    const mb_gnode *n = new_node(a, pos, parent, h);
    if (n) a->sets[a->n_sets++] = n;
}

/* Expand the stack (POS, PARENT) until each of its tops is a character. */
static void expand(const mb_grammar *g, mb_garena *a, int first, int32_t pos,
                   const mb_gnode *parent, int depth, int *complete) {
    if (depth > MB_GRAMMAR_MAX_DEPTH) {
        a->overflow = 1;
        return;
    }
    for (;;) {
        const mb_gelem *e = &g->elems[pos];
        if (e->type == G_CHAR) {
            emit(a, first, pos, parent);
            return;
        }
        if (e->type == G_END) {
            if (!parent) {
                *complete = 1;
                return;
            }
            pos = parent->pos;
            parent = parent->parent;
            continue;
        }
        /* A reference: where to go when the rule ends. */
        const mb_gnode *cont = parent;
        if (e[1].type != G_END) {
            cont = new_node(a, pos + 1, parent, node_hash(pos + 1, parent));
            if (!cont) return;
        }
        for (int i = g->rule_alt[e->a]; i < g->rule_alt[e->a + 1]; i++)
            expand(g, a, first, g->alts[i], cont, depth + 1, complete);
        return;
    }
}

mb_gset mb_gset_start(const mb_grammar *g, mb_garena *a) {
    mb_gset s = {a->n_sets, 0, 0};
    for (int i = g->rule_alt[g->root]; i < g->rule_alt[g->root + 1]; i++)
        expand(g, a, s.first, g->alts[i], NULL, 0, &s.complete);
    s.n = a->n_sets - s.first;
    return s;
}

mb_gset mb_gset_advance(const mb_grammar *g, mb_garena *a, mb_gset in, uint32_t c) {
    mb_gset s = {a->n_sets, 0, 0};
    for (int i = 0; i < in.n; i++) {
        const mb_gnode *n = a->sets[in.first + i];
        if (mb_gelem_match(g, &g->elems[n->pos], c))
            expand(g, a, s.first, n->pos + 1, n->parent, 0, &s.complete);
    }
    s.n = a->n_sets - s.first;
    return s;
}

int mb_gset_accepts_range(const mb_grammar *g, const mb_garena *a, mb_gset in, uint32_t lo,
                          uint32_t hi) {
    for (int i = 0; i < in.n; i++)
        if (mb_gelem_match_range(g, &g->elems[a->sets[in.first + i]->pos], lo, hi)) return 1;
    return 0;
}

/* Copy node N's chain into DST, reusing what an earlier chain copied
 * (marked by fwd on the source nodes). */
static mb_gnode *copy_chain(mb_garena *dst, const mb_gnode *n) {
    int k = 0;
    for (const mb_gnode *p = n; p && !p->fwd; p = p->parent) {
        if (k >= dst->cap) {
            dst->overflow = 1;
            return NULL;
        }
        dst->chain[k++] = p;
    }
    mb_gnode *below = NULL;
    const mb_gnode *stop = k ? dst->chain[k - 1]->parent : n;
    if (stop) below = stop->fwd;
    for (int i = k - 1; i >= 0; i--) {
        mb_gnode *c = new_node(dst, dst->chain[i]->pos, below, dst->chain[i]->hash);
        if (!c) return NULL;
        ((mb_gnode *)dst->chain[i])->fwd = c;
        below = c;
    }
    return below;
}

mb_gset mb_gset_copy(mb_garena *dst, const mb_garena *src, mb_gset set) {
    mb_garena_reset(dst, 0, 0);
    mb_gset out = {0, 0, set.complete};
    for (int i = 0; i < set.n && !dst->overflow; i++) {
        if (dst->n_sets >= dst->cap_sets) {
            dst->overflow = 1;
            break;
        }
        mb_gnode *c = copy_chain(dst, src->sets[set.first + i]);
        if (c) dst->sets[dst->n_sets++] = c;
    }
    out.n = dst->n_sets;
    return out;
}

mb_gset mb_gset_import(mb_garena *a, const mb_garena *src, mb_gset in) {
    mb_gset s = {a->n_sets, 0, in.complete};
    if (a->n_sets + in.n > a->cap_sets) {
        a->overflow = 1;
        return s;
    }
    memcpy(a->sets + a->n_sets, src->sets + in.first, (size_t)in.n * sizeof *a->sets);
    a->n_sets += in.n;
    s.n = in.n;
    return s;
}

int mb_gset_equal(const mb_garena *a, mb_gset x, const mb_garena *b, mb_gset y) {
    if (x.n != y.n || x.complete != y.complete) return 0;
    for (int i = 0; i < x.n; i++) {
        const mb_gnode *p = a->sets[x.first + i], *q = b->sets[y.first + i];
        if (p->hash != q->hash || p->pos != q->pos || !chain_eq(p->parent, q->parent)) return 0;
    }
    return 1;
}

void mb_gset_clear_copies(const mb_garena *a, mb_gset set) {
    /* Whole chains: a copy cut short by a full arena marks a chain's
     * lower nodes and not its upper ones. */
    for (int i = 0; i < set.n; i++)
        for (mb_gnode *p = (mb_gnode *)a->sets[set.first + i]; p; p = (mb_gnode *)p->parent)
            p->fwd = NULL;
}
