/* matchbox train CONFIG CORPUS -o OUT.gguf: train a llama model from scratch
 * (docs/TRAINING.md). */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "train_cli.h"

static void usage(void) {
    printf("usage: matchbox train CONFIG CORPUS -o OUT.gguf [options]\n\n"
           "Train a llama-architecture model from scratch on the text CORPUS. CONFIG is a\n"
           "key=value file (docs/TRAINING.md); its tokenizer= names a GGUF whose vocabulary\n"
           "is used (e.g. one made by matchbox tokenizer-train).\n\n%s",
           train_cli_help);
}

int cmd_train(int argc, char **argv) {
    const char *pos[2] = {NULL, NULL};
    int n_pos = 0;
    train_cli t;
    train_cli_init(&t);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int r = train_cli_flag(argc, argv, &i, &t);
        if (r < 0) return 1;
        if (r > 0) continue;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage();
            return 0;
        } else if (a[0] == '-' && a[1]) {
            return cli_fail("unknown option '%s' (see matchbox train --help)", a);
        } else if (n_pos < 2) {
            pos[n_pos++] = a;
        } else {
            return cli_fail("unexpected argument '%s'", a);
        }
    }
    if (n_pos < 2 || !t.run.out_path) {
        usage();
        return 1;
    }
    if (train_cli_finish(&t, pos[0])) return 1;
    t.run.corpus_path = pos[1];
    mb_train_result r;
    if (mb_train(&t.c, &t.run, &r) != MB_OK) return cli_fail(NULL);
    printf("wrote %s: first loss %.4f, last loss %.4f, val loss %.4f, %.0f tok/s "
           "(forward %.1f s, backward %.1f s)\n",
           t.run.out_path, r.first_loss, r.last_loss, r.last_val_loss, r.tok_per_s, r.fwd_s,
           r.bwd_s);
    return 0;
}
