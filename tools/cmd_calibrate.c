/* matchbox calibrate MODEL TEXT -o imatrix.gguf: an importance matrix (per
 * input channel mean x^2 and max |x| of every block matrix) for
 * quantize --imatrix and --smooth (docs/QUANTIZE.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calibrate_cli.h"
#include "cli.h"
#include "commands.h"

static void usage(void) {
    puts("usage: matchbox calibrate MODEL TEXT_FILE [-o imatrix.gguf] [--chunks N] [--ctx N]\n"
         "                          [-t N] [--in FILE]...\n"
         "       matchbox calibrate --convert IN OUT\n\n"
         "Run MODEL over TEXT in chunks of --ctx tokens (default 512) and write each block\n"
         "matrix's input statistics: llama.cpp's GGUF imatrix layout (NAME.in_sum2,\n"
         "NAME.counts) plus NAME.in_max, or llama.cpp's legacy format when OUT ends in .dat.\n"
         "  --in FILE   add an existing imatrix (GGUF or .dat) to the result\n"
         "  --convert   read IN (either format) and write OUT (format by its suffix)");
}

static int convert(int argc, char **argv, int i) {
    if (argc - i != 2) return cli_fail("--convert needs IN and OUT");
    mb_imatrix *im = NULL;
    if (!cli_check_output(argv[i + 1])) return 1;
    if (mb_imatrix_read(argv[i], &im) != MB_OK) return cli_fail(NULL);
    const int rc = mb_imatrix_write(im, argv[i + 1]) != MB_OK ? cli_fail(NULL) : 0;
    if (!rc)
        fprintf(stderr, "%s -> %s: %d entries\n", argv[i], argv[i + 1], mb_imatrix_n_entries(im));
    mb_imatrix_free(im);
    return rc;
}

static int merge(mb_imatrix *im, const char *path) {
    mb_imatrix *in = NULL;
    if (mb_imatrix_read(path, &in) != MB_OK) return 0;
    const int ok = mb_imatrix_merge(im, in) == MB_OK;
    mb_imatrix_free(in);
    return ok;
}

void calibrate_cli_progress(void *user, const char *text) {
    (void)user;
    fputs(text, stderr);
    fflush(stderr);
}

int calibrate_cli_run(const char *model, const char *text_path, int n_chunks, int n_ctx,
                      int n_threads, mb_imatrix **out) {
    size_t len = 0;
    char *text = cli_read_all(text_path, &len);
    if (!text) return 1;
    mb_model_params mp = mb_model_default_params();
    mb_model *m = NULL;
    int rc = 0;
    if (mb_model_load(model, &mp, &m) != MB_OK || mb_imatrix_new(out) != MB_OK) {
        rc = cli_fail(NULL);
    } else {
        const int trained = mb_model_n_ctx_train(m);
        mb_calibrate_params p = mb_calibrate_default_params();
        p.n_ctx = n_ctx > 0 ? n_ctx : trained > 0 && trained < 512 ? trained : 512;
        p.n_chunks = n_chunks > 0 ? n_chunks : 32;
        p.n_threads = n_threads;
        p.progress = calibrate_cli_progress;
        if (mb_calibrate(m, text, len, &p, *out) != MB_OK ||
            mb_imatrix_add_dataset(*out, text_path) != MB_OK)
            rc = cli_fail(NULL);
    }
    if (rc) {
        mb_imatrix_free(*out);
        *out = NULL;
    }
    mb_model_free(m);
    free(text);
    return rc;
}

int cmd_calibrate(int argc, char **argv) {
    const char *model_path = NULL, *text_path = NULL, *out = "imatrix.gguf";
    const char *ins[16];
    int n_in = 0;
    mb_calibrate_params p = mb_calibrate_default_params();
    p.progress = calibrate_cli_progress;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        long v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage();
            return 0;
        } else if (!strcmp(a, "--convert")) {
            return convert(argc, argv, i + 1);
        } else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
            if (!(out = cli_value(argc, argv, &i))) return 1;
        } else if (!strcmp(a, "--in")) {
            if (n_in == 16) return cli_fail("at most 16 --in files");
            if (!(ins[n_in++] = cli_value(argc, argv, &i))) return 1;
        } else if (!strcmp(a, "-c") || !strcmp(a, "--ctx")) {
            const char *s = cli_value(argc, argv, &i);
            if (!s || !cli_int("--ctx", s, 2, 1 << 20, &v)) return 1;
            p.n_ctx = (int)v;
        } else if (!strcmp(a, "--chunks")) {
            const char *s = cli_value(argc, argv, &i);
            if (!s || !cli_int("--chunks", s, 1, 1 << 30, &v)) return 1;
            p.n_chunks = (int)v;
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            const char *s = cli_value(argc, argv, &i);
            if (!s || !cli_int("-t", s, 1, 1024, &v)) return 1;
            p.n_threads = (int)v;
        } else if (a[0] == '-' && a[1]) {
            return cli_fail("unknown option '%s' (see matchbox calibrate --help)", a);
        } else if (!model_path) {
            model_path = a;
        } else if (!text_path) {
            text_path = a;
        } else {
            return cli_fail("unexpected argument '%s'", a);
        }
    }
    if (!model_path || !text_path) return cli_fail("need MODEL and TEXT_FILE (see --help)");
    if (!cli_check_output(out)) return 1;
    size_t len = 0;
    char *text = cli_read_all(text_path, &len);
    if (!text) return 1;
    mb_model_params mp = mb_model_default_params();
    mb_model *m = NULL;
    mb_imatrix *im = NULL;
    int rc = 0;
    if (mb_model_load(model_path, &mp, &m) != MB_OK || mb_imatrix_new(&im) != MB_OK) {
        rc = cli_fail(NULL);
    } else {
        for (int i = 0; !rc && i < n_in; i++)
            if (!merge(im, ins[i])) rc = cli_fail(NULL);
        if (!rc &&
            (mb_calibrate(m, text, len, &p, im) != MB_OK ||
             mb_imatrix_add_dataset(im, text_path) != MB_OK || mb_imatrix_write(im, out) != MB_OK))
            rc = cli_fail(NULL);
        if (!rc)
            fprintf(stderr, "wrote %s: %d matrices, %d chunks of %d tokens\n", out,
                    mb_imatrix_n_entries(im), mb_imatrix_chunk_count(im),
                    mb_imatrix_chunk_size(im));
    }
    mb_imatrix_free(im);
    mb_model_free(m);
    free(text);
    return rc;
}
