/* --method gptq|awq for matchbox quantize (docs/QUANTIZE.md, "Calibrated
 * methods"). */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "quantize/awq.h"
#include "quantize/gptq.h"
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

int quant_method_option(int argc, char **argv, int *i, quant_method_opts *o) {
    const char *a = argv[*i];
    long n;
    const char *v;
    if (!strcmp(a, "--act-order")) return o->act_order = 1;
    if (!strcmp(a, "--awq-no-down")) return o->awq_no_down = 1;
    /* weighted_fit: 1 asked for, -1 --plain-fit, 0 the method's default */
    if (!strcmp(a, "--weighted-fit")) return o->weighted_fit = 1;
    if (!strcmp(a, "--plain-fit")) return (o->weighted_fit = -1) != 0;
    static const char *const valued[] = {"--method", "--calib", "--calib-chunks", "--calib-ctx",
                                         "--damp",   "--block", "--awq-grid",     "--calib-mem"};
    size_t k = 0;
    while (k < sizeof valued / sizeof *valued && strcmp(a, valued[k]))
        k++;
    if (k == sizeof valued / sizeof *valued) return 0;
    if (!(v = cli_value(argc, argv, i))) return -1;
    switch (k) {
    case 0:
        if (strcmp(v, "plain") && strcmp(v, "gptq") && strcmp(v, "awq")) {
            cli_fail("unknown --method '%s' (plain, gptq or awq)", v);
            return -1;
        }
        o->method = v;
        return 1;
    case 1: o->calib = v; return 1;
    case 2:
    case 3:
    case 5:
    case 6:
        if (!cli_int(a, v, k == 6 ? 2 : 1, 1 << 20, &n)) return -1;
        *(k == 2   ? &o->calib_chunks
          : k == 3 ? &o->calib_ctx
          : k == 5 ? &o->block
                   : &o->awq_grid) = (int)n;
        return 1;
    case 4:
        if (!cli_float(a, v, &o->damp) || o->damp < 0 || o->damp > 10) {
            cli_fail("--damp wants a number in [0, 10]");
            return -1;
        }
        return 1;
    default:
        if (!cli_float(a, v, &o->mem_mib) || o->mem_mib <= 0) {
            cli_fail("--calib-mem wants a positive number of MiB");
            return -1;
        }
        return 1;
    }
}

int quant_method_setup(quant_method_opts *o, const char *in, mb_quantize_params *p) {
    if (!o->method || !strcmp(o->method, "plain")) return 0;
    if (!o->calib) return cli_fail("--method %s needs --calib TEXT", o->method);
    if (p->smooth_alpha > 0)
        return cli_fail("--method %s and --smooth both rescale the norms; use one", o->method);
    if (!strcmp(o->method, "gptq")) {
        mb_gptq_model_params gp = {.model_path = in,
                                   .calib_path = o->calib,
                                   .calib_chunks = o->calib_chunks,
                                   .calib_ctx = o->calib_ctx,
                                   .n_threads = p->n_threads,
                                   .mem_mib = o->mem_mib,
                                   .progress = p->progress ? p->progress : NULL,
                                   .gptq = {.damp = o->damp > 0 ? o->damp : 0.01,
                                            .act_order = o->act_order,
                                            .weighted_fit = o->weighted_fit > 0,
                                            .lazy = o->block > 0 ? o->block : 128,
                                            .n_threads = p->n_threads}};
        mb_gptq_model *m = NULL;
        if (mb_gptq_model_new(&gp, &m) != MB_OK) return cli_fail(NULL);
        mb_gptq_model_hook(m, &o->hook);
        o->state = m;
    } else {
        mb_awq_model_params ap = {.model_path = in,
                                  .calib_path = o->calib,
                                  .calib_chunks = o->calib_chunks,
                                  .calib_ctx = o->calib_ctx,
                                  .n_threads = p->n_threads,
                                  .n_grid = o->awq_grid > 0 ? o->awq_grid : 20,
                                  .no_down = o->awq_no_down,
                                  /* on by default: better than plain fits at
                                   * every type measured (docs/QUALITY.md) */
                                  .weighted_fit = o->weighted_fit >= 0,
                                  .progress = p->progress};
        mb_awq_model *m = NULL;
        if (mb_awq_model_new(&ap, &m) != MB_OK) return cli_fail(NULL);
        mb_awq_model_hook(m, &o->hook);
        o->state = m;
    }
    p->hook = &o->hook;
    return 0;
}

void quant_method_free(quant_method_opts *o) {
    if (!o->state) return;
    if (!strcmp(o->method, "gptq"))
        mb_gptq_model_free(o->state);
    else
        mb_awq_model_free(o->state);
    o->state = NULL;
}
