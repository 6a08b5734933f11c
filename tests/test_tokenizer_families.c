/* The tokenizers of the models people run, checked against what llama.cpp
 * does with the same GGUF keys: Gemma's SentencePiece without a space
 * prefix, Phi-3's added tokens that swallow the white space after them,
 * Qwen3's ChatML tokens and Llama 3's header tokens; the special tokens of
 * each cut out of a prompt with parse_special and left as text without it,
 * and the exact set of tokens that end generation. The vocabularies are
 * small copies of the real ones (util_vocab_families.h lists their ids). */
#include "format/gguf.h"
#include "test_util.h"
#include "tokenizer/vocab.h"
#include "tokenizer/vocab_internal.h" /* mb_vocab_build: a name without a file */
#include "util_vocab_families.h"

static mb_vocab *load(mbt_family family, const char *name, unsigned flags) {
    size_t len = 0;
    uint8_t *image = mbt_family_gguf(family, name, flags, &len);
    mb_gguf *g = NULL;
    mb_vocab *v = NULL;
    CHECK_OK(mb_gguf_parse(image, len, "family.gguf", &g));
    if (g) CHECK_OK(mb_vocab_load(g, &v));
    mb_gguf_close(g);
    free(image);
    return v;
}

/* TEXT must give exactly the N ids WANT (no BOS unless ADD_SPECIAL). */
static void expect_ids(const mb_vocab *v, const char *text, bool add_special, bool parse_special,
                       const mb_token *want, size_t n_want) {
    mb_token ids[64];
    size_t n = 0;
    mb_status st =
        mb_vocab_tokenize(v, text, strlen(text), add_special, parse_special, ids, 64, &n);
    bool same = st == MB_OK && n == n_want;
    for (size_t i = 0; same && i < n; i++)
        same = ids[i] == want[i];
    char got[400] = "";
    for (size_t i = 0, o = 0; i < n && i < 64 && o < sizeof got - 12; i++)
        o += (size_t)snprintf(got + o, sizeof got - o, " %d", (int)ids[i]);
    CHECK_MSG(same, "'%s' (parse_special %d): got%s", text, (int)parse_special, got);
}
#define EXPECT_IDS(v, text, add, parse, ...)                                                       \
    do {                                                                                           \
        const mb_token want_[] = {__VA_ARGS__};                                                    \
        expect_ids(v, text, add, parse, want_, sizeof want_ / sizeof want_[0]);                    \
    } while (0)

/* Every id of V ends generation exactly when it is one of the N in WANT. */
static void expect_eog(const mb_vocab *v, const mb_token *want, int n_want, const char *family) {
    int n_eog = 0;
    for (mb_token id = 0; id < mb_vocab_n_tokens(v); id++) {
        bool wanted = false;
        for (int i = 0; i < n_want; i++)
            wanted |= want[i] == id;
        bool eog = mb_vocab_is_eog(v, id);
        n_eog += eog;
        CHECK_MSG(eog == wanted, "%s: token %d '%s' %s end generation", family, (int)id,
                  mb_vocab_token_text(v, id), wanted ? "should" : "should not");
    }
    CHECK_EQ_INT(n_eog, n_want);
    for (int i = 0; i < n_want; i++) /* the model writes them: they must render as nothing */
        CHECK_EQ_INT(mb_vocab_token_type(v, want[i]), MB_TOKEN_CONTROL);
}
#define EXPECT_EOG(v, family, ...)                                                                 \
    do {                                                                                           \
        const mb_token want_[] = {__VA_ARGS__};                                                    \
        expect_eog(v, want_, (int)(sizeof want_ / sizeof want_[0]), family);                       \
    } while (0)

/* ---- Gemma -------------------------------------------------------------- */

#define GB(c) (GEMMA_BYTE0 + (c)) /* Gemma's <0xXX> token of character C */

static void test_gemma(void) {
    mb_vocab *v = load(MBT_GEMMA, NULL, 0);
    if (!v) return;
    CHECK(!mb_vocab_add_space_prefix(v));
    CHECK(mb_vocab_add_bos(v));
    /* No ▁ before the text, nor after a special token: "Hi", not "▁Hi". */
    EXPECT_IDS(v, "Hi", false, false, GEMMA_HI);
    EXPECT_IDS(v, " Hi", false, false, GEMMA_SP_HI);
    EXPECT_IDS(v, "<start_of_turn>user\nHi<end_of_turn>\n", true, true, GEMMA_BOS, GEMMA_START_TURN,
               GEMMA_USER, GEMMA_NL, GEMMA_HI, GEMMA_END_TURN, GEMMA_NL);
    /* Without parse_special the markers are text: characters and bytes. */
    EXPECT_IDS(v, "Hi<end_of_turn>", false, false, GEMMA_HI, GB('<'), GEMMA_E, GB('n'), GB('d'),
               GB('_'), GB('o'), GB('f'), GB('_'), GB('t'), GEMMA_U, GEMMA_R, GB('n'), GB('>'));
    /* A user-defined token is cut out either way. */
    EXPECT_IDS(v, "Hi<h1>Hi", false, false, GEMMA_HI, GEMMA_H1, GEMMA_HI);
    EXPECT_EOG(v, "gemma", GEMMA_EOS, GEMMA_END_TURN);
    CHECK_EQ_INT(mb_vocab_eot(v), GEMMA_END_TURN); /* found by its text */
    CHECK_EQ_INT(mb_vocab_eos(v), GEMMA_EOS);
    CHECK_EQ_INT(mb_vocab_token_strip(v, GEMMA_END_TURN), 0);
    mb_vocab_free(v);

    /* The same file without the key: a prefix, so the ids above differ. */
    v = load(MBT_GEMMA, NULL, MBT_NO_SPACE_PREFIX_KEY);
    if (!v) return;
    CHECK(mb_vocab_add_space_prefix(v));
    EXPECT_IDS(v, "Hi", false, false, GEMMA_SP_HI);
    EXPECT_IDS(v, "<start_of_turn>user", false, true, GEMMA_START_TURN, GEMMA_SP_USER);
    mb_vocab_free(v);
}

/* ---- Phi-3 --------------------------------------------------------------- */

#define PB(c) (PHI3_BYTE0 + (c))

/* A name llama.cpp reads as Phi-3: its special tokens take RSTRIP. */
static void test_phi3_rstrip(const char *name) {
    mb_vocab *v = load(MBT_PHI3, name, 0);
    name = name ? name : "Phi3";
    if (!v) return;
    const mb_token rstrip[] = {PHI3_END,   PHI3_USER,         PHI3_ASSISTANT,   PHI3_SYSTEM,
                               PHI3_EOS_S, PHI3_PLACEHOLDER1, PHI3_PLACEHOLDER2};
    for (size_t i = 0; i < sizeof rstrip / sizeof rstrip[0]; i++)
        CHECK_MSG(mb_vocab_token_strip(v, rstrip[i]) == MB_TOKEN_RSTRIP, "%s: '%s' lacks RSTRIP",
                  name, mb_vocab_token_text(v, rstrip[i]));
    const mb_token plain[] = {PHI3_UNK, PHI3_BOS, PHI3_ENDOFTEXT, PHI3_HI, PHI3_SP_HI};
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++)
        CHECK_MSG(mb_vocab_token_strip(v, plain[i]) == 0, "%s: '%s' has a strip attribute", name,
                  mb_vocab_token_text(v, plain[i]));
    /* The newline after each marker goes with it; the text after a special
     * token still gets SentencePiece's space prefix: "▁Hi". */
    EXPECT_IDS(v, "<|user|>\nHi<|end|>\n<|assistant|>", false, true, PHI3_USER, PHI3_SP_HI,
               PHI3_END, PHI3_ASSISTANT);
    EXPECT_IDS(v, "<|system|>  \t\n", false, true, PHI3_SYSTEM);
    EXPECT_IDS(v, "</s> Hi", false, true, PHI3_EOS_S, PHI3_SP_HI);
    /* Only to the right: the space before a marker stays ("▁" then "▁Hi"
     * would be two pieces; "Hi " ends in one). */
    EXPECT_IDS(v, "Hi <|end|>", false, true, PHI3_SP_HI, PHI3_SPACE, PHI3_END);
    /* <s> and <|endoftext|> keep the space: "▁" + " Hi" escaped. */
    EXPECT_IDS(v, "<s> Hi", false, true, PHI3_BOS, PHI3_SPACE, PHI3_SP_HI);
    EXPECT_IDS(v, "<|endoftext|> Hi", false, true, PHI3_ENDOFTEXT, PHI3_SPACE, PHI3_SP_HI);
    /* A user-defined token strips too, with parse_special off as well. */
    EXPECT_IDS(v, "Hi<|placeholder2|> Hi", false, false, PHI3_SP_HI, PHI3_PLACEHOLDER2, PHI3_SP_HI);
    mb_vocab_free(v);
}

static void test_phi3(void) {
    test_phi3_rstrip(NULL); /* "Phi3", as Microsoft's own GGUF files name it */
    test_phi3_rstrip("Phi-3 Mini 4k Instruct");
    test_phi3_rstrip("PHI-3-MEDIUM");

    /* llama.cpp matches "phi3" or "phi-3" only: "Phi 3 Mini" (a space) and
     * another model keep the white space, the newline becomes a byte. */
    const char *others[] = {"Phi 3 Mini", "Llama 2 7B"};
    for (int k = 0; k < 2; k++) {
        mb_vocab *v = load(MBT_PHI3, others[k], 0);
        if (!v) continue;
        CHECK_EQ_INT(mb_vocab_token_strip(v, PHI3_END), 0);
        EXPECT_IDS(v, "<|user|>\nHi<|end|>\n<|assistant|>", false, true, PHI3_USER, PHI3_SPACE,
                   PB('\n'), PHI3_HI, PHI3_END, PHI3_SPACE, PB('\n'), PHI3_ASSISTANT);
        EXPECT_IDS(v, "Hi<|placeholder2|> Hi", false, false, PHI3_SP_HI, PHI3_PLACEHOLDER2,
                   PHI3_SPACE, PHI3_SP_HI);
        mb_vocab_free(v);
    }

    mb_vocab *v = load(MBT_PHI3, NULL, 0);
    if (!v) return;
    /* Control tokens are text without parse_special: ▁ then bytes. */
    EXPECT_IDS(v, "Hi<|end|>", false, false, PHI3_SP_HI, PB('<'), PB('|'), PB('e'), PB('n'),
               PB('d'), PB('|'), PB('>'));
    /* <|endoftext|> is EOS, <|end|> the end of a turn, and "</s>" is on
     * llama.cpp's list of end texts too. */
    EXPECT_EOG(v, "phi3", PHI3_ENDOFTEXT, PHI3_END, PHI3_EOS_S);
    CHECK_EQ_INT(mb_vocab_eot(v), PHI3_END); /* "<|end|>" before "<|endoftext|>" */
    mb_vocab_free(v);
}

/* ---- Qwen3 --------------------------------------------------------------- */

static void test_qwen3(void) {
    mb_vocab *v = load(MBT_QWEN3, NULL, 0);
    if (!v) return;
    CHECK(strcmp(mb_vocab_pre_name(v), "qwen2") == 0);
    CHECK(!mb_vocab_add_bos(v));
    EXPECT_IDS(v, "<|im_start|>user\nHi<|im_end|>\n", true, true, QWEN3_IM_START, BPE_USER, '\n',
               BPE_HI, QWEN3_IM_END, '\n');
    /* Without parse_special: "<|", "im", "_end", "|>" are words, each byte
     * its own token (no merge applies). */
    EXPECT_IDS(v, "Hi<|im_end|>", false, false, BPE_HI, '<', '|', 'i', 'm', '_', 'e', 'n', 'd', '|',
               '>');
    /* <think> is user-defined in Qwen3's files: cut out either way. */
    EXPECT_IDS(v, "<think>\nHi</think>", false, false, QWEN3_THINK, '\n', BPE_HI, QWEN3_END_THINK);
    /* Qwen2's pre-tokenizer: every digit a word of its own, so "123" is
     * three tokens although the merges make "123" (Llama 3: one). */
    EXPECT_IDS(v, "123", false, false, '1', '2', '3');
    /* EOS <|im_end|>, <|endoftext|>, and the FIM pad, repository and file
     * separator tokens llama.cpp also stops at. */
    EXPECT_EOG(v, "qwen3", QWEN3_IM_END, QWEN3_ENDOFTEXT, QWEN3_FIM_PAD, QWEN3_REPO_NAME,
               QWEN3_FILE_SEP);
    CHECK_EQ_INT(mb_vocab_eot(v), QWEN3_IM_END);
    CHECK_EQ_INT(mb_vocab_token_type(v, QWEN3_FIM_PREFIX), MB_TOKEN_CONTROL);
    mb_vocab_free(v);

    /* A converter that typed them as normal text: llama.cpp makes the
     * tokens it stops at or finds by their text control tokens, so they are
     * cut out with parse_special only. */
    v = load(MBT_QWEN3, NULL, MBT_SPECIALS_NORMAL);
    if (!v) return;
    const mb_token retyped[] = {QWEN3_ENDOFTEXT, QWEN3_IM_END, QWEN3_FIM_PREFIX};
    for (int i = 0; i < 3; i++)
        CHECK_MSG(mb_vocab_token_type(v, retyped[i]) == MB_TOKEN_CONTROL, "'%s' has type %d",
                  mb_vocab_token_text(v, retyped[i]), mb_vocab_token_type(v, retyped[i]));
    EXPECT_IDS(v, "Hi<|im_end|><|endoftext|>", false, true, BPE_HI, QWEN3_IM_END, QWEN3_ENDOFTEXT);
    EXPECT_IDS(v, "<|im_end|>", false, false, '<', '|', 'i', 'm', '_', 'e', 'n', 'd', '|', '>');
    EXPECT_EOG(v, "qwen3 retyped", QWEN3_IM_END, QWEN3_ENDOFTEXT, QWEN3_FIM_PAD, QWEN3_REPO_NAME,
               QWEN3_FILE_SEP);
    mb_vocab_free(v);
}

/* ---- Llama 3 ------------------------------------------------------------- */

static void test_llama3(void) {
    mb_vocab *v = load(MBT_LLAMA3, NULL, 0);
    if (!v) return;
    CHECK(strcmp(mb_vocab_pre_name(v), "llama-bpe") == 0);
    CHECK(mb_vocab_add_bos(v));
    EXPECT_IDS(v, "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>", true, true,
               LLAMA3_BEGIN, LLAMA3_START_HEADER, BPE_USER, LLAMA3_END_HEADER, BPE_NLNL, BPE_HI,
               LLAMA3_EOT_ID);
    EXPECT_IDS(v, "<|eot_id|>", false, false, '<', '|', 'e', 'o', 't', '_', 'i', 'd', '|', '>');
    EXPECT_IDS(v, "123", false, false, BPE_123);
    /* No eot or eom key: both are found by their text. */
    EXPECT_EOG(v, "llama3", LLAMA3_END_OF_TEXT, LLAMA3_EOT_ID, LLAMA3_EOM_ID);
    CHECK_EQ_INT(mb_vocab_eot(v), LLAMA3_EOT_ID);
    CHECK_EQ_INT(mb_vocab_eom(v), LLAMA3_EOM_ID);
    mb_vocab_free(v);
}

/* ---- llama.cpp's fix-ups for other families ------------------------------ */

static mb_vocab *spm_of(const char *const *texts, int n, mb_token eos) {
    size_t lens[8];
    int32_t types[8];
    for (int i = 0; i < n; i++) {
        lens[i] = strlen(texts[i]);
        types[i] = MB_TOKEN_CONTROL;
    }
    mb_vocab *v = NULL;
    CHECK_OK(mb_vocab_new_spm(n, texts, lens, NULL, types, -1, eos, -1, &v));
    return v;
}

static void test_fixups(void) {
    /* gpt-oss: "<|return|>" and "<|call|>" end the turn, "<|end|>" only a
     * message, and becomes user-defined; the channel markers too. */
    const char *harmony[] = {"<unk>", "<|return|>", "<|call|>", "<|end|>", "<|channel|>"};
    mb_vocab *v = spm_of(harmony, 5, -1);
    if (v) {
        EXPECT_EOG(v, "harmony", 1, 2);
        CHECK_EQ_INT(mb_vocab_token_type(v, 3), MB_TOKEN_USER_DEFINED);
        CHECK_EQ_INT(mb_vocab_token_type(v, 4), MB_TOKEN_USER_DEFINED);
    }
    mb_vocab_free(v);
    /* Without "<|call|>", "<|end|>" ends generation as usual. */
    const char *no_call[] = {"<unk>", "<|return|>", "<|end|>"};
    v = spm_of(no_call, 3, -1);
    if (v) EXPECT_EOG(v, "harmony without call", 1, 2);
    mb_vocab_free(v);
    /* Gemma 4: with "<|tool_response>", "</s>" is plain text, even as EOS. */
    const char *gemma4[] = {"<unk>", "<eos>", "</s>", "<|tool_response>", "<turn|>"};
    v = spm_of(gemma4, 5, 2);
    if (v) {
        EXPECT_EOG(v, "gemma4", 1, 3, 4);
        CHECK_EQ_INT(mb_vocab_token_type(v, 2), MB_TOKEN_NORMAL);
    }
    mb_vocab_free(v);
}

/* LSTRIP, which llama.cpp gives "[MASK]" in a model named "modern-bert":
 * the white space before the token goes with it, the one after does not. */
static void test_lstrip(void) {
    const char *texts[] = {"<unk>",           "<s>", "</s>", "[MASK]", "a", "\xE2\x96\x81",
                           "\xE2\x96\x81\x61"}; /* "▁a" */
    const float scores[] = {0, 0, 0, 0, -2, -3, -1};
    const int32_t types[] = {
        MB_TOKEN_UNKNOWN, MB_TOKEN_CONTROL, MB_TOKEN_CONTROL, MB_TOKEN_CONTROL, 1, 1, 1};
    size_t lens[7];
    for (int i = 0; i < 7; i++)
        lens[i] = strlen(texts[i]);
    const char *names[] = {"modern-bert-base", "Phi3"};
    for (int k = 0; k < 2; k++) {
        mb_vocab_init init = {.n_tokens = 7,
                              .texts = texts,
                              .lens = lens,
                              .scores = scores,
                              .types = types,
                              .bos = 1,
                              .eos = 2,
                              .unk = 0,
                              .sep = -1,
                              .pad = -1,
                              .eot = -1,
                              .eom = -1,
                              .add_space_prefix = true,
                              .model = "llama",
                              .name = names[k],
                              .name_len = strlen(names[k])};
        mb_vocab *v = NULL;
        CHECK_OK(mb_vocab_build(&init, &v));
        if (!v) continue;
        if (k == 0) {
            CHECK_EQ_INT(mb_vocab_token_strip(v, 3), MB_TOKEN_LSTRIP);
            /* "a  " loses its spaces; " a" after the token keeps its own. */
            EXPECT_IDS(v, "a  [MASK] a", false, true, 6, 3, 5, 6);
        } else { /* Phi-3's rule instead: RSTRIP */
            CHECK_EQ_INT(mb_vocab_token_strip(v, 3), MB_TOKEN_RSTRIP);
            EXPECT_IDS(v, "a  [MASK] a", false, true, 6, 5, 5, 3, 6);
        }
        mb_vocab_free(v);
    }
}

int main(void) {
    test_gemma();
    test_phi3();
    test_qwen3();
    test_llama3();
    test_fixups();
    test_lstrip();
    return mbt_finish();
}
