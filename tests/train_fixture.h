/* The trainer tests' shared fixture: a short text with enough repetition
 * to be learnt in a few hundred steps, and a 300-token byte-level BPE
 * vocabulary trained on it. Included by test_train_*.c (which link the
 * train layer; the common test utilities do not). */
#ifndef MB_TESTS_TRAIN_FIXTURE_H
#define MB_TESTS_TRAIN_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>

#include "test_util.h"
#include "train/bpe_train.h"

/* Write DIR/corpus.txt and DIR/tok.gguf; their paths go to CORPUS and TOK. */
static inline void mbt_train_fixture(const char *dir, char *corpus, size_t corpus_cap, char *tok,
                                     size_t tok_cap) {
    static const char *lines[] = {"the cat sat on the mat.\n", "a dog ran in the park.\n",
                                  "we like to read books.\n", "she sings a happy song.\n"};
    snprintf(corpus, corpus_cap, "%s/corpus.txt", dir);
    FILE *f = fopen(corpus, "w");
    CHECK(f != NULL);
    if (!f) return;
    for (int i = 0; i < 200; i++)
        fputs(lines[i % 4], f);
    fclose(f);
    size_t len = 0;
    char *text = mbt_read_file(corpus, &len);
    snprintf(tok, tok_cap, "%s/tok.gguf", dir);
    CHECK_OK(mb_bpe_train_file(text, len, 300, "gpt-2", tok, NULL));
    free(text);
}

#endif
