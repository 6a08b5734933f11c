/* Dots of the K-quants with Q8_K activations. A super-block's whole sum is
 * one integer: sum over sub-blocks of scale * sum(q_w * q_a), times the two
 * float scales d_w * d_a. Types with a min subtract dmin * d_a * sum(m *
 * sum(q_a)), and Q8_K's bsums already hold those sums of 16 codes. Only the
 * super-block results are summed in float. */
#include <stddef.h>

#include "kernels/ref/dot_ref.h"
#include "tensor/blocks.h"
#include "tensor/types.h"

/* Sum of (2-bit code at SHIFT of bytes Q[0..15]) * A[0..15]. */
static int dot16_bits2(const uint8_t *q, int shift, const int8_t *a) {
    int s = 0;
    for (int l = 0; l < 16; l++)
        s += ((q[l] >> shift) & 3) * a[l];
    return s;
}

void mb_ref_dot_q2_k_q8_k(int64_t n, float *out, const void *w, const void *act) {
    const mb_block_q2_k *x = w;
    const mb_block_q8_k *y = act;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / MB_QK_K; i++) {
        const uint8_t *sc = x[i].scales;
        const int8_t *a = y[i].qs;
        int isum = 0, msum = 0;
        for (int j = 0; j < 16; j++)
            msum += y[i].bsums[j] * (sc[j] >> 4);
        /* Sub-block j covers values 16j..16j+15: code bytes 32*(j/8) +
         * 16*(j%2), bit pair (j%8)/2. */
        for (int j = 0; j < 16; j++) {
            const uint8_t *q = x[i].qs + 32 * (j / 8) + 16 * (j % 2);
            isum += (sc[j] & 0xF) * dot16_bits2(q, 2 * ((j % 8) / 2), a + 16 * j);
        }
        const float d = y[i].d * mb_fp16_to_fp32(x[i].d);
        const float dmin = y[i].d * mb_fp16_to_fp32(x[i].dmin);
        sum += d * isum - dmin * msum;
    }
    *out = sum;
}

void mb_ref_dot_q3_k_q8_k(int64_t n, float *out, const void *w, const void *act) {
    const mb_block_q3_k *x = w;
    const mb_block_q8_k *y = act;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / MB_QK_K; i++) {
        const int8_t *a = y[i].qs;
        int isum = 0;
        for (int j = 0; j < 16; j++) {
            const int off = 16 * (j % 2);
            const uint8_t *q = x[i].qs + 32 * (j / 8) + off;
            const uint8_t *hm = x[i].hmask + off;
            const int shift = 2 * ((j % 8) / 2);
            const int bit = j / 2; /* the high bit's position: value index / 32 */
            int s = 0;
            for (int l = 0; l < 16; l++) {
                const int v = ((q[l] >> shift) & 3) - (((hm[l] >> bit) & 1) ? 0 : 4);
                s += v * a[16 * j + l];
            }
            isum += mb_q3k_scale(j, x[i].scales) * s;
        }
        sum += (mb_fp16_to_fp32(x[i].d) * y[i].d) * isum;
    }
    *out = sum;
}

/* Shared by Q4_K and Q5_K (QH NULL for Q4_K). Each 32 code bytes hold two
 * sub-blocks, the first in the low nibbles and the second in the high ones;
 * Q5_K's fifth bit of sub-block j is bit j of qh[l]. */
static float dot_k4(const uint8_t *scales, const uint8_t *qs, const uint8_t *qh, uint16_t d16,
                    uint16_t dmin16, const mb_block_q8_k *y) {
    int isum = 0, msum = 0;
    for (int j = 0; j < 8; j++) {
        uint8_t sc, m;
        mb_k4_scale_min(j, scales, &sc, &m);
        const uint8_t *q = qs + 32 * (j / 2);
        const int shift = 4 * (j % 2);
        const int8_t *a = y->qs + 32 * j;
        int s = 0;
        for (int l = 0; l < 32; l++) {
            const int hi = qh ? ((qh[l] >> j) & 1) << 4 : 0;
            s += (((q[l] >> shift) & 0xF) | hi) * a[l];
        }
        isum += sc * s;
        msum += m * (y->bsums[2 * j] + y->bsums[2 * j + 1]);
    }
    const float d = mb_fp16_to_fp32(d16) * y->d;
    const float dmin = mb_fp16_to_fp32(dmin16) * y->d;
    return d * isum - dmin * msum;
}

void mb_ref_dot_q4_k_q8_k(int64_t n, float *out, const void *w, const void *act) {
    const mb_block_q4_k *x = w;
    const mb_block_q8_k *y = act;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / MB_QK_K; i++) {
        sum += dot_k4(x[i].scales, x[i].qs, NULL, x[i].d, x[i].dmin, &y[i]);
    }
    *out = sum;
}

void mb_ref_dot_q5_k_q8_k(int64_t n, float *out, const void *w, const void *act) {
    const mb_block_q5_k *x = w;
    const mb_block_q8_k *y = act;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / MB_QK_K; i++) {
        sum += dot_k4(x[i].scales, x[i].qs, x[i].qh, x[i].d, x[i].dmin, &y[i]);
    }
    *out = sum;
}

/* Each half (128 values) of a Q6_K block: byte l of ql[0..31] holds values
 * l (low nibble) and l+64 (high), ql[32..63] values l+32 and l+96; qh[l]
 * holds their top two bits in that order. */
void mb_ref_dot_q6_k_q8_k(int64_t n, float *out, const void *w, const void *act) {
    const mb_block_q6_k *x = w;
    const mb_block_q8_k *y = act;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / MB_QK_K; i++) {
        int sub[16] = {0};
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = x[i].ql + 64 * h, *qh = x[i].qh + 32 * h;
            const int8_t *a = y[i].qs + 128 * h;
            for (int l = 0; l < 32; l++) {
                const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                const int is = 8 * h + l / 16;
                sub[is] += q1 * a[l];
                sub[is + 2] += q2 * a[l + 32];
                sub[is + 4] += q3 * a[l + 64];
                sub[is + 6] += q4 * a[l + 96];
            }
        }
        int isum = 0;
        for (int j = 0; j < 16; j++)
            isum += x[i].scales[j] * sub[j];
        sum += (mb_fp16_to_fp32(x[i].d) * y[i].d) * isum;
    }
    *out = sum;
}
