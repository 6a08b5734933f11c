/* Q5_K's 16-row groups (q5_k_r16.h): packing and reading rows back (the
 * activation is prepared as Q4_K's, and the reference product is Q4_K's,
 * in q4_k_r16.c). */
#include "kernels/q5_k_r16.h"

#include <stddef.h>
#include <string.h>

#include "kernels/kernels.h"
#include "tensor/blocks.h"

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
