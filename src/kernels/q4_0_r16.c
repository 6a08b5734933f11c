/* Q4_0's 16-row groups (q4_0_r16.h): packing, the activation's
 * preparation and the reference product. */
#include "kernels/q4_0_r16.h"

#include <math.h>
#include <string.h>

#include "tensor/blocks.h"
#include "tensor/fp16.h"

void mb_q4_0_r16_pack(int64_t n, void *dst, const void *src, size_t row_bytes) {
    const int64_t nb = n / MB_QK4_0;
    uint8_t *o = dst;
    for (int64_t b = 0; b < nb; b++, o += MB_Q4_0_R16_BLOCK_BYTES)
        for (int r = 0; r < MB_Q4_0_R16_ROWS; r++) {
            const mb_block_q4_0 *x =
                (const mb_block_q4_0 *)(const void *)((const uint8_t *)src + r * row_bytes) + b;
            memcpy(o + 2 * r, &x->d, 2);
            for (int k = 0; k < 4; k++)
                memcpy(o + 32 + 64 * k + 4 * r, x->qs + 4 * k, 4);
        }
}

void mb_q4_0_r16_row_blocks(const void *group, int r, int64_t b0, int64_t n_blocks, void *dst) {
    mb_block_q4_0 *x = dst;
    for (int64_t b = 0; b < n_blocks; b++) {
        const uint8_t *p = (const uint8_t *)group + (size_t)(b0 + b) * MB_Q4_0_R16_BLOCK_BYTES;
        memcpy(&x[b].d, p + 2 * r, 2);
        for (int k = 0; k < 4; k++)
            memcpy(x[b].qs + 4 * k, p + 32 + 64 * k + 4 * r, 4);
    }
}

void mb_q4_0_r16_unpack(int64_t n, void *dst, size_t row_bytes, const void *src) {
    for (int r = 0; r < MB_Q4_0_R16_ROWS; r++)
        mb_q4_0_r16_row_blocks(src, r, 0, n / MB_QK4_0, (uint8_t *)dst + r * row_bytes);
}

void mb_q4_0_r16_prep(int64_t n, const void *act, mb_q4_0_r16_act *out) {
    const mb_block_q8_0 *y = act;
    for (int64_t b = 0; b < n / MB_QK8_0; b++) {
        int32_t sum = 0;
        for (int j = 0; j < MB_QK8_0; j++)
            sum += y[b].qs[j];
        for (int k = 0; k < 4; k++) {
            memcpy(&out[b].y[k], y[b].qs + 4 * k, 4);
            memcpy(&out[b].y[4 + k], y[b].qs + 16 + 4 * k, 4);
        }
        out[b].seed = -8 * sum;
        out[b].d = mb_half_to_float(y[b].d);
    }
}

/* The exact integer sum of (code - 8) * y over block P (of row R). */
static int32_t block_sum(const uint8_t *p, int r, const mb_q4_0_r16_act *a) {
    int32_t s = a->seed;
    for (int k = 0; k < 4; k++) {
        int8_t lo[4], hi[4];
        memcpy(lo, &a->y[k], 4);
        memcpy(hi, &a->y[4 + k], 4);
        for (int i = 0; i < 4; i++) {
            const uint8_t q = p[32 + 64 * k + 4 * r + i];
            s += (int32_t)(q & 15) * lo[i] + (int32_t)(q >> 4) * hi[i];
        }
    }
    return s;
}

void mb_ref_q4_0_r16(int64_t n, float *out, size_t out_stride, const void *w, size_t group_stride,
                     int n_groups, const mb_q4_0_r16_act *a, int n_act, int add) {
    const int64_t nb = n / MB_QK4_0;
    for (int g = 0; g < n_groups; g++) {
        const uint8_t *grp = (const uint8_t *)w + (size_t)g * group_stride;
        for (int c = 0; c < n_act; c++)
            for (int r = 0; r < MB_Q4_0_R16_ROWS; r++) {
                float *o = &out[(size_t)c * out_stride + (size_t)g * MB_Q4_0_R16_ROWS + (size_t)r];
                float acc = add ? *o : 0.0f;
                for (int64_t b = 0; b < nb; b++) {
                    const uint8_t *p = grp + (size_t)b * MB_Q4_0_R16_BLOCK_BYTES;
                    uint16_t dh;
                    memcpy(&dh, p + 2 * r, 2);
                    const float s = mb_half_to_float(dh) * a[(size_t)c * nb + b].d;
                    acc = fmaf((float)block_sum(p, r, &a[(size_t)c * nb + b]), s, acc);
                }
                *o = acc;
            }
    }
}
