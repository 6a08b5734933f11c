/* Vocabulary and tokenizers read from the tokenizer.ggml.* keys of a GGUF. */
#ifndef MB_TOKENIZER_VOCAB_H
#define MB_TOKENIZER_VOCAB_H

#include <stdbool.h>
#include <stddef.h>

#include "format/gguf.h"
#include "matchbox.h"

/* tokenizer.ggml.token_type values (llama.cpp's llama_token_type). */
enum {
    MB_TOKEN_UNDEFINED = 0,
    MB_TOKEN_NORMAL = 1,
    MB_TOKEN_UNKNOWN = 2,
    MB_TOKEN_CONTROL = 3,
    MB_TOKEN_USER_DEFINED = 4,
    MB_TOKEN_UNUSED = 5,
    MB_TOKEN_BYTE = 6
};

typedef struct mb_vocab mb_vocab;

/* Read the vocabulary from G (the strings are copied, G may be closed after).
 * Special tokens and their types are settled as llama.cpp settles them:
 * ids the metadata leaves out are found by their text, end-of-turn texts
 * become control tokens and end generation, and a general.name containing
 * "phi3" or "phi-3" gives special tokens the RSTRIP attribute ("modern-bert":
 * LSTRIP to "[MASK]").
 * An unsupported tokenizer.ggml.model is MB_ERR_UNSUPPORTED with its name; a
 * missing tokenizer key, an array whose length differs from the token count
 * or an id out of range is MB_ERR_FORMAT naming the key. Absent ids default
 * as in llama.cpp (bos 1, eos 2, unk 0); -1 and 0xFFFFFFFF mean "none".
 * add_bos defaults to true, add_eos to false, add_space_prefix to true. */
mb_status mb_vocab_load(const mb_gguf *g, mb_vocab **out);
/* As mb_vocab_load; a non-NULL PRE names the pre-tokenizer of a byte-level
 * BPE vocabulary instead of tokenizer.ggml.pre (an unknown name is
 * MB_ERR_UNSUPPORTED listing the known ones). For "gpt2" vocabularies the
 * ids default to none, add_bos to false (true for llama-bpe), add_eos and
 * add_space_prefix to false; tokenizer.ggml.merges is required and a
 * missing tokenizer.ggml.pre means "default". */
mb_status mb_vocab_load_pre(const mb_gguf *g, const char *pre, mb_vocab **out);
/* Build from plain arrays (tests, llama2.c import). tokens[i] are NUL-free
 * byte strings of lengths lens[i]; scores may be NULL (all 0); types may be
 * NULL (all normal, with <0xXX> tokens as bytes, ids bos/eos as control and
 * unk as unknown). Ids of -1 mean none. add_bos is on when there is a BOS,
 * add_eos off, add_space_prefix on. */
mb_status mb_vocab_new_spm(int n, const char *const *tokens, const size_t *lens,
                           const float *scores, const int32_t *types, mb_token bos, mb_token eos,
                           mb_token unk, mb_vocab **out);
/* Build a byte-level BPE vocabulary (model "gpt2") from plain arrays:
 * tokens in stored (byte-mapped) form, see mb_bpe_map_bytes; types as in
 * mb_vocab_new_spm; merges "a b" in rank order; PRE a pre-tokenizer name
 * (NULL: "default"). add_bos follows the pre-tokenizer's default. */
mb_status mb_vocab_new_bpe(int n, const char *const *tokens, const size_t *lens,
                           const int32_t *types, size_t n_merges, const char *const *merges,
                           const char *pre, mb_token bos, mb_token eos, mb_vocab **out);
void mb_vocab_free(mb_vocab *v);

/* GPT-2's byte-to-unicode mapping: write the stored form of IN[0..LEN) to
 * OUT (room for 2 * LEN bytes) and return its length. */
size_t mb_bpe_map_bytes(const char *in, size_t len, char *out);
/* The pre-tokenizer's canonical name, or NULL for SentencePiece. */
const char *mb_vocab_pre_name(const mb_vocab *v);

int mb_vocab_n_tokens(const mb_vocab *v);
/* "llama" (SentencePiece) or "gpt2" (byte-level BPE). */
const char *mb_vocab_model_name(const mb_vocab *v);

/* SentencePiece or byte-level BPE, with llama.cpp's semantics; see
 * mb_tokenize in matchbox.h for the arguments. With parse_special, the texts of control
 * and unknown tokens become their ids; user-defined tokens always do. A
 * token with MB_TOKEN_RSTRIP (LSTRIP) takes the white space after (before)
 * it in the text along with it. */
mb_status mb_vocab_tokenize(const mb_vocab *v, const char *text, size_t len, bool add_special,
                            bool parse_special, mb_token *ids, size_t cap, size_t *n_out);
/* Normal tokens with '▁' read as ' ' (BPE: each stand-in character read as
 * its byte), byte tokens as their byte, user-defined
 * and unknown tokens as their text; control (and unused) tokens give ""
 * unless render_special. */
mb_status mb_vocab_token_to_piece(const mb_vocab *v, mb_token id, bool render_special, char *buf,
                                  size_t cap, size_t *n_out);

mb_token mb_vocab_bos(const mb_vocab *v); /* -1 if none */
mb_token mb_vocab_eos(const mb_vocab *v);
/* The end-of-generation set, as llama.cpp builds it: EOS, EOT, EOM, the FIM
 * pad, repository and file-separator tokens, and every token whose text is
 * a known end-of-turn text ("<|im_end|>", "<end_of_turn>", "<|eot_id|>"...). */
bool mb_vocab_is_eog(const mb_vocab *v, mb_token id);
bool mb_vocab_add_bos(const mb_vocab *v);
bool mb_vocab_add_eos(const mb_vocab *v);
/* The token's stored text (▁ for spaces, <0x0A> for bytes), for debugging. */
const char *mb_vocab_token_text(const mb_vocab *v, mb_token id);

mb_token mb_vocab_pad(const mb_vocab *v);
/* End of turn and end of message: the metadata's ids, or else the token
 * with a known end-of-turn text (first in llama.cpp's list), or -1. */
mb_token mb_vocab_eot(const mb_vocab *v);
mb_token mb_vocab_eom(const mb_vocab *v);

/* Token attributes: white space next to the token in the text is part of
 * it (llama.cpp's LSTRIP to its left, RSTRIP to its right). */
enum { MB_TOKEN_LSTRIP = 1, MB_TOKEN_RSTRIP = 2 };
/* MB_TOKEN_LSTRIP | MB_TOKEN_RSTRIP of ID (0 when out of range). */
int mb_vocab_token_strip(const mb_vocab *v, mb_token id);
/* MB_TOKEN_* of ID, or -1 when ID is out of range. */
int mb_vocab_token_type(const mb_vocab *v, mb_token id);
/* The id of the token whose stored text is TEXT[0..LEN), or -1. */
mb_token mb_vocab_find(const mb_vocab *v, const char *text, size_t len);
/* Whether tokenizing prepends a space (▁) to the text and to every run of
 * text that follows a special token, as SentencePiece's llama models do. */
bool mb_vocab_add_space_prefix(const mb_vocab *v);
void mb_vocab_set_add_space_prefix(mb_vocab *v, bool on);
/* Override the metadata's add_bos/add_eos; MB_ERR_INVALID_ARG when the
 * token to add does not exist. */
mb_status mb_vocab_set_add_special(mb_vocab *v, bool add_bos, bool add_eos);

/* The text of N ids: their pieces concatenated. With remove_leading_space
 * (and a vocabulary that adds a space prefix) the one space the tokenizer
 * inserted is dropped again: the first byte of the first non-empty piece at
 * the start and after each special token (control, user-defined, unknown),
 * when that byte is a space. So for text without U+2581,
 * detokenize(tokenize(text)) == text, with special tokens rendered when
 * parse_special was on. Like tokenize, *n_out is the size needed and a CAP
 * that is too small is MB_ERR_INVALID_ARG. */
mb_status mb_vocab_detokenize(const mb_vocab *v, const mb_token *ids, size_t n,
                              bool remove_leading_space, bool render_special, char *buf, size_t cap,
                              size_t *n_out);

#endif
