/* Left recursion in a compiled grammar: a rule that can reach itself
 * before reading a character would make the matcher expand it forever,
 * so the parser refuses it (grammar_parse.c names the rule). */
#include <stdlib.h>
#include <string.h>

#include "runtime/grammar.h"

/* Rules that can match the empty text, to a fixed point. */
static void find_nullable(const mb_grammar *g, uint8_t *nullable) {
    memset(nullable, 0, (size_t)g->n_rules);
    for (int changed = 1; changed;) {
        changed = 0;
        for (int r = 0; r < g->n_rules; r++) {
            if (nullable[r]) continue;
            for (int a = g->rule_alt[r]; a < g->rule_alt[r + 1] && !nullable[r]; a++) {
                const mb_gelem *e = &g->elems[g->alts[a]];
                while (e->type == G_REF && nullable[e->a])
                    e++;
                if (e->type == G_END) nullable[r] = changed = 1;
            }
        }
    }
}

/* Rules R can begin with (a reference with only nullable rules before
 * it): EDGES[FIRST[r] .. FIRST[r+1]). */
static int leftmost_edges(const mb_grammar *g, const uint8_t *nullable, int32_t *first,
                          int32_t *edges) {
    int n = 0;
    for (int r = 0; r < g->n_rules; r++) {
        first[r] = n;
        for (int a = g->rule_alt[r]; a < g->rule_alt[r + 1]; a++)
            for (const mb_gelem *e = &g->elems[g->alts[a]]; e->type == G_REF; e++) {
                if (edges) edges[n] = e->a;
                n++;
                if (!nullable[e->a]) break;
            }
    }
    first[g->n_rules] = n;
    return n;
}

/* Depth-first over the leftmost edges; a rule met again while on the path
 * is left-recursive (the matcher would expand it forever). Iterative: a
 * grammar may have many rules. Returns the rule found, or -1. */
static int find_left_recursion(const mb_grammar *g, const int32_t *first, const int32_t *edges,
                               uint8_t *state, int32_t *stack, int32_t *next) {
    for (int r0 = 0; r0 < g->n_rules; r0++) {
        if (state[r0]) continue;
        int top = 0;
        stack[0] = r0;
        state[r0] = 1;
        next[r0] = first[r0];
        while (top >= 0) {
            int r = stack[top];
            if (next[r] == first[r + 1]) {
                state[r] = 2;
                top--;
                continue;
            }
            int s = edges[next[r]++];
            if (state[s] == 1) return s;
            if (state[s] == 0) {
                state[s] = 1;
                next[s] = first[s];
                stack[++top] = s;
            }
        }
    }
    return -1;
}

int mb_grammar_left_recursion(const mb_grammar *g) {
    size_t nr = (size_t)g->n_rules;
    uint8_t *flags = calloc(nr, 2);
    int32_t *ints = malloc((nr * 3 + 1) * sizeof *ints);
    int32_t *edges = NULL;
    int bad = -2;
    if (flags && ints) {
        find_nullable(g, flags);
        int n = leftmost_edges(g, flags, ints, NULL);
        edges = malloc(((size_t)n + 1) * sizeof *edges);
        if (edges) {
            leftmost_edges(g, flags, ints, edges);
            bad = find_left_recursion(g, ints, edges, flags + nr, ints + nr + 1, ints + 2 * nr + 1);
        }
    }
    free(flags);
    free(ints);
    free(edges);
    return bad;
}
