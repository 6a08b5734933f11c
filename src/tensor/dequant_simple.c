/* Decoders of the float types and the 32-value block types. Each follows
 * ggml's dequantize_row_* operation for operation (int code converted to
 * float, times the fp16 scale, plus the offset), so the floats are
 * bit-identical to what llama.cpp computes from the same file. */
#include <string.h>

#include "tensor/blocks.h"
#include "tensor/codecs.h"
#include "tensor/fp16.h"
#include "tensor/types.h"

void mb_f32_to_float(const void *src, float *dst, int64_t n) {
    memmove(dst, src, (size_t)n * sizeof(float));
}

void mb_f16_to_float(const void *src, float *dst, int64_t n) {
    const uint16_t *h = src;
    for (int64_t i = 0; i < n; i++)
        dst[i] = mb_half_to_float(h[i]);
}

void mb_bf16_to_float(const void *src, float *dst, int64_t n) {
    const uint16_t *h = src;
    for (int64_t i = 0; i < n; i++)
        dst[i] = mb_bfloat_to_float(h[i]);
}

void mb_q4_0_to_float(const void *src, float *dst, int64_t n) {
    const mb_block_q4_0 *b = src;
    for (int64_t i = 0; i < n / MB_QK4_0; i++, dst += MB_QK4_0) {
        const float d = mb_fp16_to_fp32(b[i].d);
        for (int j = 0; j < MB_QK4_0 / 2; j++) {
            const int lo = (b[i].qs[j] & 0xF) - 8;
            const int hi = (b[i].qs[j] >> 4) - 8;
            dst[j] = lo * d;
            dst[j + MB_QK4_0 / 2] = hi * d;
        }
    }
}

void mb_q4_1_to_float(const void *src, float *dst, int64_t n) {
    const mb_block_q4_1 *b = src;
    for (int64_t i = 0; i < n / MB_QK4_1; i++, dst += MB_QK4_1) {
        const float d = mb_fp16_to_fp32(b[i].d);
        const float m = mb_fp16_to_fp32(b[i].m);
        for (int j = 0; j < MB_QK4_1 / 2; j++) {
            const int lo = b[i].qs[j] & 0xF;
            const int hi = b[i].qs[j] >> 4;
            dst[j] = lo * d + m;
            dst[j + MB_QK4_1 / 2] = hi * d + m;
        }
    }
}

void mb_q5_0_to_float(const void *src, float *dst, int64_t n) {
    const mb_block_q5_0 *b = src;
    for (int64_t i = 0; i < n / MB_QK5_0; i++, dst += MB_QK5_0) {
        const float d = mb_fp16_to_fp32(b[i].d);
        const uint32_t qh = mb_q5_high_bits(b[i].qh);
        for (int j = 0; j < MB_QK5_0 / 2; j++) {
            const int bit_lo = (int)((qh >> j) & 1) << 4;
            const int bit_hi = (int)((qh >> (j + 16)) & 1) << 4;
            const int lo = ((b[i].qs[j] & 0xF) | bit_lo) - 16;
            const int hi = ((b[i].qs[j] >> 4) | bit_hi) - 16;
            dst[j] = lo * d;
            dst[j + MB_QK5_0 / 2] = hi * d;
        }
    }
}

void mb_q5_1_to_float(const void *src, float *dst, int64_t n) {
    const mb_block_q5_1 *b = src;
    for (int64_t i = 0; i < n / MB_QK5_1; i++, dst += MB_QK5_1) {
        const float d = mb_fp16_to_fp32(b[i].d);
        const float m = mb_fp16_to_fp32(b[i].m);
        const uint32_t qh = mb_q5_high_bits(b[i].qh);
        for (int j = 0; j < MB_QK5_1 / 2; j++) {
            const int bit_lo = (int)((qh >> j) & 1) << 4;
            const int bit_hi = (int)((qh >> (j + 16)) & 1) << 4;
            const int lo = (b[i].qs[j] & 0xF) | bit_lo;
            const int hi = (b[i].qs[j] >> 4) | bit_hi;
            dst[j] = lo * d + m;
            dst[j + MB_QK5_1 / 2] = hi * d + m;
        }
    }
}

void mb_q8_0_to_float(const void *src, float *dst, int64_t n) {
    const mb_block_q8_0 *b = src;
    for (int64_t i = 0; i < n / MB_QK8_0; i++, dst += MB_QK8_0) {
        const float d = mb_fp16_to_fp32(b[i].d);
        for (int j = 0; j < MB_QK8_0; j++)
            dst[j] = b[i].qs[j] * d;
    }
}

/* ggml has no Q8_1 decoder (it is only ever an activation); this one is the
 * obvious d * q, for tests and tools. */
void mb_q8_1_to_float(const void *src, float *dst, int64_t n) {
    const mb_block_q8_1 *b = src;
    for (int64_t i = 0; i < n / MB_QK8_1; i++, dst += MB_QK8_1) {
        const float d = mb_fp16_to_fp32(b[i].d);
        for (int j = 0; j < MB_QK8_1; j++)
            dst[j] = b[i].qs[j] * d;
    }
}
