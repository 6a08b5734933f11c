/* The vocabulary's representation, shared by the files of this layer only. */
#ifndef MB_TOKENIZER_VOCAB_INTERNAL_H
#define MB_TOKENIZER_VOCAB_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "tokenizer/vocab.h"

enum { MB_VOCAB_MAX_EOG = 32 };

/* The fill-in-the-middle tokens, in the order of their GGUF keys. */
enum { MB_FIM_PRE, MB_FIM_SUF, MB_FIM_MID, MB_FIM_PAD, MB_FIM_REP, MB_FIM_SEP, MB_FIM_COUNT };

/* Byte-level BPE state (bpe.c): merge ranks and the pre-tokenizer. */
typedef struct mb_bpe mb_bpe;

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
    mb_token fim[MB_FIM_COUNT];                 /* -1: none */
    uint8_t *strip;                             /* MB_TOKEN_LSTRIP | MB_TOKEN_RSTRIP */
    mb_token eog[MB_VOCAB_MAX_EOG];
    int n_eog;
    bool add_bos, add_eos, add_space_prefix;
    char model[16];
    mb_bpe *bpe; /* NULL for SentencePiece vocabularies */
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
    const char *model;   /* "llama" (SentencePiece) or "gpt2" (byte-level BPE) */
    const mb_token *fim; /* MB_FIM_COUNT ids (-1: none), or NULL for none */
    /* general.name (NULL: none): llama.cpp sets token attributes by it. */
    const char *name;
    size_t name_len;
    /* gpt2 only: merges "a b" in rank order, and the pre-tokenizer's name
     * (pre_source names where it came from, for messages). */
    size_t n_merges;
    const char *const *merges;
    const size_t *merge_lens;
    const char *pre;
    size_t pre_len;
    const char *pre_source;
} mb_vocab_init;

mb_status mb_vocab_build(const mb_vocab_init *init, mb_vocab **out);

/* vocab_quirks.c: what llama.cpp derives from token texts rather than from
 * the metadata. Before the special-token list is built: the EOT, EOM and FIM
 * ids the metadata leaves out, the types it overrides, and the
 * end-of-generation set. After it: the strip attributes the model's NAME
 * (LEN bytes, may be NULL) implies. */
void mb_vocab_detect_specials(mb_vocab *v);
void mb_vocab_set_strip(mb_vocab *v, const char *name, size_t len);

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

/* ---- shared by the encoders ------------------------------------------- */

/* Ids written so far; counts past cap so callers learn the size needed. */
typedef struct {
    mb_token *ids;
    size_t cap, n;
} mb_tok_out;

static inline void mb_tok_emit(mb_tok_out *o, mb_token id) {
    if (o->n < o->cap) o->ids[o->n] = id;
    o->n++;
}

/* A slice of the input: raw text (id -1) or one special token. */
typedef struct {
    size_t off, len;
    mb_token id;
} mb_fragment;

typedef struct {
    mb_fragment *a;
    size_t n, cap;
} mb_frag_list;

/* Cut the special tokens out of TEXT (special.c). User-defined tokens are
 * always cut out, control and unknown ones only with parse_special; longer
 * texts first. *result points at one of LISTS, which the caller frees. */
mb_status mb_vocab_partition(const mb_vocab *v, const char *text, size_t len, bool parse_special,
                             mb_frag_list lists[2], mb_frag_list **result);

/* The encoders behind mb_vocab_tokenize (tokenize.c), without BOS/EOS. */
mb_status mb_spm_encode(const mb_vocab *v, const char *text, size_t len, bool parse_special,
                        mb_tok_out *o);
mb_status mb_bpe_encode(const mb_vocab *v, const char *text, size_t len, bool parse_special,
                        mb_tok_out *o);

/* bpe.c: build the BPE state of V from INIT (merges and pre-tokenizer);
 * sets v->bpe and v->byte_token. */
mb_status mb_bpe_attach(mb_vocab *v, const mb_vocab_init *init);
void mb_bpe_free(mb_bpe *b);
/* The byte a BPE token character stands for: decodes the UTF-8 character
 * at S (LEN bytes left), sets *used to its length, and returns the byte, or
 * -1 when the character is not one of the 256 byte characters. */
int mb_bpe_char_byte(const char *s, size_t len, size_t *used);

static inline const char *mb_vocab_text(const mb_vocab *v, mb_token id) {
    return v->blob + v->text_off[id];
}

#endif
