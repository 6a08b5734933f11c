/* matchbox prune IN OUT: set the transformer blocks' least important
 * weights to zero and store the matrices in a sparse type whose kernels
 * skip the zeros (docs/QUANTIZE.md, "Pruning"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calibrate_cli.h"
#include "cli.h"
#include "commands.h"
#include "matchbox/quantize.h"

static void usage(void) {
    printf(
        "usage: matchbox prune IN.gguf OUT.gguf [--sparsity S] [--method M]\n"
        "                     [--pattern unstructured|N:M] [--type SQ4|SQ8|SQ4_24|dense]\n"
        "                     [--preset P] [--schedule REGEX=S,...] [--calib TEXT] [-t N] [-q]\n\n"
        "Zero the lowest-scoring weights of every attention and feed-forward matrix\n"
        "(blk.*) and write OUT atomically, recording the method in its metadata.\n\n"
        "  --sparsity S      share of each matrix set to zero (default 0.5)\n"
        "  --method M        magnitude (default): |w|; wanda: |w| * ||x|| over the\n"
        "                    calibration text's inputs (needs --calib); sparsegpt:\n"
        "                    w^2 / [H^-1]_jj^2 with the kept weights updated to\n"
        "                    compensate (Frantar & Alistarh 2023; needs --calib)\n"
        "  --pattern P       unstructured (default: per row) or N:M, e.g. 2:4, 4:8:\n"
        "                    N of every M consecutive weights kept\n"
        "  --type T          the matrices' type: SQ4 (default, 4-bit non-zeros with a\n"
        "                    bitmask: 3.25 bits per weight at 50%%), SQ8 (5.25),\n"
        "                    SQ4_24 (2:4 in a fixed stride, 3.0; the default with\n"
        "                    --pattern 2:4), or dense: the preset's type, zeros stored\n"
        "                    as values\n"
        "  --preset P        types of the other tensors (and of dense matrices),\n"
        "                    a quantize preset (default Q4_K_M)\n"
        "  --schedule SPEC   per-tensor sparsity, REGEX=S[,REGEX=S...], first match\n"
        "                    wins (e.g. 'attn_=0.5,blk\\.0\\.=0.5')\n"
        "  --calib TEXT      calibration text (wanda, sparsegpt)\n"
        "  --calib-chunks N  chunks of it to run (default 32)\n"
        "  --calib-ctx N     tokens per chunk (default min(512, trained context))\n"
        "  -t N              threads (default: physical cores)\n"
        "  -q                no per-tensor progress\n"
        "\n"
        "SQ4/SQ8 hold at most half of each block of 256 weights: unstructured\n"
        "pruning into them needs S >= 0.5. `matchbox convert --densify` writes a\n"
        "standard GGUF (Q4_0 / Q8_0) with the same values.\n");
}

static int pattern(const char *v, mb_prune_params *p) {
    if (!strcmp(v, "unstructured")) {
        p->n = p->m = 0;
        return 1;
    }
    char *e = NULL;
    const long n = strtol(v, &e, 10);
    if (*e != ':') return 0;
    char *e2 = NULL;
    const long m = strtol(e + 1, &e2, 10);
    if (*e2 || n < 1 || m <= n || m > 64) return 0;
    p->n = (int)n, p->m = (int)m;
    return 1;
}

int cmd_prune(int argc, char **argv) {
    const char *pos[2] = {NULL, NULL};
    int n_pos = 0, quiet = 0, type_given = 0;
    mb_prune_params p = mb_prune_default_params();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        long n;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage();
            return 0;
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            quiet = 1;
        } else if (!strcmp(a, "--sparsity")) {
            if (!(v = cli_value(argc, argv, &i)) || !cli_float("--sparsity", v, &p.sparsity))
                return 1;
        } else if (!strcmp(a, "--method")) {
            if (!(v = cli_value(argc, argv, &i))) return 1;
            if (!strcmp(v, "magnitude"))
                p.method = MB_PRUNE_MAGNITUDE;
            else if (!strcmp(v, "wanda"))
                p.method = MB_PRUNE_WANDA;
            else if (!strcmp(v, "sparsegpt"))
                p.method = MB_PRUNE_SPARSEGPT;
            else
                return cli_fail("--method %s: expected magnitude, wanda or sparsegpt", v);
        } else if (!strcmp(a, "--pattern")) {
            if (!(v = cli_value(argc, argv, &i))) return 1;
            if (!pattern(v, &p))
                return cli_fail("--pattern %s: expected unstructured or N:M (0 < N < M <= 64)", v);
        } else if (!strcmp(a, "--type")) {
            if (!(v = cli_value(argc, argv, &i))) return 1;
            p.type = !strcmp(v, "dense") ? NULL : v;
            type_given = 1;
        } else if (!strcmp(a, "--preset")) {
            if (!(p.preset = cli_value(argc, argv, &i))) return 1;
        } else if (!strcmp(a, "--schedule")) {
            if (!(p.schedule = cli_value(argc, argv, &i))) return 1;
        } else if (!strcmp(a, "--calib")) {
            if (!(p.calib_path = cli_value(argc, argv, &i))) return 1;
        } else if (!strcmp(a, "--calib-chunks") || !strcmp(a, "--calib-ctx")) {
            if (!(v = cli_value(argc, argv, &i)) || !cli_int(a, v, 1, 1 << 20, &n)) return 1;
            *(!strcmp(a, "--calib-chunks") ? &p.calib_chunks : &p.calib_ctx) = (int)n;
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            if (!(v = cli_value(argc, argv, &i)) || !cli_int("-t", v, 1, 1024, &n)) return 1;
            p.n_threads = (int)n;
        } else if (a[0] == '-' && a[1]) {
            return cli_fail("unknown option '%s' (see matchbox prune --help)", a);
        } else if (n_pos < 2) {
            pos[n_pos++] = a;
        } else {
            return cli_fail("unexpected argument '%s'", a);
        }
    }
    if (n_pos < 2) return cli_fail("need IN and OUT (see matchbox prune --help)");
    if (!type_given && p.n == 2 && p.m == 4) p.type = "SQ4_24"; /* its fixed-stride layout */
    if (!mb_quant_preset_find(p.preset))
        return cli_fail("unknown preset '%s'; valid: %s", p.preset, mb_quant_preset_names());
    if (!cli_check_output(pos[1])) return 1;
    p.progress = quiet ? NULL : calibrate_cli_progress;
    mb_quantize_stats s;
    if (mb_prune_file(pos[0], pos[1], &p, &s) != MB_OK) return cli_fail(NULL);
    const double mib = 1024.0 * 1024.0;
    fprintf(stderr,
            "pruned %s -> %s: %d tensors, %.2f s; weights %.2f MiB -> %.2f MiB (%.2f bpw), file "
            "%.2f MiB\n",
            pos[0], pos[1], s.n_tensors, s.seconds, (double)s.bytes_in / mib,
            (double)s.bytes_out / mib,
            s.n_weights ? 8.0 * (double)s.bytes_out / (double)s.n_weights : 0.0,
            (double)s.file_out / mib);
    return 0;
}
