/* Calibration-aware quantization (docs/QUANTIZE.md, "Calibrated methods"):
 * the per-type grid GPTQ rounds to (gptq_grid.c), the GPTQ solver for one
 * matrix (gptq_solve.c), the calibration pass that collects input
 * statistics (calib_capture.c), and the model-level GPTQ and AWQ hooks
 * into mb_quantize_file (gptq_model.c, awq.c). */
#ifndef MB_QUANTIZE_GPTQ_H
#define MB_QUANTIZE_GPTQ_H

#include <math.h>
#include <stdint.h>

#include "matchbox.h"
#include "matchbox/quantize.h"
#include "quantize/quantize.h"

/* ---- the grid of a block type (gptq_grid.c) --------------------------- */

/* Whether TYPE has a grid here (Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q2_K..Q6_K). */
int mb_qgrid_supported(uint32_t type);
/* Values per sub-block sharing one (a, m) pair. */
int mb_qgrid_sub_size(uint32_t type);
/* Fit one block of TYPE to X (the type's own encoder: same scales and
 * mins as plain quantization of these values) into BLOCK. */
void mb_qgrid_fit(uint32_t type, const float *x, void *block);
/* The grid of sub-block SUB of BLOCK: value(q) = a * q - m for integer q
 * in [*qlo, *qhi], computed in that order it equals the decoder's value. */
void mb_qgrid_params(uint32_t type, const void *block, int sub, float *a, float *m, int *qlo,
                     int *qhi);
/* Store code Q (in [qlo, qhi]) for element E of BLOCK. */
void mb_qgrid_set(uint32_t type, void *block, int e, int q);
/* Nearest code of X on the grid (a, m, qlo, qhi), and its value. */
static inline int mb_qgrid_round(float x, float a, float m, int qlo, int qhi, float *value) {
    int q = 0;
    if (a != 0.0f) {
        float r = nearbyintf((x + m) / a);
        q = !(r >= (float)qlo) ? qlo : r > (float)qhi ? qhi : (int)r;
    } else {
        q = qlo > 0 ? qlo : (qhi < 0 ? qhi : 0);
    }
    *value = a * (float)q - m;
    return q;
}

/* ---- linear algebra and the GPTQ solver (gptq_solve.c) ---------------- */

/* In-place lower Cholesky factor of the symmetric positive definite N x N
 * matrix A (row-major; the upper triangle is zeroed). MB_ERR_INVALID_ARG
 * if a pivot is not positive. */
mb_status mb_cholesky(double *a, int n);
/* A := A^-1 for symmetric positive definite A, via its Cholesky factor. */
mb_status mb_spd_inverse(double *a, int n);
/* A := U, the upper triangular factor with U^T U = A^-1 and a positive
 * diagonal (what GPTQ needs), from one Cholesky factorization. */
mb_status mb_spd_inverse_upper_factor(double *a, int n);

typedef struct {
    double damp;   /* lambda = damp * mean(diag H); 0.01 */
    int act_order; /* process blocks, and columns in a block, by diag(H) descending */
    int lazy;      /* lazy batch width B (rounded up to whole type blocks); 128 */
    int n_threads; /* rows split over threads; 0: 1 */
    /* Fit each block's scales with the importance-weighted encoder
     * (tensor/quant_weighted.h), importances diag(H) (mean x^2 per input
     * channel); types without one use the plain fit. */
    int weighted_fit;
} mb_gptq_params;

/* GPTQ of W [n_rows][n_cols] (row-major floats, n_cols a multiple of the
 * TYPE's block) against the Hessian H [n_cols][n_cols] (sum of x x^T over
 * calibration rows; not modified): writes the n_rows rows of TYPE blocks
 * to OUT, and if DEQ is not NULL the values GPTQ chose (what OUT decodes
 * to). W is used as scratch (its contents are lost). */
mb_status mb_gptq_quantize(float *w, int64_t n_rows, int n_cols, const double *h, uint32_t type,
                           const mb_gptq_params *p, void *out, float *deq);

/* ---- SparseGPT for one matrix (sparsegpt.c) ---------------------------- */

typedef struct {
    double sparsity; /* unstructured: share of each row set to zero */
    int n, m;        /* N:M (n > 0): N of every M consecutive weights kept */
    int block;       /* columns per mask selection and lazy batch; 0: 128 */
    double damp;     /* lambda = damp * mean(diag H); 0: 0.01 */
    int n_threads;   /* rows split over threads; 0: 1 */
} mb_sparsegpt_params;

/* Prune W [n_rows][n_cols] (row-major floats, in place) against the
 * Hessian H [n_cols][n_cols] (not modified): the pruned weights become
 * exactly 0 and the others carry the compensation. */
mb_status mb_sparsegpt_prune(float *w, int64_t n_rows, int n_cols, const double *h,
                             const mb_sparsegpt_params *p);

/* ---- GPTQ over a model file (gptq_model.c) ------------------------------ */

/* Another solver on the same Hessians (SparseGPT's pruning, prune.c):
 * WANT says which tensors get one, SOLVE writes tensor INDEX (its floats W,
 * scratch, and H) to OUT. */
typedef struct {
    int (*want)(void *user, const mb_gguf_tensor *t);
    mb_status (*solve)(void *user, uint64_t index, float *w, int64_t n_rows, int n_cols,
                       const double *h, void *out);
    void *user;
} mb_gptq_solver;

typedef struct {
    const char *model_path;      /* the float model being quantized: it is also run */
    const char *calib_path;      /* calibration text */
    int calib_chunks, calib_ctx; /* 0: defaults of mb_calib_params */
    int n_threads;
    mb_gptq_params gptq;
    double mem_mib;          /* Hessians held at once; a pass collects as many as fit (0: 1024) */
    mb_progress_fn progress; /* pass notices; NULL: quiet */
    void *progress_user;
    mb_gptq_solver solver; /* solve == NULL: GPTQ */
} mb_gptq_model_params;

typedef struct mb_gptq_model mb_gptq_model;

mb_status mb_gptq_model_new(const mb_gptq_model_params *p, mb_gptq_model **out);
/* The hook that makes mb_quantize_file quantize with GPTQ. */
void mb_gptq_model_hook(mb_gptq_model *m, mb_quant_hook *hook);
/* Calibration passes run (for the report). */
int mb_gptq_model_passes(const mb_gptq_model *m);
void mb_gptq_model_free(mb_gptq_model *m);

#endif
