/* Q5_K's 16-row groups (q5_k_r16.h): packing and the reference product
 * (the activation is prepared as Q4_K's). */
#include "kernels/q5_k_r16.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

#include "kernels/kernels.h"
#include "tensor/blocks.h"
#include "tensor/fp16.h"

/* Chunks after d and dmin: 3 of scales, 8 of qh, 32 of codes. */
enum { CHUNKS = 3 + 8 + 32 };

/* Where in a row's block the four bytes of chunk C come from. */
static size_t chunk_src(int c) {
    if (c < 3) return offsetof(mb_block_q5_k, scales) + 4 * (size_t)c;
    if (c < 11) return offsetof(mb_block_q5_k, qh) + 4 * (size_t)(c - 3);
    return offsetof(mb_block_q5_k, qs) + (size_t)mb_q4_k_r16_qs(c - 11);
}

void mb_q5_k_r16_pack(int64_t n, void *dst, const void *src, size_t row_bytes) {
    uint8_t *o = dst;
    for (int64_t b = 0; b < n / MB_QK_K; b++, o += MB_Q5_K_R16_BLOCK_BYTES)
        for (int r = 0; r < MB_Q5_K_R16_ROWS; r++) {
            const uint8_t *x =
                (const uint8_t *)src + r * row_bytes + (size_t)b * sizeof(mb_block_q5_k);
            memcpy(o + 2 * r, x + offsetof(mb_block_q5_k, d), 2);
            memcpy(o + 32 + 2 * r, x + offsetof(mb_block_q5_k, dmin), 2);
            for (int c = 0; c < CHUNKS; c++)
                memcpy(o + MB_Q4_K_R16_SCALES + 64 * c + 4 * r, x + chunk_src(c), 4);
        }
}

void mb_q5_k_r16_row_blocks(const void *group, int r, int64_t b0, int64_t n_blocks, void *dst) {
    for (int64_t b = 0; b < n_blocks; b++) {
        const uint8_t *p = (const uint8_t *)group + (size_t)(b0 + b) * MB_Q5_K_R16_BLOCK_BYTES;
        uint8_t *x = (uint8_t *)dst + (size_t)b * sizeof(mb_block_q5_k);
        memcpy(x + offsetof(mb_block_q5_k, d), p + 2 * r, 2);
        memcpy(x + offsetof(mb_block_q5_k, dmin), p + 32 + 2 * r, 2);
        for (int c = 0; c < CHUNKS; c++)
            memcpy(x + chunk_src(c), p + MB_Q4_K_R16_SCALES + 64 * c + 4 * r, 4);
    }
}

void mb_q5_k_r16_rows(const void *group, int r0, int nr, int64_t n, void *dst, size_t row_bytes) {
    const int64_t nb = n / MB_QK_K;
    if (r0 % 8 || nr % 8) {
        for (int r = r0; r < r0 + nr; r++)
            mb_q5_k_r16_row_blocks(group, r, 0, nb, (uint8_t *)dst + (size_t)(r - r0) * row_bytes);
        return;
    }
    const mb_r16_gather_fn gather = mb_kernels()->r16_gather;
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *p = (const uint8_t *)group + (size_t)b * MB_Q5_K_R16_BLOCK_BYTES;
        uint8_t *x = (uint8_t *)dst + (size_t)b * sizeof(mb_block_q5_k);
        for (int r = r0; r < r0 + nr; r++) {
            uint8_t *xr = x + (size_t)(r - r0) * row_bytes;
            memcpy(xr + offsetof(mb_block_q5_k, d), p + 2 * r, 2);
            memcpy(xr + offsetof(mb_block_q5_k, dmin), p + 32 + 2 * r, 2);
            for (int c = 0; c < 3; c++)
                memcpy(xr + chunk_src(c), p + MB_Q4_K_R16_SCALES + 64 * c + 4 * r, 4);
        }
        gather(p + MB_Q5_K_R16_QH, 64, x + offsetof(mb_block_q5_k, qh), row_bytes, r0, nr);
        for (int j = 0; j < 4; j++)
            gather(p + MB_Q5_K_R16_CODES + 64 * j, 256, x + offsetof(mb_block_q5_k, qs) + 32 * j,
                   row_bytes, r0, nr);
    }
}

void mb_q5_k_r16_unpack(int64_t n, void *dst, size_t row_bytes, const void *src) {
    mb_q5_k_r16_rows(src, 0, MB_Q5_K_R16_ROWS, n, dst, row_bytes);
}

/* Row R's isum and msum of block P (q5_k_r16.h). */
static void block_sums(const uint8_t *p, int r, const mb_q4_k_r16_act *a, int32_t *isum,
                       int32_t *msum) {
    uint8_t scales[12], qh[32];
    for (int i = 0; i < 3; i++)
        memcpy(scales + 4 * i, p + MB_Q4_K_R16_SCALES + 64 * i + 4 * r, 4);
    for (int i = 0; i < 8; i++)
        memcpy(qh + 4 * i, p + MB_Q5_K_R16_QH + 64 * i + 4 * r, 4);
    int8_t y[256], l[8], h[8];
    memcpy(y, a->y, 256);
    memcpy(l, a->ml, 8);
    memcpy(h, a->mh, 8);
    int32_t is = 0, ms = 0;
    for (int s = 0; s < 8; s++) {
        uint8_t sc, m;
        mb_k4_scale_min(s, scales, &sc, &m);
        const int j = s / 2, shift = 4 * (s % 2);
        int32_t sub = 0;
        for (int i = 0; i < 8; i++)
            for (int e = 0; e < 4; e++) {
                const uint8_t q = p[MB_Q5_K_R16_CODES + 64 * (4 * i + j) + 4 * r + e];
                const int v = (q >> shift & 15) | (qh[4 * i + e] >> s & 1) << 4;
                sub += v * y[32 * s + 4 * i + e];
            }
        is += sc * sub;
        ms += m * (256 * h[s] + l[s]);
    }
    *isum = is;
    *msum = ms;
}

void mb_ref_q5_k_r16(int64_t n, float *out, size_t out_stride, const void *w, size_t group_stride,
                     int n_groups, const mb_q4_k_r16_act *a, int n_act, int add) {
    const int64_t nb = n / MB_QK_K;
    for (int g = 0; g < n_groups; g++) {
        const uint8_t *grp = (const uint8_t *)w + (size_t)g * group_stride;
        for (int c = 0; c < n_act; c++)
            for (int r = 0; r < MB_Q5_K_R16_ROWS; r++) {
                float *o = &out[(size_t)c * out_stride + (size_t)g * MB_Q5_K_R16_ROWS + (size_t)r];
                float acc = add ? *o : 0.0f;
                for (int64_t b = 0; b < nb; b++) {
                    const uint8_t *p = grp + (size_t)b * MB_Q5_K_R16_BLOCK_BYTES;
                    const mb_q4_k_r16_act *ab = &a[(size_t)c * nb + b];
                    uint16_t dh, mh;
                    memcpy(&dh, p + 2 * r, 2);
                    memcpy(&mh, p + 32 + 2 * r, 2);
                    int32_t isum, msum;
                    block_sums(p, r, ab, &isum, &msum);
                    acc = fmaf((float)isum, mb_half_to_float(dh) * ab->d, acc);
                    acc = fmaf((float)msum, -(mb_half_to_float(mh) * ab->d), acc);
                }
                *o = acc;
            }
    }
}
