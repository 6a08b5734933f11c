/* Fuzz the SentencePiece tokenizer: any bytes must tokenize without a
 * crash, and decoding must give the text back (U+2581 reads as a space, as
 * it does in SentencePiece). A mismatch abort()s: that is the finding.
 *
 * The vocabularies are synthetic and built once, so no file is needed: all
 * 256 byte tokens, letters and merges, control tokens, and NORMAL tokens
 * such as "<s" and "<0x" that must never merge into control or byte tokens.
 * A second vocabulary without byte tokens runs the <unk> fallback and a
 * user-defined token. The decoded pieces also go through the UTF-8 stream
 * in uneven chunks, which must release exactly the bytes it was given. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/utf8_stream.h"
#include "tokenizer/vocab.h"

#define SP "\xE2\x96\x81"

static const char *const k_words[] = {
    SP,          "a",           "e",  "t",   "h",    "s",        "<",
    ">",         "/",           "0",  "x",   SP "t", "th",       "he",
    SP "the",    "in",          "er", "an",  SP "a", SP SP,      SP SP SP SP,
    "<s",        "s>",          "<0", "<0x", "0x",   "\xC3\xA9", "\xE2\x82\xAC",
    "h\xC3\xA9", SP "\xC3\xA9", "ee", "tt",
};
enum { N_WORDS = sizeof k_words / sizeof k_words[0] };

static mb_vocab *build(bool with_bytes) {
    enum { MAX = 3 + 256 + N_WORDS + 1 };
    static char byte_text[256][8];
    const char *texts[MAX];
    size_t lens[MAX];
    float scores[MAX];
    int32_t types[MAX];
    int n = 0;
    const char *head[] = {"<unk>", "<s>", "</s>"};
    for (int i = 0; i < 3; i++, n++) {
        texts[n] = head[i];
        types[n] = i == 0 ? MB_TOKEN_UNKNOWN : MB_TOKEN_CONTROL;
    }
    for (int b = 0; with_bytes && b < 256; b++, n++) {
        snprintf(byte_text[b], sizeof byte_text[b], "<0x%02X>", b);
        texts[n] = byte_text[b];
        types[n] = MB_TOKEN_BYTE;
    }
    for (int i = 0; i < N_WORDS; i++, n++) {
        texts[n] = k_words[i];
        types[n] = MB_TOKEN_NORMAL;
    }
    if (!with_bytes) {
        texts[n] = "[x]";
        types[n++] = MB_TOKEN_USER_DEFINED;
    }
    for (int i = 0; i < n; i++) {
        lens[i] = strlen(texts[i]);
        /* Longer texts score higher, with ties among equal lengths. */
        scores[i] = types[i] == MB_TOKEN_NORMAL ? (float)lens[i] - (float)(i % 3) : 0.0f;
    }
    mb_vocab *v = NULL;
    if (mb_vocab_new_spm(n, texts, lens, scores, types, 1, 2, 0, &v) != MB_OK) abort();
    return v;
}

/* Decode IDS through the UTF-8 stream in chunks of 1..3 pieces; the bytes
 * that come out must be exactly the concatenated pieces. */
static void check_stream(const mb_vocab *v, const mb_token *ids, size_t n, const char *whole,
                         size_t whole_len) {
    mb_utf8_stream s;
    mb_utf8_stream_init(&s);
    char *out = malloc(whole_len + 64);
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        char piece[64], released[64 + 3];
        size_t pn = 0, rn = 0;
        if (mb_vocab_token_to_piece(v, ids[i], true, piece, sizeof piece, &pn) != MB_OK) abort();
        if (mb_utf8_stream_push(&s, piece, pn, released, sizeof released, &rn) != MB_OK) abort();
        if (used + rn > whole_len) abort();
        memcpy(out + used, released, rn);
        used += rn;
    }
    used += mb_utf8_stream_flush(&s, out + used);
    if (used != whole_len || memcmp(out, whole, used) != 0) abort();
    free(out);
}

static void run(const mb_vocab *v, const uint8_t *data, size_t size, bool parse_special,
                bool check) {
    size_t n = 0;
    mb_status st =
        mb_vocab_tokenize(v, (const char *)data, size, false, parse_special, NULL, 0, &n);
    if (st != MB_OK && st != MB_ERR_INVALID_ARG) abort(); /* only "cap too small" */
    mb_token *ids = malloc((n + 1) * sizeof *ids);
    size_t m = 0;
    if (mb_vocab_tokenize(v, (const char *)data, size, false, parse_special, ids, n, &m) != MB_OK ||
        m != n)
        abort();
    size_t cap = size * 6 + 64, got = 0; /* <unk> is 5 bytes for 1 */
    char *text = malloc(cap);
    if (mb_vocab_detokenize(v, ids, n, true, parse_special, text, cap, &got) != MB_OK) abort();
    if (check) {
        /* The text with every U+2581 read as a space. */
        char *want = malloc(size + 1);
        size_t w = 0;
        for (size_t i = 0; i < size; i++) {
            if (i + 3 <= size && memcmp(data + i, SP, 3) == 0) {
                want[w++] = ' ';
                i += 2;
            } else {
                want[w++] = (char)data[i];
            }
        }
        if (got != w || memcmp(text, want, w) != 0) abort();
        free(want);
    }
    /* The stream sees the pieces without the removed leading space. */
    size_t raw = 0;
    char *all = malloc(cap + 8);
    if (mb_vocab_detokenize(v, ids, n, false, true, all, cap + 8, &raw) != MB_OK) abort();
    check_stream(v, ids, n, all, raw);
    free(all);
    free(text);
    free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static mb_vocab *with_bytes, *without_bytes;
    if (!with_bytes) with_bytes = build(true);
    if (!without_bytes) without_bytes = build(false);
    /* With byte fallback every input, valid UTF-8 or not, must come back. */
    run(with_bytes, data, size, false, true);
    run(with_bytes, data, size, true, true);
    /* Without it, characters become <unk>: only no crash is checked. */
    run(without_bytes, data, size, false, false);
    run(without_bytes, data, size, true, false);
    return 0;
}
