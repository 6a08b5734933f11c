/* The vocabulary's representation, shared by the files of this layer only. */
#ifndef MB_TOKENIZER_VOCAB_INTERNAL_H
#define MB_TOKENIZER_VOCAB_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "tokenizer/vocab.h"

enum { MB_VOCAB_MAX_EOG = 16 };

struct mb_vocab {
    int n_tokens;
    char *blob;       /* every token's text, each NUL-terminated */
    size_t *text_off; /* where token i's text starts in blob */
    uint32_t *text_len;
    float *scores;
    uint8_t *types; /* MB_TOKEN_* */

    /* text -> id, open addressing with linear probing; -1 marks an empty slot */
    int32_t *slots;
    size_t slot_mask;

    /* The tokens that special-token parsing looks for (control, user-defined
     * and unknown ones with non-empty text), longest text first. */
    mb_token *specials;
    int n_specials;

    mb_token byte_token[256]; /* -1 where the byte has no token */

    mb_token bos, eos, unk, sep, pad, eot, eom; /* -1: none */
    mb_token eog[MB_VOCAB_MAX_EOG];
    int n_eog;
    bool add_bos, add_eos, add_space_prefix;
    char model[16];
};

/* What a builder hands over; arrays are copied. scores and types may be NULL. */
typedef struct {
    int n_tokens;
    const char *const *texts;
    const size_t *lens;
    const float *scores;
    const int32_t *types;
    mb_token bos, eos, unk, sep, pad, eot, eom;
    bool add_bos, add_eos, add_space_prefix;
    const char *model;
} mb_vocab_init;

mb_status mb_vocab_build(const mb_vocab_init *init, mb_vocab **out);

/* The id of the token whose text is S[0..LEN), or -1. */
mb_token mb_vocab_lookup(const mb_vocab *v, const char *s, size_t len);

/* Tokens that stand for text and may be the result of a merge. Undefined
 * (type 0) is read as normal: some converters leave the type array zeroed. */
static inline bool mb_token_type_is_text(int type) {
    return type == MB_TOKEN_NORMAL || type == MB_TOKEN_USER_DEFINED || type == MB_TOKEN_UNDEFINED;
}

/* Tokens that special-token parsing cuts the text at. */
static inline bool mb_token_type_is_special(int type) {
    return type == MB_TOKEN_CONTROL || type == MB_TOKEN_USER_DEFINED || type == MB_TOKEN_UNKNOWN;
}

static inline const char *mb_vocab_text(const mb_vocab *v, mb_token id) {
    return v->blob + v->text_off[id];
}

#endif
