/* The kernel tables of the three AVX-512 levels: every weight type with an
 * AVX-512 kernel gets its dot and multi-row dot; the activation encoders
 * are AVX2's (byte-identical to the reference). Other types keep the
 * reference entries. The levels differ only in the 8-bit kernels (VNNI or
 * not: int_avx512.h) and the BF16 tile (VDPBF16PS, or bf16 widened to
 * floats). */
#include "core/cpu.h"
#include "kernels/x86/avx2/dot_avx2.h"
#include "kernels/x86/avx512/dot_avx512.h"
#include "kernels/x86/avx512vbmi2/sparse_vbmi2.h"
#include "kernels/x86/dot_k23.h"
#include "kernels/x86/x86_kernels.h"

void mb_kernels_fill_avx512(mb_kernel_table *t, int tier) {
    static const char *const names[] = {"avx512", "avx512-vnni", "avx512-bf16"};
    t->name = names[tier];
#define SET(T, name, P)                                                                            \
    do {                                                                                           \
        t->dot[MB_TYPE_##T].vec_dot = P##dot_##name;                                               \
        t->dot[MB_TYPE_##T].vec_dot_rows = P##dot_rows_##name;                                     \
    } while (0)
#define PACKED(T, name, ROWS, BYTES, P)                                                            \
    do {                                                                                           \
        t->dot[MB_TYPE_##T].pack = P##pack_##name;                                                 \
        t->dot[MB_TYPE_##T].gemm_packed = P##gemm_packed_##name;                                   \
        t->dot[MB_TYPE_##T].pack_rows = ROWS;                                                      \
        t->dot[MB_TYPE_##T].pack_block_bytes = BYTES;                                              \
    } while (0)
/* The 8-bit kernels of the variant with prefix P. */
#define INT_KERNELS(P)                                                                             \
    do {                                                                                           \
        SET(Q8_0, q8_0, P);                                                                        \
        SET(Q4_0, q4_0, P);                                                                        \
        t->dot[MB_TYPE_Q4_0].gemm_tile = P##gemm_q4_0;                                             \
        t->dot[MB_TYPE_Q4_0].vec_dot_wrows = P##dot_wrows_q4_0;                                    \
        SET(Q4_K, q4_k, P);                                                                        \
        SET(Q5_K, q5_k, P);                                                                        \
        SET(Q6_K, q6_k, P);                                                                        \
        SET(Q3_K, q3_k, P);                                                                        \
        SET(Q2_K, q2_k, P);                                                                        \
        PACKED(Q4_K, q4_k, MB_KP_ROWS, MB_KP_BLOCK_BYTES, P);                                      \
        PACKED(Q5_K, q5_k, MB_KP_ROWS, MB_KP_BLOCK_BYTES, P);                                      \
        PACKED(Q6_K, q6_k, MB_KP_ROWS, MB_KP_BLOCK_BYTES, P);                                      \
        PACKED(Q4_0, q4_0, MB_QP_ROWS, MB_QP_BLOCK_BYTES, P);                                      \
        PACKED(Q8_0, q8_0, MB_QP_ROWS, MB_QP_BLOCK_BYTES, P);                                      \
    } while (0)
    SET(F32, f32, mb_avx512_);
    SET(F16, f16, mb_avx512_);
    t->dot[MB_TYPE_F16].vec_dot_rows = mb_avx512_dot_rows4_f16;
    t->dot[MB_TYPE_F16].gemm_tile = mb_avx512_gemm_f16;
    PACKED(F16, f16, MB_FP_ROWS, MB_FP_BLOCK_BYTES, mb_avx512_);
    /* Packing converts and transposes every weight once per batch: below
     * about 32 rows the tile, which converts in its loop, was as fast or
     * faster (one thread, 2048 x 2048, GMAC/s packed against tile: 16 rows
     * 40 against 52, 24 rows 48 against 54, 32 rows 55 against 53, 64 rows
     * 70 against 54). */
    t->dot[MB_TYPE_F16].pack_min_rows = 32;
    t->dot[MB_TYPE_F32].gemm_tile = mb_avx512_gemm_f32;
    SET(BF16, bf16, mb_avx512_);
    t->dot[MB_TYPE_BF16].gemm_tile = tier >= 2 ? mb_avx512_gemm_bf16 : mb_avx512_gemm_bf16_cvt;
    if (tier >= 1)
        INT_KERNELS(mb_avx512vnni_);
    else
        INT_KERNELS(mb_avx512_);
    /* Q4_0's row dots on Intel: AVX2's (single, multi-row and decode's
     * weight-rows dot, which give each other's bits). On a Sapphire
     * Rapids-class core they ran at 15.4 and 22.3 GB/s of weights in L2
     * against the AVX-512 ones' 11.5 and 16.1 (VPERMW/VPERMT2W and the
     * scale spreading weigh more there), and 1.1B decode at 2 threads 36
     * against 32 tok/s; on Zen 4 the AVX-512 dot was the faster (29-30
     * against 17-18 GB/s). The batch products stay AVX-512's. */
    if (mb_cpu_get()->intel) {
        t->dot[MB_TYPE_Q4_0].vec_dot = mb_avx2_dot_q4_0;
        t->dot[MB_TYPE_Q4_0].vec_dot_rows = mb_avx2_dot_rows_q4_0;
        t->dot[MB_TYPE_Q4_0].vec_dot_wrows = mb_avx2_dot_wrows_q4_0;
    }
    /* The sparse types: one VPEXPANDB per quarter where the CPU has VBMI2
     * (and VNNI), else AVX2's shuffle table. */
    mb_avx2_sparse_init();
    const int vbmi2 = tier >= 1 && mb_cpu_get()->avx512vbmi2;
    t->dot[MB_TYPE_SQ4].vec_dot = vbmi2 ? mb_vbmi2_dot_sq4 : mb_avx2_dot_sq4;
    t->dot[MB_TYPE_SQ8].vec_dot = vbmi2 ? mb_vbmi2_dot_sq8 : mb_avx2_dot_sq8;
    t->dot[MB_TYPE_SQ4].vec_dot_rows = vbmi2 ? mb_vbmi2_dot_rows_sq4 : NULL;
    t->dot[MB_TYPE_SQ8].vec_dot_rows = vbmi2 ? mb_vbmi2_dot_rows_sq8 : NULL;
    t->dot[MB_TYPE_SQ4].vec_dot_wrows = vbmi2 ? mb_vbmi2_dot_wrows_sq4 : mb_avx2_dot_wrows_sq4;
    t->dot[MB_TYPE_SQ4_24].vec_dot = vbmi2 ? mb_vbmi2_dot_sq4_24 : mb_avx2_dot_sq4_24;
    if (vbmi2) {
        t->dot[MB_TYPE_SQ4_24].vec_dot_rows = mb_vbmi2_dot_rows_sq4_24;
        t->dot[MB_TYPE_SQ4_24].vec_dot_wrows = mb_vbmi2_dot_wrows_sq4_24;
        PACKED(SQ4, sq4, MB_SP_ROWS, MB_SP_BLOCK_BYTES, mb_vbmi2_);
        PACKED(SQ8, sq8, MB_SP_ROWS, MB_SP_BLOCK_BYTES, mb_vbmi2_);
        PACKED(SQ4_24, sq4_24, MB_SP_ROWS, MB_SP_BLOCK_BYTES, mb_vbmi2_);
        t->sq4_lanes = mb_vbmi2_sq4_lanes;
        t->sq4_convert = mb_vbmi2_sq4_convert;
        t->sq4_lanes_pack = mb_vbmi2_pack_sq4_lanes;
    }
    t->dot[MB_TYPE_SQ8].vec_dot_wrows = vbmi2 ? mb_vbmi2_dot_wrows_sq8 : mb_avx2_dot_wrows_sq8;
#undef INT_KERNELS
#undef SET
#undef PACKED
    t->act_quant[MB_TYPE_Q8_0] = mb_avx2_quant_q8_0;
    t->act_quant[MB_TYPE_Q8_K] = mb_avx2_quant_q8_k;
    t->act_quant[MB_TYPE_F16] = mb_avx2_quant_f16;
    t->act_quant[MB_TYPE_BF16] = mb_avx2_quant_bf16;
    t->axpy_f16 = mb_avx2_axpy_f16;
    t->attn_tile = mb_avx512_attn_tile;
    t->kv_to_f16[MB_TYPE_Q8_0] = mb_avx512_q8_0_to_f16;
    t->kv_to_f16[MB_TYPE_Q4_0] = mb_avx512_q4_0_to_f16;
    t->swiglu = mb_avx512_swiglu;
    t->gemm_nt_rows = mb_avx512_gemm_nt_rows;
    t->q4_0_r16 = tier >= 1 ? mb_avx512vnni_q4_0_r16 : mb_avx512_q4_0_r16;
    t->q4_k_r16 = tier >= 1 ? mb_avx512vnni_q4_k_r16 : mb_avx512_q4_k_r16;
    t->q5_k_r16 = tier >= 1 ? mb_avx512vnni_q5_k_r16 : mb_avx512_q5_k_r16;
    t->q6_k_r16 = tier >= 1 ? mb_avx512vnni_q6_k_r16 : mb_avx512_q6_k_r16;
    t->r16_gather = mb_avx2_r16_gather;
}
