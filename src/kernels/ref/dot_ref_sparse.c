/* Scalar dots of the sparse types (tensor/blocks.h) with Q8_K activations:
 * per 64-weight quarter an exact integer sum over the set bits of the mask,
 * scaled by the quarter's scale and the activation block's. The SIMD
 * kernels compute the same integer sums. */
#include "kernels/ref/dot_ref.h"
#include "tensor/blocks.h"
#include "tensor/fp16.h"

/* The K-th non-zero of an SQ4 block, -8..7. */
static int sq4_value(const mb_block_sq4 *b, int k) {
    return (k < 64 ? b->qs[k] & 15 : b->qs[k - 64] >> 4) - 8;
}

void mb_ref_dot_sq4_q8_k(int64_t n, float *out, const void *w, const void *a) {
    const mb_block_sq4 *x = w;
    const mb_block_q8_k *y = a;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / MB_QK_SPARSE; i++) {
        int k = 0;
        float block = 0.0f;
        for (int q = 0; q < 4; q++) {
            int isum = 0;
            for (int j = 64 * q; j < 64 * q + 64; j++)
                if ((x[i].mask[j >> 3] >> (j & 7)) & 1 && k < MB_SPARSE_CAP)
                    isum += sq4_value(&x[i], k++) * y[i].qs[j];
            block += mb_half_to_float(x[i].d[q]) * (float)isum;
        }
        sum += block * y[i].d;
    }
    *out = sum;
}

void mb_ref_dot_sq8_q8_k(int64_t n, float *out, const void *w, const void *a) {
    const mb_block_sq8 *x = w;
    const mb_block_q8_k *y = a;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / MB_QK_SPARSE; i++) {
        int k = 0;
        float block = 0.0f;
        for (int q = 0; q < 4; q++) {
            int isum = 0;
            for (int j = 64 * q; j < 64 * q + 64; j++)
                if ((x[i].mask[j >> 3] >> (j & 7)) & 1 && k < MB_SPARSE_CAP)
                    isum += x[i].qs[k++] * y[i].qs[j];
            block += mb_half_to_float(x[i].d[q]) * (float)isum;
        }
        sum += block * y[i].d;
    }
    *out = sum;
}

void mb_ref_dot_sq4_24_q8_k(int64_t n, float *out, const void *w, const void *a) {
    const mb_block_sq4_24 *x = w;
    const mb_block_q8_k *y = a;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / MB_QK_SPARSE; i++) {
        float block = 0.0f;
        for (int q = 0; q < 4; q++) {
            int isum = 0;
            for (int k = 32 * q; k < 32 * q + 32; k++) {
                const int code = k < 64 ? x[i].qs[k] & 15 : x[i].qs[k - 64] >> 4;
                const int idx = (x[i].idx[k >> 2] >> (2 * (k & 3))) & 3;
                isum += (code - 8) * y[i].qs[4 * (k / 2) + idx];
            }
            block += mb_half_to_float(x[i].d[q]) * (float)isum;
        }
        sum += block * y[i].d;
    }
    *out = sum;
}
