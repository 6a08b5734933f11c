/* GBNF grammars: the compiled form (grammar_parse.c makes it), the
 * pushdown matcher over Unicode code points (grammar_match.c), and the
 * vocabulary walk that masks tokens (grammar_vocab.c).
 *
 * A compiled grammar is a flat array of elements. Each rule is a list of
 * alternatives; an alternative is a run of elements ending with G_END.
 * Repetitions and groups are rewritten into extra rules when parsing, so
 * the matcher knows only three kinds of element: a character set, a
 * reference to a rule, and the end of an alternative. */
#ifndef MB_RUNTIME_GRAMMAR_H
#define MB_RUNTIME_GRAMMAR_H

#include <stddef.h>
#include <stdint.h>

#include "matchbox.h"

enum { G_END = 0, G_CHAR = 1, G_REF = 2 };

typedef struct {
    uint8_t type;
    uint8_t negated; /* G_CHAR: matches what the ranges do not */
    int32_t a;       /* G_CHAR: first range; G_REF: rule id */
    int32_t n;       /* G_CHAR: number of ranges */
} mb_gelem;

struct mb_grammar {
    mb_gelem *elems;
    int n_elems;
    uint32_t *ranges; /* pairs: first, last code point (inclusive) */
    int n_ranges;
    int32_t *alts;     /* start element of each alternative, grouped by rule */
    int32_t *rule_alt; /* rule r's alternatives: alts[rule_alt[r] .. rule_alt[r+1]) */
    int n_rules, root;
    /* Per element, which ASCII characters it matches (128 bits): most
     * text is ASCII, and a bit test is cheaper than the ranges. */
    uint32_t *ascii;
};

/* Caps that keep a hostile grammar (or a hostile text under an ambiguous
 * grammar) from taking unbounded memory or time. */
#define MB_GRAMMAR_MAX_STACKS 2048     /* parse stacks alive at once */
#define MB_GRAMMAR_MAX_NODES (1 << 20) /* stack nodes of one step's work */
#define MB_GRAMMAR_MAX_DEPTH 1024      /* rule references expanded without a character */

/* A rule that can reach itself before reading a character, or -1 (none)
 * or -2 (out of memory): grammar_check.c. */
int mb_grammar_left_recursion(const struct mb_grammar *g);
/* Fill g->ascii from the elements and ranges. */
void mb_grammar_fill_ascii(struct mb_grammar *g);
/* True when code point C is in character element E. */
int mb_gelem_match(const struct mb_grammar *g, const mb_gelem *e, uint32_t c);
/* True when some code point in [LO, HI] is in E (partial UTF-8). */
int mb_gelem_match_range(const struct mb_grammar *g, const mb_gelem *e, uint32_t lo, uint32_t hi);

/* ---- the matcher ---------------------------------------------------- */

/* A parse stack is a chain of nodes, innermost first: POS is the element
 * to match next (always a G_CHAR in a stack set), PARENT where to go
 * when its rule ends. Chains share their tails; HASH covers the chain so
 * equal stacks are found fast. */
typedef struct mb_gnode {
    int32_t pos;
    uint32_t hash;
    const struct mb_gnode *parent;
    struct mb_gnode *fwd; /* its copy, while mb_gset_copy runs */
} mb_gnode;

/* Nodes come from an arena reset to a mark, so a walk over the vocabulary
 * frees each token's work by moving one index back. */
typedef struct {
    mb_gnode *nodes;
    int n, cap;
    const mb_gnode **sets; /* stack sets, one after the other */
    int n_sets, cap_sets;
    const mb_gnode **chain; /* scratch of mb_gset_copy */
    int overflow;           /* a cap was reached: the results are incomplete */
} mb_garena;

/* A set of stacks: SETS[first .. first+n) of the arena, plus whether the
 * grammar may end here (COMPLETE). */
typedef struct {
    int first, n;
    int complete;
} mb_gset;

int mb_garena_init(mb_garena *a, int cap_nodes, int cap_sets);
void mb_garena_free(mb_garena *a);

/* The stacks at the start of G's root rule. */
mb_gset mb_gset_start(const struct mb_grammar *g, mb_garena *a);
/* The stacks after IN consumes code point C (n 0 and not complete: C
 * cannot come next). */
mb_gset mb_gset_advance(const struct mb_grammar *g, mb_garena *a, mb_gset in, uint32_t c);
/* True when some stack of IN can take a code point in [LO, HI]. */
int mb_gset_accepts_range(const struct mb_grammar *g, const mb_garena *a, mb_gset in, uint32_t lo,
                          uint32_t hi);
/* Copy SET's stacks from SRC into DST (reset first), keeping shared tails
 * shared. */
mb_gset mb_gset_copy(mb_garena *dst, const mb_garena *src, mb_gset set);
/* Put IN's stacks (of arena SRC) at the end of A's sets, so that A's
 * operations can read them. */
mb_gset mb_gset_import(mb_garena *a, const mb_garena *src, mb_gset in);
/* Forget the nodes and sets made since N_NODES and N_SETS. */
static inline void mb_garena_reset(mb_garena *a, int n_nodes, int n_sets) {
    a->n = n_nodes;
    a->n_sets = n_sets;
}

/* ---- UTF-8, one byte at a time ------------------------------------- */

/* A code point being decoded: NEED continuation bytes still to come. */
typedef struct {
    uint32_t cp;
    int need;
    int len; /* the sequence's length in bytes */
} mb_utf8_state;

/* Feed byte B: 1 when a code point is complete (in st->cp), 0 when more
 * bytes are needed, -1 for a byte that cannot come here (overlong forms
 * and surrogates included: byte tokens could otherwise spell a character
 * the grammar allows in a form no decoder would read as it). */
int mb_utf8_feed(mb_utf8_state *st, uint8_t b);
/* The code points a partial sequence may still become: [*lo, *hi]. */
void mb_utf8_range(const mb_utf8_state *st, uint32_t *lo, uint32_t *hi);

/* ---- a grammar's state while generating ---------------------------- */

typedef struct mb_gvocab mb_gvocab; /* the vocabulary's texts, sorted */

/* 1 when the stacks X (of arena A) and Y (of B) are the same, in order. */
int mb_gset_equal(const mb_garena *a, mb_gset x, const mb_garena *b, mb_gset y);
/* Undo the copy marks mb_gset_copy left on SET's nodes (in A), so that
 * they can be copied again. */
void mb_gset_clear_copies(const mb_garena *a, mb_gset set);

/* A mask computed before, with the state it was computed in: a model
 * that ignores the format keeps drawing refused tokens in the same state
 * (inside a string, every character leaves the stacks as they were). */
#define MB_GRAMMAR_MASK_CACHE 4
typedef struct {
    mb_garena stacks;
    mb_gset set;
    mb_utf8_state pending;
    uint8_t *mask;
    int count, valid;
} mb_gmask_entry;

typedef struct {
    struct mb_grammar *g;   /* owned copy */
    const mb_gvocab *vocab; /* the model's (shared, read-only) */
    mb_garena live[2];      /* the accepted stacks (two: one is copied into the other) */
    int cur;
    mb_gset set;
    mb_utf8_state pending; /* a token ended inside a code point */
    mb_garena work;        /* scratch for checks and masks */
    int failed;            /* a cap was reached: the generation must stop */
    /* The walk over token texts, per depth (bytes into a token): the
     * stacks, the code point being decoded, whether the text so far is
     * possible, and the work arena's marks to go back to. */
    mb_gset *d_set;
    mb_utf8_state *d_utf;
    uint8_t *d_ok;
    int *d_nodes, *d_sets;
    mb_gmask_entry cache[MB_GRAMMAR_MASK_CACHE];
    int cache_next;
    int cache_off; /* 1: every mask walks the vocabulary (bench/grammar_mask) */
} mb_gstate;

mb_status mb_gstate_new(const mb_model *model, const struct mb_grammar *g, mb_gstate **out);
void mb_gstate_free(mb_gstate *st);
/* 1 when token ID may come next (an end-of-generation token: where the
 * grammar may end; a control token: never). */
int mb_gstate_allows(mb_gstate *st, mb_token id);
/* Set ALLOWED[i] (n_vocab bytes) to mb_gstate_allows(st, i), for all i at
 * once (a walk over the sorted texts that checks shared prefixes once).
 * Returns how many are allowed. */
int mb_gstate_mask(mb_gstate *st, uint8_t *allowed);
/* Move past token ID (which mb_gstate_allows). */
void mb_gstate_accept(mb_gstate *st, mb_token id);
/* 1 when nothing but the end can come: the grammar is complete and no
 * stack is left, or nothing is allowed at all. */
int mb_gstate_ended(const mb_gstate *st);
/* An end-of-generation token of the model (-1 if none). */
mb_token mb_gstate_eog(const mb_gstate *st);

struct mb_grammar *mb_grammar_clone(const struct mb_grammar *g);

#endif
