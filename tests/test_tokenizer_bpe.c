/* Byte-level BPE: the pre-tokenizers' word splits on hand-written strings,
 * merges by rank on vocabularies built in the test, special tokens, and
 * llama.cpp's GPT-2 test vectors, a megabyte of text and the qwen2-tiny
 * reference prompts on the GPT-2 vocabulary. Words and tokens are written
 * joined by '|', so each case reads as the segmentation it specifies. */
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "format/gguf.h"
#include "test_util.h"
#include "util_vocab_vectors.h"
#include "tokenizer/bpe_pre.h"
#include "tokenizer/vocab.h"

/* ---- pre-tokenizers ------------------------------------------------------ */

/* The words PRE cuts TEXT into, as "w|w|...". */
static const char *split(const char *pre, const char *text) {
    static char out[1024];
    mb_bpe_pre *p = NULL;
    mb_status st = mb_bpe_pre_new(pre, strlen(pre), "test", &p);
    CHECK_OK(st);
    if (st != MB_OK) return "(error)";
    mb_span *words = NULL;
    size_t cap = 0, n = 0, len = strlen(text), o = 0, covered = 0;
    CHECK_OK(mb_bpe_pre_split(p, text, len, &words, &cap, &n));
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        /* The words tile the text: each starts where the last one ended. */
        CHECK_MSG(words[i].off == covered && words[i].len > 0, "%s: word %zu at %zu", pre, i,
                  words[i].off);
        covered = words[i].off + words[i].len;
        o += (size_t)snprintf(out + o, sizeof out - o, "%s%.*s", i ? "|" : "", (int)words[i].len,
                              text + words[i].off);
    }
    CHECK_MSG(covered == len, "%s: words cover %zu of %zu bytes", pre, covered, len);
    free(words);
    mb_bpe_pre_free(p);
    return out;
}

static void expect_split(const char *pre, const char *text, const char *want) {
    const char *got = split(pre, text);
    CHECK_MSG(strcmp(got, want) == 0, "%s: '%s' split as '%s', want '%s'", pre, text, got, want);
}

/* GPT-2: lowercase contractions only, numbers whole with their space. */
static void test_pre_gpt2(void) {
    expect_split("gpt-2", "Hello world", "Hello| world");
    expect_split("gpt-2", "I'm can't WE'LL", "I|'m| can|'t| WE|'|LL");
    expect_split("gpt-2", "abc 12345 x", "abc| 12345| x");
    expect_split("gpt-2", "h\xC3\xA9llo \xD0\xBC\xD0\xB8\xD1\x80 \xE6\x97\xA5\xE6\x9C\xAC",
                 "h\xC3\xA9llo| \xD0\xBC\xD0\xB8\xD1\x80| \xE6\x97\xA5\xE6\x9C\xAC");
    /* A space run keeps its last space for the word after it. */
    expect_split("gpt-2", "a   b", "a|  | b");
    /* A newline before a letter matches nothing and stands alone. */
    expect_split("gpt-2", "a\n\nb", "a|\n|\n|b");
    expect_split("gpt-2", "Hello, world!!", "Hello|,| world|!!");
    expect_split("gpt-2", "x,y", "x|,|y");
    expect_split("gpt-2", "end  ", "end|  ");
    /* Invalid UTF-8 never matches: it is cut out, not dropped. */
    expect_split("gpt-2",
                 "a\xFF"
                 "b",
                 "a|\xFF|b");
}

/* Llama 3: case-insensitive contractions, digits in threes, a punctuation
 * mark leads the word after it, newlines gather with the space before. */
static void test_pre_llama3(void) {
    expect_split("llama-bpe", "I'm can't WE'LL", "I|'m| can|'t| WE|'LL");
    expect_split("llama-bpe", "abc 12345 x", "abc| |123|45| x");
    expect_split("llama-bpe", "1234567", "123|456|7");
    expect_split("llama-bpe", "a   b", "a|  | b");
    expect_split("llama-bpe", "a\n\nb", "a|\n\n|b");
    expect_split("llama-bpe", "hello\n  world", "hello|\n| | world");
    expect_split("llama-bpe", "x,y", "x|,y");
    expect_split("llama-bpe", "Hello, world!!\n", "Hello|,| world|!!\n");
    expect_split("llama-bpe", "h\xC3\xA9llo \xE6\x97\xA5\xE6\x9C\xAC",
                 "h\xC3\xA9llo| \xE6\x97\xA5\xE6\x9C\xAC");
    /* The aliases name the same expressions. */
    expect_split("llama3", "1234567", "123|456|7");
}

/* Qwen2: Llama 3's expression with every digit alone. */
static void test_pre_qwen2(void) {
    expect_split("qwen2", "abc 12345 x", "abc| |1|2|3|4|5| x");
    expect_split("qwen2", "I'M here", "I|'M| here");
    expect_split("qwen2", "a\r\n\r\nb", "a|\r\n\r\n|b");
}

/* SmolLM: digits cut out alone first, then GPT-2's expression. */
static void test_pre_smollm(void) {
    expect_split("smollm", "abc 12345 x", "abc| |1|2|3|4|5| x");
    expect_split("smollm", "I'M here", "I|'|M| here");
    expect_split("smollm", "v2.0", "v|2|.|0");
}

/* llama.cpp's fallback for files without tokenizer.ggml.pre: punctuation
 * runs, GPT-2, numbers, then ASCII digits in threes. */
static void test_pre_default(void) {
    expect_split("default", "abc 12345 x", "abc| |123|45| x");
    expect_split("default", "a+b", "a|+|b");
}

static void test_pre_unknown(void) {
    mb_bpe_pre *p = NULL;
    CHECK_EQ_INT(mb_bpe_pre_new("gpt-3", 5, "tokenizer.ggml.pre", &p), MB_ERR_UNSUPPORTED);
    CHECK(p == NULL);
    const char *want = "tokenizer.ggml.pre: pre-tokenizer 'gpt-3' is not supported (supported: "
                       "default, gpt-2, llama-bpe, smollm, qwen2)";
    CHECK_MSG(strncmp(mb_last_error(), want, strlen(want)) == 0, "message: %s", mb_last_error());
    CHECK(strstr(mb_last_error(), "--tokenizer-pre") != NULL);
    bool add_bos = false;
    CHECK(mb_bpe_pre_known("llama-bpe", 9, &add_bos) && add_bos);
    CHECK(mb_bpe_pre_known("qwen2", 5, &add_bos) && !add_bos);
    CHECK(!mb_bpe_pre_known("qwen", 4, NULL));
}

/* ---- merges on a vocabulary built here ---------------------------------- */

/* Tokens 0..255 are the bytes (in stored form); then EXTRA (plain text,
 * mapped here), and "<|im_end|>" (control) and "[u]" (user-defined). */
typedef struct {
    mb_vocab *v;
    int first_extra;
} small_vocab;

static small_vocab make_vocab(const char *const *extra, int n_extra, const char *const *merges,
                              size_t n_merges, const char *pre) {
    enum { MAX = 300 };
    static char store[MAX][32];
    const char *texts[MAX];
    size_t lens[MAX];
    int32_t types[MAX];
    int n = 0;
    for (int b = 0; b < 256; b++, n++) {
        char c = (char)b;
        lens[n] = mb_bpe_map_bytes(&c, 1, store[n]);
        texts[n] = store[n];
        types[n] = MB_TOKEN_NORMAL;
    }
    for (int i = 0; i < n_extra; i++, n++) {
        lens[n] = mb_bpe_map_bytes(extra[i], strlen(extra[i]), store[n]);
        texts[n] = store[n];
        types[n] = MB_TOKEN_NORMAL;
    }
    texts[n] = "<|im_end|>";
    types[n++] = MB_TOKEN_CONTROL;
    texts[n] = "[u]";
    types[n++] = MB_TOKEN_USER_DEFINED;
    for (int i = n - 2; i < n; i++)
        lens[i] = strlen(texts[i]);
    /* Merges are written "left+right" here and stored as "left right" in
     * stored form ("Ġ" for a space). */
    static char mstore[16][32];
    const char *mtexts[16];
    for (size_t i = 0; i < n_merges; i++) {
        const char *sp = strchr(merges[i], '+');
        size_t m = mb_bpe_map_bytes(merges[i], (size_t)(sp - merges[i]), mstore[i]);
        mstore[i][m++] = ' ';
        m += mb_bpe_map_bytes(sp + 1, strlen(sp + 1), mstore[i] + m);
        mstore[i][m] = '\0';
        mtexts[i] = mstore[i];
    }
    small_vocab s = {NULL, 256};
    CHECK_OK(mb_vocab_new_bpe(n, texts, lens, types, n_merges, mtexts, pre, -1, n - 2, &s.v));
    return s;
}

/* The tokens of TEXT as "text|text|..." (decoded pieces, specials shown). */
static const char *seg(const mb_vocab *v, const char *text, bool parse_special) {
    static char out[1024];
    mb_token ids[128];
    size_t n = 0, o = 0;
    if (mb_vocab_tokenize(v, text, strlen(text), true, parse_special, ids, 128, &n) != MB_OK)
        return mb_last_error();
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        char piece[64];
        size_t pn = 0;
        CHECK_OK(mb_vocab_token_to_piece(v, ids[i], true, piece, sizeof piece, &pn));
        o += (size_t)snprintf(out + o, sizeof out - o, "%s%.*s", i ? "|" : "", (int)pn, piece);
    }
    return out;
}

static void expect_seg(const mb_vocab *v, const char *text, bool parse_special, const char *want) {
    const char *got = seg(v, text, parse_special);
    CHECK_MSG(strcmp(got, want) == 0, "'%s' -> '%s', want '%s'", text, got, want);
}

static void test_merge_order(void) {
    const char *extra[] = {"ab", "bc", "abc", " a", " ab"};
    /* "b c" ranks first: "abc" becomes a|bc, and no merge joins those two. */
    const char *bc_first[] = {"b+c", "a+b", " +a", " a+b"};
    small_vocab s = make_vocab(extra, 5, bc_first, 4, "gpt-2");
    if (s.v) {
        expect_seg(s.v, "abc", false, "a|bc");
        expect_seg(s.v, "abc abc", false, "a|bc| a|bc");
        /* "a b" outranks " a": the space is left alone, as " ab" has no merge. */
        expect_seg(s.v, "ab ab", false, "ab| |ab");
        CHECK_EQ_INT(mb_vocab_add_bos(s.v), 0); /* gpt-2: no BOS */
        CHECK(strcmp(mb_vocab_model_name(s.v), "gpt2") == 0);
        CHECK(strcmp(mb_vocab_pre_name(s.v), "gpt-2") == 0);
    }
    mb_vocab_free(s.v);
    /* Ranked the other way round: ab|c. */
    const char *ab_first[] = {"a+b", "b+c", "ab+c"};
    s = make_vocab(extra, 5, ab_first, 3, "gpt-2");
    if (s.v) {
        expect_seg(s.v, "abc", false, "abc");
        expect_seg(s.v, "bcab", false, "bc|ab");
        /* Equal pairs: the leftmost merges first, "a b" twice. */
        expect_seg(s.v, "abab", false, "ab|ab");
    }
    mb_vocab_free(s.v);
    /* Llama 3 takes a word that is a token whole, even with no merges. */
    s = make_vocab(extra, 5, NULL, 0, "llama-bpe");
    if (s.v) expect_seg(s.v, "abc", false, "abc");
    mb_vocab_free(s.v);
    s = make_vocab(extra, 5, NULL, 0, "gpt-2");
    if (s.v) expect_seg(s.v, "abc", false, "a|b|c");
    mb_vocab_free(s.v);
}

/* Control tokens are cut out only with parse_special; user-defined ones
 * always; their text otherwise goes through the merges like any text. */
static void test_specials(void) {
    small_vocab s = make_vocab(NULL, 0, NULL, 0, "gpt-2");
    if (!s.v) return;
    mb_token im_end = mb_vocab_find(s.v, "<|im_end|>", 10);
    CHECK(im_end >= 0);
    CHECK(mb_vocab_is_eog(s.v, im_end)); /* named as EOS, and an end-of-turn text */
    mb_token ids[32];
    size_t n = 0;
    CHECK_OK(mb_vocab_tokenize(s.v, "hi<|im_end|>", 12, false, true, ids, 32, &n));
    CHECK(n == 3 && ids[2] == im_end);
    CHECK_OK(mb_vocab_tokenize(s.v, "hi<|im_end|>", 12, false, false, ids, 32, &n));
    CHECK(n == 12);
    for (size_t i = 0; i < n; i++)
        CHECK(ids[i] != im_end);
    expect_seg(s.v, "a[u]b", false, "a|[u]|b");
    /* Control pieces are empty unless rendered. */
    char buf[32];
    size_t len = 0;
    CHECK_OK(mb_vocab_token_to_piece(s.v, im_end, false, buf, sizeof buf, &len));
    CHECK_EQ_INT((int)len, 0);
    CHECK_OK(mb_vocab_detokenize(s.v, &im_end, 1, true, true, buf, sizeof buf, &len));
    CHECK(len == 10 && memcmp(buf, "<|im_end|>", 10) == 0);
    mb_vocab_free(s.v);
}

/* Every byte decodes to itself, through the stored form and back. */
static void test_byte_roundtrip(void) {
    small_vocab s = make_vocab(NULL, 0, NULL, 0, "qwen2");
    if (!s.v) return;
    char text[256];
    for (int b = 0; b < 256; b++)
        text[b] = (char)(255 - b);
    mb_token ids[300];
    size_t n = 0;
    CHECK_OK(mb_vocab_tokenize(s.v, text, 256, true, false, ids, 300, &n));
    CHECK_EQ_INT((int)n, 256);
    char back[512];
    size_t m = 0;
    CHECK_OK(mb_vocab_detokenize(s.v, ids, n, true, false, back, sizeof back, &m));
    CHECK(m == 256 && memcmp(back, text, 256) == 0);
    mb_vocab_free(s.v);
}

/* ---- the GPT-2 vocabulary ------------------------------------------------- */

static mb_vocab *load_file(const char *path, const char *pre) {
    mb_gguf *g = NULL;
    mb_vocab *v = NULL;
    CHECK_OK(mb_gguf_open(path, 1, 0, &g));
    if (g) CHECK_OK(mb_vocab_load_pre(g, pre, &v));
    mb_gguf_close(g);
    return v;
}

static void check_roundtrip(const mb_vocab *v, const char *text, size_t len, const mb_token *ids,
                            size_t n) {
    char *got = malloc(len + 64);
    size_t got_len = 0;
    mb_status st = mb_vocab_detokenize(v, ids, n, true, false, got, len + 64, &got_len);
    CHECK_MSG(st == MB_OK && got_len == len && memcmp(got, text, len) == 0,
              "decode of '%.*s' gave '%.*s'", (int)(len > 80 ? 80 : len), text,
              (int)(got_len > 80 ? 80 : got_len), got);
    free(got);
}

static void test_gpt2_vectors(const char *path) {
    char inp_path[4200], out_path[4200];
    snprintf(inp_path, sizeof inp_path, "%s.inp", path);
    snprintf(out_path, sizeof out_path, "%s.out", path);
    size_t inp_len = 0, out_len = 0;
    char *inp = mbt_read_file(inp_path, &inp_len), *out = mbt_read_file(out_path, &out_len);
    mb_vocab *v = load_file(path, NULL);
    CHECK(inp && out && v);
    if (!inp || !out || !v) goto done;
    CHECK_EQ_INT(mb_vocab_n_tokens(v), 50257);
    CHECK(!mb_vocab_add_bos(v) && !mb_vocab_add_eos(v) && !mb_vocab_add_space_prefix(v));
    CHECK(strcmp(mb_vocab_pre_name(v), "gpt-2") == 0);
    CHECK(mb_vocab_is_eog(v, 50256)); /* <|endoftext|> */

    mbt_run_vocab_vectors(v, inp, out, "gpt-2", check_roundtrip);
done:
    free(inp);
    free(out);
    mb_vocab_free(v);
}

/* <|endoftext|> is a control token: one id with parse_special, its text
 * (which decodes back exactly) without. */
static void test_gpt2_special(const char *path) {
    mb_vocab *v = load_file(path, NULL);
    if (!v) return;
    const char *text = "Hi<|endoftext|>";
    mb_token ids[32];
    size_t n = 0, m = 0;
    CHECK_OK(mb_vocab_tokenize(v, text, strlen(text), false, true, ids, 32, &n));
    CHECK(n >= 2 && ids[n - 1] == 50256);
    CHECK_OK(mb_vocab_tokenize(v, text, strlen(text), false, false, ids, 32, &m));
    CHECK(m > n);
    for (size_t i = 0; i < m; i++)
        CHECK(ids[i] != 50256);
    check_roundtrip(v, text, strlen(text), ids, m);
    mb_vocab_free(v);
}

/* --tokenizer-pre: a known name replaces the file's, an unknown one is an
 * error that names the flag and lists what is supported. */
static void test_pre_override(const char *path) {
    mb_vocab *v = load_file(path, "qwen2");
    if (v) {
        CHECK(strcmp(mb_vocab_pre_name(v), "qwen2") == 0);
        mb_token ids[16];
        size_t n = 0;
        CHECK_OK(mb_vocab_tokenize(v, "2024", 4, false, false, ids, 16, &n));
        CHECK_EQ_INT((int)n, 4); /* one digit a word */
    }
    mb_vocab_free(v);
    mb_gguf *g = NULL;
    CHECK_OK(mb_gguf_open(path, 1, 0, &g));
    if (!g) return;
    v = NULL;
    CHECK_EQ_INT(mb_vocab_load_pre(g, "bogus", &v), MB_ERR_UNSUPPORTED);
    CHECK(v == NULL);
    CHECK_MSG(strstr(mb_last_error(), "--tokenizer-pre: pre-tokenizer 'bogus' is not supported "
                                      "(supported: default, gpt-2, llama-bpe, smollm, qwen2)"),
              "message: %s", mb_last_error());
    mb_gguf_close(g);
}

/* A real megabyte: decoded exactly. The time is printed; the speed target
 * lives in the benchmarks. */
static void test_long_text(const char *path) {
    char tpath[4200];
    snprintf(tpath, sizeof tpath, "%s/data/tinyshakespeare.txt", mbt_shared_dir());
    size_t len = 0;
    char *text = mbt_read_file(tpath, &len);
    if (!text) {
        printf("%s is absent: long-text check skipped\n", tpath);
        return;
    }
    mb_vocab *v = load_file(path, NULL);
    mb_token *ids = malloc((len + 2) * sizeof *ids);
    size_t n = 0;
    clock_t t0 = clock();
    if (v) CHECK_OK(mb_vocab_tokenize(v, text, len, true, false, ids, len + 2, &n));
    double s = (double)(clock() - t0) / CLOCKS_PER_SEC;
    printf("tinyshakespeare (gpt-2): %zu bytes -> %zu tokens in %.3f s\n", len, n, s);
    CHECK(n > len / 8 && n < len);
    if (v && n > 0) check_roundtrip(v, text, len, ids, n);
    free(ids);
    free(text);
    mb_vocab_free(v);
}

/* ---- qwen2-tiny: the reference engine's prompt ids ----------------------- */

static const char *synth_qwen2(void) {
    static char path[4096];
    char tmp[4200];
    mkdir(MB_TEST_MODEL_DIR, 0755);
    snprintf(path, sizeof path, "%s/qwen2-tiny.gguf", MB_TEST_MODEL_DIR);
    if (access(path, R_OK) == 0) return path;
    /* Written aside and renamed, so a test running beside this one never
     * reads half a file. */
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
    if (mbt_system("python3 '%s/tools/synth_gguf.py' qwen2-tiny '%s' >/dev/null 2>&1",
                   mbt_shared_dir(), tmp) != 0 ||
        rename(tmp, path) != 0) {
        unlink(tmp);
        printf("qwen2-tiny: synth_gguf.py failed, reference prompts skipped\n");
        return NULL;
    }
    return path;
}

static void test_qwen2_prompts(void) {
    const char *model = synth_qwen2();
    if (!model) return;
    mb_vocab *v = load_file(model, NULL);
    const char *prompts[] = {"once", "france"};
    for (int i = 0; v && i < 2; i++) {
        char path[4200];
        size_t tl = 0, il = 0;
        snprintf(path, sizeof path, "%s/reference/qwen2-tiny/%s.prompt.txt", mbt_shared_dir(),
                 prompts[i]);
        char *text = mbt_read_file(path, &tl);
        snprintf(path, sizeof path, "%s/reference/qwen2-tiny/%s.prompt_ids.txt", mbt_shared_dir(),
                 prompts[i]);
        char *want = mbt_read_file(path, &il);
        if (text && want) {
            mb_token ids[256];
            size_t n = 0;
            /* add_special: BOS only if the metadata asks (it does not). */
            char line[2048];
            size_t o = 0;
            CHECK_OK(mb_vocab_tokenize(v, text, tl, true, false, ids, 256, &n));
            for (size_t k = 0; k < n; k++)
                o += (size_t)snprintf(line + o, sizeof line - o, "%d ", ids[k]);
            size_t wl = strlen(want);
            while (wl > 0 && (want[wl - 1] == '\n' || want[wl - 1] == ' '))
                want[--wl] = '\0';
            while (o > 0 && line[o - 1] == ' ')
                line[--o] = '\0';
            CHECK_MSG(strcmp(line, want) == 0, "qwen2-tiny/%s: ids '%s', want '%s'", prompts[i],
                      line, want);
        } else {
            printf("qwen2-tiny/%s: reference files absent, skipped\n", prompts[i]);
        }
        free(text);
        free(want);
    }
    mb_vocab_free(v);
}

int main(void) {
    test_pre_gpt2();
    test_pre_llama3();
    test_pre_qwen2();
    test_pre_smollm();
    test_pre_default();
    test_pre_unknown();
    test_merge_order();
    test_specials();
    test_byte_roundtrip();
    if (!mbt_shared_dir()) {
        printf("SKIP (partly): ../shared is absent, only the hand-made vocabularies ran\n");
        return mbt_finish();
    }
    const char *gpt2 = mbt_shared_path_or_skip("models/ggml-vocab-gpt-2.gguf");
    test_gpt2_vectors(gpt2);
    test_gpt2_special(gpt2);
    test_pre_override(gpt2);
    test_long_text(gpt2);
    test_qwen2_prompts();
    return mbt_finish();
}
