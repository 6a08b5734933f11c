/* The codecs behind the type table (types.c is their only caller; everyone
 * else goes through mb_type_get). Signatures match mb_to_float_fn and
 * mb_from_float_fn: N is a multiple of the type's block size. */
#ifndef MB_TENSOR_CODECS_H
#define MB_TENSOR_CODECS_H

#include <math.h>
#include <stdint.h>

/* ---- decoders: bit-exact with ggml's dequantize_row_* ---------------- */

void mb_f32_to_float(const void *src, float *dst, int64_t n);
void mb_f16_to_float(const void *src, float *dst, int64_t n);
void mb_bf16_to_float(const void *src, float *dst, int64_t n);
void mb_q4_0_to_float(const void *src, float *dst, int64_t n);
void mb_q4_1_to_float(const void *src, float *dst, int64_t n);
void mb_q5_0_to_float(const void *src, float *dst, int64_t n);
void mb_q5_1_to_float(const void *src, float *dst, int64_t n);
void mb_q8_0_to_float(const void *src, float *dst, int64_t n);
void mb_q8_1_to_float(const void *src, float *dst, int64_t n);
void mb_q2_k_to_float(const void *src, float *dst, int64_t n);
void mb_q3_k_to_float(const void *src, float *dst, int64_t n);
void mb_q4_k_to_float(const void *src, float *dst, int64_t n);
void mb_q5_k_to_float(const void *src, float *dst, int64_t n);
void mb_q6_k_to_float(const void *src, float *dst, int64_t n);
void mb_q8_k_to_float(const void *src, float *dst, int64_t n);
void mb_sq4_to_float(const void *src, float *dst, int64_t n);
void mb_sq8_to_float(const void *src, float *dst, int64_t n);
void mb_sq4_24_to_float(const void *src, float *dst, int64_t n);

/* ---- reference encoders --------------------------------------------- */

/* Float types, Q8_0/Q8_1/Q8_K (the activation formats) and the legacy
 * 32-value types produce the same bytes as ggml's quantize_row_*_ref. */
void mb_f32_from_float(const float *src, void *dst, int64_t n);
void mb_f16_from_float(const float *src, void *dst, int64_t n);
void mb_bf16_from_float(const float *src, void *dst, int64_t n);
void mb_q4_0_from_float(const float *src, void *dst, int64_t n);
void mb_q4_1_from_float(const float *src, void *dst, int64_t n);
void mb_q5_0_from_float(const float *src, void *dst, int64_t n);
void mb_q5_1_from_float(const float *src, void *dst, int64_t n);
void mb_q8_0_from_float(const float *src, void *dst, int64_t n);
void mb_q8_1_from_float(const float *src, void *dst, int64_t n);
void mb_q8_k_from_float(const float *src, void *dst, int64_t n);
/* The sparse types (sparse.c): exact zeros are the pruned weights; a block
 * with more than MB_SPARSE_CAP non-zeros keeps the largest in magnitude
 * (magnitude pruning within the block, so any input encodes). */
void mb_sq4_from_float(const float *src, void *dst, int64_t n);
void mb_sq8_from_float(const float *src, void *dst, int64_t n);
/* SQ4_24 keeps the two largest in magnitude of every 4 (ties: the lower). */
void mb_sq4_24_from_float(const float *src, void *dst, int64_t n);
/* K-quant weights: the searched scale/min fits of ggml's reference
 * quantizer (quant_kquants.c); on llama-125m every Q4_K_M block matches
 * llama.cpp's bytes (docs/QUANTIZE.md). */
void mb_q2_k_from_float(const float *src, void *dst, int64_t n);
void mb_q3_k_from_float(const float *src, void *dst, int64_t n);
void mb_q4_k_from_float(const float *src, void *dst, int64_t n);
void mb_q5_k_from_float(const float *src, void *dst, int64_t n);
void mb_q6_k_from_float(const float *src, void *dst, int64_t n);

/* ---- rounding helpers for the encoders ------------------------------ */

/* Round half to even (ggml's nearest_int) and clamp to [lo, hi]. Clamping in
 * float first keeps the conversion defined for any input: NaN gives lo. */
static inline int mb_round_clamp(float v, int lo, int hi) {
    float r = nearbyintf(v);
    if (!(r >= (float)lo)) return lo;
    if (r > (float)hi) return hi;
    return (int)r;
}

/* Truncate toward zero and clamp to [lo, hi], lo >= 0: the "(int8_t)(x +
 * 8.5f)" idiom of the legacy encoders, without its undefined behaviour for
 * out-of-range input. */
static inline int mb_trunc_clamp(float v, int lo, int hi) {
    if (!(v >= (float)lo)) return lo;
    if (v >= (float)hi) return hi;
    return (int)v;
}

#endif
