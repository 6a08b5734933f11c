/* --method gptq|awq for matchbox quantize (docs/QUANTIZE.md, "Calibrated
 * methods"). */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "quantize_methods.h"

const char quant_method_usage[] =
    "  --method M          plain (default), gptq or awq: calibrated quantization\n"
    "  --calib TEXT        calibration text (gptq, awq)\n"
    "  --calib-chunks N    chunks of the text to run (default 32)\n"
    "  --calib-ctx N       tokens per chunk (default min(512, trained context))\n"
    "  --calib-mem MIB     gptq: Hessians collected per pass (default 1024)\n"
    "  --damp X            gptq: damping, a share of mean(diag H) (default 0.01)\n"
    "  --act-order         gptq: blocks, and columns within them, by diag(H)\n"
    "  --block B           gptq: lazy batch width in columns (default 128)\n"
    "  --weighted-fit      gptq: fit block scales weighting channels by diag(H)\n"
    "                      (awq: the default, with diag(H) of the scaled input)\n"
    "  --plain-fit         awq: encode the scaled matrices with plain rounding\n"
    "  --awq-grid N        awq: grid points of alpha in [0, 1) (default 20)\n"
    "  --awq-no-down       awq: scale only the norm-fed matrices, not ffn_down\n";

static const char *method_name(mb_quant_method m) {
    return m == MB_QUANT_GPTQ ? "gptq" : m == MB_QUANT_AWQ ? "awq" : "plain";
}

int quant_method_option(int argc, char **argv, int *i, mb_quantize_params *p) {
    const char *a = argv[*i];
    long n;
    double x;
    const char *v;
    if (!strcmp(a, "--act-order")) return p->gptq.act_order = 1;
    if (!strcmp(a, "--awq-no-down")) return p->awq.no_down = 1;
    /* one switch for both methods; the last one given wins */
    if (!strcmp(a, "--weighted-fit") || !strcmp(a, "--plain-fit")) {
        p->gptq.weighted_fit = p->awq.weighted_fit = !strcmp(a, "--weighted-fit");
        return 1;
    }
    static const char *const valued[] = {"--method", "--calib", "--calib-chunks", "--calib-ctx",
                                         "--damp",   "--block", "--awq-grid",     "--calib-mem"};
    size_t k = 0;
    while (k < sizeof valued / sizeof *valued && strcmp(a, valued[k]))
        k++;
    if (k == sizeof valued / sizeof *valued) return 0;
    if (!(v = cli_value(argc, argv, i))) return -1;
    switch (k) {
    case 0:
        if (!strcmp(v, "plain"))
            p->method = MB_QUANT_PLAIN;
        else if (!strcmp(v, "gptq"))
            p->method = MB_QUANT_GPTQ;
        else if (!strcmp(v, "awq"))
            p->method = MB_QUANT_AWQ;
        else
            return cli_fail("unknown --method '%s' (plain, gptq or awq)", v), -1;
        return 1;
    case 1: p->calib_path = v; return 1;
    case 2:
    case 3:
    case 5:
    case 6:
        if (!cli_int(a, v, k == 6 ? 2 : 1, 1 << 20, &n)) return -1;
        *(k == 2   ? &p->calib_chunks
          : k == 3 ? &p->calib_ctx
          : k == 5 ? &p->gptq.block
                   : &p->awq.n_grid) = (int)n;
        return 1;
    case 4:
        if (!cli_float(a, v, &x) || x < 0 || x > 10) {
            cli_fail("--damp wants a number in [0, 10]");
            return -1;
        }
        p->gptq.damp = x > 0 ? x : mb_quantize_default_params().gptq.damp; /* 0: the default */
        return 1;
    default:
        if (!cli_float(a, v, &x) || x <= 0) {
            cli_fail("--calib-mem wants a positive number of MiB");
            return -1;
        }
        p->gptq.mem_mib = x;
        return 1;
    }
}

int quant_method_check(const mb_quantize_params *p) {
    if (p->method == MB_QUANT_PLAIN) return 0;
    if (!p->calib_path) return cli_fail("--method %s needs --calib TEXT", method_name(p->method));
    if (p->smooth_alpha > 0)
        return cli_fail("--method %s and --smooth both rescale the norms; use one",
                        method_name(p->method));
    return 0;
}
