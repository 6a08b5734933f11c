/* matchbox convert: llama2.c checkpoint + tokenizer.bin -> GGUF, and
 * --densify: sparse tensors to standard types with the same values. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "matchbox/gguf.h"
#include "matchbox/quantize.h"

static void usage(FILE *f) {
    fprintf(f, "usage: matchbox convert CHECKPOINT.bin OUT.gguf --tokenizer TOKENIZER.bin "
               "[--name NAME]\n"
               "       matchbox convert --densify IN.gguf OUT.gguf\n"
               "\n"
               "Convert a llama2.c checkpoint (legacy version 0 or version 1, fp32) and its\n"
               "tokenizer.bin into a GGUF file (llama architecture, F32 weights) that\n"
               "matchbox and llama.cpp load. The output is written atomically.\n"
               "\n"
               "  --tokenizer FILE  llama2.c tokenizer.bin whose vocabulary matches the model\n"
               "  --name NAME       general.name (default: the checkpoint's file name)\n"
               "  --help            show this help\n"
               "\n"
               "--densify writes IN with its sparse tensors (SQ4, SQ8: matchbox prune) in\n"
               "the standard types that hold exactly their values (Q4_0, Q8_0), every\n"
               "other tensor copied: a file llama.cpp and other runtimes load.\n");
}

static int densify(int argc, char **argv) {
    if (argc != 4) return cli_fail("--densify needs IN and OUT (see matchbox convert --help)");
    const char *in = argv[2], *out = argv[3];
    if (!cli_check_output(out)) return 1;
    mb_quantize_stats s;
    if (mb_densify_file(in, out, &s) != MB_OK) return cli_fail(NULL);
    printf("wrote %s: %d tensors, %d densified, file %.2f MiB -> %.2f MiB\n", out, s.n_tensors,
           s.n_converted, (double)s.file_in / (1 << 20), (double)s.file_out / (1 << 20));
    return 0;
}

int cmd_convert(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--densify") == 0) return densify(argc, argv);
    const char *in = NULL, *out = NULL, *tokenizer = NULL, *name = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(a, "--tokenizer") == 0 || strcmp(a, "--name") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "error: %s needs a value\n", a);
                return 1;
            }
            if (strcmp(a, "--tokenizer") == 0)
                tokenizer = argv[++i];
            else
                name = argv[++i];
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "error: unknown option '%s'\n", a);
            usage(stderr);
            return 1;
        } else if (!in) {
            in = a;
        } else if (!out) {
            out = a;
        } else {
            fprintf(stderr, "error: unexpected argument '%s'\n", a);
            usage(stderr);
            return 1;
        }
    }
    if (!in || !out || !tokenizer) {
        fprintf(stderr, "error: %s\n",
                !in || !out ? "need a checkpoint and an output path" : "--tokenizer is required");
        usage(stderr);
        return 1;
    }

    if (!cli_check_output(out)) return 1;
    mb_llama2c_convert_params params = mb_llama2c_convert_default_params();
    params.name = name;
    mb_llama2c_convert_stats stats;
    if (mb_llama2c_convert(in, tokenizer, out, &params, &stats) != MB_OK) {
        fprintf(stderr, "error: %s\n", mb_last_error());
        return 1;
    }
    const mb_llama2c_config *c = &stats.cfg;
    printf("wrote %s: %u tensors, %llu params, %llu bytes of F32 weights (llama2.c v%d: dim %d, "
           "%d layers, %d/%d heads, vocab %d, ctx %d, %s classifier)\n",
           out, stats.n_tensors, (unsigned long long)stats.n_params,
           (unsigned long long)stats.tensor_bytes, c->version, c->dim, c->n_layers, c->n_heads,
           c->n_kv_heads, c->vocab_size, c->seq_len, c->shared_classifier ? "tied" : "separate");
    return 0;
}
