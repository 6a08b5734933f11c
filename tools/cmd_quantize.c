/* matchbox quantize IN OUT TYPE: shrink a model's weights to a GGUF type or
 * preset (docs/QUANTIZE.md). */
#include <stdio.h>
#include <string.h>

#include "calibrate_cli.h"
#include "cli.h"
#include "commands.h"
#include "matchbox/quantize.h"
#include "quantize_methods.h"

static void usage(void) {
    printf("usage: matchbox quantize IN.gguf OUT.gguf TYPE [--allow-requantize] "
           "[--allow-fallback] [-t N] [-q]\n"
           "       matchbox quantize --compare BASE.gguf FILE.gguf [REF.gguf]\n\n"
           "Write OUT with its weights in TYPE, choosing per-tensor types as llama.cpp's\n"
           "preset of that name does (docs/QUANTIZE.md). TYPE is one of:\n  %s\n\n"
           "  --allow-requantize  accept already quantized input (loses more)\n"
           "  --allow-fallback    legacy types (Q8_0, Q4_0, ...): keep tensors whose rows\n"
           "                      their block does not divide in F16 instead of refusing\n"
           "  -t N                threads (default: physical cores)\n"
           "  -q                  no per-tensor progress\n"
           "  --imatrix FILE      weight each value's fitting error by its input channel's\n"
           "                      mean x^2 (matchbox calibrate, or llama.cpp's GGUF or .dat)\n"
           "  --smooth ALPHA      SmoothQuant: move activation outliers into the weights\n"
           "                      (scales max|x|^a / max|w|^(1-a) folded into the norms;\n"
           "                      needs --imatrix from matchbox calibrate, or --calib TEXT\n"
           "                      to calibrate here), e.g. 0.5\n"
           "  --tensor-type P=T   tensors whose name matches the regular expression P\n"
           "                      get type T (e.g. 'attn_v=Q6_K'; repeatable, first wins)\n"
           "  --output-tensor-type T     output.weight (or a tied embedding) in T\n"
           "  --token-embedding-type T   token_embd.weight in T\n"
           "  --target-bpw B      choose each matrix's type (Q2_K..Q8_0) for B bits per\n"
           "                      weight with the least KL divergence, measured tensor by\n"
           "                      tensor on --calib TEXT (one calibration pass each)\n"
           "  --compare           weight RMSE of FILE against BASE, and the share of\n"
           "                      quantized blocks byte-identical to REF\n",
           mb_quant_preset_names());
    fputs(quant_method_usage, stdout);
}

static int compare(int argc, char **argv, int i) {
    if (argc - i < 2) return cli_fail("--compare needs BASE and FILE");
    mb_quant_compare_result r;
    if (mb_quant_compare(argv[i], argv[i + 1], argc - i > 2 ? argv[i + 2] : NULL, &r) != MB_OK)
        return cli_fail(NULL);
    printf("%s vs %s: RMSE %.6g, max |diff| %.6g over %llu weights\n", argv[i + 1], argv[i], r.rmse,
           r.max_abs, (unsigned long long)r.n_compared);
    if (argc - i > 2)
        printf("blocks byte-identical to %s: %llu of %llu (%.2f%%)\n", argv[i + 2],
               (unsigned long long)r.n_blocks_same, (unsigned long long)r.n_blocks,
               r.n_blocks ? 100.0 * (double)r.n_blocks_same / (double)r.n_blocks : 0.0);
    return 0;
}

/* --tensor-type and friends, and --target-bpw: 1 if argv[*i] is one
 * (consumed), 0 if not, -1 on a bad value (message printed). */
static int plan_option(int argc, char **argv, int *i, mb_quant_overrides *ov, double *bpw) {
    const char *a = argv[*i], *v;
    mb_status st;
    if (!strcmp(a, "--tensor-type")) {
        if (!(v = cli_value(argc, argv, i))) return -1;
        st = mb_quant_overrides_add(ov, v);
    } else if (!strcmp(a, "--output-tensor-type") || !strcmp(a, "--token-embedding-type")) {
        if (!(v = cli_value(argc, argv, i))) return -1;
        st = mb_quant_overrides_set_role(ov, !strcmp(a, "--output-tensor-type"), v);
    } else if (!strcmp(a, "--target-bpw")) {
        if (!(v = cli_value(argc, argv, i)) || !cli_float("--target-bpw", v, bpw)) return -1;
        if (!(*bpw >= 1.0 && *bpw <= 32.0))
            return cli_fail("--target-bpw %s: must be between 1 and 32", v), -1;
        return 1;
    } else {
        return 0;
    }
    return st == MB_OK ? 1 : (cli_fail(NULL), -1);
}

static int run_quantize(int argc, char **argv, mb_quant_overrides *ov);

int cmd_quantize(int argc, char **argv) {
    mb_quant_overrides *ov = NULL;
    if (mb_quant_overrides_new(&ov) != MB_OK) return cli_fail(NULL);
    const int rc = run_quantize(argc, argv, ov);
    mb_quant_overrides_free(ov);
    return rc;
}

static int run_quantize(int argc, char **argv, mb_quant_overrides *ov) {
    const char *pos[3] = {NULL, NULL, NULL};
    int n_pos = 0, quiet = 0;
    const char *imatrix_path = NULL;
    mb_quantize_params p = mb_quantize_default_params();
    int mr;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage();
            return 0;
        } else if (!strcmp(a, "--compare")) {
            return compare(argc, argv, i + 1);
        } else if (!strcmp(a, "--allow-requantize")) {
            p.allow_requantize = 1;
        } else if (!strcmp(a, "--allow-fallback")) {
            p.allow_fallback = 1;
        } else if (!strcmp(a, "--imatrix")) {
            if (!(imatrix_path = cli_value(argc, argv, &i))) return 1;
        } else if (!strcmp(a, "--smooth")) {
            const char *v = cli_value(argc, argv, &i);
            double alpha;
            if (!v || !cli_float("--smooth", v, &alpha)) return 1;
            if (!(alpha > 0 && alpha <= 1))
                return cli_fail("--smooth %s: alpha must be in (0, 1]", v);
            p.smooth_alpha = (float)alpha;
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            quiet = 1;
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            const char *v = cli_value(argc, argv, &i);
            long n;
            if (!v || !cli_int("-t", v, 1, 1024, &n)) return 1;
            p.n_threads = (int)n;
        } else if ((mr = quant_method_option(argc, argv, &i, &p)) != 0 ||
                   (mr = plan_option(argc, argv, &i, ov, &p.target_bpw)) != 0) {
            if (mr < 0) return 1;
        } else if (a[0] == '-' && a[1]) {
            return cli_fail("unknown option '%s' (see matchbox quantize --help)", a);
        } else if (n_pos < 3) {
            pos[n_pos++] = a;
        } else {
            return cli_fail("unexpected argument '%s'", a);
        }
    }
    if (n_pos < 3) return cli_fail("need IN OUT TYPE (see matchbox quantize --help)");
    if (!mb_quant_preset_find(pos[2]))
        return cli_fail("unknown type '%s'; valid types: %s", pos[2], mb_quant_preset_names());
    if (!cli_check_output(pos[1])) return 1;
    p.type = pos[2];
    p.progress = quiet ? NULL : calibrate_cli_progress;
    /* --smooth with --calib TEXT (and no method): calibrate here. */
    const int calib_here =
        p.smooth_alpha > 0 && !imatrix_path && p.calib_path && p.method == MB_QUANT_PLAIN;
    if (p.smooth_alpha > 0 && !imatrix_path && !calib_here)
        return cli_fail("--smooth needs --imatrix FILE (from matchbox calibrate) or --calib TEXT");
    if (p.target_bpw > 0 && !p.calib_path)
        return cli_fail("--target-bpw needs --calib TEXT (the text its damage is measured on)");
    if (quant_method_check(&p)) return 1;
    mb_imatrix *im = NULL;
    if (imatrix_path && mb_imatrix_read(imatrix_path, &im) != MB_OK) return cli_fail(NULL);
    if (calib_here &&
        calibrate_cli_run(pos[0], p.calib_path, p.calib_chunks, p.calib_ctx, p.n_threads, &im))
        return 1;
    if (calib_here) imatrix_path = p.calib_path;
    p.imatrix = im;
    p.overrides = ov;
    mb_quantize_stats s;
    const mb_status qst = mb_quantize_file(pos[0], pos[1], &p, &s);
    mb_imatrix_free(im);
    if (qst != MB_OK) return cli_fail(NULL);
    if (imatrix_path)
        fprintf(stderr, "importance matrix %s: %d tensors fitted with it%s", imatrix_path,
                s.n_weighted, p.smooth_alpha > 0 ? "" : "\n");
    if (p.smooth_alpha > 0)
        fprintf(stderr, ", SmoothQuant alpha %.2f on %d norm groups\n", (double)p.smooth_alpha,
                s.n_smooth_groups);
    const double mib = 1024.0 * 1024.0;
    fprintf(stderr,
            "quantized %s -> %s (%s): %d tensors, %d converted, %d fallback(s), %.2f s\n"
            "  weights %.2f MiB -> %.2f MiB (%.2f bpw -> %.2f bpw), file %.2f MiB -> %.2f MiB\n",
            pos[0], pos[1], pos[2], s.n_tensors, s.n_converted, s.n_fallback, s.seconds,
            (double)s.bytes_in / mib, (double)s.bytes_out / mib,
            s.n_weights ? 8.0 * (double)s.bytes_in / (double)s.n_weights : 0.0,
            s.n_weights ? 8.0 * (double)s.bytes_out / (double)s.n_weights : 0.0,
            (double)s.file_in / mib, (double)s.file_out / mib);
    return 0;
}
