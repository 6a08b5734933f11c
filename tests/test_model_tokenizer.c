/* The public tokenizer API (matchbox.h) on vocab-only files of four model
 * families: what a program that loads a Gemma, Phi-3, Qwen3 or Llama 3 GGUF
 * sees. mb_tokenize cuts the chat markers out of a prompt as single tokens
 * with parse_special and leaves them as text without it; mb_token_is_eog is
 * true for exactly the tokens llama.cpp stops at; the stop tokens render as
 * nothing unless asked. test_tokenizer_families.c checks the same
 * vocabularies in more detail below this API. */
#include <stdio.h>

#include "test_util.h"
#include "util_vocab_families.h"

static mb_model *load(mbt_family family, const char *name) {
    size_t len = 0;
    uint8_t *image = mbt_family_gguf(family, name, 0, &len);
    char path[400];
    snprintf(path, sizeof path, "%s/family-%d.gguf", mbt_tmpdir(), (int)family);
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(image, 1, len, f) == len);
    if (f) fclose(f);
    free(image);
    mb_model_params p = mb_model_default_params();
    p.vocab_only = 1;
    mb_model *m = NULL;
    CHECK_OK(mb_model_load(path, &p, &m));
    return m;
}

static void expect_ids(const mb_model *m, const char *text, int add_special, int parse_special,
                       const mb_token *want, size_t n_want) {
    mb_token ids[64];
    size_t n = 0;
    mb_status st = mb_tokenize(m, text, strlen(text), add_special, parse_special, ids, 64, &n);
    bool same = st == MB_OK && n == n_want;
    for (size_t i = 0; same && i < n; i++)
        same = ids[i] == want[i];
    CHECK_MSG(same, "'%s' (parse_special %d): %zu ids, first %d", text, parse_special, n,
              n > 0 ? (int)ids[0] : -1);
}
#define EXPECT_IDS(m, text, add, parse, ...)                                                       \
    do {                                                                                           \
        const mb_token want_[] = {__VA_ARGS__};                                                    \
        expect_ids(m, text, add, parse, want_, sizeof want_ / sizeof want_[0]);                    \
    } while (0)

/* mb_token_is_eog over the whole vocabulary: exactly the N ids in WANT,
 * each rendering as "" by default and as its text with render_special. */
static void expect_eog(const mb_model *m, const mb_token *want, int n_want) {
    int n_eog = 0;
    for (mb_token id = 0; id < mb_model_n_vocab(m); id++) {
        bool wanted = false;
        for (int i = 0; i < n_want; i++)
            wanted |= want[i] == id;
        bool eog = mb_token_is_eog(m, id) != 0;
        n_eog += eog;
        CHECK_MSG(eog == wanted, "token %d: is_eog %d", (int)id, (int)eog);
    }
    CHECK_EQ_INT(n_eog, n_want);
    for (int i = 0; i < n_want; i++) {
        char buf[64];
        size_t hidden = 99, shown = 0;
        CHECK_OK(mb_token_to_piece(m, want[i], 0, buf, sizeof buf, &hidden));
        CHECK_OK(mb_token_to_piece(m, want[i], 1, buf, sizeof buf, &shown));
        CHECK_MSG(hidden == 0 && shown > 2 && buf[0] == '<', "token %d: %zu bytes, shown %zu",
                  (int)want[i], hidden, shown);
    }
}
#define EXPECT_EOG(m, ...)                                                                         \
    do {                                                                                           \
        const mb_token want_[] = {__VA_ARGS__};                                                    \
        expect_eog(m, want_, (int)(sizeof want_ / sizeof want_[0]));                               \
    } while (0)

static void test_gemma(void) {
    mb_model *m = load(MBT_GEMMA, NULL);
    if (!m) return;
    CHECK_EQ_INT(mb_token_bos(m), GEMMA_BOS);
    CHECK_EQ_INT(mb_token_eos(m), GEMMA_EOS);
    const char *prompt = "<start_of_turn>user\nHi<end_of_turn>\n";
    EXPECT_IDS(m, prompt, 1, 1, GEMMA_BOS, GEMMA_START_TURN, GEMMA_USER, GEMMA_NL, GEMMA_HI,
               GEMMA_END_TURN, GEMMA_NL);
    /* As text the markers are their characters and bytes (the exact ids
     * are in test_tokenizer_families.c): no marker id, and no BOS. */
    mb_token ids[64];
    size_t n = 0;
    CHECK_OK(mb_tokenize(m, prompt, strlen(prompt), 0, 0, ids, 64, &n));
    CHECK(n > 20);
    for (size_t i = 0; i < n && i < 64; i++)
        CHECK(ids[i] != GEMMA_START_TURN && ids[i] != GEMMA_END_TURN && ids[i] != GEMMA_BOS);
    EXPECT_EOG(m, GEMMA_EOS, GEMMA_END_TURN);
    mb_model_free(m);
}

static void test_phi3(void) {
    mb_model *m = load(MBT_PHI3, NULL);
    if (!m) return;
    /* RSTRIP: the newlines after the markers are part of them. */
    EXPECT_IDS(m, "<|user|>\nHi<|end|>\n<|assistant|>", 0, 1, PHI3_USER, PHI3_SP_HI, PHI3_END,
               PHI3_ASSISTANT);
    EXPECT_IDS(m, "<|end|>", 0, 0, PHI3_SPACE, PHI3_BYTE0 + '<', PHI3_BYTE0 + '|', PHI3_BYTE0 + 'e',
               PHI3_BYTE0 + 'n', PHI3_BYTE0 + 'd', PHI3_BYTE0 + '|', PHI3_BYTE0 + '>');
    EXPECT_EOG(m, PHI3_ENDOFTEXT, PHI3_END, PHI3_EOS_S);
    mb_model_free(m);
    /* Named without "phi3"/"phi-3", llama.cpp gives no RSTRIP. */
    m = load(MBT_PHI3, "Phi 3 Mini");
    if (!m) return;
    EXPECT_IDS(m, "<|end|>\n", 0, 1, PHI3_END, PHI3_SPACE, PHI3_BYTE0 + '\n');
    mb_model_free(m);
}

static void test_qwen3(void) {
    mb_model *m = load(MBT_QWEN3, NULL);
    if (!m) return;
    CHECK_EQ_INT(mb_token_eos(m), QWEN3_IM_END);
    EXPECT_IDS(m, "<|im_start|>user\nHi<|im_end|>\n", 1, 1, QWEN3_IM_START, BPE_USER, '\n', BPE_HI,
               QWEN3_IM_END, '\n');
    EXPECT_IDS(m, "<|im_start|>", 1, 0, '<', '|', 'i', 'm', '_', 's', 't', 'a', 'r', 't', '|', '>');
    EXPECT_EOG(m, QWEN3_ENDOFTEXT, QWEN3_IM_END, QWEN3_FIM_PAD, QWEN3_REPO_NAME, QWEN3_FILE_SEP);
    mb_model_free(m);
}

static void test_llama3(void) {
    mb_model *m = load(MBT_LLAMA3, NULL);
    if (!m) return;
    EXPECT_IDS(m, "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>", 1, 1, LLAMA3_BEGIN,
               LLAMA3_START_HEADER, BPE_USER, LLAMA3_END_HEADER, BPE_NLNL, BPE_HI, LLAMA3_EOT_ID);
    EXPECT_IDS(m, "<|eot_id|>", 0, 0, '<', '|', 'e', 'o', 't', '_', 'i', 'd', '|', '>');
    EXPECT_EOG(m, LLAMA3_END_OF_TEXT, LLAMA3_EOT_ID, LLAMA3_EOM_ID);
    mb_model_free(m);
}

int main(void) {
    test_gemma();
    test_phi3();
    test_qwen3();
    test_llama3();
    return mbt_finish();
}
