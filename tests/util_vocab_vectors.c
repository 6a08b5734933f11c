#include "util_vocab_vectors.h"

bool mbt_same_ids(const mb_vocab *v, const char *text, size_t len, const char *expected,
                  bool parse_special, mb_token *ids, size_t cap, size_t *n) {
    if (mb_vocab_tokenize(v, text, len, false, parse_special, ids, cap, n) != MB_OK) return false;
    const char *p = expected;
    for (size_t i = 0; i < *n; i++) {
        char *end;
        long want = strtol(p, &end, 10);
        if (end == p || want != ids[i]) return false;
        p = end;
    }
    while (*p == ' ')
        p++;
    return *p == '\0';
}

void mbt_run_vocab_vectors(const mb_vocab *v, char *inp, char *out, const char *label,
                           mbt_decode_check check_text) {
    const char *marker = "\n__ggml_vocab_test__\n";
    size_t marker_len = strlen(marker), cap = 1 << 16;
    mb_token *ids = malloc(cap * sizeof *ids);
    char *text = inp, *line = out;
    int cases = 0, failed = 0, failed_special = 0;
    for (;;) {
        char *end = strstr(text, marker);
        char *eol = strchr(line, '\n');
        if (!end || !eol) break;
        *eol = '\0';
        size_t len = (size_t)(end - text), n = 0;
        /* llama.cpp's tokenizer test runs without special-token parsing. */
        if (!mbt_same_ids(v, text, len, line, false, ids, cap, &n)) {
            failed++;
            fprintf(stderr, "vector %d: '%.*s': want%s\n  got:", cases, (int)len, text, line);
            for (size_t i = 0; i < n && i < 64; i++)
                fprintf(stderr, " %d", ids[i]);
            fputc('\n', stderr);
        }
        check_text(v, text, len, ids, n);
        /* None of the strings contains a special token's text, so parsing
         * them must change nothing. */
        if (!mbt_same_ids(v, text, len, line, true, ids, cap, &n)) failed_special++;
        cases++;
        text = end + marker_len;
        line = eol + 1;
    }
    printf("%s vectors: %d cases, %d failed (%d with parse_special)\n", label, cases, failed,
           failed_special);
    CHECK(cases > 30);
    CHECK_EQ_INT(failed, 0);
    CHECK_EQ_INT(failed_special, 0);
    CHECK_MSG(*text == '\0' && *line == '\0', "vector files have %zu and %zu bytes left over",
              strlen(text), strlen(line));
    free(ids);
}
