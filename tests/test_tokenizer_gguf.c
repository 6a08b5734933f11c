/* The tokenizer on GGUF files: llama.cpp's test vectors for the Llama 2
 * SentencePiece vocabulary, the TinyStories model's vocabulary, the byte-level
 * BPE file's loading (its vectors are in test_tokenizer_bpe.c), and small
 * hand-made files whose tokenizer keys are wrong in one way each. */
#include <time.h>

#include "format/gguf.h"
#include "test_util.h"
#include "util_gguf_raw.h"
#include "util_vocab_vectors.h"
#include "tokenizer/vocab.h"

/* What the hand-made vocabulary leaves out or gets wrong. */
enum {
    F_NO_MODEL = 1 << 0,
    F_NO_TOKENS = 1 << 1,
    F_GPT2 = 1 << 2,
    F_SHORT_SCORES = 1 << 3,
    F_SHORT_TYPES = 1 << 4,
    F_BAD_BOS = 1 << 5,
    F_BAD_TYPE = 1 << 6,
    F_ADD_EOS = 1 << 7,
    F_NO_SPACE_PREFIX = 1 << 8,
    F_TOKENS_NOT_STR = 1 << 9,
    F_BERT = 1 << 10,
};

static const char *const k_texts[] = {"<unk>",        "<s>", "</s>",
                                      "\xE2\x96\x81", "a",   "\xE2\x96\x81\x61"}; /* ▁a */
enum { K_N = 6 };

static mb_status load_crafted(int flags, mb_vocab **v) {
    const float scores[K_N] = {0, 0, 0, -1, -2, -0.5f};
    int32_t types[K_N] = {2, 3, 3, 1, 1, 1};
    if (flags & F_BAD_TYPE) types[4] = 9;
    mbt_gbuf b = mbt_gbuf_begin();
    mbt_gbuf_kv_str(&b, "general.architecture", "llama");
    if (!(flags & F_NO_MODEL))
        mbt_gbuf_kv_str(&b, "tokenizer.ggml.model",
                        flags & F_GPT2   ? "gpt2"
                        : flags & F_BERT ? "bert"
                                         : "llama");
    if (flags & F_TOKENS_NOT_STR)
        mbt_gbuf_kv_arr(&b, "tokenizer.ggml.tokens", MB_GGUF_I32, types, K_N);
    else if (!(flags & F_NO_TOKENS))
        mbt_gbuf_kv_arr(&b, "tokenizer.ggml.tokens", MB_GGUF_STR, k_texts, K_N);
    mbt_gbuf_kv_arr(&b, "tokenizer.ggml.scores", MB_GGUF_F32, scores,
                    flags & F_SHORT_SCORES ? K_N - 1 : K_N);
    mbt_gbuf_kv_arr(&b, "tokenizer.ggml.token_type", MB_GGUF_I32, types,
                    flags & F_SHORT_TYPES ? K_N - 2 : K_N);
    mbt_gbuf_kv_u32(&b, "tokenizer.ggml.bos_token_id", flags & F_BAD_BOS ? 99 : 1);
    mbt_gbuf_kv_u32(&b, "tokenizer.ggml.eos_token_id", 2);
    mbt_gbuf_kv_u32(&b, "tokenizer.ggml.unknown_token_id", 0);
    mbt_gbuf_kv_u32(&b, "tokenizer.ggml.seperator_token_id", 0xFFFFFFFFu); /* none */
    mbt_gbuf_kv_i32(&b, "tokenizer.ggml.padding_token_id", -1);            /* none */
    if (flags & F_ADD_EOS) mbt_gbuf_kv_bool(&b, "tokenizer.ggml.add_eos_token", true);
    if (flags & F_NO_SPACE_PREFIX) mbt_gbuf_kv_bool(&b, "tokenizer.ggml.add_space_prefix", false);
    mbt_gbuf_end(&b);
    mb_gguf *g = NULL;
    mb_status st = mb_gguf_parse(b.p, b.n, "crafted.gguf", &g);
    CHECK_OK(st);
    if (st == MB_OK) st = mb_vocab_load(g, v);
    mb_gguf_close(g);
    free(b.p);
    return st;
}

static void expect_error(int flags, mb_status want, const char *needle) {
    mb_vocab *v = NULL;
    mb_status st = load_crafted(flags, &v);
    CHECK_MSG(st == want, "flags %#x: got %s (%s), want %s", flags, mb_status_str(st),
              mb_last_error(), mb_status_str(want));
    CHECK_MSG(strstr(mb_last_error(), needle) != NULL, "flags %#x: message '%s' lacks '%s'", flags,
              mb_last_error(), needle);
    CHECK(v == NULL);
    mb_vocab_free(v);
}

static void test_crafted(void) {
    mb_vocab *v = NULL;
    mb_token ids[8];
    size_t n = 0;
    CHECK_OK(load_crafted(0, &v));
    if (v) {
        CHECK_EQ_INT(mb_vocab_n_tokens(v), K_N);
        CHECK(mb_vocab_add_bos(v) && !mb_vocab_add_eos(v) && mb_vocab_add_space_prefix(v));
        CHECK_EQ_INT(mb_vocab_pad(v), -1);
        CHECK_OK(mb_vocab_tokenize(v, "a", 1, true, false, ids, 8, &n));
        CHECK(n == 2 && ids[0] == 1 && ids[1] == 5);
    }
    mb_vocab_free(v);
    v = NULL;
    CHECK_OK(load_crafted(F_ADD_EOS | F_NO_SPACE_PREFIX, &v));
    if (v) {
        CHECK_OK(mb_vocab_tokenize(v, "a", 1, true, false, ids, 8, &n));
        CHECK(n == 3 && ids[0] == 1 && ids[1] == 4 && ids[2] == 2);
    }
    mb_vocab_free(v);

    expect_error(F_NO_MODEL, MB_ERR_FORMAT, "tokenizer.ggml.model");
    expect_error(F_NO_TOKENS, MB_ERR_FORMAT, "tokenizer.ggml.tokens");
    expect_error(F_TOKENS_NOT_STR, MB_ERR_FORMAT, "tokenizer.ggml.tokens");
    expect_error(F_BERT, MB_ERR_UNSUPPORTED,
                 "tokenizer model 'bert' is not supported yet (supported: llama, gpt2)");
    expect_error(F_GPT2, MB_ERR_FORMAT, "key 'tokenizer.ggml.merges' is missing");
    expect_error(F_SHORT_SCORES, MB_ERR_FORMAT, "tokenizer.ggml.scores has 5 entries");
    expect_error(F_SHORT_TYPES, MB_ERR_FORMAT, "tokenizer.ggml.token_type has 4 entries");
    expect_error(F_BAD_BOS, MB_ERR_FORMAT, "tokenizer.ggml.bos_token_id = 99 is out of range");
    expect_error(F_BAD_TYPE, MB_ERR_FORMAT, "tokenizer.ggml.token_type[4] = 9");
}

/* ---- real files ---------------------------------------------------------- */

static mb_vocab *load_file(const char *path) {
    mb_gguf *g = NULL;
    mb_vocab *v = NULL;
    CHECK_OK(mb_gguf_open(path, 1, 0, &g));
    if (g) CHECK_OK(mb_vocab_load(g, &v));
    mb_gguf_close(g); /* the vocabulary keeps its own copies */
    return v;
}

/* Tokenize TEXT and compare with the ids in the line EXPECTED (" %d" each). */
/* TEXT with U+2581 read as a space: SentencePiece cannot tell them apart. */
static size_t spaces_for_marks(const char *text, size_t len, char *out) {
    size_t m = 0;
    for (size_t i = 0; i < len; i++) {
        if (i + 3 <= len && memcmp(text + i, "\xE2\x96\x81", 3) == 0) {
            out[m++] = ' ';
            i += 2;
        } else {
            out[m++] = text[i];
        }
    }
    return m;
}

static void check_decode(const mb_vocab *v, const char *text, size_t len, const mb_token *ids,
                         size_t n) {
    char *want = malloc(len + 1), *got = malloc(len + 64);
    size_t want_len = spaces_for_marks(text, len, want), got_len = 0;
    mb_status st = mb_vocab_detokenize(v, ids, n, true, false, got, len + 64, &got_len);
    CHECK_MSG(st == MB_OK && got_len == want_len && memcmp(got, want, got_len) == 0,
              "decode of '%.*s' gave '%.*s'", (int)len, text, (int)got_len, got);
    free(want);
    free(got);
}

static void test_llama_vectors(void) {
    const char *path = mbt_shared_path_or_skip("models/ggml-vocab-llama-spm.gguf");
    char inp_path[4200], out_path[4200];
    snprintf(inp_path, sizeof inp_path, "%s.inp", path);
    snprintf(out_path, sizeof out_path, "%s.out", path);
    size_t inp_len = 0, out_len = 0;
    char *inp = mbt_read_file(inp_path, &inp_len), *out = mbt_read_file(out_path, &out_len);
    mb_vocab *v = load_file(path);
    CHECK(inp && out && v);
    if (!inp || !out || !v) goto done;
    CHECK_EQ_INT(mb_vocab_n_tokens(v), 32000);
    CHECK(mb_vocab_add_bos(v) && !mb_vocab_add_eos(v));

    mbt_run_vocab_vectors(v, inp, out, "llama-spm", check_decode);
done:
    free(inp);
    free(out);
    mb_vocab_free(v);
}

static void check_ids(const mb_vocab *v, const char *text, const mb_token *want, size_t n_want) {
    mb_token ids[64];
    size_t n = 0;
    CHECK_OK(mb_vocab_tokenize(v, text, strlen(text), true, false, ids, 64, &n));
    bool same = n == n_want;
    for (size_t i = 0; same && i < n; i++)
        same = ids[i] == want[i];
    CHECK_MSG(same, "'%s': %zu ids, first %d", text, n, n ? ids[0] : -1);
}

static void test_stories(void) {
    mb_vocab *v = load_file(mbt_shared_path_or_skip("models/stories260K.gguf"));
    if (!v) return;
    CHECK_EQ_INT(mb_vocab_n_tokens(v), 512);
    CHECK_EQ_INT(mb_vocab_bos(v), 1);
    CHECK_EQ_INT(mb_vocab_eos(v), 2);
    CHECK(mb_vocab_is_eog(v, 2));
    const mb_token once[] = {1, 403, 407, 261, 378};
    check_ids(v, "Once upon a time", once, 5);
    const mb_token capital[] = {1,   291, 280, 412, 427, 275, 412, 421,
                                373, 410, 453, 420, 303, 331, 410, 293};
    check_ids(v, "The capital of France is", capital, 16);
    mb_vocab_free(v);
}

/* A real megabyte through the Llama vocabulary: fast, and decoded exactly. */
static void test_long_text(void) {
    char path[4200];
    snprintf(path, sizeof path, "%s/data/tinyshakespeare.txt", mbt_shared_dir());
    size_t len = 0;
    char *text = mbt_read_file(path, &len);
    if (!text) {
        printf("%s is absent: long-text check skipped\n", path);
        return;
    }
    mb_vocab *v = load_file(mbt_shared_path_or_skip("models/ggml-vocab-llama-spm.gguf"));
    mb_token *ids = malloc((len + 2) * sizeof *ids);
    size_t n = 0;
    clock_t t0 = clock();
    if (v) CHECK_OK(mb_vocab_tokenize(v, text, len, true, false, ids, len + 2, &n));
    double s = (double)(clock() - t0) / CLOCKS_PER_SEC;
    printf("tinyshakespeare: %zu bytes -> %zu tokens in %.3f s\n", len, n, s);
    CHECK_MSG(s < 10.0, "took %.1f s", s);
    if (v && n > 0) check_decode(v, text, len, ids + 1, n - 1);
    free(ids);
    free(text);
    mb_vocab_free(v);
}

/* Read whitespace-separated ids; returns how many. */
static size_t parse_ids(const char *s, mb_token *ids, size_t cap) {
    size_t n = 0;
    char *end;
    for (long x = strtol(s, &end, 10); end != s && n < cap; x = strtol(s, &end, 10)) {
        ids[n++] = (mb_token)x;
        s = end;
    }
    return n;
}

/* The reference engine's prompts and greedy continuations: the prompt must
 * tokenize to its ids, and the generated ids must decode to its text. */
static void test_reference_outputs(const char *model, const char *folder) {
    mb_vocab *v = load_file(mbt_shared_path_or_skip(model));
    const char *prompts[] = {"once", "france"};
    for (int i = 0; v && i < 2; i++) {
        char path[4200];
        char *files[4] = {0};
        const char *suffix[] = {"prompt.txt", "prompt_ids.txt", "gen_ids.txt", "gen.txt"};
        size_t lens[4] = {0};
        for (int f = 0; f < 4; f++) {
            snprintf(path, sizeof path, "%s/reference/%s/%s.%s", mbt_shared_dir(), folder,
                     prompts[i], suffix[f]);
            files[f] = mbt_read_file(path, &lens[f]);
        }
        if (files[0] && files[1] && files[2] && files[3]) {
            mb_token want[256], got[256];
            size_t n_want = parse_ids(files[1], want, 256), n = 0;
            CHECK_OK(mb_vocab_tokenize(v, files[0], lens[0], true, false, got, 256, &n));
            bool same = n == n_want;
            for (size_t k = 0; same && k < n; k++)
                same = got[k] == want[k];
            CHECK_MSG(same, "%s/%s: prompt ids differ", folder, prompts[i]);
            size_t n_gen = parse_ids(files[2], want, 256), m = 0;
            char text[4096];
            CHECK_OK(mb_vocab_detokenize(v, want, n_gen, false, false, text, sizeof text, &m));
            CHECK_MSG(m == lens[3] && memcmp(text, files[3], m) == 0, "%s/%s: decoded '%.*s'",
                      folder, prompts[i], (int)m, text);
        } else {
            printf("%s/%s: reference files absent, skipped\n", folder, prompts[i]);
        }
        for (int f = 0; f < 4; f++)
            free(files[f]);
    }
    mb_vocab_free(v);
}

/* The GPT-2 file loads as byte-level BPE with its pre-tokenizer. */
static void test_gpt2_loads(void) {
    mb_vocab *v = load_file(mbt_shared_path_or_skip("models/ggml-vocab-gpt-2.gguf"));
    if (!v) return;
    CHECK(strcmp(mb_vocab_model_name(v), "gpt2") == 0);
    CHECK(strcmp(mb_vocab_pre_name(v), "gpt-2") == 0);
    CHECK_EQ_INT(mb_vocab_bos(v), 50256);
    CHECK(!mb_vocab_add_bos(v));
    mb_vocab_free(v);
}

int main(void) {
    test_crafted();
    if (!mbt_shared_dir()) {
        printf("SKIP (partly): ../shared is absent, only the hand-made files ran\n");
        return mbt_finish();
    }
    test_llama_vectors();
    test_stories();
    test_long_text();
    test_reference_outputs("models/stories260K.gguf", "stories260K");
    test_reference_outputs("models/llama-2-tiny-random.gguf", "llama-2-tiny-random");
    test_gpt2_loads();
    return mbt_finish();
}
