/* The neon and neon-dotprod kernel tables: the two differ only in the 8-bit
 * dots (widening multiplies against SDOT); types without a NEON kernel keep
 * the reference entries. */
#include "kernels/arm/arm_kernels.h"
#include "kernels/sq4_24_via_sq4.h"

/* SQ4_24 through each variant's SQ4 dot (kernels/sq4_24_via_sq4.h). */
static void neon_dot_sq4_24(int64_t n, float *out, const void *w, const void *a) {
    mb_sq4_24_dot_via_sq4(mb_neon_dot_sq4, NULL, n, out, w, a);
}
static void neondp_dot_sq4_24(int64_t n, float *out, const void *w, const void *a) {
    mb_sq4_24_dot_via_sq4(mb_neondp_dot_sq4, NULL, n, out, w, a);
}

void mb_kernels_fill_neon(mb_kernel_table *t, int dotprod) {
    t->name = dotprod ? "neon-dotprod" : "neon";
#define SET(T, fn, rows)                                                                           \
    do {                                                                                           \
        t->dot[MB_TYPE_##T].vec_dot = fn;                                                          \
        t->dot[MB_TYPE_##T].vec_dot_rows = rows;                                                   \
    } while (0)
#define SET_INT(T, name)                                                                           \
    SET(T, dotprod ? mb_neondp_dot_##name : mb_neon_dot_##name,                                    \
        dotprod ? mb_neondp_dot_rows_##name : mb_neon_dot_rows_##name)
    SET(F32, mb_neon_dot_f32, mb_neon_dot_rows_f32);
    SET(F16, mb_neon_dot_f16, mb_neon_dot_rows_f16);
    SET(BF16, mb_neon_dot_bf16, mb_neon_dot_rows_bf16);
    SET_INT(Q8_0, q8_0);
    SET_INT(Q4_0, q4_0);
    SET_INT(Q4_K, q4_k);
    SET_INT(Q5_K, q5_k);
    SET_INT(Q6_K, q6_k);
    mb_neon_sparse_init();
    SET_INT(SQ4, sq4);
    SET_INT(SQ8, sq8);
    SET(SQ4_24, dotprod ? neondp_dot_sq4_24 : neon_dot_sq4_24, NULL);
#undef SET_INT
#undef SET
    t->act_quant[MB_TYPE_Q8_0] = mb_neon_quant_q8_0;
    t->act_quant[MB_TYPE_Q8_K] = mb_neon_quant_q8_k;
    t->act_quant[MB_TYPE_F16] = mb_neon_quant_f16;
    t->act_quant[MB_TYPE_BF16] = mb_neon_quant_bf16;
    t->axpy_f16 = mb_neon_axpy_f16;
    t->kv_to_f16[MB_TYPE_Q8_0] = mb_neon_q8_0_to_f16;
    t->kv_to_f16[MB_TYPE_Q4_0] = mb_neon_q4_0_to_f16;
}
