/* The scalar dot products behind mb_ref_dot_traits (dot_ref.c is their
 * table). Each has the mb_vec_dot_fn signature: weight row W of N values in
 * its own type, activation row A already converted to the activation type. */
#ifndef MB_KERNELS_REF_DOT_REF_H
#define MB_KERNELS_REF_DOT_REF_H

#include <stdint.h>

void mb_ref_dot_q4_0_q8_0(int64_t n, float *out, const void *w, const void *a);
void mb_ref_dot_q4_1_q8_1(int64_t n, float *out, const void *w, const void *a);
void mb_ref_dot_q5_0_q8_0(int64_t n, float *out, const void *w, const void *a);
void mb_ref_dot_q5_1_q8_1(int64_t n, float *out, const void *w, const void *a);
void mb_ref_dot_q8_0_q8_0(int64_t n, float *out, const void *w, const void *a);

void mb_ref_dot_q2_k_q8_k(int64_t n, float *out, const void *w, const void *a);
void mb_ref_dot_q3_k_q8_k(int64_t n, float *out, const void *w, const void *a);
void mb_ref_dot_q4_k_q8_k(int64_t n, float *out, const void *w, const void *a);
void mb_ref_dot_q5_k_q8_k(int64_t n, float *out, const void *w, const void *a);
void mb_ref_dot_q6_k_q8_k(int64_t n, float *out, const void *w, const void *a);

/* The sparse types (dot_ref_sparse.c). */
void mb_ref_dot_sq4_q8_k(int64_t n, float *out, const void *w, const void *a);
void mb_ref_dot_sq8_q8_k(int64_t n, float *out, const void *w, const void *a);
void mb_ref_dot_sq4_24_q8_k(int64_t n, float *out, const void *w, const void *a);

#endif
