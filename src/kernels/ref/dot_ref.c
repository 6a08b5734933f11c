/* The reference (scalar) dot-product table: for each weight type, the
 * activation type a row is converted to once, and the dot of a weight row
 * with such a row. Quantized weights pair with 8-bit activations, as in the
 * reference implementation, so every SIMD kernel has an integer-exact target
 * within each block; float weights use their own format for activations. */
#include <stddef.h>

#include "kernels/kernels.h"
#include "kernels/ref/dot_ref.h"
#include "tensor/fp16.h"

/* Products are summed in float, in order; SIMD kernels sum in float lanes,
 * so their difference from this one is rounding, never a systematic bias. */
static void dot_f32(int64_t n, float *out, const void *w, const void *a) {
    const float *x = w, *y = a;
    float sum = 0.0f;
    for (int64_t i = 0; i < n; i++)
        sum += x[i] * y[i];
    *out = sum;
}

static void dot_f16(int64_t n, float *out, const void *w, const void *a) {
    const uint16_t *x = w, *y = a;
    float sum = 0.0f;
    for (int64_t i = 0; i < n; i++)
        sum += mb_half_to_float(x[i]) * mb_half_to_float(y[i]);
    *out = sum;
}

static void dot_bf16(int64_t n, float *out, const void *w, const void *a) {
    const uint16_t *x = w, *y = a;
    float sum = 0.0f;
    for (int64_t i = 0; i < n; i++)
        sum += mb_bfloat_to_float(x[i]) * mb_bfloat_to_float(y[i]);
    *out = sum;
}

/* Indexed by weight type. Q8_1 and Q8_K are activation formats only: their
 * rows (act_type set so callers can still tell) have no dot. */
static const mb_dot_traits k_dot[MB_TYPE_COUNT] = {
    [MB_TYPE_F32] = {.act_type = MB_TYPE_F32, .vec_dot = dot_f32},
    [MB_TYPE_F16] = {.act_type = MB_TYPE_F16, .vec_dot = dot_f16},
    [MB_TYPE_BF16] = {.act_type = MB_TYPE_BF16, .vec_dot = dot_bf16},
    [MB_TYPE_Q4_0] = {.act_type = MB_TYPE_Q8_0, .vec_dot = mb_ref_dot_q4_0_q8_0},
    [MB_TYPE_Q4_1] = {.act_type = MB_TYPE_Q8_1, .vec_dot = mb_ref_dot_q4_1_q8_1},
    [MB_TYPE_Q5_0] = {.act_type = MB_TYPE_Q8_0, .vec_dot = mb_ref_dot_q5_0_q8_0},
    [MB_TYPE_Q5_1] = {.act_type = MB_TYPE_Q8_1, .vec_dot = mb_ref_dot_q5_1_q8_1},
    [MB_TYPE_Q8_0] = {.act_type = MB_TYPE_Q8_0, .vec_dot = mb_ref_dot_q8_0_q8_0},
    [MB_TYPE_Q8_1] = {.act_type = MB_TYPE_Q8_1, .vec_dot = NULL},
    [MB_TYPE_Q2_K] = {.act_type = MB_TYPE_Q8_K, .vec_dot = mb_ref_dot_q2_k_q8_k},
    [MB_TYPE_Q3_K] = {.act_type = MB_TYPE_Q8_K, .vec_dot = mb_ref_dot_q3_k_q8_k},
    [MB_TYPE_Q4_K] = {.act_type = MB_TYPE_Q8_K, .vec_dot = mb_ref_dot_q4_k_q8_k},
    [MB_TYPE_Q5_K] = {.act_type = MB_TYPE_Q8_K, .vec_dot = mb_ref_dot_q5_k_q8_k},
    [MB_TYPE_Q6_K] = {.act_type = MB_TYPE_Q8_K, .vec_dot = mb_ref_dot_q6_k_q8_k},
    [MB_TYPE_Q8_K] = {.act_type = MB_TYPE_Q8_K, .vec_dot = NULL},
    [MB_TYPE_SQ4] = {.act_type = MB_TYPE_Q8_K, .vec_dot = mb_ref_dot_sq4_q8_k},
    [MB_TYPE_SQ8] = {.act_type = MB_TYPE_Q8_K, .vec_dot = mb_ref_dot_sq8_q8_k},
    [MB_TYPE_SQ4_24] = {.act_type = MB_TYPE_Q8_K, .vec_dot = mb_ref_dot_sq4_24_q8_k},
};

const mb_dot_traits *mb_ref_dot_traits(uint32_t weight_type) {
    if (!mb_type_get(weight_type) || weight_type >= MB_TYPE_COUNT) return NULL;
    return &k_dot[weight_type];
}

/* The activation formats are exactly the types' reference encoders (F32's
 * is a copy), which is what makes the dots match llama.cpp's numerics. A type
 * counts as an activation format when some weight type above pairs with it. */
mb_act_quant_fn mb_ref_act_quant(uint32_t act_type) {
    const mb_type_traits *t = mb_type_get(act_type);
    if (!t) return NULL;
    for (int i = 0; i < MB_TYPE_COUNT; i++) {
        if (mb_type_get((uint32_t)i) && k_dot[i].act_type == act_type) return t->from_float;
    }
    return NULL;
}
