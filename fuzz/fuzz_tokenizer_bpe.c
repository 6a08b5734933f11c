/* Fuzz the byte-level BPE tokenizer: any bytes (valid UTF-8 or not) must
 * tokenize without a crash under every pre-tokenizer, and decoding must give
 * the exact bytes back, both as one detokenize call and piece by piece. A
 * mismatch abort()s: that is the finding.
 *
 * The vocabulary is synthetic and built once, so no file is needed: all 256
 * byte tokens in GPT-2's mapped form, some merged words (with a space, a
 * newline, digits and a two-byte character), a control token that only
 * parse_special cuts out and a user-defined one that is always cut out. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/vocab.h"

/* Merges "left+right" in rank order, in plain bytes; each result is a token. */
static const char *const k_merges[] = {
    " +t", "t+h",  "h+e",       " t+he", "i+n", "e+r",    "a+n",  " +a",   " + ",  "\n+\n",
    "1+2", "12+3", "\xC3+\xA9", "<+|",   "'+s", " the+r", "in+g", "  +  ", "th+e", "an+d",
};
enum { N_MERGES = sizeof k_merges / sizeof k_merges[0] };

static const char *const k_pres[] = {"gpt-2", "llama-bpe", "qwen2", "smollm", "default"};
enum { N_PRES = sizeof k_pres / sizeof k_pres[0] };

static mb_vocab *build(const char *pre) {
    enum { MAX = 256 + N_MERGES + 2 };
    static char store[MAX][32], mstore[N_MERGES][40];
    const char *texts[MAX], *merges[N_MERGES];
    size_t lens[MAX];
    int32_t types[MAX];
    int n = 0;
    for (int b = 0; b < 256; b++, n++) {
        char c = (char)b;
        lens[n] = mb_bpe_map_bytes(&c, 1, store[n]);
        texts[n] = store[n];
        types[n] = MB_TOKEN_NORMAL;
    }
    for (int i = 0; i < N_MERGES; i++, n++) {
        const char *m = k_merges[i], *plus = strchr(m + 1, '+');
        size_t l = (size_t)(plus - m), r = strlen(plus + 1), k = 0;
        char joined[32];
        memcpy(joined, m, l);
        memcpy(joined + l, plus + 1, r);
        lens[n] = mb_bpe_map_bytes(joined, l + r, store[n]);
        texts[n] = store[n];
        types[n] = MB_TOKEN_NORMAL;
        k = mb_bpe_map_bytes(m, l, mstore[i]);
        mstore[i][k++] = ' ';
        k += mb_bpe_map_bytes(plus + 1, r, mstore[i] + k);
        mstore[i][k] = '\0';
        merges[i] = mstore[i];
    }
    texts[n] = "<|endoftext|>";
    types[n] = MB_TOKEN_CONTROL;
    lens[n] = strlen(texts[n]);
    n++;
    texts[n] = "<u>";
    types[n] = MB_TOKEN_USER_DEFINED;
    lens[n] = strlen(texts[n]);
    n++;
    mb_vocab *v = NULL;
    if (mb_vocab_new_bpe(n, texts, lens, types, N_MERGES, merges, pre, n - 2, n - 2, &v) != MB_OK)
        abort();
    return v;
}

static void run(const mb_vocab *v, const uint8_t *data, size_t size, bool parse_special) {
    size_t n = 0;
    mb_status st =
        mb_vocab_tokenize(v, (const char *)data, size, false, parse_special, NULL, 0, &n);
    if (st != MB_OK && st != MB_ERR_INVALID_ARG) abort(); /* only "cap too small" */
    if (n > size) abort();                                /* at most one token a byte */
    mb_token *ids = malloc((n + 1) * sizeof *ids);
    size_t m = 0;
    if (mb_vocab_tokenize(v, (const char *)data, size, false, parse_special, ids, n, &m) != MB_OK ||
        m != n)
        abort();
    /* Control tokens are rendered: with parse_special they stand for text. */
    size_t cap = size + 16, got = 0;
    char *text = malloc(cap);
    if (mb_vocab_detokenize(v, ids, n, true, true, text, cap, &got) != MB_OK) abort();
    if (got != size || (size > 0 && memcmp(text, data, size) != 0)) abort();
    /* The pieces one by one add up to the same bytes. */
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        char piece[64];
        size_t pn = 0;
        if (mb_vocab_token_to_piece(v, ids[i], true, piece, sizeof piece, &pn) != MB_OK) abort();
        if (used + pn > size || memcmp(piece, data + used, pn) != 0) abort();
        used += pn;
    }
    if (used != size) abort();
    free(text);
    free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static mb_vocab *vocabs[N_PRES];
    for (int i = 0; i < N_PRES; i++) {
        if (!vocabs[i]) vocabs[i] = build(k_pres[i]);
        run(vocabs[i], data, size, false);
        run(vocabs[i], data, size, true);
    }
    return 0;
}
