/* mb_vocab_tokenize: the checks, BOS and EOS shared by both encoders. */
#include "core/error.h"
#include "tokenizer/vocab_internal.h"

/* Symbol indices are int32_t in both encoders, and SentencePiece escapes a
 * space to 3 bytes; a text that could overflow them is refused. */
#define MB_TOKENIZE_MAX_TEXT ((size_t)(INT32_MAX - 8) / 3)

mb_status mb_vocab_tokenize(const mb_vocab *v, const char *text, size_t len, bool add_special,
                            bool parse_special, mb_token *ids, size_t cap, size_t *n_out) {
    if (!n_out) return mb_errorf(MB_ERR_INVALID_ARG, "tokenize: NULL n_out");
    *n_out = 0;
    if (len > 0 && !text) return mb_errorf(MB_ERR_INVALID_ARG, "tokenize: NULL text");
    if (cap > 0 && !ids) return mb_errorf(MB_ERR_INVALID_ARG, "tokenize: NULL ids");
    if (len > MB_TOKENIZE_MAX_TEXT)
        return mb_errorf(MB_ERR_INVALID_ARG,
                         "tokenize: text of %zu bytes is longer than the %zu one call takes", len,
                         MB_TOKENIZE_MAX_TEXT);
    mb_tok_out o = {ids, cap, 0};
    if (add_special && v->add_bos) mb_tok_emit(&o, v->bos);
    if (len > 0) {
        mb_status st = v->bpe ? mb_bpe_encode(v, text, len, parse_special, &o)
                              : mb_spm_encode(v, text, len, parse_special, &o);
        if (st != MB_OK) return st;
    }
    if (add_special && v->add_eos) mb_tok_emit(&o, v->eos);
    *n_out = o.n;
    if (o.n > cap)
        return mb_errorf(MB_ERR_INVALID_ARG, "tokenize: the text needs %zu tokens, room for %zu",
                         o.n, cap);
    return MB_OK;
}
