/* The public entry point of quantization (matchbox/quantize.h): the
 * library's defaults for every option, and the assembly of a run from
 * them: the --target-bpw planner (alloc.h) and the GPTQ or AWQ hook
 * (gptq.h, awq.h) are built here, then the streaming quantizer runs. */
#include <string.h>

#include "core/error.h"
#include "quantize/alloc.h"
#include "quantize/awq.h"
#include "quantize/gptq.h"
#include "quantize/quantize.h"

mb_quantize_params mb_quantize_default_params(void) {
    mb_quantize_params p;
    memset(&p, 0, sizeof p);
    p.type = "Q4_K_M";
    p.method = MB_QUANT_PLAIN;
    p.gptq.damp = 0.01;
    p.gptq.block = 128;
    p.gptq.mem_mib = 1024;
    p.awq.n_grid = 20;
    /* on by default: better than plain fits at every type measured
     * (docs/QUALITY.md) */
    p.awq.weighted_fit = 1;
    return p;
}

static const char *method_name(mb_quant_method m) {
    return m == MB_QUANT_GPTQ ? "GPTQ" : "AWQ";
}

/* The calibrated method's model object and its hook. */
typedef struct {
    mb_gptq_model *gptq;
    mb_awq_model *awq;
    mb_quant_hook hook;
} method_state;

static mb_status method_new(const char *in, const mb_quantize_params *p, method_state *ms) {
    if (p->method == MB_QUANT_GPTQ) {
        const mb_gptq_model_params gp = {.model_path = in,
                                         .calib_path = p->calib_path,
                                         .calib_chunks = p->calib_chunks,
                                         .calib_ctx = p->calib_ctx,
                                         .n_threads = p->n_threads,
                                         .mem_mib = p->gptq.mem_mib,
                                         .progress = p->progress,
                                         .progress_user = p->progress_user,
                                         .gptq = {.damp = p->gptq.damp,
                                                  .act_order = p->gptq.act_order,
                                                  .weighted_fit = p->gptq.weighted_fit > 0,
                                                  .lazy = p->gptq.block,
                                                  .n_threads = p->n_threads}};
        mb_status st = mb_gptq_model_new(&gp, &ms->gptq);
        if (!st) mb_gptq_model_hook(ms->gptq, &ms->hook);
        return st;
    }
    const mb_awq_model_params ap = {.model_path = in,
                                    .calib_path = p->calib_path,
                                    .calib_chunks = p->calib_chunks,
                                    .calib_ctx = p->calib_ctx,
                                    .n_threads = p->n_threads,
                                    .n_grid = p->awq.n_grid,
                                    .no_down = p->awq.no_down,
                                    .weighted_fit = p->awq.weighted_fit > 0,
                                    .progress = p->progress,
                                    .progress_user = p->progress_user};
    mb_status st = mb_awq_model_new(&ap, &ms->awq);
    if (!st) mb_awq_model_hook(ms->awq, &ms->hook);
    return st;
}

static mb_status check_params(const mb_quantize_params *p) {
    if (p->method != MB_QUANT_PLAIN && p->method != MB_QUANT_GPTQ && p->method != MB_QUANT_AWQ)
        return mb_errorf(MB_ERR_INVALID_ARG, "unknown quantization method %d", (int)p->method);
    if (p->method != MB_QUANT_PLAIN && !p->calib_path)
        return mb_errorf(MB_ERR_INVALID_ARG, "%s needs a calibration text (calib_path)",
                         method_name(p->method));
    if (p->method != MB_QUANT_PLAIN && p->smooth_alpha > 0)
        return mb_errorf(MB_ERR_INVALID_ARG, "%s and SmoothQuant both rescale the norms; use one",
                         method_name(p->method));
    if (p->target_bpw > 0 && !p->calib_path)
        return mb_errorf(MB_ERR_INVALID_ARG,
                         "a target bits per weight needs a calibration text (calib_path)");
    return MB_OK;
}

mb_status mb_quantize_file(const char *in, const char *out, const mb_quantize_params *params,
                           mb_quantize_stats *stats) {
    const mb_quantize_params defaults = mb_quantize_default_params();
    const mb_quantize_params *p = params ? params : &defaults;
    mb_quantize_stats unused;
    if (!stats) stats = &unused;
    memset(stats, 0, sizeof *stats);
    mb_status st = check_params(p);
    if (st) return st;
    if (!mb_quant_preset_find(p->type))
        return mb_errorf(MB_ERR_INVALID_ARG, "unknown type '%s'; valid types: %s",
                         p->type ? p->type : "(none)", mb_quant_preset_names());
    mb_alloc *alloc = NULL;
    mb_quant_planner planner;
    if (p->target_bpw > 0) {
        const mb_alloc_params ap = {.model_path = in,
                                    .calib_path = p->calib_path,
                                    .calib_chunks = p->calib_chunks,
                                    .calib_ctx = p->calib_ctx,
                                    .n_threads = p->n_threads,
                                    .target_bpw = p->target_bpw,
                                    .progress = p->progress,
                                    .progress_user = p->progress_user};
        if ((st = mb_alloc_new(&ap, &alloc))) return st;
        mb_alloc_planner(alloc, &planner);
    }
    method_state ms = {0};
    if (p->method != MB_QUANT_PLAIN) st = method_new(in, p, &ms);
    if (!st)
        st = mb_quantize_run(in, out, p, p->method != MB_QUANT_PLAIN ? &ms.hook : NULL,
                             alloc ? &planner : NULL, stats);
    mb_gptq_model_free(ms.gptq);
    mb_awq_model_free(ms.awq);
    mb_alloc_free(alloc);
    return st;
}
