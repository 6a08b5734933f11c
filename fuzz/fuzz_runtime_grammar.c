/* libFuzzer target for GBNF grammars: the input is a grammar, then a NUL
 * byte, then a text. The grammar must compile or be refused with a
 * "grammar ..." message, never crash; a compiled one matches the text one
 * code point at a time within the matcher's caps, and drives the
 * sampler's state over a byte vocabulary (a tiny model written once per
 * process): the mask must equal the token-by-token check, and accepting
 * the text's bytes as tokens must keep the state consistent. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "matchbox.h"
#include "runtime/grammar.h"
#include "test_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static mb_model *model;

static mb_model *tiny(void) {
    if (model) return model;
    char path[512];
    snprintf(path, sizeof path, "%s/fuzz_grammar.gguf", mbt_tmpdir());
    mbt_tiny_model cfg = {.n_embd = 16,
                          .n_layer = 1,
                          .n_head = 2,
                          .n_head_kv = 2,
                          .n_ff = 32,
                          .n_ctx = 32,
                          .seed = 1};
    if (mbt_write_tiny_model(path, &cfg) || mb_model_load(path, NULL, &model)) __builtin_trap();
    return model;
}

/* Match TEXT code point by code point (the matcher's own bounds). */
static void match(const mb_grammar *g, const uint8_t *text, size_t n) {
    mb_garena a;
    if (mb_garena_init(&a, 1 << 16, 1 << 14)) return;
    mb_gset s = mb_gset_start(g, &a);
    mb_utf8_state u = {0, 0, 0};
    for (size_t i = 0; i < n && (s.n || s.complete) && !a.overflow; i++) {
        int f = mb_utf8_feed(&u, text[i]);
        if (f < 0) break;
        if (f > 0) s = mb_gset_advance(g, &a, s, u.cp);
        if (s.n > MB_GRAMMAR_MAX_STACKS) __builtin_trap();
    }
    mb_garena_free(&a);
}

/* The sampler's state: masks against single checks, then the text's
 * bytes accepted as byte tokens (id = byte + 3 in the tiny vocabulary). */
static void drive(const mb_grammar *g, const uint8_t *text, size_t n) {
    mb_model *m = tiny();
    mb_gstate *st = NULL;
    if (mb_gstate_new(m, g, &st)) return;
    int nv = mb_model_n_vocab(m);
    uint8_t mask[512];
    if (nv > (int)sizeof mask) __builtin_trap();
    for (size_t i = 0; i < n && i < 16 && !st->failed && !mb_gstate_ended(st); i++) {
        int count = mb_gstate_mask(st, mask);
        if (st->failed) break;
        for (int t = 0; t < nv; t++)
            if (mb_gstate_allows(st, t) != mask[t]) __builtin_trap();
        mb_token id = (mb_token)text[i] + 3;
        if (!count || !mask[id]) break;
        mb_gstate_accept(st, id);
    }
    mb_gstate_free(st);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *nul = memchr(data, 0, size);
    size_t glen = nul ? (size_t)(nul - data) : size;
    mb_grammar *g = NULL;
    mb_status st = mb_grammar_parse((const char *)data, glen, NULL, &g);
    if (st == MB_OK) {
        const uint8_t *text = nul ? nul + 1 : data + size;
        size_t n = (size_t)(data + size - text);
        match(g, text, n);
        drive(g, text, n);
        mb_grammar_free(g);
    } else if (g || (st == MB_ERR_FORMAT && strncmp(mb_last_error(), "grammar", 7))) {
        __builtin_trap();
    }
    return 0;
}
