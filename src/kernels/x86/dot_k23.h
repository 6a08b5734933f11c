/* The Q2_K and Q3_K dots of the x86 levels (dot_k23_body.h compiled per
 * level), for the level tables and the tests. Declared apart from
 * dot_avx2.h / dot_avx512.h so that they travel together. */
#ifndef MB_KERNELS_X86_DOT_K23_H
#define MB_KERNELS_X86_DOT_K23_H

#include <stddef.h>
#include <stdint.h>

void mb_avx2_dot_q2_k(int64_t n, float *out, const void *w, const void *a);
void mb_avx2_dot_rows_q2_k(int64_t n, float *out, const void *w, const void *a, size_t stride,
                           int n_rows);
void mb_avx2_dot_q3_k(int64_t n, float *out, const void *w, const void *a);
void mb_avx2_dot_rows_q3_k(int64_t n, float *out, const void *w, const void *a, size_t stride,
                           int n_rows);
void mb_avx512_dot_q2_k(int64_t n, float *out, const void *w, const void *a);
void mb_avx512_dot_rows_q2_k(int64_t n, float *out, const void *w, const void *a, size_t stride,
                             int n_rows);
void mb_avx512_dot_q3_k(int64_t n, float *out, const void *w, const void *a);
void mb_avx512_dot_rows_q3_k(int64_t n, float *out, const void *w, const void *a, size_t stride,
                             int n_rows);
void mb_avx512vnni_dot_q2_k(int64_t n, float *out, const void *w, const void *a);
void mb_avx512vnni_dot_rows_q2_k(int64_t n, float *out, const void *w, const void *a, size_t stride,
                                 int n_rows);
void mb_avx512vnni_dot_q3_k(int64_t n, float *out, const void *w, const void *a);
void mb_avx512vnni_dot_rows_q3_k(int64_t n, float *out, const void *w, const void *a, size_t stride,
                                 int n_rows);

#endif
