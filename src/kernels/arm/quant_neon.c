/* NEON activation encoders. They must produce the reference encoders' bytes
 * exactly (tensor/quant_ref.c): the same scale arithmetic, the same rounding
 * (Q8_0: half away from zero, FCVTAS; Q8_K: half to even, FCVTNS), the same
 * treatment of NaN and infinities, the same fp16/bf16 rounding. FMAXNM and
 * FMINNM return the number when one operand is NaN, which is what fmaxf in
 * the max search and the reference's NaN-to-the-low-bound clamps do. */
#include <arm_neon.h>
#include <string.h>

#include "kernels/arm/arm_kernels.h"
#include "tensor/blocks.h"
#include "tensor/types.h"

/* max |x| over N (a multiple of 4) values, NaN skipped. */
static float abs_max(const float *x, int n) {
    float32x4_t m = vdupq_n_f32(0.0f);
    for (int j = 0; j < n; j += 4)
        m = vmaxnmq_f32(m, vabsq_f32(vld1q_f32(x + j)));
    return vmaxnmvq_f32(m);
}

/* Clamp to [LO, HI] with NaN going to LO. */
static inline float32x4_t clamp_f32(float32x4_t v, float lo, float hi) {
    return vminnmq_f32(vmaxnmq_f32(v, vdupq_n_f32(lo)), vdupq_n_f32(hi));
}

/* Four int32x4 (already within -128..127) to sixteen int8 in order. */
static inline int8x16_t narrow16(int32x4_t a, int32x4_t b, int32x4_t c, int32x4_t d) {
    const int16x8_t ab = vcombine_s16(vqmovn_s32(a), vqmovn_s32(b));
    const int16x8_t cd = vcombine_s16(vqmovn_s32(c), vqmovn_s32(d));
    return vcombine_s8(vqmovn_s16(ab), vqmovn_s16(cd));
}

void mb_neon_quant_q8_0(const float *src, void *dst, int64_t n) {
    mb_block_q8_0 *b = dst;
    for (int64_t i = 0; i < n / MB_QK8_0; i++, src += MB_QK8_0) {
        const float d = abs_max(src, MB_QK8_0) / 127;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        int32x4_t r[8];
        for (int k = 0; k < 8; k++) {
            const float32x4_t v = vmulq_n_f32(vld1q_f32(src + 4 * k), id);
            /* Clamping first is the same as rounding first: the bounds are
             * integers. */
            r[k] = vcvtaq_s32_f32(clamp_f32(v, -127.0f, 127.0f));
        }
        vst1q_s8(b[i].qs, narrow16(r[0], r[1], r[2], r[3]));
        vst1q_s8(b[i].qs + 16, narrow16(r[4], r[5], r[6], r[7]));
        b[i].d = mb_fp32_to_fp16(d);
    }
}

void mb_neon_quant_q8_k(const float *src, void *dst, int64_t n) {
    mb_block_q8_k *b = dst;
    for (int64_t i = 0; i < n / MB_QK_K; i++, src += MB_QK_K) {
        const float amax = abs_max(src, MB_QK_K);
        if (amax == 0.0f) {
            memset(&b[i], 0, sizeof b[i]);
            continue;
        }
        /* The reference keeps the sign of the first value of largest
         * magnitude; equal magnitudes of opposite sign make a difference. */
        int first = 0;
        while (!(__builtin_fabsf(src[first]) == amax))
            first++;
        const float iscale = -127.0f / src[first];
        for (int g = 0; g < MB_QK_K / 16; g++) {
            int32x4_t r[4];
            for (int k = 0; k < 4; k++) {
                const float32x4_t v = vmulq_n_f32(vld1q_f32(src + 16 * g + 4 * k), iscale);
                r[k] = vcvtnq_s32_f32(clamp_f32(v, -128.0f, 127.0f));
            }
            const int8x16_t q = narrow16(r[0], r[1], r[2], r[3]);
            vst1q_s8(b[i].qs + 16 * g, q);
            b[i].bsums[g] = vaddvq_s16(vpaddlq_s8(q));
        }
        b[i].d = 1 / iscale;
    }
}

/* FCVTN rounds to nearest even (the default FPCR mode), keeps subnormals
 * (FZ is off on Linux) and quiets NaNs keeping the top payload bits, as
 * mb_fp32_to_fp16 does. */
void mb_neon_quant_f16(const float *src, void *dst, int64_t n) {
    uint16_t *h = dst;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1_u16(h + i, vreinterpret_u16_f16(vcvt_f16_f32(vld1q_f32(src + i))));
    for (; i < n; i++)
        h[i] = mb_fp32_to_fp16(src[i]);
}

/* Round to nearest even on the low 16 bits in integer arithmetic, NaNs
 * quieted, as the reference does. */
static inline uint16x4_t bf16_round(float32x4_t x) {
    const uint32x4_t u = vreinterpretq_u32_f32(x);
    const uint32x4_t odd = vandq_u32(vshrq_n_u32(u, 16), vdupq_n_u32(1));
    const uint32x4_t r = vshrq_n_u32(vaddq_u32(u, vaddq_u32(vdupq_n_u32(0x7FFF), odd)), 16);
    const uint32x4_t mag = vandq_u32(u, vdupq_n_u32(0x7FFFFFFF));
    const uint32x4_t nan = vcgtq_u32(mag, vdupq_n_u32(0x7F800000));
    const uint32x4_t quiet = vorrq_u32(vshrq_n_u32(u, 16), vdupq_n_u32(0x40));
    return vmovn_u32(vbslq_u32(nan, quiet, r));
}

void mb_neon_quant_bf16(const float *src, void *dst, int64_t n) {
    uint16_t *h = dst;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1_u16(h + i, bf16_round(vld1q_f32(src + i)));
    for (; i < n; i++)
        h[i] = mb_fp32_to_bf16(src[i]);
}
