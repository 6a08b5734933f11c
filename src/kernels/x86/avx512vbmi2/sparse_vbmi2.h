/* The sparse dots for CPUs with AVX512-VBMI2 and VNNI (sparse_vbmi2.c);
 * the AVX-512 levels use them when mb_cpu_get() reports both. */
#ifndef MB_KERNELS_X86_SPARSE_VBMI2_H
#define MB_KERNELS_X86_SPARSE_VBMI2_H

#include <stddef.h>
#include <stdint.h>

void mb_vbmi2_dot_sq4(int64_t n, float *out, const void *w, const void *a);
void mb_vbmi2_dot_sq8(int64_t n, float *out, const void *w, const void *a);
void mb_vbmi2_dot_rows_sq4(int64_t n, float *out, const void *w, const void *a, size_t a_stride,
                           int n_rows);
void mb_vbmi2_dot_rows_sq8(int64_t n, float *out, const void *w, const void *a, size_t a_stride,
                           int n_rows);

void mb_vbmi2_dot_wrows_sq4(int64_t n, float *out, const void *w, size_t w_stride, int n_w,
                            const void *a);
void mb_vbmi2_dot_wrows_sq8(int64_t n, float *out, const void *w, size_t w_stride, int n_w,
                            const void *a);

void mb_vbmi2_dot_sq4_24(int64_t n, float *out, const void *w, const void *a);
void mb_vbmi2_dot_rows_sq4_24(int64_t n, float *out, const void *w, const void *a, size_t a_stride,
                              int n_rows);

#endif
