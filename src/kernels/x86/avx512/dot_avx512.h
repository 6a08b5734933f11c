/* The avx512 kernels (one dot and one multi-row dot per weight type), for
 * table_avx512.c and the tests. The 8-bit ones exist twice (int_avx512.h):
 * mb_avx512_* (the "avx512" level, no VNNI) and mb_avx512vnni_* (the
 * "avx512-vnni" and "avx512-bf16" levels); the BF16 tile with VDPBF16PS
 * (mb_avx512_gemm_bf16) needs AVX512-BF16 (../avx512bf16/bf16_avx512.c). */
#ifndef MB_KERNELS_X86_AVX512_DOT_AVX512_H
#define MB_KERNELS_X86_AVX512_DOT_AVX512_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/q4_0_r16.h"
#include "kernels/q4_k_r16.h"
#include "kernels/q5_k_r16.h"
#include "kernels/q6_k_r16.h"

void mb_avx512_dot_f32(int64_t n, float *out, const void *w, const void *a);
void mb_avx512_dot_rows_f32(int64_t n, float *out, const void *w, const void *a, size_t stride,
                            int n_rows);
void mb_avx512_dot_f16(int64_t n, float *out, const void *w, const void *a);
void mb_avx512_dot_rows_f16(int64_t n, float *out, const void *w, const void *a, size_t stride,
                            int n_rows);
void mb_avx512_dot_bf16(int64_t n, float *out, const void *w, const void *a);
void mb_avx512_dot_rows_bf16(int64_t n, float *out, const void *w, const void *a, size_t stride,
                             int n_rows);
/* The BF16 tile widened to floats, for the levels without AVX512-BF16. */
void mb_avx512_gemm_bf16_cvt(int64_t n, float *out, size_t os, const void *w, size_t ws, int n_w,
                             const void *a, size_t as, int n_a);
/* F16 batches four rows at a time (the 32 registers hold the accumulators). */
void mb_avx512_dot_rows4_f16(int64_t n, float *out, const void *w, const void *a, size_t stride,
                             int n_rows);
/* F16 packed panels (fpack_avx512.c): MB_FP_ROWS weight rows per panel,
 * as floats, value k of every row together (MB_FP_BLOCK_BYTES per value). */
#define MB_FP_ROWS 48
#define MB_FP_BLOCK_BYTES (4 * MB_FP_ROWS)
void mb_avx512_pack_f16(int64_t n, void *panel, const void *w, size_t ws, int n_w);
void mb_avx512_gemm_packed_f16(int64_t n, float *out, size_t os, const void *panel, const void *a,
                               size_t as, int n_a, int add);
/* Register-blocked batch products (mb_gemm_tile_fn, gemm_avx512.c). */
void mb_avx512_gemm_f16(int64_t n, float *out, size_t os, const void *w, size_t ws, int n_w,
                        const void *a, size_t as, int n_a);
void mb_avx512_gemm_bf16(int64_t n, float *out, size_t os, const void *w, size_t ws, int n_w,
                         const void *a, size_t as, int n_a);
void mb_avx512_gemm_f32(int64_t n, float *out, size_t os, const void *w, size_t ws, int n_w,
                        const void *a, size_t as, int n_a);

/* Packed batch products of the K-quants (kpack_avx512.c): MB_KP_ROWS
 * weight rows per panel, MB_KP_BLOCK_BYTES of panel per 256 values, MB_KP_A
 * activation rows per register tile. */
#define MB_KP_ROWS 16
#define MB_KP_A 8
#define MB_KP_BLOCK_BYTES 5696
/* Packed batch products of Q4_0 and Q8_0 (qpack_avx512.c): MB_QP_ROWS
 * weight rows per panel (the 16th lane sums the activations), 576 bytes of
 * panel per 32 values. */
#define MB_QP_ROWS 15
#define MB_QP_BLOCK_BYTES 576

/* The 8-bit kernels of one variant, P the name prefix. mb_gemm_q4_0
 * (q4_0_avx512.c): within float rounding of the Q4_0 dot. */
#define MB_AVX512_INT_DECLS(P)                                                                     \
    void P##dot_q8_0(int64_t n, float *out, const void *w, const void *a);                         \
    void P##dot_rows_q8_0(int64_t n, float *out, const void *w, const void *a, size_t stride,      \
                          int n_rows);                                                             \
    void P##dot_q4_0(int64_t n, float *out, const void *w, const void *a);                         \
    void P##dot_rows_q4_0(int64_t n, float *out, const void *w, const void *a, size_t stride,      \
                          int n_rows);                                                             \
    void P##dot_wrows_q4_0(int64_t n, float *out, const void *w, size_t ws, int n_w,               \
                           const void *a);                                                         \
    void P##q4_0_r16(int64_t n, float *out, size_t out_stride, const void *w, size_t gs,           \
                     int n_groups, const mb_q4_0_r16_act *a, int n_act, int add);                  \
    void P##q4_k_r16(int64_t n, float *out, size_t out_stride, const void *w, size_t gs,           \
                     int n_groups, const mb_q4_k_r16_act *a, int n_act, int add);                  \
    void P##q5_k_r16(int64_t n, float *out, size_t out_stride, const void *w, size_t gs,           \
                     int n_groups, const mb_q4_k_r16_act *a, int n_act, int add);                  \
    void P##q6_k_r16(int64_t n, float *out, size_t out_stride, const void *w, size_t gs,           \
                     int n_groups, const mb_q6_k_r16_act *a, int n_act, int add);                  \
    void P##dot_q4_k(int64_t n, float *out, const void *w, const void *a);                         \
    void P##dot_rows_q4_k(int64_t n, float *out, const void *w, const void *a, size_t stride,      \
                          int n_rows);                                                             \
    void P##dot_q5_k(int64_t n, float *out, const void *w, const void *a);                         \
    void P##dot_rows_q5_k(int64_t n, float *out, const void *w, const void *a, size_t stride,      \
                          int n_rows);                                                             \
    void P##dot_q6_k(int64_t n, float *out, const void *w, const void *a);                         \
    void P##dot_rows_q6_k(int64_t n, float *out, const void *w, const void *a, size_t stride,      \
                          int n_rows);                                                             \
    void P##gemm_q4_0(int64_t n, float *out, size_t os, const void *w, size_t ws, int n_w,         \
                      const void *a, size_t as, int n_a);                                          \
    void P##pack_q4_k(int64_t n, void *panel, const void *w, size_t ws, int n_w);                  \
    void P##pack_q5_k(int64_t n, void *panel, const void *w, size_t ws, int n_w);                  \
    void P##pack_q6_k(int64_t n, void *panel, const void *w, size_t ws, int n_w);                  \
    void P##gemm_packed_q4_k(int64_t n, float *out, size_t os, const void *panel, const void *a,   \
                             size_t as, int n_a, int add);                                         \
    void P##gemm_packed_q5_k(int64_t n, float *out, size_t os, const void *panel, const void *a,   \
                             size_t as, int n_a, int add);                                         \
    void P##gemm_packed_q6_k(int64_t n, float *out, size_t os, const void *panel, const void *a,   \
                             size_t as, int n_a, int add);                                         \
    void P##pack_q4_0(int64_t n, void *panel, const void *w, size_t ws, int n_w);                  \
    void P##pack_q8_0(int64_t n, void *panel, const void *w, size_t ws, int n_w);                  \
    void P##gemm_packed_q4_0(int64_t n, float *out, size_t os, const void *panel, const void *a,   \
                             size_t as, int n_a, int add);                                         \
    void P##gemm_packed_q8_0(int64_t n, float *out, size_t os, const void *panel, const void *a,   \
                             size_t as, int n_a, int add);

MB_AVX512_INT_DECLS(mb_avx512_)
MB_AVX512_INT_DECLS(mb_avx512vnni_)

#endif
