/* Pre-tokenizers of byte-level BPE vocabularies: the regular expressions
 * that cut text into words before merges apply (tokenizer.ggml.pre). */
#ifndef MB_TOKENIZER_BPE_PRE_H
#define MB_TOKENIZER_BPE_PRE_H

#include <stdbool.h>
#include <stddef.h>

#include "matchbox.h"

/* The names matchbox knows, for messages: "default, gpt-2, ...". */
extern const char mb_bpe_pre_supported[];

typedef struct mb_bpe_pre mb_bpe_pre;

/* Compile the expressions of the pre-tokenizer called NAME (LEN bytes; an
 * alias such as "llama3" is accepted). An unknown name is
 * MB_ERR_UNSUPPORTED with the supported ones listed; SOURCE says where the
 * name came from, for that message. */
mb_status mb_bpe_pre_new(const char *name, size_t len, const char *source, mb_bpe_pre **out);
void mb_bpe_pre_free(mb_bpe_pre *p);
/* The MB_ERR_UNSUPPORTED error for an unknown NAME from SOURCE (a key, or
 * "--tokenizer-pre"), listing the supported names. */
mb_status mb_bpe_pre_unknown(const char *name, size_t len, const char *source);

/* The canonical name ("llama-bpe" for "llama3"). */
const char *mb_bpe_pre_name(const mb_bpe_pre *p);
/* Llama 3's tokenizer takes a word that is itself a token whole. */
bool mb_bpe_pre_ignore_merges(const mb_bpe_pre *p);
/* Whether NAME is a known pre-tokenizer, without compiling it. */
bool mb_bpe_pre_known(const char *name, size_t len, bool *default_add_bos);

/* A word: TEXT[off .. off+len). */
typedef struct {
    size_t off, len;
} mb_span;

/* Cut TEXT[0..LEN) into words. Each expression in turn splits every word
 * so far into its matches and the text between them, so the words always
 * cover the text exactly, in order (invalid UTF-8 never matches and ends
 * up between matches). *words is realloc'ed as needed (capacity *cap);
 * *n_words is set. */
mb_status mb_bpe_pre_split(const mb_bpe_pre *p, const char *text, size_t len, mb_span **words,
                           size_t *cap, size_t *n_words);

#endif
