/* The x86 kernel levels. Each fill function overwrites the entries its
 * level accelerates in a table that already holds the reference kernels,
 * so every other type keeps its scalar path. Only call a fill function
 * after mb_cpu_get() reported the level's features. */
#ifndef MB_KERNELS_X86_KERNELS_H
#define MB_KERNELS_X86_KERNELS_H

#include "kernels/kernels.h"

void mb_kernels_fill_avx2(mb_kernel_table *t);
/* TIER 0: "avx512" (F/BW/VL/DQ), 1: "avx512-vnni", 2: "avx512-bf16". */
void mb_kernels_fill_avx512(mb_kernel_table *t, int tier);

/* AVX2 activation encoders, byte-identical to the reference ones (the
 * AVX-512 level uses them too: they run once per row, not per weight). */
void mb_avx2_quant_q8_0(const float *src, void *dst, int64_t n);
void mb_avx2_quant_q8_k(const float *src, void *dst, int64_t n);
void mb_avx2_quant_f16(const float *src, void *dst, int64_t n);
void mb_avx2_quant_bf16(const float *src, void *dst, int64_t n);
/* y += a * x over F16 x (F16C conversion, FMA). */
void mb_avx2_axpy_f16(int64_t n, float *y, float a, const uint16_t *x);
/* The trainer's NT matrix kernel (kernels.h, mb_gemm_nt_rows_fn). */
void mb_avx2_gemm_nt_rows(float *c, int ldc, const float *a, const float *b, long m0, long m1,
                          int n, int k, int acc);
void mb_avx512_gemm_nt_rows(float *c, int ldc, const float *a, const float *b, long m0, long m1,
                            int n, int k, int acc);
/* Attention's online-softmax tile step (x86/attn_body.h). */
void mb_avx2_attn_tile(const struct mb_attn_tile *t);
void mb_avx512_attn_tile(const struct mb_attn_tile *t);
/* The quantized KV cache's blocks to F16, the reference's bits. */
void mb_avx2_q8_0_to_f16(const void *src, uint16_t *dst, int64_t n);
void mb_avx2_q4_0_to_f16(const void *src, uint16_t *dst, int64_t n);
void mb_avx512_q8_0_to_f16(const void *src, uint16_t *dst, int64_t n);
void mb_avx512_q4_0_to_f16(const void *src, uint16_t *dst, int64_t n);
/* SwiGLU with a vector exp (x86/avx2/swiglu_avx2.c). */
void mb_avx2_swiglu(float *out, const float *gate, const float *up, int64_t n);
void mb_avx512_swiglu(float *out, const float *gate, const float *up, int64_t n);

#endif
