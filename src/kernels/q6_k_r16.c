/* Q6_K's 16-row groups (q6_k_r16.h): packing, the activation's
 * preparation and the reference product. */
#include "kernels/q6_k_r16.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

#include "kernels/kernels.h"
#include "tensor/blocks.h"
#include "tensor/fp16.h"

/* Where, in a row's block, the four bytes of chunk C (0..51: d aside, the
 * scales' 4, then the codes' 48) come from: an offset into mb_block_q6_k. */
static size_t chunk_src(int c) {
    if (c < 4) return offsetof(mb_block_q6_k, scales) + 4 * (size_t)c;
    c -= 4;
    const int step = c / 3, h = step / 8, i = step % 8;
    switch (c % 3) {
    case 0: return offsetof(mb_block_q6_k, ql) + (size_t)(64 * h + 4 * i);
    case 1: return offsetof(mb_block_q6_k, ql) + (size_t)(64 * h + 32 + 4 * i);
    default: return offsetof(mb_block_q6_k, qh) + (size_t)(32 * h + 4 * i);
    }
}

enum { CHUNKS = 4 + 48 };

void mb_q6_k_r16_pack(int64_t n, void *dst, const void *src, size_t row_bytes) {
    const int64_t nb = n / MB_QK_K;
    uint8_t *o = dst;
    for (int64_t b = 0; b < nb; b++, o += MB_Q6_K_R16_BLOCK_BYTES)
        for (int r = 0; r < MB_Q6_K_R16_ROWS; r++) {
            const uint8_t *x =
                (const uint8_t *)src + r * row_bytes + (size_t)b * sizeof(mb_block_q6_k);
            memcpy(o + 2 * r, x + offsetof(mb_block_q6_k, d), 2);
            for (int c = 0; c < CHUNKS; c++)
                memcpy(o + MB_Q6_K_R16_SCALES + 64 * c + 4 * r, x + chunk_src(c), 4);
        }
}

void mb_q6_k_r16_row_blocks(const void *group, int r, int64_t b0, int64_t n_blocks, void *dst) {
    for (int64_t b = 0; b < n_blocks; b++) {
        const uint8_t *p = (const uint8_t *)group + (size_t)(b0 + b) * MB_Q6_K_R16_BLOCK_BYTES;
        uint8_t *x = (uint8_t *)dst + (size_t)b * sizeof(mb_block_q6_k);
        memcpy(x + offsetof(mb_block_q6_k, d), p + 2 * r, 2);
        for (int c = 0; c < CHUNKS; c++)
            memcpy(x + chunk_src(c), p + MB_Q6_K_R16_SCALES + 64 * c + 4 * r, 4);
    }
}

void mb_q6_k_r16_rows(const void *group, int r0, int nr, int64_t n, void *dst, size_t row_bytes) {
    const int64_t nb = n / MB_QK_K;
    if (r0 % 8 || nr % 8) {
        for (int r = r0; r < r0 + nr; r++)
            mb_q6_k_r16_row_blocks(group, r, 0, nb, (uint8_t *)dst + (size_t)(r - r0) * row_bytes);
        return;
    }
    const mb_r16_gather_fn gather = mb_kernels()->r16_gather;
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *p = (const uint8_t *)group + (size_t)b * MB_Q6_K_R16_BLOCK_BYTES;
        uint8_t *x = (uint8_t *)dst + (size_t)b * sizeof(mb_block_q6_k);
        for (int r = r0; r < r0 + nr; r++) {
            uint8_t *xr = x + (size_t)(r - r0) * row_bytes;
            memcpy(xr + offsetof(mb_block_q6_k, d), p + 2 * r, 2);
            for (int c = 0; c < 4; c++)
                memcpy(xr + chunk_src(c), p + MB_Q6_K_R16_SCALES + 64 * c + 4 * r, 4);
        }
        /* Per half and kind of chunk (low bits, low bits 32 on, top bits)
         * eight chunks, three apart, give 32 consecutive bytes. */
        for (int h = 0; h < 2; h++)
            for (int t = 0; t < 3; t++)
                gather(p + MB_Q6_K_R16_CODES + 64 * (3 * 8 * h + t), 3 * 64,
                       x + chunk_src(4 + 3 * 8 * h + t), row_bytes, r0, nr);
    }
}

void mb_q6_k_r16_unpack(int64_t n, void *dst, size_t row_bytes, const void *src) {
    mb_q6_k_r16_rows(src, 0, MB_Q6_K_R16_ROWS, n, dst, row_bytes);
}

void mb_q6_k_r16_prep(int64_t n, const void *act, mb_q6_k_r16_act *out) {
    const mb_block_q8_k *y = act;
    for (int64_t b = 0; b < n / MB_QK_K; b++) {
        memcpy(out[b].y, y[b].qs, sizeof out[b].y);
        for (int s = 0; s < 16; s++)
            out[b].off[s] = 32 * y[b].bsums[s];
        out[b].d = y[b].d;
        memset(out[b].pad, 0, sizeof out[b].pad);
    }
}

/* Row R's isum of block P (q6_k_r16.h). */
static int32_t block_sum(const uint8_t *p, int r, const mb_q6_k_r16_act *a) {
    int8_t y[256];
    memcpy(y, a->y, 256);
    int32_t sub[16] = {0};
    for (int h = 0; h < 2; h++)
        for (int i = 0; i < 8; i++) {
            const uint8_t *ch = p + MB_Q6_K_R16_CODES + 64 * 3 * (8 * h + i) + 4 * r;
            for (int e = 0; e < 4; e++) {
                const int A = ch[e], B = ch[64 + e], C = ch[128 + e];
                const int q[4] = {(A & 15) | (C & 3) << 4, (B & 15) | (C >> 2 & 3) << 4,
                                  A >> 4 | (C >> 4 & 3) << 4, B >> 4 | (C >> 6 & 3) << 4};
                for (int k = 0; k < 4; k++) {
                    const int v = 128 * h + 32 * k + 4 * i + e;
                    sub[v / 16] += q[k] * y[v];
                }
            }
        }
    int32_t isum = 0;
    for (int s = 0; s < 16; s++) {
        const int8_t sc = (int8_t)p[MB_Q6_K_R16_SCALES + 64 * (s / 4) + 4 * r + s % 4];
        isum += sc * (sub[s] - a->off[s]);
    }
    return isum;
}

void mb_ref_q6_k_r16(int64_t n, float *out, size_t out_stride, const void *w, size_t group_stride,
                     int n_groups, const mb_q6_k_r16_act *a, int n_act, int add) {
    const int64_t nb = n / MB_QK_K;
    for (int g = 0; g < n_groups; g++) {
        const uint8_t *grp = (const uint8_t *)w + (size_t)g * group_stride;
        for (int c = 0; c < n_act; c++)
            for (int r = 0; r < MB_Q6_K_R16_ROWS; r++) {
                float *o = &out[(size_t)c * out_stride + (size_t)g * MB_Q6_K_R16_ROWS + (size_t)r];
                float acc = add ? *o : 0.0f;
                for (int64_t b = 0; b < nb; b++) {
                    const uint8_t *p = grp + (size_t)b * MB_Q6_K_R16_BLOCK_BYTES;
                    const mb_q6_k_r16_act *ab = &a[(size_t)c * nb + b];
                    uint16_t dh;
                    memcpy(&dh, p + 2 * r, 2);
                    acc = fmaf((float)block_sum(p, r, ab), mb_half_to_float(dh) * ab->d, acc);
                }
                *o = acc;
            }
    }
}
