/* matchbox lora-merge MODEL.gguf ADAPTER.gguf -o MERGED.gguf: fold a LoRA
 * adapter into the weights (docs/TRAINING.md, "LoRA fine-tuning"). */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "matchbox/gguf.h"

static void usage(void) {
    printf("usage: matchbox lora-merge MODEL.gguf ADAPTER.gguf -o MERGED.gguf [--scale S]\n\n"
           "Write MODEL with W + S (alpha / r) B A in place of every adapted matrix W; all\n"
           "other tensors and keys are copied. F32, F16 and BF16 matrices keep their type;\n"
           "quantized ones are dequantized, merged and written in F16.\n\n"
           "  -o MERGED.gguf    the merged model (written atomically)\n"
           "  --scale S         adapter scale (default 1)\n");
}

int cmd_lora_merge(int argc, char **argv) {
    const char *pos[2] = {NULL, NULL}, *out = NULL, *v;
    int n_pos = 0;
    double scale = 1.0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage();
            return 0;
        } else if (!strcmp(a, "-o")) {
            if (!(out = cli_value(argc, argv, &i))) return 1;
        } else if (!strcmp(a, "--scale")) {
            if (!(v = cli_value(argc, argv, &i)) || !cli_float(a, v, &scale)) return 1;
        } else if (a[0] == '-' && a[1]) {
            return cli_fail("unknown option '%s' (see matchbox lora-merge --help)", a);
        } else if (n_pos < 2) {
            pos[n_pos++] = a;
        } else {
            return cli_fail("unexpected argument '%s'", a);
        }
    }
    if (n_pos < 2 || !out) {
        usage();
        return 1;
    }
    if (!cli_check_output(out)) return 1;
    int n_merged = 0, n_f16 = 0;
    if (mb_lora_merge(pos[0], pos[1], (float)scale, out, &n_merged, &n_f16) != MB_OK)
        return cli_fail(NULL);
    printf("wrote %s: %d matrices merged", out, n_merged);
    if (n_f16) printf(" (%d quantized ones dequantized and written in F16)", n_f16);
    printf("\n");
    return 0;
}
