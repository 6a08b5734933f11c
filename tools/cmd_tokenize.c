/* matchbox tokenize MODEL TEXT: the token ids and pieces of a text. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"

int cmd_tokenize(int argc, char **argv) {
    const char *model_path = NULL, *text = NULL, *file = NULL, *pre = NULL;
    int ids_only = 0, add_special = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            puts("usage: matchbox tokenize MODEL [TEXT | -f FILE] [--ids] [--no-bos]\n"
                 "                         [--tokenizer-pre NAME]\n\n"
                 "Print each token id with its text. --ids prints the ids only, on one line.\n"
                 "--tokenizer-pre uses that pre-tokenizer of a BPE vocabulary instead of the\n"
                 "file's (default, gpt-2, llama-bpe, smollm, qwen2).");
            return 0;
        } else if (!strcmp(a, "--ids")) {
            ids_only = 1;
        } else if (!strcmp(a, "--no-bos")) {
            add_special = 0;
        } else if (!strcmp(a, "--tokenizer-pre")) {
            if (!(pre = cli_value(argc, argv, &i))) return 1;
        } else if (!strcmp(a, "-f") || !strcmp(a, "--file")) {
            if (!(file = cli_value(argc, argv, &i))) return 1;
        } else if (a[0] == '-' && a[1]) {
            return cli_fail("unknown option '%s'", a);
        } else if (!model_path) {
            model_path = a;
        } else if (!text) {
            text = a;
        } else {
            return cli_fail("unexpected argument '%s'", a);
        }
    }
    if (!model_path) return cli_fail("no model given (see matchbox tokenize --help)");
    size_t len = 0;
    char *owned = NULL;
    if (file) {
        if (!(owned = cli_read_all(file, &len))) return 1;
        text = owned;
    } else if (!text) {
        return cli_fail("no text given");
    } else {
        len = strlen(text);
    }
    mb_model_params mp = mb_model_default_params();
    mp.tokenizer_pre = pre;
    mp.vocab_only = 1; /* vocab-only files (ggml-vocab-*.gguf, tokenizer-train output) work too */
    mb_model *m = NULL;
    int rc = 1;
    mb_token *ids = NULL;
    size_t n = 0;
    if (mb_model_load(model_path, &mp, &m) != MB_OK) {
        cli_fail(NULL);
        goto done;
    }
    mb_tokenize(m, text, len, add_special, 1, NULL, 0, &n);
    ids = malloc((n + 1) * sizeof *ids);
    if (!ids || mb_tokenize(m, text, len, add_special, 1, ids, n, &n) != MB_OK) {
        cli_fail(ids ? NULL : "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        if (ids_only) {
            printf("%s%d", i ? " " : "", ids[i]);
            continue;
        }
        char piece[256];
        size_t pn = 0;
        mb_token_to_piece(m, ids[i], 1, piece, sizeof piece, &pn);
        printf("%6d '%.*s'\n", ids[i], (int)pn, piece);
    }
    if (ids_only) putchar('\n');
    rc = 0;
done:
    free(ids);
    free(owned);
    mb_model_free(m);
    return rc;
}
