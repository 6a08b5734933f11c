/* The grid each block type stores, as GPTQ needs it: a block is fitted once
 * with the type's own encoder (the scales and mins plain quantization would
 * choose for those values); after that every element of a sub-block can
 * only take the values a * q - m of that sub-block's codes q, and GPTQ picks
 * q element by element. The (a, m) pairs are formed exactly as the decoders
 * form them (dequant_simple.c, dequant_kquants.c), so a * q - m is
 * bit-for-bit the decoded value (x - (-m) == x + m in IEEE arithmetic, for
 * the types that store +m). */
#include <string.h>

#include "quantize/gptq.h"
#include "tensor/blocks.h"
#include "tensor/fp16.h"
#include "tensor/types.h"

int mb_qgrid_supported(uint32_t type) {
    switch (type) {
    case MB_TYPE_Q4_0:
    case MB_TYPE_Q4_1:
    case MB_TYPE_Q5_0:
    case MB_TYPE_Q5_1:
    case MB_TYPE_Q8_0:
    case MB_TYPE_Q2_K:
    case MB_TYPE_Q3_K:
    case MB_TYPE_Q4_K:
    case MB_TYPE_Q5_K:
    case MB_TYPE_Q6_K: return 1;
    default: return 0;
    }
}

int mb_qgrid_sub_size(uint32_t type) {
    switch (type) {
    case MB_TYPE_Q2_K:
    case MB_TYPE_Q3_K:
    case MB_TYPE_Q6_K: return 16;
    default: return 32;
    }
}

void mb_qgrid_fit(uint32_t type, const float *x, void *block) {
    const mb_type_traits *tr = mb_type_get(type);
    tr->from_float(x, block, tr->block_size);
}

void mb_qgrid_params(uint32_t type, const void *block, int sub, float *a, float *m, int *qlo,
                     int *qhi) {
    *m = 0.0f;
    switch (type) {
    case MB_TYPE_Q4_0:
        *a = mb_fp16_to_fp32(((const mb_block_q4_0 *)block)->d);
        *qlo = -8, *qhi = 7;
        break;
    case MB_TYPE_Q5_0:
        *a = mb_fp16_to_fp32(((const mb_block_q5_0 *)block)->d);
        *qlo = -16, *qhi = 15;
        break;
    case MB_TYPE_Q4_1: {
        const mb_block_q4_1 *b = block;
        *a = mb_fp16_to_fp32(b->d);
        *m = -mb_fp16_to_fp32(b->m);
        *qlo = 0, *qhi = 15;
        break;
    }
    case MB_TYPE_Q5_1: {
        const mb_block_q5_1 *b = block;
        *a = mb_fp16_to_fp32(b->d);
        *m = -mb_fp16_to_fp32(b->m);
        *qlo = 0, *qhi = 31;
        break;
    }
    case MB_TYPE_Q8_0:
        /* -128 is decodable but SIMD dots may negate codes: keep +-127. */
        *a = mb_fp16_to_fp32(((const mb_block_q8_0 *)block)->d);
        *qlo = -127, *qhi = 127;
        break;
    case MB_TYPE_Q2_K: {
        const mb_block_q2_k *b = block;
        *a = mb_fp16_to_fp32(b->d) * (b->scales[sub] & 0xF);
        *m = mb_fp16_to_fp32(b->dmin) * (b->scales[sub] >> 4);
        *qlo = 0, *qhi = 3;
        break;
    }
    case MB_TYPE_Q3_K: {
        const mb_block_q3_k *b = block;
        *a = mb_fp16_to_fp32(b->d) * mb_q3k_scale(sub, b->scales);
        *qlo = -4, *qhi = 3;
        break;
    }
    case MB_TYPE_Q4_K:
    case MB_TYPE_Q5_K: {
        /* Q5_K starts with the same d, dmin, scales fields as Q4_K. */
        const mb_block_q4_k *b = block;
        uint8_t sc, mn;
        mb_k4_scale_min(sub, b->scales, &sc, &mn);
        *a = mb_fp16_to_fp32(b->d) * sc;
        *m = mb_fp16_to_fp32(b->dmin) * mn;
        *qlo = 0, *qhi = type == MB_TYPE_Q4_K ? 15 : 31;
        break;
    }
    case MB_TYPE_Q6_K: {
        const mb_block_q6_k *b = block;
        *a = mb_fp16_to_fp32(b->d) * b->scales[sub];
        *qlo = -32, *qhi = 31;
        break;
    }
    default: *a = 0.0f, *qlo = *qhi = 0;
    }
}

/* A nibble of a 32-value legacy block: value j low, j + 16 high. */
static void set_nibble(uint8_t *qs, int e, int u) {
    uint8_t *p = &qs[e % 16];
    *p = e < 16 ? (uint8_t)((*p & 0xF0) | (u & 0xF)) : (uint8_t)((*p & 0x0F) | ((u & 0xF) << 4));
}

static void set_q5_high(uint8_t qh[4], int e, int u) {
    const uint8_t bit = (uint8_t)(1u << (e % 8));
    qh[e / 8] = (uint8_t)((u & 16) ? (qh[e / 8] | bit) : (qh[e / 8] & ~bit));
}

static void set_bits(uint8_t *p, int shift, int width, int u) {
    const uint8_t mask = (uint8_t)(((1u << width) - 1) << shift);
    *p = (uint8_t)((*p & ~mask) | ((u << shift) & mask));
}

void mb_qgrid_set(uint32_t type, void *block, int e, int q) {
    switch (type) {
    case MB_TYPE_Q4_0: set_nibble(((mb_block_q4_0 *)block)->qs, e, q + 8); break;
    case MB_TYPE_Q4_1: set_nibble(((mb_block_q4_1 *)block)->qs, e, q); break;
    case MB_TYPE_Q5_0: {
        mb_block_q5_0 *b = block;
        set_nibble(b->qs, e, q + 16);
        set_q5_high(b->qh, e, q + 16);
        break;
    }
    case MB_TYPE_Q5_1: {
        mb_block_q5_1 *b = block;
        set_nibble(b->qs, e, q);
        set_q5_high(b->qh, e, q);
        break;
    }
    case MB_TYPE_Q8_0: ((mb_block_q8_0 *)block)->qs[e] = (int8_t)q; break;
    case MB_TYPE_Q2_K:
        set_bits(&((mb_block_q2_k *)block)->qs[32 * (e / 128) + e % 32], 2 * ((e % 128) / 32), 2,
                 q);
        break;
    case MB_TYPE_Q3_K: {
        mb_block_q3_k *b = block;
        const int u = q + 4; /* the high bit set means "no -4" */
        set_bits(&b->qs[32 * (e / 128) + e % 32], 2 * ((e % 128) / 32), 2, u & 3);
        set_bits(&b->hmask[e % 32], e / 32, 1, u >> 2);
        break;
    }
    case MB_TYPE_Q4_K:
        set_bits(&((mb_block_q4_k *)block)->qs[32 * (e / 64) + e % 32], (e / 32) % 2 ? 4 : 0, 4, q);
        break;
    case MB_TYPE_Q5_K: {
        mb_block_q5_k *b = block;
        set_bits(&b->qs[32 * (e / 64) + e % 32], (e / 32) % 2 ? 4 : 0, 4, q & 0xF);
        set_bits(&b->qh[e % 32], e / 32, 1, q >> 4);
        break;
    }
    case MB_TYPE_Q6_K: {
        mb_block_q6_k *b = block;
        const int u = q + 32, h = e / 128, k = (e % 128) / 32, l = e % 32;
        set_bits(&b->ql[64 * h + l + 32 * (k & 1)], k >= 2 ? 4 : 0, 4, u & 0xF);
        set_bits(&b->qh[32 * h + l], 2 * k, 2, u >> 4);
        break;
    }
    default: break;
    }
}
