/* matchbox perplexity MODEL TEXT: chunked perplexity and KL divergence, as
 * llama.cpp's llama-perplexity computes them (docs/QUALITY.md). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "options.h"
#include "matchbox/eval.h"

/* The shared flags perplexity takes (options.h); -c is its own (default 512). */
#define PPL_FLAGS (CLI_MODEL | CLI_LORA | CLI_CACHE | CLI_THREADS)

static void usage(void) {
    puts("usage: matchbox perplexity MODEL TEXT_FILE [-c 512] [--chunks N] [-t N]\n"
         "                            [--kl-divergence-base FILE [--kl-divergence]]\n\n"
         "Perplexity over chunks of -c tokens, each scored on its second half.\n"
         "  --kl-divergence-base FILE  alone: save this model's log-probabilities there\n"
         "                             (run it with the high-precision model)\n"
         "  --kl-divergence            compare against FILE: mean KLD, top-1 agreement,\n"
         "                             delta-p percentiles\n"
         "  -c, --ctx-size N           tokens per chunk (default 512)\n"
         "  --chunks N                 score only the first N chunks");
    cli_opts_help(stdout, PPL_FLAGS);
}

static void print_kld(const mb_perplexity_result *r) {
    printf("Mean PPL(Q)      : %10.4f +/- %.4f\n", r->ppl, r->ppl_err);
    printf("Mean PPL(base)   : %10.4f +/- %.4f\n", r->ppl_base, r->ppl_base_err);
    printf("Mean ln(PPL(Q)/PPL(base)): %10.6f +/- %.6f\n", r->ln_ratio, r->ln_ratio_err);
    printf("Mean PPL(Q)/PPL(base)    : %10.6f +/- %.6f\n", exp(r->ln_ratio),
           exp(r->ln_ratio) * r->ln_ratio_err);
    printf("Mean KLD         : %10.6f +/- %.6f\n", r->kld, r->kld_err);
    printf("Same top p       : %9.3f%% +/- %.3f%%\n", 100 * r->top1, 100 * r->top1_err);
    printf("Mean delta-p     : %9.3f%% +/- %.3f%%\n", 100 * r->dp_mean, 100 * r->dp_err);
    printf("RMS delta-p      : %9.3f%%\n", 100 * r->dp_rms);
    for (int i = 0; i < MB_PERPLEXITY_N_PCT; i++) {
        char name[32];
        if (mb_perplexity_pct[i] == 100)
            snprintf(name, sizeof name, "Maximum");
        else if (mb_perplexity_pct[i] == 0)
            snprintf(name, sizeof name, "Minimum");
        else
            snprintf(name, sizeof name, "%g%%", mb_perplexity_pct[i]);
        printf("%-8s KLD %10.6f   delta-p %9.3f%%\n", name, r->kld_pct[i], 100 * r->dp_pct[i]);
    }
}

/* The running perplexity after each chunk, on one line as llama.cpp prints it. */
static void show_progress(int chunk, int n_chunks, double ppl, void *user) {
    FILE *f = user;
    fprintf(f, "[%d]%.4f%s", chunk, ppl, chunk < n_chunks ? "," : "\n");
    fflush(f);
}

int cmd_perplexity(int argc, char **argv) {
    const char *text_path = NULL, *base = NULL;
    int kld = 0;
    cli_opts o;
    cli_opts_init(&o);
    mb_perplexity_params p = mb_perplexity_default_params();
    p.progress = show_progress;
    p.progress_user = stderr;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        long v;
        int r = cli_opts_flag(&o, PPL_FLAGS, argc, argv, &i);
        if (r < 0) return 1;
        if (r > 0) continue;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage();
            return 0;
        } else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size")) {
            const char *s = cli_value(argc, argv, &i);
            if (!s || !cli_int("-c", s, 4, 1 << 20, &v)) return 1;
            p.n_ctx = (int)v;
        } else if (!strcmp(a, "--chunks")) {
            const char *s = cli_value(argc, argv, &i);
            if (!s || !cli_int("--chunks", s, 1, 1 << 30, &v)) return 1;
            p.n_chunks = (int)v;
        } else if (!strcmp(a, "--kl-divergence-base")) {
            if (!(base = cli_value(argc, argv, &i))) return 1;
        } else if (!strcmp(a, "--kl-divergence")) {
            kld = 1;
        } else if (!strcmp(a, "-f") || !strcmp(a, "--file")) {
            if (!(text_path = cli_value(argc, argv, &i))) return 1;
        } else if (a[0] == '-' && a[1]) {
            return cli_fail("unknown option '%s' (see matchbox perplexity --help)", a);
        } else if (!o.model) {
            o.model = a;
        } else if (!text_path) {
            text_path = a;
        } else {
            return cli_fail("unexpected argument '%s'", a);
        }
    }
    if (!o.model || !text_path) return cli_fail("need MODEL and TEXT_FILE (see --help)");
    if (kld && !base) return cli_fail("--kl-divergence needs --kl-divergence-base FILE");
    if (kld)
        p.kld_base_read = base;
    else
        p.kld_base_write = base;
    if (p.kld_base_write && !cli_check_output(p.kld_base_write)) return 1;
    size_t len = 0;
    char *text = cli_read_all(text_path, &len);
    if (!text) return 1;
    p.n_threads = o.sp.n_threads;
    p.swa_full = o.sp.swa_full;
    p.kv_type_k = o.sp.kv_type_k;
    p.kv_type_v = o.sp.kv_type_v;
    mb_model *m = NULL;
    mb_perplexity_result r;
    int rc = 1;
    if (!cli_opts_load_model(&o, &m)) {
        /* the error is printed */
    } else if (mb_perplexity(m, text, len, &p, &r) != MB_OK) {
        cli_fail(NULL);
    } else {
        printf("%s: %d tokens, %d chunks of %d, %llu scored\n", o.model, r.n_tokens, r.n_chunks,
               p.n_ctx, (unsigned long long)r.n_scored);
        if (r.has_kld)
            print_kld(&r);
        else
            printf("Final estimate: PPL = %.4f +/- %.5f\n", r.ppl, r.ppl_err);
        if (base && !kld) printf("saved log-probabilities to %s\n", base);
        rc = 0;
    }
    mb_model_free(m);
    free(text);
    return rc;
}
