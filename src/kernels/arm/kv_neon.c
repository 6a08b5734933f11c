/* NEON decoders of the quantized KV cache's blocks to F16 (attention's tile
 * staging): codes widened to int32, to float, times the block's scale
 * (exact), one rounding to F16 to nearest even (FCVTN under the default
 * FPCR), as the reference's. */
#include <arm_neon.h>

#include "kernels/arm/arm_kernels.h"
#include "tensor/blocks.h"
#include "tensor/fp16.h"

/* 16 signed codes times D, as F16 to DST. */
static inline void codes_to_f16(int8x16_t q, float d, uint16_t *dst) {
    const int16x8_t w[2] = {vmovl_s8(vget_low_s8(q)), vmovl_s8(vget_high_s8(q))};
    for (int k = 0; k < 2; k++) {
        const int32x4_t v[2] = {vmovl_s16(vget_low_s16(w[k])), vmovl_s16(vget_high_s16(w[k]))};
        for (int h = 0; h < 2; h++) {
            const float32x4_t f = vmulq_n_f32(vcvtq_f32_s32(v[h]), d);
            vst1_u16(dst + 8 * k + 4 * h, vreinterpret_u16_f16(vcvt_f16_f32(f)));
        }
    }
}

void mb_neon_q8_0_to_f16(const void *src, uint16_t *dst, int64_t n) {
    const mb_block_q8_0 *b = src;
    for (int64_t i = 0; i < n / MB_QK8_0; i++, dst += MB_QK8_0) {
        const float d = mb_half_to_float(b[i].d);
        codes_to_f16(vld1q_s8(b[i].qs), d, dst);
        codes_to_f16(vld1q_s8(b[i].qs + 16), d, dst + 16);
    }
}

void mb_neon_q4_0_to_f16(const void *src, uint16_t *dst, int64_t n) {
    const mb_block_q4_0 *b = src;
    const uint8x16_t mask = vdupq_n_u8(0x0F);
    const int8x16_t eight = vdupq_n_s8(8);
    for (int64_t i = 0; i < n / MB_QK4_0; i++, dst += MB_QK4_0) {
        const float d = mb_half_to_float(b[i].d);
        const uint8x16_t q = vld1q_u8(b[i].qs);
        /* Values 0..15 in the low nibbles, 16..31 in the high ones. */
        codes_to_f16(vsubq_s8(vreinterpretq_s8_u8(vandq_u8(q, mask)), eight), d, dst);
        codes_to_f16(vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(q, 4)), eight), d, dst + 16);
    }
}
