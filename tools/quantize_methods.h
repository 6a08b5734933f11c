/* The calibrated methods of matchbox quantize (--method gptq|awq and their
 * options): parsed here so cmd_quantize.c only forwards to them. */
#ifndef MB_TOOLS_QUANTIZE_METHODS_H
#define MB_TOOLS_QUANTIZE_METHODS_H

#include "quantize/quantize.h"

typedef struct {
    const char *method; /* NULL / "plain", "gptq", "awq" */
    const char *calib;
    int calib_chunks, calib_ctx, act_order, block, awq_grid, awq_no_down;
    int weighted_fit;
    double damp, mem_mib;
    void *state; /* the method's model object */
    mb_quant_hook hook;
} quant_method_opts;

/* 1 if argv[*i] is one of the method options (consumed, with its value),
 * 0 if not, -1 on a bad value (message printed). */
int quant_method_option(int argc, char **argv, int *i, quant_method_opts *o);
/* After parsing: build the hook for IN (0 ok, 1 error printed); sets
 * p->hook when a method is chosen. */
int quant_method_setup(quant_method_opts *o, const char *in, mb_quantize_params *p);
void quant_method_free(quant_method_opts *o);
/* The usage lines of these options. */
extern const char quant_method_usage[];

#endif
