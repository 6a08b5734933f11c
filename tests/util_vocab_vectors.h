/* Runs a tokenizer test-vector pair (llama.cpp's .inp/.out format) through a
 * vocabulary: each .inp string, followed by "\n__ggml_vocab_test__\n",
 * against one .out line of " %d" ids, without BOS. */
#ifndef MB_TEST_UTIL_VOCAB_VECTORS_H
#define MB_TEST_UTIL_VOCAB_VECTORS_H

#include "test_util.h"
#include "tokenizer/vocab.h"

/* Called on every vector with the ids it gave, to check the way back. */
typedef void (*mbt_decode_check)(const mb_vocab *v, const char *text, size_t len,
                                 const mb_token *ids, size_t n);

/* Checks every vector in INP/OUT (both modified: lines are cut in place)
 * without and with special-token parsing, runs CHECK_TEXT on each, and
 * reports under LABEL. */
void mbt_run_vocab_vectors(const mb_vocab *v, char *inp, char *out, const char *label,
                           mbt_decode_check check_text);

/* Tokenize TEXT without BOS; true when the ids equal the " %d" list EXPECTED.
 * *n is set to the ids' count. */
bool mbt_same_ids(const mb_vocab *v, const char *text, size_t len, const char *expected,
                  bool parse_special, mb_token *ids, size_t cap, size_t *n);

#endif
