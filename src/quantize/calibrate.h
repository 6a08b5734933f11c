/* Activation statistics of a model over a calibration text (calibrate.c). */
#ifndef MB_QUANTIZE_CALIBRATE_H
#define MB_QUANTIZE_CALIBRATE_H

#include <stdio.h>

#include "matchbox.h"
#include "quantize/imatrix.h"

typedef struct {
    int n_ctx;     /* tokens per chunk (default 512) */
    int n_chunks;  /* <= 0: as many as the text has */
    int n_threads; /* 0: physical cores */
    FILE *progress;
} mb_calib_params;

/* Evaluate TEXT in chunks of n_ctx tokens and add the input rows of every
 * blk.* matrix product to IM (sum of x^2, max |x|, rows). */
mb_status mb_calibrate(mb_model *m, const char *text, size_t len, const mb_calib_params *p,
                       mb_imatrix *im);

#endif
