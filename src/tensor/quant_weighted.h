/* Importance-weighted encoders: each value's squared fitting error counts
 * QW[i] times (roughly) as much, QW being an importance matrix's mean x^2
 * of the input channel the value multiplies (docs/QUANTIZE.md). The output
 * is a standard block of the type; only the choice of scales and codes
 * changes. The plain encoders (codecs.h) stay bit-exact with ggml's. */
#ifndef MB_TENSOR_QUANT_WEIGHTED_H
#define MB_TENSOR_QUANT_WEIGHTED_H

#include <stdint.h>

void mb_q2_k_from_float_w(const float *src, void *dst, int64_t n, const float *qw);
void mb_q3_k_from_float_w(const float *src, void *dst, int64_t n, const float *qw);
void mb_q4_k_from_float_w(const float *src, void *dst, int64_t n, const float *qw);
void mb_q5_k_from_float_w(const float *src, void *dst, int64_t n, const float *qw);
void mb_q6_k_from_float_w(const float *src, void *dst, int64_t n, const float *qw);
void mb_q4_0_from_float_w(const float *src, void *dst, int64_t n, const float *qw);
void mb_q4_1_from_float_w(const float *src, void *dst, int64_t n, const float *qw);
void mb_q5_0_from_float_w(const float *src, void *dst, int64_t n, const float *qw);
void mb_q5_1_from_float_w(const float *src, void *dst, int64_t n, const float *qw);

/* Encode N values of SRC (a multiple of TYPE's block) with importances QW
 * [n]. Returns 0, writing nothing, when TYPE has no weighted encoder (the
 * float types and Q8_0, whose error an importance matrix cannot lower
 * meaningfully). */
/* The sub-block scale coding of the weighted K-quant encoders
 * (quant_kscales.c): X, W the super-block's NSUB * SUBLEN values and
 * weights, each sub-block decoding as a*q - m, q in QLO..QHI; A[j] (and
 * M[j] >= 0, or NULL for the symmetric types) the fitted scales. Returns
 * the fp16-exact super-block scales *D_OUT (and *DMIN_OUT) and the integer
 * scales LS[j] in SMIN..SMAX (and offsets LM[j] in 0..SMAX) of least
 * weighted error. NSUB <= 16. */
void mb_kscales_code(const float *x, const float *w, int nsub, int sublen, int qlo, int qhi,
                     int smin, int smax, const float *a, const float *m, float *d_out,
                     float *dmin_out, int *ls, int *lm);

int mb_quant_row_weighted(uint32_t type, const float *src, void *dst, int64_t n, const float *qw);

#endif
