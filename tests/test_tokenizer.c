/* SentencePiece-style tokenizer on small vocabularies built in the test, and
 * the UTF-8 stream. Expected tokens are written as their texts joined by
 * '|', so each case reads as the segmentation it specifies. (The GGUF files
 * and llama.cpp's test vectors are in test_tokenizer_gguf.c.) */
#include <time.h>

#include "test_util.h"
#include "tokenizer/utf8_stream.h"
#include "tokenizer/vocab.h"

#define SP "\xE2\x96\x81" /* '▁' */

typedef struct {
    const char *text;
    float score;
    int type;
} tok_def;

/* ids 0..2: <unk> <s> </s>; then, WITH_BYTES, the 256 <0xXX> tokens; then DEFS. */
static mb_vocab *make_vocab(const tok_def *defs, int n_defs, bool with_bytes) {
    enum { MAX = 600 };
    static char byte_text[256][8];
    const char *texts[MAX];
    size_t lens[MAX];
    float scores[MAX];
    int32_t types[MAX];
    int n = 0;
    const char *head[] = {"<unk>", "<s>", "</s>"};
    const int head_types[] = {MB_TOKEN_UNKNOWN, MB_TOKEN_CONTROL, MB_TOKEN_CONTROL};
    for (int i = 0; i < 3; i++, n++) {
        texts[n] = head[i];
        scores[n] = 0;
        types[n] = head_types[i];
    }
    for (int b = 0; with_bytes && b < 256; b++, n++) {
        snprintf(byte_text[b], sizeof byte_text[b], "<0x%02X>", b);
        texts[n] = byte_text[b];
        scores[n] = 0;
        types[n] = MB_TOKEN_BYTE;
    }
    for (int i = 0; i < n_defs && n < MAX; i++, n++) {
        texts[n] = defs[i].text;
        scores[n] = defs[i].score;
        types[n] = defs[i].type ? defs[i].type : MB_TOKEN_NORMAL;
    }
    for (int i = 0; i < n; i++)
        lens[i] = strlen(texts[i]);
    mb_vocab *v = NULL;
    CHECK_OK(mb_vocab_new_spm(n, texts, lens, scores, types, 1, 2, 0, &v));
    return v;
}

/* The tokens of TEXT as "text|text|...". */
static const char *seg(const mb_vocab *v, const char *text, size_t len, bool add_special,
                       bool parse_special) {
    static char out[4096];
    mb_token ids[256];
    size_t n = 0;
    mb_status st = mb_vocab_tokenize(v, text, len, add_special, parse_special, ids, 256, &n);
    if (st != MB_OK) {
        snprintf(out, sizeof out, "error: %s", mb_last_error());
        return out;
    }
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n && used < sizeof out; i++)
        used += (size_t)snprintf(out + used, sizeof out - used, "%s%s", i ? "|" : "",
                                 mb_vocab_token_text(v, ids[i]));
    return out;
}

#define CHECK_SEG(v, text, add_special, parse_special, expected)                                   \
    do {                                                                                           \
        const char *got_ = seg(v, text, strlen(text), add_special, parse_special);                 \
        CHECK_MSG(strcmp(got_, expected) == 0, "'%s': got %s, want %s", text, got_, expected);     \
    } while (0)

/* The word vocabulary most cases use: single letters, some merges, ▁. */
static mb_vocab *letters_vocab(float ab, float bc) {
    const tok_def defs[] = {
        {SP, -1, 0},   {"a", -2, 0},     {"b", -2, 0},       {"c", -2, 0},      {"ab", ab, 0},
        {"bc", bc, 0}, {"aa", -1.5f, 0}, {SP "a", -0.5f, 0}, {"abc", -0.1f, 0},
    };
    return make_vocab(defs, (int)(sizeof defs / sizeof defs[0]), true);
}

static void test_merge_order(void) {
    /* No space prefix here, so the merges are about "abc" alone. */
    mb_vocab *v = letters_vocab(-1, -3);
    mb_vocab_set_add_space_prefix(v, false);
    CHECK_SEG(v, "abc", false, false, "abc"); /* ab first, then ab+c is a token */
    CHECK_SEG(v, "abca", false, false, "abc|a");
    mb_vocab_free(v);

    /* bc scores higher than ab: b goes to c and "abc" can no longer form. */
    const tok_def defs[] = {{"a", -2, 0}, {"b", -2, 0}, {"c", -2, 0}, {"ab", -3, 0}, {"bc", -1, 0}};
    v = make_vocab(defs, 5, true);
    mb_vocab_set_add_space_prefix(v, false);
    CHECK_SEG(v, "abc", false, false, "a|bc");
    mb_vocab_free(v);
}

static void test_tie_break(void) {
    /* Equal scores: the leftmost pair merges first. */
    mb_vocab *v = letters_vocab(-1, -1);
    mb_vocab_set_add_space_prefix(v, false);
    CHECK_SEG(v, "abc", false, false, "abc");
    mb_vocab_free(v);
    const tok_def defs[] = {{"a", -2, 0}, {"b", -2, 0}, {"c", -2, 0}, {"ab", -1, 0}, {"bc", -1, 0}};
    v = make_vocab(defs, 5, true);
    mb_vocab_set_add_space_prefix(v, false);
    CHECK_SEG(v, "abc", false, false, "ab|c");
    CHECK_SEG(v, "bcab", false, false, "bc|ab");
    mb_vocab_free(v);
    /* "aaa" with only "aa": left to right. */
    v = letters_vocab(-1, -1);
    mb_vocab_set_add_space_prefix(v, false);
    CHECK_SEG(v, "aaaaa", false, false, "aa|aa|a");
    mb_vocab_free(v);
}

static void test_space_prefix(void) {
    mb_vocab *v = letters_vocab(-1, -3);
    CHECK_SEG(v, "a", false, false, SP "a");
    CHECK_SEG(v, "a b", false, false, SP "a|" SP "|b");
    CHECK_SEG(v, " a", false, false, SP "|" SP "a");
    CHECK_SEG(v, "", false, false, "");
    mb_vocab_free(v);
}

static void test_byte_fallback(void) {
    mb_vocab *v = letters_vocab(-1, -3);
    mb_vocab_set_add_space_prefix(v, false);
    /* U+1F600 is not in the vocabulary: its four UTF-8 bytes. */
    CHECK_SEG(v,
              "a\xF0\x9F\x98\x80"
              "b",
              false, false, "a|<0xF0>|<0x9F>|<0x98>|<0x80>|b");
    CHECK_SEG(v, "\xC3\xA9", false, false, "<0xC3>|<0xA9>");
    mb_vocab_free(v);
}

static void test_invalid_utf8(void) {
    /* A vocabulary that has the character é (C3 A9) and "ab". */
    const tok_def defs[] = {{"a", -2, 0}, {"b", -2, 0}, {"ab", -1, 0}, {"\xC3\xA9", -1, 0}};
    mb_vocab *v = make_vocab(defs, 4, true);
    mb_vocab_set_add_space_prefix(v, false);
    CHECK_SEG(v, "\xC3\xA9", false, false, "\xC3\xA9");
    /* Each ill-formed byte is a symbol of its own: C3 without its second
     * byte, a lone continuation byte, a truncated three-byte sequence. */
    CHECK_SEG(v,
              "\xC3"
              "ab",
              false, false, "<0xC3>|ab");
    CHECK_SEG(v,
              "a\xA9"
              "b",
              false, false, "a|<0xA9>|b");
    CHECK_SEG(v, "ab\xE2\x96", false, false, "ab|<0xE2>|<0x96>");
    CHECK_SEG(v, "\xC0\x80", false, false, "<0xC0>|<0x80>");            /* overlong NUL */
    CHECK_SEG(v, "\xED\xA0\x80", false, false, "<0xED>|<0xA0>|<0x80>"); /* a surrogate */
    /* NUL bytes are text too. */
    const char nul[] = {'a', '\0', 'b'};
    const char *got = seg(v, nul, 3, false, false);
    CHECK_MSG(strcmp(got, "a|<0x00>|b") == 0, "got %s", got);
    mb_vocab_free(v);
}

static void test_unk_without_bytes(void) {
    const tok_def defs[] = {{SP, -1, 0}, {"a", -2, 0}};
    mb_vocab *v = make_vocab(defs, 2, false);
    mb_vocab_set_add_space_prefix(v, false);
    /* One unknown per character the vocabulary cannot spell. */
    CHECK_SEG(v,
              "a\xF0\x9F\x98\x80"
              "a",
              false, false, "a|<unk>|a");
    CHECK_SEG(v, "a\xFF", false, false, "a|<unk>");
    mb_vocab_free(v);
}

static void test_special_tokens(void) {
    const tok_def defs[] = {{SP, -1, 0},
                            {"a", -2, 0},
                            {SP "a", -0.5f, 0},
                            {"<", -2, 0},
                            {"s", -2, 0},
                            {">", -2, 0},
                            {"<|im_end|>", 0, MB_TOKEN_CONTROL},
                            {"<|im", 0, MB_TOKEN_CONTROL},
                            {"[tool]", 0, MB_TOKEN_USER_DEFINED}};
    mb_vocab *v = make_vocab(defs, 9, true);
    /* With parse_special the text is cut at special tokens; each run after
     * one gets its own space prefix, as llama.cpp does. */
    CHECK_SEG(v, "a<s>a", false, true, SP "a|<s>|" SP "a");
    CHECK_SEG(v, "<s>a</s>", false, true, "<s>|" SP "a|</s>");
    CHECK_SEG(v, "a<s>a", false, false, SP "a|<|s|>|a");
    /* The longer token wins where both match. */
    CHECK_SEG(v, "<|im_end|>", false, true, "<|im_end|>");
    CHECK_SEG(v, "<|im", false, true, "<|im");
    CHECK_SEG(v, "<|im_end|>", false, false,
              SP "|<|<0x7C>|<0x69>|<0x6D>|<0x5F>|<0x65>|<0x6E>|"
                 "<0x64>|<0x7C>|>");
    /* User-defined tokens are matched even without parse_special. */
    CHECK_SEG(v, "a[tool]a", false, false, SP "a|[tool]|" SP "a");
    /* <unk>'s text is special too. */
    CHECK_SEG(v, "<unk>", false, true, "<unk>");
    mb_vocab_free(v);
}

static void test_add_special(void) {
    mb_vocab *v = letters_vocab(-1, -3);
    CHECK(mb_vocab_add_bos(v));
    CHECK(!mb_vocab_add_eos(v));
    CHECK_SEG(v, "a", true, false, "<s>|" SP "a");
    CHECK_SEG(v, "", true, false, "<s>");
    CHECK_SEG(v, "", false, false, "");
    CHECK_OK(mb_vocab_set_add_special(v, true, true));
    CHECK_SEG(v, "a", true, false, "<s>|" SP "a|</s>");
    CHECK_SEG(v, "a", false, false, SP "a");
    CHECK_OK(mb_vocab_set_add_special(v, false, true));
    CHECK_SEG(v, "a", true, false, SP "a|</s>");
    mb_vocab_free(v);
}

static void test_cap(void) {
    mb_vocab *v = letters_vocab(-1, -3);
    mb_token ids[4] = {-7, -7, -7, -7};
    size_t n = 0;
    /* "▁a|▁|b|▁|c" needs 5 (6 with BOS). */
    CHECK_EQ_INT(mb_vocab_tokenize(v, "a b c", 5, true, false, NULL, 0, &n), MB_ERR_INVALID_ARG);
    CHECK_EQ_INT(n, 6);
    CHECK_EQ_INT(mb_vocab_tokenize(v, "a b c", 5, true, false, ids, 3, &n), MB_ERR_INVALID_ARG);
    CHECK_EQ_INT(n, 6);
    CHECK_EQ_INT(ids[0], 1);
    CHECK_EQ_INT(ids[3], -7); /* nothing written past CAP */
    CHECK_OK(mb_vocab_tokenize(v, "", 0, false, false, NULL, 0, &n));
    CHECK_EQ_INT(n, 0);
    char buf[2];
    mb_token a = mb_vocab_find(v, SP "a", 4);
    CHECK_EQ_INT(mb_vocab_token_to_piece(v, a, false, buf, 1, &n), MB_ERR_INVALID_ARG);
    CHECK_EQ_INT(n, 2);
    CHECK_EQ_INT(mb_vocab_token_to_piece(v, 9999, false, buf, 2, &n), MB_ERR_INVALID_ARG);
    mb_vocab_free(v);
}

static const char *piece(const mb_vocab *v, const char *text, bool render_special) {
    static char buf[64];
    size_t n = 0;
    mb_token id = mb_vocab_find(v, text, strlen(text));
    if (id < 0 || mb_vocab_token_to_piece(v, id, render_special, buf, sizeof buf - 1, &n) != MB_OK)
        return "?";
    buf[n] = '\0';
    return buf;
}

static void test_decode(void) {
    mb_vocab *v = letters_vocab(-1, -3);
    CHECK(strcmp(piece(v, SP "a", false), " a") == 0);
    CHECK(strcmp(piece(v, SP, false), " ") == 0);
    CHECK(strcmp(piece(v, "<0x41>", false), "A") == 0);
    CHECK(strcmp(piece(v, "<0x0A>", false), "\n") == 0);
    CHECK(strcmp(piece(v, "<s>", false), "") == 0);
    CHECK(strcmp(piece(v, "<s>", true), "<s>") == 0);
    CHECK(strcmp(piece(v, "<unk>", false), "<unk>") == 0);
    mb_vocab_free(v);
}

/* detokenize(tokenize(TEXT)) with the leading space removed must be TEXT.
 * The BOS that add_special puts first is left out of the decoding. */
static void check_round_trip(const mb_vocab *v, const char *text, bool parse_special) {
    mb_token ids[512];
    size_t n = 0, m = 0;
    char out[1024];
    CHECK_OK(mb_vocab_tokenize(v, text, strlen(text), true, parse_special, ids, 512, &n));
    CHECK(n >= 1 && ids[0] == mb_vocab_bos(v));
    CHECK_OK(mb_vocab_detokenize(v, ids + 1, n - 1, true, parse_special, out, sizeof out, &m));
    CHECK_MSG(m == strlen(text) && memcmp(out, text, m) == 0, "'%s' came back as '%.*s'", text,
              (int)m, out);
}

static void test_detokenize(void) {
    const tok_def defs[] = {{SP, -1, 0}, {"a", -2, 0}, {"<|x|>", 0, MB_TOKEN_USER_DEFINED}};
    mb_vocab *v = make_vocab(defs, 3, true);
    const char *texts[] = {"a", " a", "  a  ",   "a\n\tb", "\xF0\x9F\x98\x80 \xC3\xA9",
                           "",  " ",  "a<|x|>a", "<|x|> a"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        check_round_trip(v, texts[i], false);
        check_round_trip(v, texts[i], true);
    }
    check_round_trip(v, "a<s> a</s>", true);
    check_round_trip(v, "<s>a", true);
    /* Without removal the inserted space shows. */
    mb_token ids[8];
    size_t n = 0, m = 0;
    char out[32];
    CHECK_OK(mb_vocab_tokenize(v, "a", 1, true, false, ids, 8, &n));
    CHECK_OK(mb_vocab_detokenize(v, ids, n, false, false, out, sizeof out, &m));
    CHECK(m == 2 && memcmp(out, " a", 2) == 0);
    CHECK_EQ_INT(mb_vocab_detokenize(v, ids, n, false, false, out, 1, &m), MB_ERR_INVALID_ARG);
    CHECK_EQ_INT(m, 2);
    mb_vocab_free(v);
}

/* A megabyte must take well under a second: the merge loop is O(n log n). */
static void test_long_input(void) {
    const tok_def defs[] = {{SP, -1, 0},      {"a", -2, 0},       {"b", -2, 0},
                            {"ab", -1, 0},    {"abab", -0.5f, 0}, {SP SP, -3, 0},
                            {"aa", -1.2f, 0}, {SP "ab", -0.7f, 0}};
    mb_vocab *v = make_vocab(defs, 8, true);
    size_t len = 1 << 20;
    char *text = malloc(len);
    mb_token *ids = malloc(len * sizeof *ids + 16);
    const char *kinds[] = {"ab", "a", " ", "ab ab  aab\xC3\xA9\xFF"};
    for (size_t k = 0; k < 4; k++) {
        size_t pl = strlen(kinds[k]);
        for (size_t i = 0; i < len; i++)
            text[i] = kinds[k][i % pl];
        size_t n = 0;
        clock_t t0 = clock();
        CHECK_OK(mb_vocab_tokenize(v, text, len, false, true, ids, len + 4, &n));
        double s = (double)(clock() - t0) / CLOCKS_PER_SEC;
        printf("1 MiB of '%s'...: %zu tokens in %.3f s\n", k == 2 ? "space" : kinds[k], n, s);
        CHECK_MSG(s < 5.0, "1 MiB took %.1f s", s);
        CHECK(n > 0);
    }
    free(text);
    free(ids);
    mb_vocab_free(v);
}

static void test_build_errors(void) {
    const char *texts[] = {"a", "b"};
    size_t lens[] = {1, 1};
    int32_t bad_types[] = {1, 9};
    mb_vocab *v = NULL;
    CHECK_EQ_INT(mb_vocab_new_spm(2, texts, lens, NULL, NULL, 5, -1, -1, &v), MB_ERR_INVALID_ARG);
    CHECK(strstr(mb_last_error(), "bos") != NULL);
    CHECK_EQ_INT(mb_vocab_new_spm(2, texts, lens, NULL, bad_types, -1, -1, -1, &v),
                 MB_ERR_INVALID_ARG);
    CHECK_EQ_INT(mb_vocab_new_spm(0, texts, lens, NULL, NULL, -1, -1, -1, &v), MB_ERR_INVALID_ARG);
    CHECK(v == NULL);
    /* No types: <0xXX> are bytes, bos/eos control, unk unknown. */
    const char *t2[] = {"<unk>", "<s>", "</s>", "<0x41>", "x"};
    size_t l2[] = {5, 3, 4, 6, 1};
    CHECK_OK(mb_vocab_new_spm(5, t2, l2, NULL, NULL, 1, 2, 0, &v));
    CHECK_EQ_INT(mb_vocab_token_type(v, 0), MB_TOKEN_UNKNOWN);
    CHECK_EQ_INT(mb_vocab_token_type(v, 1), MB_TOKEN_CONTROL);
    CHECK_EQ_INT(mb_vocab_token_type(v, 3), MB_TOKEN_BYTE);
    CHECK_EQ_INT(mb_vocab_token_type(v, 4), MB_TOKEN_NORMAL);
    CHECK(mb_vocab_is_eog(v, 2));
    CHECK(!mb_vocab_is_eog(v, 1));
    CHECK(strcmp(mb_vocab_model_name(v), "llama") == 0);
    CHECK_EQ_INT(mb_vocab_set_add_special(v, true, true), MB_OK);
    mb_vocab_free(v);
    CHECK_OK(mb_vocab_new_spm(2, texts, lens, NULL, NULL, -1, -1, -1, &v));
    CHECK(!mb_vocab_add_bos(v));
    CHECK_EQ_INT(mb_vocab_set_add_special(v, true, false), MB_ERR_INVALID_ARG);
    mb_vocab_free(v);
}

static size_t stream_all(mb_utf8_stream *s, const char *in, size_t n, char *out) {
    size_t got = 0;
    CHECK_OK(mb_utf8_stream_push(s, in, n, out, n + 3, &got));
    return got;
}

static void test_utf8_stream(void) {
    CHECK_EQ_INT(mb_utf8_seq_len((const unsigned char *)"\xF0\x9F\x98\x80", 4), 4);
    CHECK_EQ_INT(mb_utf8_seq_len((const unsigned char *)"\xF0\x9F", 2), 0);
    CHECK_EQ_INT(mb_utf8_seq_len((const unsigned char *)"\xF0\x41", 2), -1);
    CHECK_EQ_INT(mb_utf8_seq_len((const unsigned char *)"\xF5\x80\x80\x80", 4), -1);
    CHECK(mb_utf8_valid("h\xC3\xA9", 3));
    CHECK(!mb_utf8_valid("h\xC3", 2));

    mb_utf8_stream s;
    mb_utf8_stream_init(&s);
    char out[16];
    /* 😀 arriving one byte at a time comes out whole with the last byte. */
    const char *emoji = "\xF0\x9F\x98\x80";
    CHECK_EQ_INT(stream_all(&s, emoji, 1, out), 0);
    CHECK_EQ_INT(stream_all(&s, emoji + 1, 1, out), 0);
    CHECK_EQ_INT(stream_all(&s, emoji + 2, 1, out), 0);
    CHECK_EQ_INT(stream_all(&s, emoji + 3, 1, out), 4);
    CHECK(memcmp(out, emoji, 4) == 0);
    /* Text before an unfinished character is released right away. */
    CHECK_EQ_INT(stream_all(&s, "ab\xC3", 3, out), 2);
    CHECK_EQ_INT(stream_all(&s, "\xA9!", 2, out), 3);
    CHECK(memcmp(out, "\xC3\xA9!", 3) == 0);
    /* A sequence that cannot become valid is released as it is. */
    CHECK_EQ_INT(stream_all(&s, "\xE2\x96", 2, out), 0);
    CHECK_EQ_INT(stream_all(&s, "x", 1, out), 3);
    CHECK(memcmp(out, "\xE2\x96x", 3) == 0);
    CHECK_EQ_INT(stream_all(&s, "\x80\xFF", 2, out), 2);
    /* Flush gives back an unfinished tail at the end. */
    CHECK_EQ_INT(stream_all(&s, "\xE2", 1, out), 0);
    CHECK_EQ_INT(mb_utf8_stream_flush(&s, out), 1);
    CHECK_EQ_INT((unsigned char)out[0], 0xE2);
    CHECK_EQ_INT(mb_utf8_stream_flush(&s, out), 0);
    /* Too little room is refused before anything is consumed. */
    size_t got = 9;
    CHECK_EQ_INT(mb_utf8_stream_push(&s, "abcd", 4, out, 3, &got), MB_ERR_INVALID_ARG);
    CHECK_EQ_INT(got, 0);
}

int main(void) {
    test_merge_order();
    test_tie_break();
    test_space_prefix();
    test_byte_fallback();
    test_invalid_utf8();
    test_unk_without_bytes();
    test_special_tokens();
    test_add_special();
    test_cap();
    test_decode();
    test_detokenize();
    test_long_input();
    test_build_errors();
    test_utf8_stream();
    return mbt_finish();
}
