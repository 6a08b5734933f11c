/* Q4_K's 16-row groups (q4_k_r16.h) and Q5_K's (q5_k_r16.h: the same
 * layout and arithmetic with fifth bits): packing, reading rows back, the
 * activation's preparation (shared) and the reference product. */
#include "kernels/q4_k_r16.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

#include "kernels/kernels.h"
#include "kernels/q5_k_r16.h"
#include "tensor/blocks.h"
#include "tensor/fp16.h"

/* Q4_K's and Q5_K's groups in one description: a row's block, where its
 * fields lie, and whether the fifth bits' eight chunks come before the
 * codes (q5_k_r16.h). After the 16 d and 16 dmin, every chunk is 64 bytes
 * in a row: three of scales, Q5_K's eight of qh, the 32 of codes. */
typedef struct {
    size_t group_block, row_block, d, dmin, scales, qh, qs;
    int five;
} k4_form;

static const k4_form q4k = {MB_Q4_K_R16_BLOCK_BYTES,         sizeof(mb_block_q4_k),
                            offsetof(mb_block_q4_k, d),      offsetof(mb_block_q4_k, dmin),
                            offsetof(mb_block_q4_k, scales), 0,
                            offsetof(mb_block_q4_k, qs),     0};
static const k4_form q5k = {MB_Q5_K_R16_BLOCK_BYTES,         sizeof(mb_block_q5_k),
                            offsetof(mb_block_q5_k, d),      offsetof(mb_block_q5_k, dmin),
                            offsetof(mb_block_q5_k, scales), offsetof(mb_block_q5_k, qh),
                            offsetof(mb_block_q5_k, qs),     1};

static int form_chunks(const k4_form *f) {
    return 3 + (f->five ? 8 : 0) + 32;
}

/* Where in a row's block the four bytes of chunk C come from. */
static size_t chunk_src(const k4_form *f, int c) {
    if (c < 3) return f->scales + 4 * (size_t)c;
    c -= 3;
    if (f->five) {
        if (c < 8) return f->qh + 4 * (size_t)c;
        c -= 8;
    }
    return f->qs + (size_t)mb_q4_k_r16_qs(c);
}

static void form_pack(const k4_form *f, int64_t n, void *dst, const void *src, size_t row_bytes) {
    uint8_t *o = dst;
    for (int64_t b = 0; b < n / MB_QK_K; b++, o += f->group_block)
        for (int r = 0; r < MB_Q4_K_R16_ROWS; r++) {
            const uint8_t *x = (const uint8_t *)src + r * row_bytes + (size_t)b * f->row_block;
            memcpy(o + 2 * r, x + f->d, 2);
            memcpy(o + 32 + 2 * r, x + f->dmin, 2);
            for (int c = 0; c < form_chunks(f); c++)
                memcpy(o + MB_Q4_K_R16_SCALES + 64 * c + 4 * r, x + chunk_src(f, c), 4);
        }
}

/* Row R's d, dmin and the first C_END chunks' bytes of block P, at X. */
static void row_head(const k4_form *f, const uint8_t *p, int r, int c_end, uint8_t *x) {
    memcpy(x + f->d, p + 2 * r, 2);
    memcpy(x + f->dmin, p + 32 + 2 * r, 2);
    for (int c = 0; c < c_end; c++)
        memcpy(x + chunk_src(f, c), p + MB_Q4_K_R16_SCALES + 64 * c + 4 * r, 4);
}

static void form_row_blocks(const k4_form *f, const void *group, int r, int64_t b0,
                            int64_t n_blocks, void *dst) {
    for (int64_t b = 0; b < n_blocks; b++)
        row_head(f, (const uint8_t *)group + (size_t)(b0 + b) * f->group_block, r, form_chunks(f),
                 (uint8_t *)dst + (size_t)b * f->row_block);
}

static void form_rows(const k4_form *f, const void *group, int r0, int nr, int64_t n, void *dst,
                      size_t row_bytes) {
    const int64_t nb = n / MB_QK_K;
    if (r0 % 8 || nr % 8) {
        for (int r = r0; r < r0 + nr; r++)
            form_row_blocks(f, group, r, 0, nb, (uint8_t *)dst + (size_t)(r - r0) * row_bytes);
        return;
    }
    const mb_r16_gather_fn gather = mb_kernels()->r16_gather;
    const size_t codes = f->five ? MB_Q5_K_R16_CODES : MB_Q4_K_R16_CODES;
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *p = (const uint8_t *)group + (size_t)b * f->group_block;
        uint8_t *x = (uint8_t *)dst + (size_t)b * f->row_block;
        for (int r = r0; r < r0 + nr; r++)
            row_head(f, p, r, 3, x + (size_t)(r - r0) * row_bytes);
        if (f->five) gather(p + MB_Q5_K_R16_QH, 64, x + f->qh, row_bytes, r0, nr);
        /* qs[32j..32j + 31] from code chunks j, 4 + j, ..., 28 + j. */
        for (int j = 0; j < 4; j++)
            gather(p + codes + 64 * j, 256, x + f->qs + 32 * j, row_bytes, r0, nr);
    }
}

void mb_q4_k_r16_pack(int64_t n, void *dst, const void *src, size_t row_bytes) {
    form_pack(&q4k, n, dst, src, row_bytes);
}
void mb_q4_k_r16_row_blocks(const void *group, int r, int64_t b0, int64_t n_blocks, void *dst) {
    form_row_blocks(&q4k, group, r, b0, n_blocks, dst);
}
void mb_q4_k_r16_rows(const void *group, int r0, int nr, int64_t n, void *dst, size_t row_bytes) {
    form_rows(&q4k, group, r0, nr, n, dst, row_bytes);
}
void mb_q4_k_r16_unpack(int64_t n, void *dst, size_t row_bytes, const void *src) {
    form_rows(&q4k, src, 0, MB_Q4_K_R16_ROWS, n, dst, row_bytes);
}

void mb_q5_k_r16_pack(int64_t n, void *dst, const void *src, size_t row_bytes) {
    form_pack(&q5k, n, dst, src, row_bytes);
}
void mb_q5_k_r16_row_blocks(const void *group, int r, int64_t b0, int64_t n_blocks, void *dst) {
    form_row_blocks(&q5k, group, r, b0, n_blocks, dst);
}
void mb_q5_k_r16_rows(const void *group, int r0, int nr, int64_t n, void *dst, size_t row_bytes) {
    form_rows(&q5k, group, r0, nr, n, dst, row_bytes);
}
void mb_q5_k_r16_unpack(int64_t n, void *dst, size_t row_bytes, const void *src) {
    form_rows(&q5k, src, 0, MB_Q5_K_R16_ROWS, n, dst, row_bytes);
}

void mb_q4_k_r16_prep(int64_t n, const void *act, mb_q4_k_r16_act *out) {
    const mb_block_q8_k *y = act;
    for (int64_t b = 0; b < n / MB_QK_K; b++) {
        memcpy(out[b].y, y[b].qs, sizeof out[b].y);
        int8_t l[8], h[8];
        for (int s = 0; s < 8; s++) {
            const int sum = y[b].bsums[2 * s] + y[b].bsums[2 * s + 1];
            /* |sum| <= 4096: l in -128..127, h = (sum - l) / 256 in -16..16. */
            l[s] = (int8_t)(sum & 0xFF);
            h[s] = (int8_t)((sum - l[s]) / 256);
        }
        memcpy(out[b].ml, l, 8);
        memcpy(out[b].mh, h, 8);
        out[b].d = y[b].d;
        memset(out[b].pad, 0, sizeof out[b].pad);
    }
}

/* Row R's integers of block P: isum and msum (q4_k_r16.h), the codes at
 * CODES; with FIVE, Q5_K's fifth bits from the qh chunks (q5_k_r16.h). */
static void block_sums(const uint8_t *p, int r, const mb_q4_k_r16_act *a, int five, int32_t *isum,
                       int32_t *msum) {
    const size_t codes = five ? MB_Q5_K_R16_CODES : MB_Q4_K_R16_CODES;
    uint8_t scales[12], qh[32] = {0};
    for (int i = 0; i < 3; i++)
        memcpy(scales + 4 * i, p + MB_Q4_K_R16_SCALES + 64 * i + 4 * r, 4);
    for (int i = 0; five && i < 8; i++)
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
                const uint8_t q = p[codes + 64 * (4 * i + j) + 4 * r + e];
                const int v = (q >> shift & 15) | (qh[4 * i + e] >> s & 1) << 4;
                sub += v * y[32 * s + 4 * i + e];
            }
        is += sc * sub;
        ms += m * (256 * h[s] + l[s]);
    }
    *isum = is;
    *msum = ms;
}

/* The reference product of Q4_K's groups, or with FIVE Q5_K's. */
static void ref_product(int64_t n, float *out, size_t out_stride, const void *w,
                        size_t group_stride, int n_groups, const mb_q4_k_r16_act *a, int n_act,
                        int add, int five) {
    const int64_t nb = n / MB_QK_K;
    const size_t block = five ? MB_Q5_K_R16_BLOCK_BYTES : MB_Q4_K_R16_BLOCK_BYTES;
    for (int g = 0; g < n_groups; g++) {
        const uint8_t *grp = (const uint8_t *)w + (size_t)g * group_stride;
        for (int c = 0; c < n_act; c++)
            for (int r = 0; r < MB_Q4_K_R16_ROWS; r++) {
                float *o = &out[(size_t)c * out_stride + (size_t)g * MB_Q4_K_R16_ROWS + (size_t)r];
                float acc = add ? *o : 0.0f;
                for (int64_t b = 0; b < nb; b++) {
                    const uint8_t *p = grp + (size_t)b * block;
                    const mb_q4_k_r16_act *ab = &a[(size_t)c * nb + b];
                    uint16_t dh, mh;
                    memcpy(&dh, p + 2 * r, 2);
                    memcpy(&mh, p + 32 + 2 * r, 2);
                    int32_t isum, msum;
                    block_sums(p, r, ab, five, &isum, &msum);
                    acc = fmaf((float)isum, mb_half_to_float(dh) * ab->d, acc);
                    acc = fmaf((float)msum, -(mb_half_to_float(mh) * ab->d), acc);
                }
                *o = acc;
            }
    }
}

void mb_ref_q4_k_r16(int64_t n, float *out, size_t out_stride, const void *w, size_t group_stride,
                     int n_groups, const mb_q4_k_r16_act *a, int n_act, int add) {
    ref_product(n, out, out_stride, w, group_stride, n_groups, a, n_act, add, 0);
}

void mb_ref_q5_k_r16(int64_t n, float *out, size_t out_stride, const void *w, size_t group_stride,
                     int n_groups, const mb_q4_k_r16_act *a, int n_act, int add) {
    ref_product(n, out, out_stride, w, group_stride, n_groups, a, n_act, add, 1);
}
