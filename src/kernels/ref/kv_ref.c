/* The quantized KV cache's block decoders to F16, scalar: attention converts
 * a tile of Q8_0 or Q4_0 rows with them and runs the F16 tile step. d * q is
 * exact in float (an 11-bit scale times a code of at most 8 bits), so the one
 * rounding is to F16, to nearest even, as the SIMD conversions round. */
#include "kernels/kernels.h"
#include "tensor/blocks.h"
#include "tensor/fp16.h"

void mb_ref_q8_0_to_f16(const void *src, uint16_t *dst, int64_t n) {
    const mb_block_q8_0 *b = src;
    for (int64_t i = 0; i < n / MB_QK8_0; i++, dst += MB_QK8_0) {
        const float d = mb_half_to_float(b[i].d);
        for (int j = 0; j < MB_QK8_0; j++)
            dst[j] = mb_fp32_to_fp16(d * (float)b[i].qs[j]);
    }
}

void mb_ref_q4_0_to_f16(const void *src, uint16_t *dst, int64_t n) {
    const mb_block_q4_0 *b = src;
    for (int64_t i = 0; i < n / MB_QK4_0; i++, dst += MB_QK4_0) {
        const float d = mb_half_to_float(b[i].d);
        for (int j = 0; j < MB_QK4_0 / 2; j++) {
            dst[j] = mb_fp32_to_fp16(d * (float)((b[i].qs[j] & 0x0F) - 8));
            dst[j + MB_QK4_0 / 2] = mb_fp32_to_fp16(d * (float)((b[i].qs[j] >> 4) - 8));
        }
    }
}
