/* Scalar dots of the sparse types (tensor/blocks.h) with Q8_K activations:
 * per 64-weight quarter an exact integer sum over the set bits of the mask,
 * scaled by the quarter's scale and the activation block's. The SIMD
 * kernels compute the same integer sums. */
#include <stddef.h>

#include "kernels/ref/dot_ref.h"
#include "tensor/blocks.h"
#include "tensor/fp16.h"

/* The K-th non-zero of a block: SQ4's -8..7, SQ8's code. */
static int sq4_value(const void *blk, int k) {
    return mb_sparse_nibble(((const mb_block_sq4 *)blk)->qs, k) - 8;
}
static int sq8_value(const void *blk, int k) {
    return ((const mb_block_sq8 *)blk)->qs[k];
}

/* SQ4 and SQ8 share the mask and the scales, at the same offsets (the
 * blocks differ only in their codes and size). */
static_assert(offsetof(mb_block_sq4, mask) == offsetof(mb_block_sq8, mask) &&
                  offsetof(mb_block_sq4, d) == offsetof(mb_block_sq8, d),
              "SQ4 and SQ8 start alike");
static void dot_masked(int64_t n, float *out, const void *w, size_t size,
                       int (*value)(const void *, int), const void *a) {
    const uint8_t *x = w;
    const mb_block_q8_k *y = a;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / MB_QK_SPARSE; i++, x += size) {
        const mb_block_sq4 *head = (const mb_block_sq4 *)x; /* mask and d */
        int k = 0;
        float block = 0.0f;
        for (int q = 0; q < 4; q++) {
            int isum = 0;
            for (int j = 64 * q; j < 64 * q + 64; j++)
                if (mb_sparse_bit(head->mask, j) && k < MB_SPARSE_CAP)
                    isum += value(x, k++) * y[i].qs[j];
            block += mb_half_to_float(head->d[q]) * (float)isum;
        }
        sum += block * y[i].d;
    }
    *out = sum;
}

void mb_ref_dot_sq4_q8_k(int64_t n, float *out, const void *w, const void *a) {
    dot_masked(n, out, w, sizeof(mb_block_sq4), sq4_value, a);
}

void mb_ref_dot_sq8_q8_k(int64_t n, float *out, const void *w, const void *a) {
    dot_masked(n, out, w, sizeof(mb_block_sq8), sq8_value, a);
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
                isum += (mb_sparse_nibble(x[i].qs, k) - 8) * y[i].qs[mb_sq4_24_pos(&x[i], k)];
            }
            block += mb_half_to_float(x[i].d[q]) * (float)isum;
        }
        sum += block * y[i].d;
    }
    *out = sum;
}
