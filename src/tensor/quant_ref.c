/* Reference encoders of the float types, the 32-value block types and the
 * Q8_K activation format. They reproduce ggml's quantize_row_*_ref math
 * (same scale choice, same rounding), so a row encoded here has the same
 * bytes as one encoded by llama.cpp — the dot kernels' accuracy tests and
 * any byte comparison with reference files depend on that. */
#include <math.h>
#include <string.h>

#include "tensor/blocks.h"
#include "tensor/codecs.h"
#include "tensor/types.h"

void mb_f32_from_float(const float *src, void *dst, int64_t n) {
    memmove(dst, src, (size_t)n * sizeof(float));
}

void mb_f16_from_float(const float *src, void *dst, int64_t n) {
    uint16_t *h = dst;
    for (int64_t i = 0; i < n; i++)
        h[i] = mb_fp32_to_fp16(src[i]);
}

void mb_bf16_from_float(const float *src, void *dst, int64_t n) {
    uint16_t *h = dst;
    for (int64_t i = 0; i < n; i++)
        h[i] = mb_fp32_to_bf16(src[i]);
}

/* The value of largest magnitude, with its sign (the first one on ties). */
static float signed_absmax(const float *x, int n) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < n; j++) {
        if (amax < fabsf(x[j])) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    }
    return max;
}

static void min_max(const float *x, int n, float *lo, float *hi) {
    *lo = INFINITY;
    *hi = -INFINITY;
    for (int j = 0; j < n; j++) {
        if (x[j] < *lo) *lo = x[j];
        if (x[j] > *hi) *hi = x[j];
    }
}

/* Symmetric 4 bits: the extreme value maps to code 0 (-8 * d), which uses the
 * one extra negative level of the asymmetric range -8..7. */
void mb_q4_0_from_float(const float *src, void *dst, int64_t n) {
    mb_block_q4_0 *b = dst;
    for (int64_t i = 0; i < n / MB_QK4_0; i++, src += MB_QK4_0) {
        const float d = signed_absmax(src, MB_QK4_0) / -8;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = mb_fp32_to_fp16(d);
        for (int j = 0; j < MB_QK4_0 / 2; j++) {
            const int lo = mb_trunc_clamp(src[j] * id + 8.5f, 0, 15);
            const int hi = mb_trunc_clamp(src[j + MB_QK4_0 / 2] * id + 8.5f, 0, 15);
            b[i].qs[j] = (uint8_t)(lo | (hi << 4));
        }
    }
}

void mb_q4_1_from_float(const float *src, void *dst, int64_t n) {
    mb_block_q4_1 *b = dst;
    for (int64_t i = 0; i < n / MB_QK4_1; i++, src += MB_QK4_1) {
        float lo, hi;
        min_max(src, MB_QK4_1, &lo, &hi);
        const float d = (hi - lo) / 15;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = mb_fp32_to_fp16(d);
        b[i].m = mb_fp32_to_fp16(lo);
        for (int j = 0; j < MB_QK4_1 / 2; j++) {
            const int q0 = mb_trunc_clamp((src[j] - lo) * id + 0.5f, 0, 15);
            const int q1 = mb_trunc_clamp((src[j + MB_QK4_1 / 2] - lo) * id + 0.5f, 0, 15);
            b[i].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

/* Store 32 five-bit codes: low nibbles as Q4, bit 4 of code j in bit j of qh. */
static void pack_q5(const int *q, uint8_t qs[16], uint8_t qh_bytes[4]) {
    uint32_t qh = 0;
    for (int j = 0; j < 16; j++) {
        qs[j] = (uint8_t)((q[j] & 0xF) | ((q[j + 16] & 0xF) << 4));
        qh |= (uint32_t)((q[j] >> 4) & 1) << j;
        qh |= (uint32_t)((q[j + 16] >> 4) & 1) << (j + 16);
    }
    for (int k = 0; k < 4; k++)
        qh_bytes[k] = (uint8_t)(qh >> (8 * k));
}

void mb_q5_0_from_float(const float *src, void *dst, int64_t n) {
    mb_block_q5_0 *b = dst;
    for (int64_t i = 0; i < n / MB_QK5_0; i++, src += MB_QK5_0) {
        const float d = signed_absmax(src, MB_QK5_0) / -16;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = mb_fp32_to_fp16(d);
        int q[MB_QK5_0];
        for (int j = 0; j < MB_QK5_0; j++)
            q[j] = mb_trunc_clamp(src[j] * id + 16.5f, 0, 31);
        pack_q5(q, b[i].qs, b[i].qh);
    }
}

void mb_q5_1_from_float(const float *src, void *dst, int64_t n) {
    mb_block_q5_1 *b = dst;
    for (int64_t i = 0; i < n / MB_QK5_1; i++, src += MB_QK5_1) {
        float lo, hi;
        min_max(src, MB_QK5_1, &lo, &hi);
        const float d = (hi - lo) / 31;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = mb_fp32_to_fp16(d);
        b[i].m = mb_fp32_to_fp16(lo);
        int q[MB_QK5_1];
        for (int j = 0; j < MB_QK5_1; j++)
            q[j] = mb_trunc_clamp((src[j] - lo) * id + 0.5f, 0, 31);
        pack_q5(q, b[i].qs, b[i].qh);
    }
}

/* d = amax / 127 and codes round(x / d), rounding half away from zero
 * (roundf), as ggml does. Returns the sum of the codes (for Q8_1). */
static int quantize_q8_block(const float *x, int8_t *qs, float *d_out) {
    float amax = 0.0f;
    for (int j = 0; j < 32; j++)
        amax = fmaxf(amax, fabsf(x[j]));
    const float d = amax / 127;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    int sum = 0;
    for (int j = 0; j < 32; j++) {
        const float r = roundf(x[j] * id);
        qs[j] = (int8_t)(r >= -127.0f && r <= 127.0f ? r : (r > 0 ? 127 : -127));
        sum += qs[j];
    }
    *d_out = d;
    return sum;
}

void mb_q8_0_from_float(const float *src, void *dst, int64_t n) {
    mb_block_q8_0 *b = dst;
    for (int64_t i = 0; i < n / MB_QK8_0; i++, src += MB_QK8_0) {
        float d;
        quantize_q8_block(src, b[i].qs, &d);
        b[i].d = mb_fp32_to_fp16(d);
    }
}

/* s is d * sum(q) with the unrounded d, as ggml stores it. */
void mb_q8_1_from_float(const float *src, void *dst, int64_t n) {
    mb_block_q8_1 *b = dst;
    for (int64_t i = 0; i < n / MB_QK8_1; i++, src += MB_QK8_1) {
        float d;
        const int sum = quantize_q8_block(src, b[i].qs, &d);
        b[i].d = mb_fp32_to_fp16(d);
        b[i].s = mb_fp32_to_fp16((float)sum * d);
    }
}

/* Q8_K: iscale = -127 / max where max is the signed value of largest
 * magnitude, codes rounded half to even and capped at 127, d = 1 / iscale
 * kept in float. (ggml once used -128; -127 keeps the codes symmetric so SIMD
 * kernels may take their absolute value.) */
void mb_q8_k_from_float(const float *src, void *dst, int64_t n) {
    mb_block_q8_k *b = dst;
    for (int64_t i = 0; i < n / MB_QK_K; i++, src += MB_QK_K) {
        const float max = signed_absmax(src, MB_QK_K);
        if (max == 0.0f) {
            memset(&b[i], 0, sizeof b[i]);
            continue;
        }
        const float iscale = -127.0f / max;
        for (int j = 0; j < MB_QK_K; j++)
            b[i].qs[j] = (int8_t)mb_round_clamp(iscale * src[j], -128, 127);
        for (int g = 0; g < MB_QK_K / 16; g++) {
            int sum = 0;
            for (int j = 0; j < 16; j++)
                sum += b[i].qs[16 * g + j];
            b[i].bsums[g] = (int16_t)sum;
        }
        b[i].d = 1 / iscale;
    }
}
