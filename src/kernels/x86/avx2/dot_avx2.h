/* The avx2 kernels (one dot and one multi-row dot per weight type), for
 * table_avx2.c and the tests. */
#ifndef MB_KERNELS_X86_AVX2_DOT_AVX2_H
#define MB_KERNELS_X86_AVX2_DOT_AVX2_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/q4_0_r16.h"
#include "kernels/q4_k_r16.h"
#include "kernels/r16_gather.h"

void mb_avx2_dot_f32(int64_t n, float *out, const void *w, const void *a);
void mb_avx2_dot_rows_f32(int64_t n, float *out, const void *w, const void *a, size_t stride,
                          int n_rows);
void mb_avx2_dot_f16(int64_t n, float *out, const void *w, const void *a);
void mb_avx2_dot_rows_f16(int64_t n, float *out, const void *w, const void *a, size_t stride,
                          int n_rows);
void mb_avx2_dot_bf16(int64_t n, float *out, const void *w, const void *a);
void mb_avx2_dot_rows_bf16(int64_t n, float *out, const void *w, const void *a, size_t stride,
                           int n_rows);
void mb_avx2_dot_q8_0(int64_t n, float *out, const void *w, const void *a);
void mb_avx2_dot_rows_q8_0(int64_t n, float *out, const void *w, const void *a, size_t stride,
                           int n_rows);
void mb_avx2_dot_q4_0(int64_t n, float *out, const void *w, const void *a);
void mb_avx2_dot_rows_q4_0(int64_t n, float *out, const void *w, const void *a, size_t stride,
                           int n_rows);
void mb_avx2_dot_wrows_q4_0(int64_t n, float *out, const void *w, size_t w_stride, int n_w,
                            const void *a);
void mb_avx2_q4_0_r16(int64_t n, float *out, size_t out_stride, const void *w, size_t group_stride,
                      int n_groups, const mb_q4_0_r16_act *a, int n_act, int add);
void mb_avx2_r16_gather(const uint8_t *chunks, size_t chunk_stride, uint8_t *dst, size_t row_bytes,
                        int r0, int nr);
void mb_avx2_q4_k_r16(int64_t n, float *out, size_t out_stride, const void *w, size_t group_stride,
                      int n_groups, const mb_q4_k_r16_act *a, int n_act, int add);
void mb_avx2_dot_q4_k(int64_t n, float *out, const void *w, const void *a);
void mb_avx2_dot_rows_q4_k(int64_t n, float *out, const void *w, const void *a, size_t stride,
                           int n_rows);
void mb_avx2_dot_q5_k(int64_t n, float *out, const void *w, const void *a);
void mb_avx2_dot_rows_q5_k(int64_t n, float *out, const void *w, const void *a, size_t stride,
                           int n_rows);
void mb_avx2_dot_q6_k(int64_t n, float *out, const void *w, const void *a);
void mb_avx2_dot_rows_q6_k(int64_t n, float *out, const void *w, const void *a, size_t stride,
                           int n_rows);
/* Register-blocked batch products (mb_gemm_tile_fn, gemm_avx2.c). */
/* F16 packed panels (fpack_avx2.c): MB_AFP_ROWS weight rows per panel, as
 * floats, value k of every row together (MB_AFP_BLOCK_BYTES per value). */
#define MB_AFP_ROWS 24
#define MB_AFP_BLOCK_BYTES (4 * MB_AFP_ROWS)
void mb_avx2_pack_f16(int64_t n, void *panel, const void *w, size_t ws, int n_w);
void mb_avx2_gemm_packed_f16(int64_t n, float *out, size_t os, const void *panel, const void *a,
                             size_t as, int n_a, int add);
void mb_avx2_gemm_f16(int64_t n, float *out, size_t os, const void *w, size_t ws, int n_w,
                      const void *a, size_t as, int n_a);
void mb_avx2_gemm_bf16(int64_t n, float *out, size_t os, const void *w, size_t ws, int n_w,
                       const void *a, size_t as, int n_a);
void mb_avx2_gemm_f32(int64_t n, float *out, size_t os, const void *w, size_t ws, int n_w,
                      const void *a, size_t as, int n_a);

/* Packed batch products (mb_pack_fn / mb_gemm_packed_fn, panel_avx2.h):
 * MB_AP_ROWS weight rows per panel, MB_AP_A activation rows per register
 * tile. The K-quants (kpack_avx2.c) take MB_AP_K_BLOCK_BYTES of panel per
 * 256 values; Q4_0 and Q8_0 (qpack_avx2.c) their own per 32 values. */
#define MB_AP_ROWS 8
#define MB_AP_A 4
#define MB_AP_K_BLOCK_BYTES 2880
#define MB_AP_Q4_0_BLOCK_BYTES 320
#define MB_AP_Q8_0_BLOCK_BYTES 288
void mb_avx2_pack_q4_k(int64_t n, void *panel, const void *w, size_t ws, int n_w);
void mb_avx2_pack_q5_k(int64_t n, void *panel, const void *w, size_t ws, int n_w);
void mb_avx2_pack_q6_k(int64_t n, void *panel, const void *w, size_t ws, int n_w);
void mb_avx2_pack_q3_k(int64_t n, void *panel, const void *w, size_t ws, int n_w);
void mb_avx2_pack_q2_k(int64_t n, void *panel, const void *w, size_t ws, int n_w);
void mb_avx2_pack_q4_0(int64_t n, void *panel, const void *w, size_t ws, int n_w);
void mb_avx2_pack_q8_0(int64_t n, void *panel, const void *w, size_t ws, int n_w);
void mb_avx2_gemm_packed_q4_k(int64_t n, float *out, size_t os, const void *panel, const void *a,
                              size_t as, int n_a, int add);
void mb_avx2_gemm_packed_q5_k(int64_t n, float *out, size_t os, const void *panel, const void *a,
                              size_t as, int n_a, int add);
void mb_avx2_gemm_packed_q6_k(int64_t n, float *out, size_t os, const void *panel, const void *a,
                              size_t as, int n_a, int add);
void mb_avx2_gemm_packed_q3_k(int64_t n, float *out, size_t os, const void *panel, const void *a,
                              size_t as, int n_a, int add);
void mb_avx2_gemm_packed_q2_k(int64_t n, float *out, size_t os, const void *panel, const void *a,
                              size_t as, int n_a, int add);
void mb_avx2_gemm_packed_q4_0(int64_t n, float *out, size_t os, const void *panel, const void *a,
                              size_t as, int n_a, int add);
void mb_avx2_gemm_packed_q8_0(int64_t n, float *out, size_t os, const void *panel, const void *a,
                              size_t as, int n_a, int add);

/* The sparse types (dot_avx2_sparse.c); mb_avx2_sparse_init builds their
 * shuffle table and must run once before them (the table fills call it). */
void mb_avx2_sparse_init(void);
void mb_avx2_dot_sq4(int64_t n, float *out, const void *w, const void *a);
void mb_avx2_dot_sq8(int64_t n, float *out, const void *w, const void *a);
void mb_avx2_dot_wrows_sq4(int64_t n, float *out, const void *w, size_t w_stride, int n_w,
                           const void *a);
void mb_avx2_dot_wrows_sq8(int64_t n, float *out, const void *w, size_t w_stride, int n_w,
                           const void *a);
/* SQ4_24 through mb_avx2_dot_sq4 (kernels/sq4_24_via_sq4.h). */
void mb_avx2_dot_sq4_24(int64_t n, float *out, const void *w, const void *a);

#endif
