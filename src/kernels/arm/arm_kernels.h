/* The aarch64 kernel levels: "neon" (baseline AdvSIMD, every ARMv8-A core,
 * the Raspberry Pi 4's Cortex-A72 included) and "neon-dotprod" (the same
 * with SDOT for the 8-bit dots, ARMv8.2+). Everything but the 8-bit dots is
 * shared; only files under dotprod/ are compiled with +dotprod, and their
 * functions are called only after HWCAP reported ASIMDDP. */
#ifndef MB_KERNELS_ARM_ARM_KERNELS_H
#define MB_KERNELS_ARM_ARM_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/kernels.h"

/* Overwrite the accelerated entries of T (which holds the reference
 * kernels); DOTPROD selects the SDOT versions of the 8-bit dots. */
void mb_kernels_fill_neon(mb_kernel_table *t, int dotprod);

/* Activation encoders, byte-identical to the reference ones. */
void mb_neon_quant_q8_0(const float *src, void *dst, int64_t n);
void mb_neon_quant_q8_k(const float *src, void *dst, int64_t n);
void mb_neon_quant_f16(const float *src, void *dst, int64_t n);
void mb_neon_quant_bf16(const float *src, void *dst, int64_t n);
void mb_neon_axpy_f16(int64_t n, float *y, float a, const uint16_t *x);
/* The quantized KV cache's blocks to F16, the reference's bits. */
void mb_neon_q8_0_to_f16(const void *src, uint16_t *dst, int64_t n);
void mb_neon_q4_0_to_f16(const void *src, uint16_t *dst, int64_t n);

/* The dots of one prefix P (mb_neon_ or mb_neondp_) and weight type. */
#define MB_NEON_DECLARE_DOT(P, name)                                                               \
    void P##dot_##name(int64_t n, float *out, const void *w, const void *a);                       \
    void P##dot_rows_##name(int64_t n, float *out, const void *w, const void *a, size_t stride,    \
                            int n_rows);

MB_NEON_DECLARE_DOT(mb_neon_, f32)
MB_NEON_DECLARE_DOT(mb_neon_, f16)
MB_NEON_DECLARE_DOT(mb_neon_, bf16)
/* The 8-bit dots, in both forms. */
#define MB_NEON_DECLARE_INT_DOTS(P)                                                                \
    MB_NEON_DECLARE_DOT(P, q8_0)                                                                   \
    MB_NEON_DECLARE_DOT(P, q4_0)                                                                   \
    MB_NEON_DECLARE_DOT(P, q4_k)                                                                   \
    MB_NEON_DECLARE_DOT(P, q5_k)                                                                   \
    MB_NEON_DECLARE_DOT(P, q6_k)
MB_NEON_DECLARE_INT_DOTS(mb_neon_)
MB_NEON_DECLARE_INT_DOTS(mb_neondp_)

/* The sparse types (sparse_body.h): mb_neon_sparse_init builds the TBL
 * patterns they spread non-zeros with (mb_kernels_fill_neon calls it). */
extern uint8_t mb_neon_sparse_pattern[256][8];
void mb_neon_sparse_init(void);
MB_NEON_DECLARE_DOT(mb_neon_, sq4)
MB_NEON_DECLARE_DOT(mb_neon_, sq8)
MB_NEON_DECLARE_DOT(mb_neondp_, sq4)
MB_NEON_DECLARE_DOT(mb_neondp_, sq8)

#endif
