#include "util_vocab_families.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/gguf.h"
#include "tokenizer/vocab.h"
#include "util_gguf_raw.h"

/* ---- the token lists ---------------------------------------------------- */

enum { MAX_TOKENS = 300, MAX_TEXT = 32 };

typedef struct {
    char text[MAX_TOKENS][MAX_TEXT];
    float score[MAX_TOKENS];
    int32_t type[MAX_TOKENS];
    int n;
} token_list;

static void add(token_list *t, const char *text, float score, int32_t type) {
    snprintf(t->text[t->n], MAX_TEXT, "%s", text);
    t->score[t->n] = score;
    t->type[t->n] = type;
    t->n++;
}

static void add_spm_bytes(token_list *t) {
    for (int b = 0; b < 256; b++) {
        char s[8];
        snprintf(s, sizeof s, "<0x%02X>", (unsigned)b);
        add(t, s, 0, MB_TOKEN_BYTE);
    }
}

#define SP "\xE2\x96\x81" /* U+2581, SentencePiece's space */
enum { N = MB_TOKEN_NORMAL, C = MB_TOKEN_CONTROL, U = MB_TOKEN_USER_DEFINED };

/* Scores rank the merges: us, er, then user; "Hi" and "▁Hi"/"▁user" exist so
 * that a space prefix where there should be none changes the ids. */
static void gemma_tokens(token_list *t) {
    const char *specials[] = {"<pad>", "<eos>",           "<bos>",
                              "<unk>", "<start_of_turn>", "<end_of_turn>"};
    for (int i = 0; i < 6; i++)
        add(t, specials[i], 0, i == GEMMA_UNK ? MB_TOKEN_UNKNOWN : C);
    add(t, "<h1>", 0, U);
    add(t, "\n", -3, N);
    add(t, SP, -3, N);
    const char *chars[] = {"u", "s", "e", "r", "H", "i"};
    for (int i = 0; i < 6; i++)
        add(t, chars[i], -5, N);
    add(t, "us", -1, N);
    add(t, "er", -1.5f, N);
    add(t, "user", -0.5f, N);
    add(t, "Hi", -2, N);
    add(t, SP "Hi", -0.8f, N);
    add(t, SP "user", -0.3f, N);
    add_spm_bytes(t);
}

static void phi3_tokens(token_list *t) {
    add(t, "<unk>", 0, MB_TOKEN_UNKNOWN);
    add(t, "<s>", 0, C);
    add(t, "</s>", 0, C);
    add_spm_bytes(t);
    add(t, SP, -3, N);
    add(t, "H", -5, N);
    add(t, "i", -5, N);
    add(t, "Hi", -2, N);
    add(t, SP "Hi", -0.8f, N);
    const char *added[] = {"<|endoftext|>", "<|assistant|>", "<|placeholder1|>",
                           "<|system|>",    "<|end|>",       "<|user|>"};
    for (int i = 0; i < 6; i++)
        add(t, added[i], 0, C);
    add(t, "<|placeholder2|>", 0, U);
}

/* Stored (byte-mapped) form of TEXT, as a byte-level BPE file holds it. */
static void add_mapped(token_list *t, const char *text, int32_t type) {
    char m[MAX_TEXT];
    size_t n = mb_bpe_map_bytes(text, strlen(text), m);
    m[n] = '\0';
    add(t, m, 0, type);
}

static void bpe_tokens(token_list *t) {
    for (int b = 0; b < 256; b++) {
        char c[2] = {(char)b, 0};
        char m[4];
        size_t n = mb_bpe_map_bytes(c, 1, m);
        m[n] = '\0';
        add(t, m, 0, N);
    }
    const char *merged[] = {"us", "er", "user", "Hi", "12", "123", "\n\n"};
    for (int i = 0; i < 7; i++)
        add_mapped(t, merged[i], N);
}

static const char *const k_merges[] = {
    "u s", "e r", "us er", "H i", "1 2", "12 3", "\xC4\x8A \xC4\x8A"}; /* Ċ Ċ: \n \n */

static void qwen3_tokens(token_list *t, unsigned flags) {
    bpe_tokens(t);
    const char *specials[] = {"<|endoftext|>",  "<|im_start|>",   "<|im_end|>",
                              "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>",
                              "<|fim_pad|>",    "<|repo_name|>",  "<|file_sep|>"};
    for (int i = 0; i < 9; i++)
        add(t, specials[i], 0, C);
    if (flags & MBT_SPECIALS_NORMAL)
        t->type[QWEN3_ENDOFTEXT] = t->type[QWEN3_IM_END] = t->type[QWEN3_FIM_PREFIX] = N;
    add(t, "<think>", 0, U);
    add(t, "</think>", 0, U);
}

static void llama3_tokens(token_list *t) {
    bpe_tokens(t);
    const char *specials[] = {"<|begin_of_text|>",   "<|end_of_text|>",
                              "<|start_header_id|>", "<|end_header_id|>",
                              "<|eot_id|>",          "<|eom_id|>",
                              "<|python_tag|>",      "<|reserved_special_token_0|>"};
    for (int i = 0; i < 8; i++)
        add(t, specials[i], 0, C);
}

/* ---- the files ------------------------------------------------------------ */

static void put_tokens(mbt_gbuf *b, const token_list *t, bool scores) {
    const char *texts[MAX_TOKENS];
    for (int i = 0; i < t->n; i++)
        texts[i] = t->text[i];
    mbt_gbuf_kv_arr(b, "tokenizer.ggml.tokens", MB_GGUF_STR, texts, (size_t)t->n);
    if (scores) mbt_gbuf_kv_arr(b, "tokenizer.ggml.scores", MB_GGUF_F32, t->score, (size_t)t->n);
    mbt_gbuf_kv_arr(b, "tokenizer.ggml.token_type", MB_GGUF_I32, t->type, (size_t)t->n);
}

/* The keys each family's converter writes (convert_hf_to_gguf.py). */
static void put_family(mbt_gbuf *b, mbt_family family, unsigned flags, token_list *t) {
    bool spm = family == MBT_GEMMA || family == MBT_PHI3;
    mbt_gbuf_kv_str(b, "tokenizer.ggml.model", spm ? "llama" : "gpt2");
    if (family == MBT_GEMMA) gemma_tokens(t);
    if (family == MBT_PHI3) phi3_tokens(t);
    if (family == MBT_QWEN3) qwen3_tokens(t, flags);
    if (family == MBT_LLAMA3) llama3_tokens(t);
    static const int n_want[] = {GEMMA_N, PHI3_N, QWEN3_N, LLAMA3_N};
    if (t->n != n_want[family]) { /* the lists above and the header's ids disagree */
        fprintf(stderr, "family %d: %d tokens, the header says %d\n", (int)family, t->n,
                n_want[family]);
        abort();
    }
    put_tokens(b, t, spm);
    if (!spm) {
        mbt_gbuf_kv_str(b, "tokenizer.ggml.pre", family == MBT_QWEN3 ? "qwen2" : "llama-bpe");
        mbt_gbuf_kv_arr(b, "tokenizer.ggml.merges", MB_GGUF_STR, k_merges,
                        sizeof k_merges / sizeof k_merges[0]);
    }
    switch (family) {
    case MBT_GEMMA:
        mbt_gbuf_kv_u32(b, "tokenizer.ggml.bos_token_id", GEMMA_BOS);
        mbt_gbuf_kv_u32(b, "tokenizer.ggml.eos_token_id", GEMMA_EOS);
        mbt_gbuf_kv_u32(b, "tokenizer.ggml.unknown_token_id", GEMMA_UNK);
        mbt_gbuf_kv_u32(b, "tokenizer.ggml.padding_token_id", GEMMA_PAD);
        mbt_gbuf_kv_bool(b, "tokenizer.ggml.add_bos_token", true);
        mbt_gbuf_kv_bool(b, "tokenizer.ggml.add_eos_token", false);
        if (!(flags & MBT_NO_SPACE_PREFIX_KEY))
            mbt_gbuf_kv_bool(b, "tokenizer.ggml.add_space_prefix", false);
        break;
    case MBT_PHI3:
        mbt_gbuf_kv_u32(b, "tokenizer.ggml.bos_token_id", PHI3_BOS);
        mbt_gbuf_kv_u32(b, "tokenizer.ggml.eos_token_id", PHI3_ENDOFTEXT);
        mbt_gbuf_kv_u32(b, "tokenizer.ggml.unknown_token_id", PHI3_UNK);
        mbt_gbuf_kv_u32(b, "tokenizer.ggml.padding_token_id", PHI3_ENDOFTEXT);
        mbt_gbuf_kv_bool(b, "tokenizer.ggml.add_bos_token", false);
        break;
    case MBT_QWEN3:
        mbt_gbuf_kv_u32(b, "tokenizer.ggml.bos_token_id", QWEN3_ENDOFTEXT);
        mbt_gbuf_kv_u32(b, "tokenizer.ggml.eos_token_id", QWEN3_IM_END);
        mbt_gbuf_kv_u32(b, "tokenizer.ggml.padding_token_id", QWEN3_ENDOFTEXT);
        mbt_gbuf_kv_bool(b, "tokenizer.ggml.add_bos_token", false);
        break;
    case MBT_LLAMA3:
        mbt_gbuf_kv_u32(b, "tokenizer.ggml.bos_token_id", LLAMA3_BEGIN);
        mbt_gbuf_kv_u32(b, "tokenizer.ggml.eos_token_id", LLAMA3_END_OF_TEXT);
        break;
    }
}

uint8_t *mbt_family_gguf(mbt_family family, const char *name, unsigned flags, size_t *len) {
    static const char *const arch[] = {"gemma3", "phi3", "qwen3", "llama"};
    static const char *const names[] = {"Gemma 3 1b It", "Phi3", "Qwen3 0.6B",
                                        "Llama 3.2 1B Instruct"};
    mbt_gbuf b = mbt_gbuf_begin();
    mbt_gbuf_kv_str(&b, "general.architecture", arch[family]);
    mbt_gbuf_kv_str(&b, "general.name", name ? name : names[family]);
    token_list *t = calloc(1, sizeof *t);
    if (!t) abort();
    put_family(&b, family, flags, t);
    free(t);
    mbt_gbuf_end(&b);
    *len = b.n;
    return b.p;
}
