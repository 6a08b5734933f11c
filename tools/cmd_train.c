/* matchbox train CONFIG CORPUS -o OUT.gguf: train a llama model from scratch
 * (docs/TRAINING.md). */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "core/threadpool.h"
#include "train/train.h"

static void usage(void) {
    printf("usage: matchbox train CONFIG CORPUS -o OUT.gguf [options]\n\n"
           "Train a llama-architecture model from scratch on the text CORPUS. CONFIG is a\n"
           "key=value file (docs/TRAINING.md); its tokenizer= names a GGUF whose vocabulary\n"
           "is used (e.g. one made by matchbox tokenizer-train).\n\n"
           "  -o OUT.gguf       the trained model (F32 with resumable train state, or F16)\n"
           "  --f16             write OUT in F16 (for matchbox quantize; not resumable)\n"
           "  --resume CKPT     continue from a checkpoint (or an F32 OUT) exactly\n"
           "  --ckpt PATH       where checkpoints go (default OUT.ckpt.gguf)\n"
           "  --seed N          override the config's seed\n"
           "  --steps N         override the config's steps\n"
           "  --set KEY=VALUE   override any config key (repeatable)\n"
           "  --val-split F     held-out fraction at the end of the corpus (default 0.05)\n"
           "  --val FILE        validate on FILE's text instead (CORPUS is all trained on)\n"
           "  -t N              threads (default: physical cores)\n"
           "  -q                no progress lines\n");
}

int cmd_train(int argc, char **argv) {
    const char *pos[2] = {NULL, NULL};
    int n_pos = 0;
    mb_train_config c;
    mb_train_config_default(&c);
    mb_train_run run = {.val_split = 0.05f, .n_threads = mb_physical_cores()};
    char sets[4096] = "";
    long seed = -1, steps = -1, threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage();
            return 0;
        } else if (!strcmp(a, "-o")) {
            if (!(run.out_path = cli_value(argc, argv, &i))) return 1;
        } else if (!strcmp(a, "--resume")) {
            if (!(run.resume_path = cli_value(argc, argv, &i))) return 1;
        } else if (!strcmp(a, "--ckpt")) {
            if (!(run.ckpt_path = cli_value(argc, argv, &i))) return 1;
        } else if (!strcmp(a, "--f16")) {
            run.f16 = true;
        } else if (!strcmp(a, "-q")) {
            run.quiet = true;
        } else if (!strcmp(a, "--seed")) {
            if (!(v = cli_value(argc, argv, &i)) || !cli_int(a, v, 0, 1L << 62, &seed)) return 1;
        } else if (!strcmp(a, "--steps")) {
            if (!(v = cli_value(argc, argv, &i)) || !cli_int(a, v, 1, 1L << 30, &steps)) return 1;
        } else if (!strcmp(a, "-t")) {
            if (!(v = cli_value(argc, argv, &i)) || !cli_int(a, v, 1, 256, &threads)) return 1;
        } else if (!strcmp(a, "--val-split")) {
            double f;
            if (!(v = cli_value(argc, argv, &i)) || !cli_float(a, v, &f)) return 1;
            run.val_split = (float)f;
        } else if (!strcmp(a, "--val")) {
            if (!(run.val_path = cli_value(argc, argv, &i))) return 1;
        } else if (!strcmp(a, "--set")) {
            if (!(v = cli_value(argc, argv, &i))) return 1;
            if (strlen(sets) + strlen(v) + 2 > sizeof sets) return cli_fail("too many --set");
            strcat(sets, v);
            strcat(sets, "\n");
        } else if (a[0] == '-' && a[1]) {
            return cli_fail("unknown option '%s' (see matchbox train --help)", a);
        } else if (n_pos < 2) {
            pos[n_pos++] = a;
        } else {
            return cli_fail("unexpected argument '%s'", a);
        }
    }
    if (n_pos < 2 || !run.out_path) {
        usage();
        return 1;
    }
    if (mb_train_config_load(&c, pos[0]) != MB_OK ||
        mb_train_config_parse(&c, sets, "--set") != MB_OK)
        return cli_fail(NULL);
    if (seed >= 0) c.seed = (uint64_t)seed;
    if (steps > 0) c.steps = (int)steps;
    if (threads > 0) run.n_threads = (int)threads;
    run.corpus_path = pos[1];
    if (mb_train(&c, &run) != MB_OK) return cli_fail(NULL);
    printf("wrote %s: first loss %.4f, last loss %.4f, val loss %.4f, %.0f tok/s "
           "(forward %.1f s, backward %.1f s)\n",
           run.out_path, run.first_loss, run.last_loss, run.last_val_loss, run.tok_per_s, run.fwd_s,
           run.bwd_s);
    return 0;
}
