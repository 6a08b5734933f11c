/* llama2.c import: a checkpoint (.bin) plus its tokenizer.bin become a GGUF
 * of the llama architecture, all F32, that llama.cpp loads too.
 *
 * Checkpoint formats (little-endian, weights fp32, row-major):
 *   version 0 ("legacy"): 7 x int32 header (dim, hidden_dim, n_layers,
 *     n_heads, n_kv_heads, vocab_size, seq_len), vocab_size < 0 meaning the
 *     classifier is stored separately at the end; then token_embedding,
 *     rms_att, wq, wk, wv, wo, rms_ffn, w1, w2, w3, rms_final, freq_cis_real,
 *     freq_cis_imag, [wcls].
 *   version 1: uint32 magic "ak42" (0x616b3432), int32 1, the same 7 params
 *     (vocab_size positive), uint8 shared_classifier, zeros up to 256 bytes;
 *     then rms_att, rms_ffn, rms_final, token_embedding, wq, wk, wv, wo, w1,
 *     w2, w3, [wcls] and no freq_cis.
 * Version 2 (Q8_0 with fp32 group scales) is refused: its groups do not map
 * onto a GGUF type byte for byte.
 *
 * tokenizer.bin: int32 max_token_length, then per token float32 score, int32
 * length, that many bytes. It holds no token count: the checkpoint gives it. */
#ifndef MB_FORMAT_LLAMA2C_H
#define MB_FORMAT_LLAMA2C_H

#include <stdbool.h>
#include <stdint.h>

#include "core/file_map.h"
#include "matchbox.h"
#include "matchbox/gguf.h"

#define MB_LLAMA2C_MAGIC 0x616b3432u
#define MB_LLAMA2C_V1_HEADER 256u

/* mb_llama2c_config, the convert params and stats and mb_llama2c_convert
 * are public: include/matchbox/gguf.h. */

/* Byte offsets of each weight block from the start of the file; per-layer
 * blocks hold n_layers consecutive matrices. wcls is 0 when shared. */
typedef struct {
    uint64_t token_embd, rms_att, wq, wk, wv, wo, rms_ffn, w1, w2, w3, rms_final, wcls;
} mb_llama2c_layout;

typedef struct {
    mb_llama2c_config cfg;
    mb_llama2c_layout at;
    mb_file_map map;
} mb_llama2c_checkpoint;

/* Validate a checkpoint held in DATA (SIZE bytes): header, dimensions,
 * overflow, and that SIZE is exactly what the header implies. NAME is used in
 * messages. Fills *cfg and *at. */
mb_status mb_llama2c_parse(const uint8_t *data, uint64_t size, const char *name,
                           mb_llama2c_config *cfg, mb_llama2c_layout *at);

/* Map PATH and parse it. On success the caller closes with mb_llama2c_close. */
mb_status mb_llama2c_open(const char *path, mb_llama2c_checkpoint *ck);
void mb_llama2c_close(mb_llama2c_checkpoint *ck);

typedef struct {
    uint32_t n_tokens;
    int32_t max_token_length;
    char **tokens;  /* n_tokens NUL-terminated strings, GGUF spelling */
    float *scores;  /* n_tokens */
    int32_t *types; /* n_tokens, GGUF token types (mb_llama2c_token_type) */
} mb_llama2c_vocab;

/* GGUF token types (tokenizer.ggml.token_type). */
enum {
    MB_LLAMA2C_TOKEN_NORMAL = 1,
    MB_LLAMA2C_TOKEN_UNKNOWN = 2,
    MB_LLAMA2C_TOKEN_CONTROL = 3,
    MB_LLAMA2C_TOKEN_BYTE = 6
};

/* Parse a tokenizer.bin held in DATA with exactly N_TOKENS tokens (from the
 * checkpoint). Texts are rewritten the way GGUF llama vocabularies spell them:
 * ' ' back to U+2581 (llama2.c's export turned SentencePiece's marker into a
 * space) and "\n<s>\n" / "\n</s>\n" (ids 1, 2) back to "<s>" / "</s>". Bytes
 * left over after the last token are an error. On failure *v is empty. */
mb_status mb_llama2c_vocab_parse(const uint8_t *data, uint64_t size, uint32_t n_tokens,
                                 const char *name, mb_llama2c_vocab *v);
mb_status mb_llama2c_vocab_load(const char *path, uint32_t n_tokens, mb_llama2c_vocab *v);
void mb_llama2c_vocab_free(mb_llama2c_vocab *v);

#endif
