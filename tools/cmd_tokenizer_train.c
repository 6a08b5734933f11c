/* matchbox tokenizer-train CORPUS --vocab N -o tok.gguf: byte-level BPE
 * (docs/TRAINING.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "matchbox/train.h"

static void usage(void) {
    printf(
        "usage: matchbox tokenizer-train CORPUS --vocab N -o tok.gguf [--pre gpt-2|llama-bpe]\n\n"
        "Train a byte-level BPE vocabulary of N tokens (256 bytes, the merges, and the\n"
        "special token <|endoftext|> as BOS and EOS) on the text CORPUS, and write it\n"
        "as a GGUF with the standard tokenizer.ggml.* keys.\n\n"
        "  --pre NAME   pre-tokenizer regex that splits words (default gpt-2)\n"
        "  -q           no summary line\n");
}

int cmd_tokenizer_train(int argc, char **argv) {
    const char *corpus = NULL, *out = NULL, *pre = "gpt-2", *v;
    long vocab = 0;
    int quiet = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage();
            return 0;
        } else if (!strcmp(a, "--vocab")) {
            if (!(v = cli_value(argc, argv, &i)) || !cli_int(a, v, 258, 1 << 20, &vocab)) return 1;
        } else if (!strcmp(a, "-o")) {
            if (!(out = cli_value(argc, argv, &i))) return 1;
        } else if (!strcmp(a, "--pre")) {
            if (!(pre = cli_value(argc, argv, &i))) return 1;
        } else if (!strcmp(a, "-q")) {
            quiet = 1;
        } else if (a[0] == '-' && a[1]) {
            return cli_fail("unknown option '%s' (see matchbox tokenizer-train --help)", a);
        } else if (!corpus) {
            corpus = a;
        } else {
            return cli_fail("unexpected argument '%s'", a);
        }
    }
    if (!corpus || !out || !vocab) {
        usage();
        return 1;
    }
    if (!cli_check_output(out)) return 1;
    size_t len = 0;
    char *text = cli_read_all(corpus, &len);
    if (!text) return 1;
    mb_bpe_train_stats stats;
    mb_status st = mb_bpe_train_file(text, len, (int)vocab, pre, out, &stats);
    free(text);
    if (st) return cli_fail(NULL);
    if (!quiet)
        printf("wrote %s: %d tokens (%d merges) from %zu words (%zu distinct) in %.2f s\n", out,
               stats.n_tokens, stats.n_merges, stats.n_words, stats.n_unique, stats.seconds);
    return 0;
}
