/* Tiny vocabularies shaped like four model families' GGUF tokenizers, as
 * the converter writes them: the same model type, special-token texts and
 * types, ids keys and flags, with a few dozen ordinary tokens instead of
 * tens of thousands. The ids below are the tokens' positions, so a test
 * spells out the ids a text must give. */
#ifndef MB_TEST_UTIL_VOCAB_FAMILIES_H
#define MB_TEST_UTIL_VOCAB_FAMILIES_H

#include <stddef.h>
#include <stdint.h>

typedef enum { MBT_GEMMA, MBT_PHI3, MBT_QWEN3, MBT_LLAMA3 } mbt_family;

/* Variations on a family's file. */
enum {
    MBT_NO_SPACE_PREFIX_KEY = 1 << 0, /* Gemma: leave out add_space_prefix (default true) */
    /* Qwen3: <|endoftext|>, <|im_end|> and <|fim_prefix|> typed normal, as
     * a careless converter may write them */
    MBT_SPECIALS_NORMAL = 1 << 1,
};

/* Gemma 2/3: SentencePiece, tokenizer.ggml.add_space_prefix = false. Byte
 * tokens <0x00>.. follow the pieces: byte B is GEMMA_BYTE0 + B. */
enum {
    GEMMA_PAD,
    GEMMA_EOS,
    GEMMA_BOS,
    GEMMA_UNK,
    GEMMA_START_TURN,
    GEMMA_END_TURN,
    GEMMA_H1, /* "<h1>", user-defined like Gemma's HTML tags */
    GEMMA_NL,
    GEMMA_SPACE,
    GEMMA_U,
    GEMMA_S,
    GEMMA_E,
    GEMMA_R,
    GEMMA_CAP_H,
    GEMMA_I,
    GEMMA_US,
    GEMMA_ER,
    GEMMA_USER,
    GEMMA_HI,
    GEMMA_SP_HI,
    GEMMA_SP_USER,
    GEMMA_BYTE0,
    GEMMA_N = GEMMA_BYTE0 + 256
};

/* Phi-3: SentencePiece (Llama 2's layout: <unk> <s> </s>, then the bytes,
 * PHI3_BYTE0 + B), with the added chat tokens at the end. */
enum {
    PHI3_UNK,
    PHI3_BOS,
    PHI3_EOS_S, /* "</s>" */
    PHI3_BYTE0,
    PHI3_SPACE = PHI3_BYTE0 + 256,
    PHI3_CAP_H,
    PHI3_I,
    PHI3_HI,
    PHI3_SP_HI,
    PHI3_ENDOFTEXT, /* tokenizer.ggml.eos_token_id */
    PHI3_ASSISTANT,
    PHI3_PLACEHOLDER1,
    PHI3_SYSTEM,
    PHI3_END,
    PHI3_USER,
    PHI3_PLACEHOLDER2, /* user-defined: cut out even without parse_special */
    PHI3_N
};

/* Qwen3 and Llama 3: byte-level BPE. Byte B is token B (its stand-in
 * character), so an ASCII character is its own id; then a few merged
 * tokens, then the family's special tokens. Merges: u+s, e+r, us+er, H+i,
 * 1+2, 12+3, \n+\n. */
enum { BPE_US = 256, BPE_ER, BPE_USER, BPE_HI, BPE_12, BPE_123, BPE_NLNL, BPE_SPECIAL0 };
enum {
    QWEN3_ENDOFTEXT = BPE_SPECIAL0,
    QWEN3_IM_START,
    QWEN3_IM_END, /* eos */
    QWEN3_FIM_PREFIX,
    QWEN3_FIM_MIDDLE,
    QWEN3_FIM_SUFFIX,
    QWEN3_FIM_PAD,
    QWEN3_REPO_NAME,
    QWEN3_FILE_SEP,
    QWEN3_THINK,
    QWEN3_END_THINK, /* user-defined, as Qwen3's converter types them */
    QWEN3_N
};
enum {
    LLAMA3_BEGIN = BPE_SPECIAL0,
    LLAMA3_END_OF_TEXT, /* bos, eos */
    LLAMA3_START_HEADER,
    LLAMA3_END_HEADER,
    LLAMA3_EOT_ID,
    LLAMA3_EOM_ID,
    LLAMA3_PYTHON_TAG,
    LLAMA3_RESERVED0,
    LLAMA3_N
};

/* The GGUF image (version 3, key-values only, as a vocab-only file) of
 * FAMILY's vocabulary with FLAGS; NAME is general.name, NULL for the
 * family's usual one. *len gets its size; free() it. */
uint8_t *mbt_family_gguf(mbt_family family, const char *name, unsigned flags, size_t *len);

#endif
