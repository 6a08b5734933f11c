/* The sparse dots for CPUs with AVX512-VBMI2 and VNNI (sparse_vbmi2.c);
 * the AVX-512 levels use them when mb_cpu_get() reports both. */
#ifndef MB_KERNELS_X86_SPARSE_VBMI2_H
#define MB_KERNELS_X86_SPARSE_VBMI2_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/sq4_lanes.h"

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
void mb_vbmi2_dot_wrows_sq4_24(int64_t n, float *out, const void *w, size_t w_stride, int n_w,
                               const void *a);
void mb_vbmi2_dot_rows_sq4_24(int64_t n, float *out, const void *w, const void *a, size_t a_stride,
                              int n_rows);

/* Packed batch products (spack_vbmi2.c): MB_SP_ROWS weight rows per panel,
 * MB_SP_BLOCK_BYTES of panel per 256 weights (a code byte per weight and
 * the four quarter scales of each row). */
#define MB_SP_ROWS 16
#define MB_SP_BLOCK_BYTES 4352
void mb_vbmi2_pack_sq4(int64_t n, void *panel, const void *w, size_t ws, int n_w);
void mb_vbmi2_pack_sq8(int64_t n, void *panel, const void *w, size_t ws, int n_w);
void mb_vbmi2_pack_sq4_24(int64_t n, void *panel, const void *w, size_t ws, int n_w);
void mb_vbmi2_gemm_packed_sq4(int64_t n, float *out, size_t os, const void *panel, const void *a,
                              size_t as, int n_a, int add);
void mb_vbmi2_gemm_packed_sq8(int64_t n, float *out, size_t os, const void *panel, const void *a,
                              size_t as, int n_a, int add);
void mb_vbmi2_gemm_packed_sq4_24(int64_t n, float *out, size_t os, const void *panel, const void *a,
                                 size_t as, int n_a, int add);

/* SQ4 in lanes (sq4_lanes_vbmi2.c; an mb_sq4_lanes_fn, an
 * mb_sq4_convert_fn) and its panels (the SQ4 panels, from lanes rows). */
void mb_vbmi2_sq4_lanes(int64_t n, float *out, size_t out_stride, const void *w, size_t w_stride,
                        int n_w, const void *act, size_t act_stride, int n_act, int add);
void mb_vbmi2_sq4_convert(int64_t n_blocks, void *dst, const void *src, int to_lanes);
void mb_vbmi2_pack_sq4_lanes(int64_t n, void *panel, const void *w, size_t ws, int n_w);

#endif
