/* SmoothQuant-style migration of activation outliers into the weights,
 * folded into the RMSNorm weights so the output is a standard GGUF that
 * computes the same function (docs/QUANTIZE.md, "SmoothQuant").
 *
 * For each input channel j of the matrices that read a norm's output
 * (attn_q/k/v after attn_norm, ffn_gate/up after ffn_norm):
 *     s_j = max|x_j|^alpha / max|w_j|^(1 - alpha)
 * with max|x_j| from an importance matrix's in_max (matchbox calibrate) and
 * max|w_j| over every row of the group's matrices. The norm weight is
 * divided by s (so the activations are x / s) and the matrices' columns
 * multiplied by s: (x / s) . (w * s) = x . w. */
#ifndef MB_QUANTIZE_SMOOTH_H
#define MB_QUANTIZE_SMOOTH_H

#include "format/gguf.h"
#include "quantize/imatrix.h"

typedef struct mb_smooth mb_smooth;

/* Plan the scales of every group of G that IM has maxima for (groups
 * without are left alone and counted in *n_skipped). */
mb_status mb_smooth_plan(const mb_gguf *g, const mb_imatrix *im, float alpha, mb_smooth **out,
                         int *n_groups, int *n_skipped);
void mb_smooth_free(mb_smooth *s);
/* The scales of tensor NAME ([n_cols]): a matrix multiplies its columns by
 * them, a norm divides by them (*is_norm set). NULL: not smoothed. */
const float *mb_smooth_scales(const mb_smooth *s, const char *name, int *is_norm);

#endif
