/* Dots of the 32-value block types with Q8_0/Q8_1 activations. Within a
 * block the codes multiply as integers (exact), and the block's two scales
 * are applied once to the integer sum; blocks accumulate in float. With an
 * offset m (Q4_1, Q5_1) the block's sum(x*y) is d_w*d_a*sum(q_w*q_a) +
 * m*d_a*sum(q_a), and Q8_1 carries that last factor precomputed as s. */
#include "kernels/ref/dot_ref.h"
#include "tensor/blocks.h"
#include "tensor/types.h"

void mb_ref_dot_q4_0_q8_0(int64_t n, float *out, const void *w, const void *a) {
    const mb_block_q4_0 *x = w;
    const mb_block_q8_0 *y = a;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / MB_QK4_0; i++) {
        int isum = 0;
        for (int j = 0; j < MB_QK4_0 / 2; j++) {
            isum += ((x[i].qs[j] & 0xF) - 8) * y[i].qs[j];
            isum += ((x[i].qs[j] >> 4) - 8) * y[i].qs[j + MB_QK4_0 / 2];
        }
        sum += isum * (mb_fp16_to_fp32(x[i].d) * mb_fp16_to_fp32(y[i].d));
    }
    *out = sum;
}

void mb_ref_dot_q4_1_q8_1(int64_t n, float *out, const void *w, const void *a) {
    const mb_block_q4_1 *x = w;
    const mb_block_q8_1 *y = a;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / MB_QK4_1; i++) {
        int isum = 0;
        for (int j = 0; j < MB_QK4_1 / 2; j++) {
            isum += (x[i].qs[j] & 0xF) * y[i].qs[j];
            isum += (x[i].qs[j] >> 4) * y[i].qs[j + MB_QK4_1 / 2];
        }
        sum += (mb_fp16_to_fp32(x[i].d) * mb_fp16_to_fp32(y[i].d)) * isum +
               mb_fp16_to_fp32(x[i].m) * mb_fp16_to_fp32(y[i].s);
    }
    *out = sum;
}

/* Code J (0..31) of a Q5 block, without any offset: 0..31. */
static int q5_code(const uint8_t *qs, uint32_t qh, int j) {
    const int lo = j < 16 ? (qs[j] & 0xF) : (qs[j - 16] >> 4);
    return lo | (int)(((qh >> j) & 1) << 4);
}

void mb_ref_dot_q5_0_q8_0(int64_t n, float *out, const void *w, const void *a) {
    const mb_block_q5_0 *x = w;
    const mb_block_q8_0 *y = a;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / MB_QK5_0; i++) {
        const uint32_t qh = mb_q5_high_bits(x[i].qh);
        int isum = 0;
        for (int j = 0; j < MB_QK5_0; j++)
            isum += (q5_code(x[i].qs, qh, j) - 16) * y[i].qs[j];
        sum += isum * (mb_fp16_to_fp32(x[i].d) * mb_fp16_to_fp32(y[i].d));
    }
    *out = sum;
}

void mb_ref_dot_q5_1_q8_1(int64_t n, float *out, const void *w, const void *a) {
    const mb_block_q5_1 *x = w;
    const mb_block_q8_1 *y = a;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / MB_QK5_1; i++) {
        const uint32_t qh = mb_q5_high_bits(x[i].qh);
        int isum = 0;
        for (int j = 0; j < MB_QK5_1; j++)
            isum += q5_code(x[i].qs, qh, j) * y[i].qs[j];
        sum += (mb_fp16_to_fp32(x[i].d) * mb_fp16_to_fp32(y[i].d)) * isum +
               mb_fp16_to_fp32(x[i].m) * mb_fp16_to_fp32(y[i].s);
    }
    *out = sum;
}

void mb_ref_dot_q8_0_q8_0(int64_t n, float *out, const void *w, const void *a) {
    const mb_block_q8_0 *x = w;
    const mb_block_q8_0 *y = a;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / MB_QK8_0; i++) {
        int isum = 0;
        for (int j = 0; j < MB_QK8_0; j++)
            isum += x[i].qs[j] * y[i].qs[j];
        sum += isum * (mb_fp16_to_fp32(x[i].d) * mb_fp16_to_fp32(y[i].d));
    }
    *out = sum;
}
