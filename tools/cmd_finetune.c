/* matchbox finetune MODEL.gguf CORPUS --lora R -o adapter.gguf: train LoRA
 * adapters on a frozen base model (docs/TRAINING.md, "LoRA fine-tuning"). */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "matchbox/train.h"
#include "train_cli.h"

static void usage(void) {
    printf("usage: matchbox finetune MODEL.gguf CORPUS --lora R -o ADAPTER.gguf [options]\n\n"
           "Train LoRA adapters (rank R) on the projections of a llama MODEL (F32, F16, BF16;\n"
           "quantized bases are dequantized to F32) over the text CORPUS. The base stays\n"
           "frozen; the adapter file uses the GGUF LoRA layout (run --lora, lora-merge).\n\n"
           "  --lora R          adapter rank (required)\n"
           "  --alpha A         scale numerator: updates are (A / R) B A x (default R)\n"
           "  --targets LIST    projections: q,k,v,o,gate,up,down or all (default all)\n"
           "  --steps N         optimizer steps (default 200)\n"
           "  --lr F            peak learning rate (default 1e-3; warmup 10%%, cosine to lr/10)\n"
           "  --batch N         sequences per step (default 8)\n"
           "  --ctx N           tokens per sequence (default 128)\n"
           "  --eval-every N    held-out loss every N steps (default 50; 0: only before/after)\n"
           "  --seed N          adapter initialization and data sampling (default 1)\n"
           "  --val-split F     held-out fraction at the end of the corpus (default 0.1)\n"
           "  --val FILE        validate on FILE's text instead (CORPUS is all trained on)\n"
           "  -t N              threads (default: physical cores)\n"
           "  -q                no progress lines\n");
}

static int parse_num(int argc, char **argv, int *i, long lo, long hi, long *out) {
    const char *v = cli_value(argc, argv, i);
    return v && cli_int(argv[*i - 1], v, lo, hi, out);
}

int cmd_finetune(int argc, char **argv) {
    const char *pos[2] = {NULL, NULL};
    int n_pos = 0;
    mb_train_config c;
    mb_finetune_config_default(&c);
    mb_finetune_params run = mb_finetune_default_params();
    run.progress = train_cli_progress;
    run.log = train_cli_log;
    long rank = 0, v = 0;
    double f;
    const char *val;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage();
            return 0;
        } else if (!strcmp(a, "-o")) {
            if (!(run.out_path = cli_value(argc, argv, &i))) return 1;
        } else if (!strcmp(a, "--lora")) {
            if (!parse_num(argc, argv, &i, 1, 4096, &rank)) return 1;
        } else if (!strcmp(a, "--alpha")) {
            if (!(val = cli_value(argc, argv, &i)) || !cli_float(a, val, &f)) return 1;
            run.alpha = (float)f;
        } else if (!strcmp(a, "--targets")) {
            if (!(run.targets = cli_value(argc, argv, &i))) return 1;
        } else if (!strcmp(a, "--steps")) {
            if (!parse_num(argc, argv, &i, 1, 1L << 30, &v)) return 1;
            c.steps = (int)v;
        } else if (!strcmp(a, "--batch")) {
            if (!parse_num(argc, argv, &i, 1, 4096, &v)) return 1;
            c.batch = (int)v;
        } else if (!strcmp(a, "--ctx")) {
            if (!parse_num(argc, argv, &i, 2, 1 << 16, &v)) return 1;
            c.ctx = (int)v;
        } else if (!strcmp(a, "--eval-every")) {
            if (!parse_num(argc, argv, &i, 0, 1L << 30, &v)) return 1;
            c.eval_every = (int)v;
        } else if (!strcmp(a, "--seed")) {
            if (!parse_num(argc, argv, &i, 0, 1L << 62, &v)) return 1;
            c.seed = (uint64_t)v;
        } else if (!strcmp(a, "--lr")) {
            if (!(val = cli_value(argc, argv, &i)) || !cli_float(a, val, &f)) return 1;
            c.lr = (float)f;
        } else if (!strcmp(a, "-t")) {
            if (!parse_num(argc, argv, &i, 1, 256, &v)) return 1;
            run.n_threads = (int)v;
        } else if (!strcmp(a, "--val-split")) {
            if (!(val = cli_value(argc, argv, &i)) || !cli_float(a, val, &f)) return 1;
            run.val_split = (float)f;
        } else if (!strcmp(a, "--val")) {
            if (!(run.val_path = cli_value(argc, argv, &i))) return 1;
        } else if (!strcmp(a, "-q")) {
            run.progress = NULL;
            run.log = NULL;
        } else if (a[0] == '-' && a[1]) {
            return cli_fail("unknown option '%s' (see matchbox finetune --help)", a);
        } else if (n_pos < 2) {
            pos[n_pos++] = a;
        } else {
            return cli_fail("unexpected argument '%s'", a);
        }
    }
    if (n_pos < 2 || !run.out_path || rank == 0) {
        usage();
        return 1;
    }
    if (!cli_check_output(run.out_path)) return 1;
    run.rank = (int)rank;
    run.model_path = pos[0];
    run.corpus_path = pos[1];
    mb_finetune_result r;
    if (mb_finetune(&c, &run, &r) != MB_OK) return cli_fail(NULL);
    printf("wrote %s: %zu adapter parameters, first loss %.4f, last loss %.4f, held-out loss "
           "%.4f -> %.4f, %.0f tok/s\n",
           run.out_path, r.n_adapter_params, r.first_loss, r.last_loss, r.val_before, r.val_after,
           r.tok_per_s);
    return 0;
}
