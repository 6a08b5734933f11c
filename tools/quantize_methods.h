/* The calibrated methods of matchbox quantize (--method gptq|awq and their
 * options): parsed here into the library's params, whose defaults are the
 * library's (mb_quantize_default_params), so cmd_quantize.c only forwards. */
#ifndef MB_TOOLS_QUANTIZE_METHODS_H
#define MB_TOOLS_QUANTIZE_METHODS_H

#include "matchbox/quantize.h"

/* 1 if argv[*i] is one of the method options (consumed, with its value,
 * into P), 0 if not, -1 on a bad value (message printed). */
int quant_method_option(int argc, char **argv, int *i, mb_quantize_params *p);
/* After parsing: the checks whose messages name the options (0 ok, 1 with
 * the error printed). */
int quant_method_check(const mb_quantize_params *p);
/* The usage lines of these options. */
extern const char quant_method_usage[];

#endif
