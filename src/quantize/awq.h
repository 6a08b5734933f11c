/* AWQ: activation-aware per-input-channel scaling (Lin et al. 2023,
 * "AWQ: Activation-aware Weight Quantization"), folded into the RMSNorm
 * that feeds the scaled matrices, so the output stays a standard GGUF
 * (awq.c; docs/QUANTIZE.md, "Calibrated methods"). */
#ifndef MB_QUANTIZE_AWQ_H
#define MB_QUANTIZE_AWQ_H

#include <stdint.h>
#include <stdio.h>

#include "matchbox.h"
#include "matchbox/quantize.h"
#include "quantize/quantize.h"

/* One matrix of a group reading the same input: W [n_rows][n] floats,
 * quantized to TYPE; WEIGHTED: with the importance-weighted encoder
 * (tensor/quant_weighted.h) and the importances mb_awq_importances gives,
 * instead of the plain one. */
typedef struct {
    const float *w;
    int64_t n_rows;
    uint32_t type;
    int weighted;
} mb_awq_matrix;

/* The importances of the scaled input x / s, whose mean square on channel
 * k is H_kk / s_k^2 (S NULL: s = 1, the importance matrix's mean x^2),
 * normalized to mean 1 and floored at 1e-6 of it (a channel calibration
 * never reached must not give a block a zero scale). QW [n]. */
void mb_awq_importances(const float *h, int n, const float *s, float *qw);

/* Output error of quantizing W with input scales S (NULL: none) on inputs
 * whose Gram matrix is H = sum x x^T ([n][n] floats):
 * sum over rows of d^T H d, d = w - deq(quant(w * s)) / s, which is
 * ||X W^T - (X / s) Q(W s)^T||^2 over the calibration rows. */
double mb_awq_error(const mb_awq_matrix *m, int n, const float *s, const float *h, int n_threads);

/* Grid search of alpha in {0, 1/G, ..., (G-1)/G}: s = mean_abs^alpha,
 * normalized to sqrt(max s * min s) = 1; keeps the alpha of least summed
 * error over the group (alpha 0 is s = 1: plain rounding, or with weighted
 * matrices the imatrix-style fit, so the result is never worse than it on
 * these statistics). Writes S [n], *ALPHA and the errors of the best and
 * of alpha 0. */
mb_status mb_awq_search(const mb_awq_matrix *mats, int n_mats, int n, const float *h,
                        const double *mean_abs, int n_grid, int n_threads, float *s, float *alpha,
                        double *err_best, double *err_plain);
/* The scales for one alpha. */
void mb_awq_scales(const double *mean_abs, int n, float alpha, float *s);

typedef struct {
    const char *model_path, *calib_path;
    int calib_chunks, calib_ctx, n_threads;
    int n_grid;       /* alpha grid points (20) */
    int no_down;      /* 1: leave ffn_down (scaled through ffn_up's rows) alone */
    int weighted_fit; /* 1: every rewritten matrix, in the search and in the
                       * file, through the weighted encoders (mb_awq_importances) */
    int fixed_alpha;  /* 1: use ALPHA instead of searching (tests) */
    float alpha;
    mb_progress_fn progress; /* pass notices; NULL: quiet */
    void *progress_user;
} mb_awq_model_params;

typedef struct mb_awq_model mb_awq_model;

mb_status mb_awq_model_new(const mb_awq_model_params *p, mb_awq_model **out);
void mb_awq_model_hook(mb_awq_model *m, mb_quant_hook *hook);
void mb_awq_model_free(mb_awq_model *m);

#endif
