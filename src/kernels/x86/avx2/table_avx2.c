/* The avx2 kernel table entries: every weight type with a avx2 kernel gets
 * its dot and multi-row dot, Q4_0, Q8_0 and the K-quants their packed
 * batch products; the activation encoders are AVX2's (byte-
 * identical to the reference). Other types keep the reference entries. */
#include "kernels/x86/avx2/dot_avx2.h"
#include "kernels/x86/dot_k23.h"
#include "kernels/x86/x86_kernels.h"

void mb_kernels_fill_avx2(mb_kernel_table *t) {
    t->name = "avx2";
#define SET(T, name)                                                                               \
    do {                                                                                           \
        t->dot[MB_TYPE_##T].vec_dot = mb_avx2_dot_##name;                                          \
        t->dot[MB_TYPE_##T].vec_dot_rows = mb_avx2_dot_rows_##name;                                \
    } while (0)
    SET(F32, f32);
    SET(F16, f16);
    SET(BF16, bf16);
    SET(Q8_0, q8_0);
    SET(Q4_0, q4_0);
    SET(Q4_K, q4_k);
    mb_avx2_sparse_init();
    t->dot[MB_TYPE_SQ4].vec_dot = mb_avx2_dot_sq4;
    t->dot[MB_TYPE_SQ8].vec_dot = mb_avx2_dot_sq8;
    t->dot[MB_TYPE_SQ4].vec_dot_wrows = mb_avx2_dot_wrows_sq4;
    t->dot[MB_TYPE_SQ4_24].vec_dot = mb_avx2_dot_sq4_24;
    t->dot[MB_TYPE_SQ8].vec_dot_wrows = mb_avx2_dot_wrows_sq8;
    SET(Q5_K, q5_k);
    SET(Q6_K, q6_k);
    SET(Q3_K, q3_k);
    SET(Q2_K, q2_k);
#undef SET
    t->dot[MB_TYPE_Q4_0].vec_dot_wrows = mb_avx2_dot_wrows_q4_0;
#define PACKED(T, name, BYTES)                                                                     \
    do {                                                                                           \
        t->dot[MB_TYPE_##T].pack = mb_avx2_pack_##name;                                            \
        t->dot[MB_TYPE_##T].gemm_packed = mb_avx2_gemm_packed_##name;                              \
        t->dot[MB_TYPE_##T].pack_rows = MB_AP_ROWS;                                                \
        t->dot[MB_TYPE_##T].pack_block_bytes = BYTES;                                              \
    } while (0)
    PACKED(Q4_K, q4_k, MB_AP_K_BLOCK_BYTES);
    PACKED(Q5_K, q5_k, MB_AP_K_BLOCK_BYTES);
    PACKED(Q6_K, q6_k, MB_AP_K_BLOCK_BYTES);
    PACKED(Q3_K, q3_k, MB_AP_K_BLOCK_BYTES);
    PACKED(Q2_K, q2_k, MB_AP_K_BLOCK_BYTES);
    PACKED(Q4_0, q4_0, MB_AP_Q4_0_BLOCK_BYTES);
    PACKED(Q8_0, q8_0, MB_AP_Q8_0_BLOCK_BYTES);
#undef PACKED
    t->dot[MB_TYPE_F32].gemm_tile = mb_avx2_gemm_f32;
    t->dot[MB_TYPE_F16].gemm_tile = mb_avx2_gemm_f16;
    t->dot[MB_TYPE_F16].pack = mb_avx2_pack_f16;
    t->dot[MB_TYPE_F16].gemm_packed = mb_avx2_gemm_packed_f16;
    t->dot[MB_TYPE_F16].pack_rows = MB_AFP_ROWS;
    t->dot[MB_TYPE_F16].pack_block_bytes = MB_AFP_BLOCK_BYTES;
    /* Below about 48 rows the tile was as fast (one thread, 2048 x 2048,
     * Sapphire Rapids-class core: 32 rows 32 against 30 GMAC/s, 48 rows 33
     * against 34, 128 rows 31 against 38). */
    t->dot[MB_TYPE_F16].pack_min_rows = 48;
    t->dot[MB_TYPE_BF16].gemm_tile = mb_avx2_gemm_bf16;
    t->act_quant[MB_TYPE_Q8_0] = mb_avx2_quant_q8_0;
    t->act_quant[MB_TYPE_Q8_K] = mb_avx2_quant_q8_k;
    t->act_quant[MB_TYPE_F16] = mb_avx2_quant_f16;
    t->act_quant[MB_TYPE_BF16] = mb_avx2_quant_bf16;
    t->axpy_f16 = mb_avx2_axpy_f16;
    t->attn_tile = mb_avx2_attn_tile;
    t->kv_to_f16[MB_TYPE_Q8_0] = mb_avx2_q8_0_to_f16;
    t->kv_to_f16[MB_TYPE_Q4_0] = mb_avx2_q4_0_to_f16;
    t->swiglu = mb_avx2_swiglu;
    t->gemm_nt_rows = mb_avx2_gemm_nt_rows;
    t->q4_0_r16 = mb_avx2_q4_0_r16;
    t->q4_k_r16 = mb_avx2_q4_k_r16;
    t->r16_gather = mb_avx2_r16_gather;
}
